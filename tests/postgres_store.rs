//! `sluice run --store postgres://…` against the machine's PostgreSQL: runs recorded there
//! survive a SIGKILL and resume exactly once on restart, history is served from it, and a
//! second instance is refused while one writes. With `CI=true` a missing server fails.

mod support;

use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;
use support::{app, get_json, mock_function, request_with, settings, start_with, wait_for};

const RUNS: u64 = 20;

fn workflow() -> Value {
    json!({"kind": "Stateful", "definition": {
    "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
    "actions": {
        "Hold": {"type": "Wait", "runAfter": {},
            "inputs": {"interval": {"count": 2, "unit": "Second"}}},
        "Record": {"type": "Http", "runAfter": {"Hold": ["Succeeded"]},
            "inputs": {"method": "POST", "uri": "@{appsetting('Downstream')}/api/record",
                       "body": {"event": "@triggerBody()?['event']"}}}
    }}})
}

/// A fresh database on the local server, or `None` (the test skips) outside CI.
fn database() -> Option<String> {
    let server = std::env::var("SLUICE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("sluice_e2e_{}", std::process::id());
    let created = postgres::Client::connect(&server, postgres::NoTls).and_then(|mut c| {
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))?;
        c.batch_execute(&format!("CREATE DATABASE {name}"))
    });
    match created {
        Ok(()) => {
            let root = server.rsplit_once('/').map_or(server.as_str(), |(r, _)| r);
            Some(format!("{root}/{name}"))
        }
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("PostgreSQL is needed at {server}: {e:?}")
        }
        Err(e) => {
            eprintln!("skipped: no PostgreSQL at {server} ({e:?})");
            None
        }
    }
}

#[test]
fn runs_in_postgres_survive_a_kill_and_finish_exactly_once() {
    let Some(url) = database() else { return };
    let function = mock_function(&["--latency-ms", "1"]);
    let dir = app("postgres-store", &[("ingest", workflow())]);
    settings(&dir, &[("Downstream", &function.base)]);
    let data = dir.join("data");
    let args = ["--store", url.as_str(), "--data", data.to_str().unwrap()];

    let mut first = start_with(&dir, &args);
    for event in 1..=RUNS {
        let tracking = format!("x-ms-client-tracking-id: event-{event}\r\n");
        let (status, _, _) = request_with(
            &first.base,
            "POST",
            "/api/ingest/triggers/manual/invoke",
            Some(&json!({"event": event})),
            &tracking,
        );
        assert_eq!(status, 202);
    }
    // A second instance on the same database is refused while the first writes.
    let second = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", dir.to_str().unwrap(), "--port", "0", "--store", &url])
        .args(["--data", dir.join("data2").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another sluice instance"), "{stderr}");

    // Every run is in its Wait: kill the instance, then start another on the same store.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let stats = get_json(&function.base, "/_stats");
    assert_eq!(stats["requests"], 0, "the kill came before any call");

    let last = start_with(&dir, &args);
    let api = "/runtime/webhooks/workflow/api/management/workflows/ingest/runs";
    wait_for(Duration::from_secs(60), "every resumed run to end", || {
        let done = get_json(&last.base, &format!("{api}?top=1000"));
        let runs = done["value"].as_array()?;
        let ended = runs.iter().filter(|r| r["status"] != "Running").count();
        (ended as u64 == RUNS).then_some(())
    });
    let runs = get_json(&last.base, &format!("{api}?top=1000"))["value"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(runs.len() as u64, RUNS, "one run per event");
    for run in &runs {
        assert_eq!(run["status"], "Succeeded", "{run}");
    }
    let keys: HashMap<String, u64> =
        serde_json::from_value(get_json(&function.base, "/_keys")).unwrap();
    assert_eq!(keys.len() as u64, RUNS, "each run called the function");
    assert!(keys.values().all(|n| *n == 1), "each call once: {keys:?}");

    // `sluice runs` reads the same history from PostgreSQL while the instance runs.
    let listed = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "runs",
            "--app",
            dir.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
        .args(["list", "--limit", "1000", "--format", "json"])
        .env("Sluice.Store", &url)
        .output()
        .unwrap();
    assert!(listed.status.success(), "{listed:?}");
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len() as u64, RUNS);

    // The rows are in PostgreSQL: finished runs with their trees, no journal left.
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let row = db
        .query_one(
            "SELECT count(*) FILTER (WHERE NOT running AND tree IS NOT NULL),
                    (SELECT count(*) FROM sluice_journal)
             FROM sluice_runs",
            &[],
        )
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, i64>(1)),
        (RUNS as i64, 0)
    );
}
