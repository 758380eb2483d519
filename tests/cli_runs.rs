//! `sluice runs` on the history that `invoke --data` and `run` record, and recovery by
//! `sluice run` of a run that a killed process left unfinished.

mod support;

use serde_json::{json, Value};
use sluice_engine::definition::RunStatus;
use sluice_engine::store::{version_of, DiskStore, JournalEntry, RunHeader, RunStore};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const WORKFLOW: &str = r#"{
  "definition": {
    "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
    "actions": {
      "Stamp": {"type": "Compose", "inputs": "@utcNow()", "runAfter": {}},
      "Secret": {"type": "Compose", "inputs": "@triggerBody()?['token']", "runAfter": {"Stamp": ["Succeeded"]},
                 "runtimeConfiguration": {"secureData": {"properties": ["inputs", "outputs"]}}},
      "Check": {"type": "Compose", "inputs": "@div(10, triggerBody()?['n'])", "runAfter": {"Secret": ["Succeeded"]}},
      "Later": {"type": "Compose", "inputs": "@utcNow()", "runAfter": {"Check": ["Succeeded"]}}
    }
  },
  "kind": "Stateful"
}"#;

fn app(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("stamps")).unwrap();
    std::fs::write(dir.join("stamps/workflow.json"), WORKFLOW).unwrap();
    dir
}

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

fn runs(app: &Path, args: &[&str]) -> Output {
    let mut all = vec!["runs", "--app", app.to_str().unwrap()];
    all.extend_from_slice(args);
    sluice(&all)
}

fn invoke(app: &Path, body: Value) -> Value {
    let file = app.join("body.json");
    std::fs::write(&file, body.to_string()).unwrap();
    let data = app.join(".sluice");
    let out = sluice(&[
        "invoke",
        app.to_str().unwrap(),
        "stamps",
        "--body",
        file.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    json_of(&out)
}

fn action<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap()
}

#[test]
fn history_commands() {
    let app = app("history");
    let ok = invoke(&app, json!({"n": 2, "token": "s3cr3t"}));
    let bad = invoke(&app, json!({"n": 0, "token": "x"}));
    assert_eq!(
        (ok["status"].as_str(), bad["status"].as_str()),
        (Some("Succeeded"), Some("Failed"))
    );

    let listed = json_of(&runs(&app, &["list", "--format", "json"]));
    let ids: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, [bad["id"].clone(), ok["id"].clone()], "newest first");
    let failed = json_of(&runs(
        &app,
        &["list", "--status", "failed", "--format", "json"],
    ));
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["workflow"], "stamps");
    let none = json_of(&runs(
        &app,
        &["list", "--workflow", "other", "--format", "json"],
    ));
    assert!(none.as_array().unwrap().is_empty());
    let later = json_of(&runs(
        &app,
        &[
            "list",
            "--since",
            "2999-01-01T00:00:00Z",
            "--format",
            "json",
        ],
    ));
    assert!(later.as_array().unwrap().is_empty());
    let one = json_of(&runs(&app, &["list", "--limit", "1", "--format", "json"]));
    assert_eq!(one.as_array().unwrap().len(), 1);
    let text = String::from_utf8(runs(&app, &["list"]).stdout).unwrap();
    assert!(
        text.contains("stamps") && text.contains("Failed") && text.ends_with("2 runs\n"),
        "{text}"
    );

    let shown = json_of(&runs(
        &app,
        &["show", ok["id"].as_str().unwrap(), "--format", "json"],
    ));
    assert_eq!(shown["status"], "Succeeded");
    assert_eq!(
        shown["trigger"]["body"]["token"], "s3cr3t",
        "the trigger is kept for resubmission"
    );
    assert_eq!(
        action(&shown, "Secret")["outputs"],
        "Content not shown due to security configuration."
    );
    assert_eq!(
        action(&shown, "Secret")["inputs"],
        "Content not shown due to security configuration."
    );
    let text =
        String::from_utf8(runs(&app, &["show", bad["id"].as_str().unwrap()]).stdout).unwrap();
    assert!(
        text.contains("Check: Failed") && text.contains("error: `div()`: cannot divide by zero"),
        "{text}"
    );

    // Resubmitting from Later keeps what ran before it: Stamp's recorded time, not a new one.
    let again = json_of(&runs(
        &app,
        &["resubmit", ok["id"].as_str().unwrap(), "--from", "Later"],
    ));
    assert_eq!(again["status"], "Succeeded");
    assert_ne!(again["id"], ok["id"]);
    assert_eq!(
        action(&again, "Stamp")["outputs"],
        action(&ok, "Stamp")["outputs"]
    );
    assert_ne!(
        action(&again, "Later")["outputs"],
        action(&ok, "Later")["outputs"]
    );
    let fresh = json_of(&runs(&app, &["resubmit", ok["id"].as_str().unwrap()]));
    assert_ne!(
        action(&fresh, "Stamp")["outputs"],
        action(&ok, "Stamp")["outputs"]
    );

    let purged = runs(&app, &["purge", "--older-than", "PT0S"]);
    assert_eq!(
        String::from_utf8_lossy(&purged.stdout),
        "purged 4 runs older than PT0S\n"
    );
    assert!(json_of(&runs(&app, &["list", "--format", "json"]))
        .as_array()
        .unwrap()
        .is_empty());
}

/// Leaves a run as a killed process would: started, one action journaled, not finished.
fn unfinished_run(app: &Path) -> String {
    let store = DiskStore::open(&app.join(".sluice")).unwrap();
    let text = std::fs::read_to_string(app.join("stamps/workflow.json")).unwrap();
    // Ids are time-ordered: the first 12 hex digits are the start in milliseconds.
    let now = chrono::Utc::now();
    let id = format!("{:012X}{:020X}", now.timestamp_millis(), 0xCAFE);
    let header = RunHeader {
        id: id.clone(),
        workflow: "stamps".into(),
        version: version_of(&text),
        status: RunStatus::Succeeded,
        running: true,
        start_time: now,
        end_time: None,
        trigger: sluice_engine::expr::Value::from_json(
            json!({"headers": {}, "body": {"n": 5, "token": "t"}}),
        ),
        error: sluice_engine::expr::Value::Null,
        event_id: None,
        secure_trigger: false,
    };
    let record: sluice_engine::runtime::ActionRecord = serde_json::from_value(json!({
        "name": "Stamp", "type": "Compose", "status": "Succeeded", "startTime": "2026-01-01T00:00:00Z",
        "endTime": "2026-01-01T00:00:00Z", "inputs": "x", "outputs": "recorded before the crash", "error": null,
        "code": "OK", "retries": []
    }))
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        store.put_run(&header).await.unwrap();
        store
            .journal(
                &id,
                JournalEntry {
                    path: "Stamp".into(),
                    record: std::sync::Arc::new(record),
                },
            )
            .await
            .unwrap();
    });
    id
}

#[test]
fn stuck_runs_can_be_found_and_cancelled() {
    let app = app("stuck");
    let id = unfinished_run(&app);
    let running = json_of(&runs(
        &app,
        &["list", "--status", "Running", "--format", "json"],
    ));
    assert_eq!(running[0]["id"], id.as_str());
    let stuck = json_of(&runs(
        &app,
        &["list", "--stuck", "PT0S", "--format", "json"],
    ));
    assert_eq!(stuck.as_array().unwrap().len(), 1);
    let fresh = json_of(&runs(
        &app,
        &["list", "--stuck", "PT1H", "--format", "json"],
    ));
    assert!(
        fresh.as_array().unwrap().is_empty(),
        "it made progress less than an hour ago"
    );
    let shown = json_of(&runs(&app, &["show", &id, "--format", "json"]));
    assert_eq!(
        shown["actions"][0]["path"], "Stamp",
        "a running run shows its journal"
    );
    let out = runs(&app, &["cancel", &id]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cancelled = json_of(&runs(
        &app,
        &["list", "--status", "Cancelled", "--format", "json"],
    ));
    assert_eq!(cancelled[0]["id"], id.as_str());
    assert_eq!(
        runs(&app, &["cancel", &id]).status.code(),
        Some(2),
        "only running runs can be cancelled"
    );
}

#[test]
fn sluice_run_resumes_unfinished_runs() {
    let app = app("resume");
    let id = unfinished_run(&app);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", app.to_str().unwrap(), "--port", "0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        let done = line.starts_with("events ") && !line.contains("(0 done)");
        seen.push(line);
        if done || seen.len() > 30 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        seen.iter()
            .any(|l| l.contains("resuming 1 unfinished run(s)")),
        "{seen:?}"
    );
    let shown = json_of(&runs(&app, &["show", &id, "--format", "json"]));
    assert_eq!(shown["status"], "Succeeded", "{shown:#}");
    assert_eq!(
        action(&shown, "Stamp")["outputs"],
        "recorded before the crash",
        "journaled actions are not run again"
    );
    assert_eq!(action(&shown, "Check")["outputs"], 2);
}

#[test]
fn stateless_runs_are_recorded_only_when_the_app_asks() {
    let quick = r#"{"definition": {"triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
        "actions": {"Echo": {"type": "Compose", "inputs": "@triggerBody()", "runAfter": {}}}}, "kind": "Stateless"}"#;
    for (name, settings, recorded) in [
        (
            "stateless-history",
            json!({"Workflows.quick.OperationOptions": "WithStatelessRunHistory"}),
            1,
        ),
        ("stateless-no-history", json!({}), 0),
    ] {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("quick")).unwrap();
        std::fs::write(dir.join("quick/workflow.json"), quick).unwrap();
        std::fs::write(
            dir.join("local.settings.json"),
            json!({"Values": settings}).to_string(),
        )
        .unwrap();
        let data = dir.join(".sluice");
        let out = sluice(&[
            "invoke",
            dir.to_str().unwrap(),
            "quick",
            "--data",
            data.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0));
        let listed = json_of(&runs(&dir, &["list", "--format", "json"]));
        assert_eq!(listed.as_array().unwrap().len(), recorded, "{name}");
        if recorded == 1 {
            assert_eq!(listed[0]["status"], "Succeeded");
            let shown = json_of(&runs(
                &dir,
                &[
                    "show",
                    listed[0]["id"].as_str().unwrap(),
                    "--format",
                    "json",
                ],
            ));
            assert_eq!(shown["actions"][0]["name"], "Echo");
        }
    }
}

#[test]
fn group_options_work_after_the_subcommand() {
    let app = app("options-after");
    let run = invoke(&app, json!({"n": 2, "token": "t"}));
    let data = app.join(".sluice");
    let (app_arg, data_arg) = (app.to_str().unwrap(), data.to_str().unwrap());
    let before = sluice(&[
        "runs", "--app", app_arg, "--data", data_arg, "list", "--format", "json",
    ]);
    let after = sluice(&[
        "runs", "list", "--format", "json", "--app", app_arg, "--data", data_arg,
    ]);
    assert!(
        after.status.success(),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );
    assert_eq!(json_of(&before), json_of(&after));
    assert!(String::from_utf8_lossy(&after.stdout).contains(run["id"].as_str().unwrap()));
}

#[test]
fn runs_work_while_sluice_run_holds_the_store() {
    let app = app("held");
    let host = support::start(&app);
    let (status, headers, _) = support::request(
        &host.base,
        "POST",
        "/api/stamps/triggers/manual/invoke",
        Some(&json!({"n": 5, "token": "t"})),
    );
    assert_eq!(status, 202);
    let id = support::header(&headers, "x-ms-workflow-run-id").to_string();
    let held = |args: &[&str]| {
        let mut all = vec!["runs", "--app", app.to_str().unwrap()];
        all.extend_from_slice(args);
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(all)
            .env("Sluice.Management.Key", support::MANAGEMENT_KEY)
            .output()
            .unwrap()
    };
    let shown = loop {
        let out = held(&["show", &id, "--format", "json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shown = json_of(&out);
        if shown["status"] != "Running" {
            break shown;
        }
    };
    assert_eq!(shown["status"], "Succeeded", "{shown:#}");
    assert_eq!(action(&shown, "Check")["outputs"], 2);
    let listed = json_of(&held(&["list", "--format", "json"]));
    assert_eq!(listed[0]["id"], id.as_str(), "{listed:#}");
    let text = held(&["list"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains(&id));
    let purge = held(&["purge", "--older-than", "P1D"]);
    assert!(!purge.status.success());
    assert!(
        String::from_utf8_lossy(&purge.stderr).contains("holds the run store"),
        "{}",
        String::from_utf8_lossy(&purge.stderr)
    );
}
