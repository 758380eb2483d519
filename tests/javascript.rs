//! JavaScriptCode in Microsoft's burst enricher, unchanged, under `sluice invoke`: each of its
//! three JavaScriptCode actions gives what its code describes. The retail function is
//! `sluice mock function` (the first path) or a mocked Get_skus; Compose actions are mocked
//! to steer the run into the branches where Flatten_skus1 and Flatten_skus2 run.

mod support;

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use support::mock_function;

fn app() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benchmarks/burst")
}

/// The dispatcher's message: ten prices, as its Compose sends them.
fn message() -> std::path::PathBuf {
    let dispatcher: Value = serde_json::from_str(
        &std::fs::read_to_string(app().join("dispatcher/workflow.json")).unwrap(),
    )
    .unwrap();
    let body = &dispatcher["definition"]["actions"]["Compose"]["inputs"];
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("enricher-message.json");
    std::fs::write(&path, body.to_string()).unwrap();
    path
}

/// Invokes the enricher with `mocks` (and the retail function at `retail`, if given).
fn invoke(name: &str, mocks: Value, retail: Option<&str>) -> Value {
    let mocks_file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-mocks.json"));
    std::fs::write(&mocks_file, mocks.to_string()).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command.args(["invoke", app().to_str().unwrap(), "enricher", "--body"]);
    command.arg(message()).arg("--mocks").arg(&mocks_file);
    if let Some(url) = retail {
        command.env("Enricher.RetailApiUrl", format!("{url}/api/retail?ean="));
    }
    let out = command.output().unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// The record of action `name` anywhere in the run's tree.
fn action<'a>(records: &'a Value, name: &str) -> &'a Value {
    fn find<'a>(records: &'a Value, name: &str) -> Option<&'a Value> {
        records.as_array()?.iter().find_map(|r| {
            if r["name"] == name {
                Some(r)
            } else {
                find(&r["actions"], name)
            }
        })
    }
    find(records, name).unwrap_or_else(|| panic!("{name} did not run: {records:#}"))
}

fn found_document() -> Value {
    json!({"status": "Succeeded", "outputs": {"body": {"code": "Found", "skus": [{"sku": "a"}, {"sku": "b"}]}}})
}

#[test]
fn build_price_available_array_returns_the_events_it_was_given() {
    let retail = mock_function(&[]);
    let run = invoke("enricher-default", json!({}), Some(&retail.base));
    assert_eq!(run["status"], "Succeeded", "{run:#}");
    let events = &action(&run["actions"], "Build_price_available_events")["outputs"]["body"];
    assert_eq!(
        events.as_array().unwrap().len(),
        1,
        "one sku from the retail function"
    );
    let array = action(&run["actions"], "Build_price_available_array");
    assert_eq!(array["status"], "Succeeded");
    assert_eq!(
        &array["outputs"]["body"], events,
        "it returns Build_price_available_events' body"
    );
    // The file's contentData is a string without `@{…}`, so Logic Apps (and Sluice) keep it
    // as literal text: the benchmark sends the template itself.
    assert_eq!(events[0]["contentType"], "application/json");
    assert!(events[0]["contentData"]
        .as_str()
        .unwrap()
        .starts_with(r#"{"countries":"@triggerBody()"#));
}

#[test]
fn flatten_skus1_maps_the_documents_skus() {
    let mocks = json!({
        "Get_document": found_document(),
        "Get_eanMappingValidUntil": {"status": "Succeeded", "outputs": "2999-01-01T00:00:00Z"},
    });
    let run = invoke("enricher-flatten1", mocks, None);
    let flatten = action(&run["actions"], "Flatten_skus1");
    assert_eq!(flatten["status"], "Succeeded", "{flatten:#}");
    assert_eq!(flatten["outputs"]["body"], json!(["a", "b"]));
}

#[test]
fn flatten_skus2_maps_the_documents_skus_when_the_retail_call_fails() {
    let mocks = json!({
        "Get_document": found_document(),
        "Get_skus": {"status": "Failed", "outputs": {"statusCode": 503, "body": {}}},
    });
    let run = invoke("enricher-flatten2", mocks, None);
    let flatten = action(&run["actions"], "Flatten_skus2");
    assert_eq!(flatten["status"], "Succeeded", "{flatten:#}");
    assert_eq!(flatten["outputs"]["body"], json!(["a", "b"]));
}

#[test]
fn script_errors_fail_the_action_with_the_line() {
    let dir = support::app(
        "js-error",
        &[(
            "broken",
            json!({"kind": "Stateless", "definition": {
                "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
                "actions": {"Script": {"type": "JavaScriptCode", "runAfter": {},
                    "inputs": {"code": "var x = workflowContext.trigger.outputs.body;\nreturn x.missing.deeper;"}}}}}),
        )],
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["invoke", dir.to_str().unwrap(), "broken"])
        .output()
        .unwrap();
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let script = action(&run["actions"], "Script");
    assert_eq!(script["status"], "Failed");
    assert_eq!(script["error"]["code"], "JavaScriptError");
    let message = script["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("TypeError") && message.ends_with("(line 2)"),
        "{message}"
    );
}
