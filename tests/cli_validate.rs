//! `sluice validate` as a user runs it: the real binary, its output and exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("sluice runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_sample_app_is_valid() {
    let out = sluice(&["validate", "workflows"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("5 workflows checked: 5 valid, 0 invalid; 0 errors, 0 warnings"));
}

#[test]
fn a_run_after_cycle_fails_and_names_both_actions() {
    let out = sluice(&["validate", "tests/data/invalid/run_after_cycle.json"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        "tests/data/invalid/run_after_cycle.json:31:11: /definition/actions/Step_B/runAfter/Step_A: \
         runAfter cycle: Step_A → Step_B → Step_A (each action runs after the next)"
    );
    assert!(text.contains("1 workflow checked: 0 valid, 1 invalid; 1 error, 0 warnings"));
}

#[test]
fn json_format_lists_workflows_and_problems() {
    let out = sluice(&[
        "validate",
        "--format",
        "json",
        "workflows",
        "tests/data/invalid/two_triggers.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["errors"], 1);
    let names: Vec<&str> = doc["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "heartbeat",
            "hello",
            "orders",
            "queue-orders",
            "sustained",
            "two_triggers"
        ]
    );
    assert_eq!(doc["workflows"][2]["kind"], "Stateful");
    let problem = &doc["problems"][0];
    assert_eq!(problem["pointer"], "/definition/triggers/every");
    assert_eq!(problem["line"], 11);
    assert_eq!(problem["column"], 7);
    assert_eq!(problem["severity"], "error");
}

#[test]
fn an_app_checks_references_between_files() {
    let dir = tempdir("refs");
    std::fs::create_dir_all(dir.join("parent")).unwrap();
    std::fs::write(
        dir.join("parent/workflow.json"),
        r#"{
  "definition": {
    "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
    "actions": {
      "Call_child": {"type": "Workflow", "inputs": {"host": {"workflow": {"id": "child"}}}, "runAfter": {}},
      "Send": {"type": "ServiceProvider", "runAfter": {}, "inputs": {"parameters": {},
        "serviceProviderConfiguration": {"connectionName": "eventHub", "operationId": "sendEvent", "serviceProviderId": "/serviceProviders/eventHub"}}}
    }
  },
  "kind": "Stateful"
}"#,
    )
    .unwrap();
    let out = sluice(&["validate", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("workflow.json:5:75: /definition/actions/Call_child/inputs/host/workflow/id: workflow 'child' is not a workflow of this app"),
        "{text}"
    );
    assert!(
        text.contains("/definition/actions/Send/inputs/serviceProviderConfiguration/connectionName: connection 'eventHub' is not defined in connections.json serviceProviderConnections"),
        "{text}"
    );
    assert!(
        text.contains("1 workflow checked: 0 valid, 1 invalid; 2 errors, 0 warnings"),
        "{text}"
    );
}

#[test]
fn a_missing_path_is_an_error() {
    let out = sluice(&["validate", "no/such/app"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read no/such/app"));
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_reference_to_an_undefined_action_is_a_warning() {
    let dir = tempdir("undefined-reference");
    let file = dir.join("workflow.json");
    std::fs::write(
        &file,
        r#"{"definition": {"triggers": {}, "actions": {
  "Use": {"type": "Compose", "inputs": "@body('Gone')", "runAfter": {}}}}, "kind": "Stateless"}"#,
    )
    .unwrap();
    let out = sluice(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains(
        "workflow.json:2:30: /definition/actions/Use/inputs: warning: references the action 'Gone', which this workflow does not define; it evaluates to null"
    ), "{}", stdout(&out));
}
