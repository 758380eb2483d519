//! The host: admission in front of runs, splitOn, backpressure.

use super::*;
use crate::definition::RunStatus;
use crate::runtime::hosting::host::{Host, Rejected};
use crate::runtime::run::Settings;

fn app(dir: &str, workflow: serde_json::Value) -> crate::definition::App {
    let root = std::env::temp_dir().join(format!("sluice-host-{dir}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("w")).unwrap();
    std::fs::write(
        root.join("w/workflow.json"),
        json!({"definition": workflow, "kind": "Stateless"}).to_string(),
    )
    .unwrap();
    crate::definition::App::load(&root).unwrap()
}

fn event(body: serde_json::Value) -> Value {
    Value::from_json(json!({"headers": {}, "body": body}))
}

fn settings() -> Settings {
    Arc::new(|_| None)
}

#[tokio::test(start_paused = true)]
async fn split_on_starts_one_run_per_item() {
    let app = app(
        "split",
        json!({
            "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}, "splitOn": "@triggerBody()?['items']"}},
            "actions": {"Echo": {"type": "Compose", "inputs": "@triggerBody()", "runAfter": {}}}
        }),
    );
    let host = Host::new(&app, Engine::new(Handlers::default(), settings()), 100).unwrap();
    let runs = host
        .submit("w", event(json!({"items": [1, 2, 3]})))
        .await
        .unwrap();
    let echoed: Vec<_> = runs.iter().map(|r| outputs(r, "Echo")).collect();
    assert_eq!(echoed, [json!(1), json!(2), json!(3)]);
    assert!(runs.iter().all(|r| r.status == RunStatus::Succeeded));
    assert_eq!(
        host.submit("nope", event(json!(null))).await.err(),
        Some(Rejected::Unknown)
    );
    assert!(matches!(
        host.submit("w", event(json!({"items": 5}))).await,
        Err(Rejected::SplitOn(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_is_refused_at_once() {
    let app = app(
        "full",
        json!({
            "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {},
                "runtimeConfiguration": {"concurrency": {"runs": 1, "maximumWaitingRuns": 0}}}},
            "actions": {"Slow": {"type": "Wait", "inputs": {"interval": {"count": 10, "unit": "Second"}}, "runAfter": {}}}
        }),
    );
    let host =
        Arc::new(Host::new(&app, Engine::new(Handlers::default(), settings()), 100).unwrap());
    let first = tokio::spawn({
        let host = host.clone();
        async move { host.submit("w", event(json!(null))).await }
    });
    tokio::task::yield_now().await;
    assert!(host.workflows["w"].admission.is_saturated());
    assert_eq!(
        host.submit("w", event(json!(null))).await.err(),
        Some(Rejected::QueueFull)
    );
    let done = first.await.unwrap().unwrap();
    assert_eq!(done[0].status, RunStatus::Succeeded);
    assert!(
        host.submit("w", event(json!(null))).await.is_ok(),
        "accepted again once the run finished"
    );
}
