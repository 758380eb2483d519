//! `sluice invoke` on real workflows: Microsoft's burst benchmark (dispatcher and enricher,
//! unchanged) and every valid corpus workflow, with connector actions mocked.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/corpus")
        .join(name)
}

fn app(name: &str, workflows: &[(&str, PathBuf)], settings: Value) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    for (workflow, file) in workflows {
        std::fs::create_dir_all(dir.join(workflow)).unwrap();
        std::fs::copy(file, dir.join(workflow).join("workflow.json")).unwrap();
    }
    std::fs::write(
        dir.join("local.settings.json"),
        json!({"Values": settings}).to_string(),
    )
    .unwrap();
    dir
}

/// Runs `sluice invoke` and returns (exit code, printed JSON).
fn invoke(app: &Path, workflow: &str, body: &Value, mocks: &Value) -> (i32, Value) {
    let body_file = app.join(format!("{workflow}.body.json"));
    let mocks_file = app.join(format!("{workflow}.mocks.json"));
    std::fs::write(&body_file, body.to_string()).unwrap();
    std::fs::write(&mocks_file, mocks.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["invoke", app.to_str().unwrap(), workflow, "--body"])
        .arg(&body_file)
        .arg("--mocks")
        .arg(&mocks_file)
        .arg("--virtual-time")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let printed =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{workflow}: {e}\n{stderr}"));
    (out.status.code().unwrap_or(-1), printed)
}

fn burst_app(name: &str) -> PathBuf {
    app(
        name,
        &[
            (
                "dispatcher",
                corpus("Azure__logicapps__templates_benchmarks_burst_dispatcher.json"),
            ),
            (
                "enricher",
                corpus("Azure__logicapps__templates_benchmarks_burst_enricher.json"),
            ),
        ],
        json!({"Enricher.RetailApiUrl": "http://127.0.0.1:7075/api/skus/", "Enricher.MaxMappingValidUntil": "30", "Enricher.Cosmos.DefaultTtl": "3600"}),
    )
}

#[test]
fn burst_dispatcher_splits_orders_into_runs() {
    let dir = burst_app("burst-dispatcher");
    let mocks = json!({"Invoke_a_workflow_in_this_workflow_app": {"outputs": {"statusCode": 200, "body": {"ok": true}}}});
    let (code, runs) = invoke(&dir, "dispatcher", &json!({"orders": [1, 2, 3]}), &mocks);
    assert_eq!(code, 0);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 3, "one run per order");
    for run in runs {
        assert_eq!(run["status"], "Succeeded");
        let invoke = &run["actions"][1];
        assert_eq!(invoke["name"], "Invoke_a_workflow_in_this_workflow_app");
        assert_eq!(invoke["inputs"], Value::Null, "mocked actions do not run");
        assert_eq!(
            run["actions"][0]["outputs"]["prices"]
                .as_array()
                .unwrap()
                .len(),
            10
        );
    }
}

#[test]
fn burst_enricher_runs_unchanged_with_io_mocked() {
    let dir = burst_app("burst-enricher");
    let dispatcher: Value = serde_json::from_str(
        &std::fs::read_to_string(corpus(
            "Azure__logicapps__templates_benchmarks_burst_dispatcher.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let message = &dispatcher["definition"]["actions"]["Compose"]["inputs"];
    let mocks = json!({
        "Get_skus": {"outputs": {"statusCode": 200, "body": {"skus": [{"sku": "S1"}, {"sku": "S2"}]}}},
        "Flatten_skus1": {"outputs": {"body": ["S1", "S2"]}},
        "Flatten_skus2": {"outputs": {"body": ["S1", "S2"]}},
        "Build_price_available_array": {"outputs": {"body": [{"contentData": "event"}]}}
    });
    let (code, run) = invoke(&dir, "enricher", message, &mocks);
    assert_eq!(code, 0, "{run:#}");
    assert_eq!(run["status"], "Succeeded");
    assert_eq!(run["response"]["statusCode"], 200);
    assert_eq!(
        run["response"]["body"]["PriceAvailableEvents"],
        json!({"body": [{"contentData": "event"}]})
    );
    let text = run.to_string();
    assert!(
        text.contains("\"name\":\"Build_Cosmos_document\""),
        "the real branch ran"
    );
    // The Select builds one event per SKU of the document.
    let events = run["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Build_price_available_events")
        .unwrap();
    assert_eq!(events["status"], "Succeeded");
}

/// Action types a connector (or the JavaScript engine) executes.
const CONNECTOR_TYPES: &[&str] = &[
    "http",
    "httpwebhook",
    "function",
    "invokefunction",
    "workflow",
    "serviceprovider",
    "apiconnection",
    "apiconnectionwebhook",
    "javascriptcode",
    "xslt",
    "liquid",
];

/// What a workflow needs from its app to load: mocks for its connector actions, the
/// connections and the child workflows it names.
#[derive(Default)]
struct Needs {
    mocks: serde_json::Map<String, Value>,
    connections: serde_json::Map<String, Value>,
    children: Vec<String>,
}

fn needs(actions: &Value, found: &mut Needs) {
    for (name, action) in actions.as_object().into_iter().flatten() {
        let kind = action["type"].as_str().unwrap_or_default().to_lowercase();
        if CONNECTOR_TYPES.contains(&kind.as_str()) {
            found.mocks.insert(
                name.clone(),
                json!({"outputs": {"statusCode": 200, "headers": {}, "body": {}}}),
            );
        }
        let config = &action["inputs"]["serviceProviderConfiguration"];
        if let Some(connection) = config["connectionName"].as_str() {
            found.connections.insert(
                connection.to_string(),
                json!({"parameterValues": {}, "serviceProvider": {"id": config["serviceProviderId"]}}),
            );
        }
        if let Some(child) = action["inputs"]["host"]["workflow"]["id"].as_str() {
            found.children.push(child.to_string());
        }
        needs(&action["actions"], found);
        needs(&action["else"]["actions"], found);
        needs(&action["default"]["actions"], found);
        for case in action["cases"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, c)| c)
        {
            needs(&case["actions"], found);
        }
    }
}

/// A child workflow that answers its caller.
fn child_workflow(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir.join(name)).unwrap();
    let child = json!({"definition": {"triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
        "actions": {"Reply": {"type": "Response", "kind": "Http", "inputs": {"statusCode": 200}, "runAfter": {}}}}, "kind": "Stateful"});
    std::fs::write(dir.join(name).join("workflow.json"), child.to_string()).unwrap();
}

#[test]
fn every_valid_corpus_workflow_runs_with_connectors_mocked() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus("expected.json")).unwrap()).unwrap();
    let mut ran = 0;
    for (file, expectation) in expected.as_object().unwrap() {
        if expectation != "valid" {
            continue;
        }
        let definition: Value =
            serde_json::from_str(&std::fs::read_to_string(corpus(file)).unwrap()).unwrap();
        let actions = definition.get("definition").unwrap_or(&definition)["actions"].clone();
        let mut found = Needs::default();
        needs(&actions, &mut found);
        let dir = app(
            &format!("corpus-{ran}"),
            &[("workflow", corpus(file))],
            json!({}),
        );
        let connections = json!({"serviceProviderConnections": found.connections});
        std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
        for child in &found.children {
            child_workflow(&dir, child);
        }
        let split_on = definition.get("definition").unwrap_or(&definition)["triggers"]
            .as_object()
            .and_then(|t| t.values().next())
            .and_then(|t| t["splitOn"].as_str())
            .map(str::to_string);
        let body = match split_on.as_deref() {
            Some("@triggerBody().orders") => json!({"orders": [{}]}),
            Some(_) => json!([{}]),
            None => json!({}),
        };
        let (_, printed) = invoke(&dir, "workflow", &body, &Value::Object(found.mocks));
        let runs = match printed {
            Value::Array(runs) => runs,
            run => vec![run],
        };
        for run in runs {
            let status = run["status"].as_str().unwrap_or_default();
            assert!(
                ["Succeeded", "Failed", "Cancelled", "TimedOut"].contains(&status),
                "{file}: {run}"
            );
            assert!(
                !run.to_string().contains("NoHandler"),
                "{file}: an unmocked connector action ran"
            );
        }
        ran += 1;
    }
    assert!(ran >= 30, "only {ran} corpus workflows ran");
}
