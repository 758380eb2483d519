//! Stateful runs in the store: history, recovery after a crash, deduplication, redaction.

use super::*;
use crate::definition::{ActionType, RunStatus};
use crate::store::{DiskStore, RunFilter, SharedStore};
use std::sync::atomic::{AtomicUsize, Ordering};

fn store(name: &str) -> SharedStore {
    let dir = std::env::temp_dir().join(format!("sluice-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Arc::new(DiskStore::open(&dir).unwrap())
}

fn stateful(actions: serde_json::Value) -> Arc<Plan> {
    plan(actions)
}

/// Counts calls per idempotency key; the first call of `hang_on` never returns (a crash).
struct Downstream {
    calls: std::sync::Mutex<Vec<String>>,
    hang_on: Option<&'static str>,
    hung: AtomicUsize,
}

impl ActionHandler for Downstream {
    fn execute<'a>(&'a self, call: ActionCall<'a>) -> BoxFuture<'a, Result<Value, ActionFailure>> {
        Box::pin(async move {
            self.calls
                .lock()
                .unwrap()
                .push(call.idempotency_key.to_string());
            if Some(call.action) == self.hang_on && self.hung.fetch_add(1, Ordering::SeqCst) == 0 {
                std::future::pending::<()>().await;
            }
            Ok(Value::from_json(
                json!({"statusCode": 200, "body": {"from": call.action}}),
            ))
        })
    }
}

fn downstream(hang_on: Option<&'static str>) -> Arc<Downstream> {
    Arc::new(Downstream {
        calls: std::sync::Mutex::new(Vec::new()),
        hang_on,
        hung: AtomicUsize::new(0),
    })
}

fn engine_with(store: &SharedStore, handler: Arc<Downstream>) -> Engine {
    let mut handlers = Handlers::default();
    handlers.register(ActionType::Http, handler);
    engine(handlers).with_store(store.clone())
}

fn http(run_after: serde_json::Value) -> serde_json::Value {
    json!({"type": "Http", "inputs": {"method": "POST", "uri": "http://127.0.0.1/x", "body": "@triggerBody()"}, "runAfter": run_after})
}

fn two_calls() -> Arc<Plan> {
    stateful(json!({
        "Init": {"type": "InitializeVariable", "inputs": {"variables": [{"name": "n", "type": "integer", "value": 1}]}, "runAfter": {}},
        "First": http(json!({"Init": ["Succeeded"]})),
        "Bump": {"type": "IncrementVariable", "inputs": {"name": "n", "value": 10}, "runAfter": {"First": ["Succeeded"]}},
        "Second": http(json!({"Bump": ["Succeeded"]})),
        "Out": {"type": "Compose", "inputs": {"n": "@variables('n')", "first": "@body('First')?['from']"}, "runAfter": {"Second": ["Succeeded"]}}
    }))
}

#[tokio::test]
async fn a_stateful_run_is_recorded_with_its_action_tree() {
    let store = store("history");
    let engine = engine_with(&store, downstream(None));
    let run = run_with(&engine, two_calls(), json!({"id": 1}), json!({})).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    let stored = store.run(&run.id).unwrap().unwrap();
    assert!(!stored.header.running);
    assert_eq!(stored.header.status, RunStatus::Succeeded);
    assert_eq!(stored.header.trigger.to_json()["body"], json!({"id": 1}));
    let tree = stored.actions.unwrap();
    let names: Vec<_> = tree
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(
        names,
        [
            json!("Init"),
            json!("First"),
            json!("Bump"),
            json!("Second"),
            json!("Out")
        ]
    );
    assert!(
        stored.journal.is_empty(),
        "the journal is dropped when the run ends"
    );
    let listed = store
        .list(&RunFilter {
            workflow: Some("TEST".into()),
            ..RunFilter::default()
        })
        .unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn a_crashed_run_resumes_from_its_journal() {
    let store = store("recovery");
    let plan = two_calls();
    // The first process hangs inside Second, and is then killed (its run future dropped).
    let crashed = downstream(Some("Second"));
    let engine = engine_with(&store, crashed.clone());
    let attempt = run_with(&engine, plan.clone(), json!({"id": 7}), json!({}));
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), attempt)
            .await
            .is_err()
    );
    drop(engine);

    let unfinished = store
        .list(&RunFilter {
            running: true,
            ..RunFilter::default()
        })
        .unwrap();
    assert_eq!(unfinished.len(), 1);
    let header = &unfinished[0];
    let stored = store.run(&header.id).unwrap().unwrap();
    let journaled: Vec<&str> = stored.journal.iter().map(|e| e.path.as_str()).collect();
    assert!(
        journaled.contains(&"First") && !journaled.contains(&"Second"),
        "{journaled:?}"
    );

    // The restarted process resumes it: First is not called again; Second is, with the same key.
    let restarted = downstream(None);
    let engine = engine_with(&store, restarted.clone());
    let run = engine
        .replay(plan, header, stored.journal, true, Arc::new(Mocks::new()))
        .await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(&*run.id, header.id);
    assert_eq!(outputs(&run, "Out"), json!({"n": 11, "first": "First"}));
    let before = crashed.calls.lock().unwrap().clone();
    let after = restarted.calls.lock().unwrap().clone();
    assert_eq!(
        before,
        [
            format!("{}/First", header.id),
            format!("{}/Second", header.id)
        ]
    );
    assert_eq!(
        after,
        [format!("{}/Second", header.id)],
        "only the in-flight action runs again"
    );
    let finished = store.run(&header.id).unwrap().unwrap();
    assert!(!finished.header.running && finished.header.status == RunStatus::Succeeded);
    assert!(store
        .list(&RunFilter {
            running: true,
            ..RunFilter::default()
        })
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_redelivered_event_does_not_run_twice() {
    let store = store("dedup");
    let engine = engine_with(&store, downstream(None));
    let outputs = Value::from_json(json!({"headers": {}, "body": {"id": 1}}));
    let first = engine
        .run_event(
            two_calls(),
            outputs.clone(),
            "orders/0/42",
            Arc::new(Mocks::new()),
        )
        .await
        .unwrap();
    let again = engine
        .run_event(two_calls(), outputs, "orders/0/42", Arc::new(Mocks::new()))
        .await;
    assert_eq!(again.err().map(|d| d.run_id), Some(first.id.to_string()));
    assert_eq!(
        store
            .run(&first.id)
            .unwrap()
            .unwrap()
            .header
            .event_id
            .as_deref(),
        Some("orders/0/42")
    );
}

#[tokio::test]
async fn secure_data_is_redacted_in_history_only() {
    let store = store("secure");
    let plan = stateful(json!({
        "Secret": {"type": "Compose", "inputs": "s3cr3t", "runAfter": {},
                   "runtimeConfiguration": {"secureData": {"properties": ["inputs", "outputs"]}}},
        "Uses": {"type": "Compose", "inputs": "@outputs('Secret')", "runAfter": {"Secret": ["Succeeded"]}}
    }));
    let engine = engine_with(&store, downstream(None));
    let run = run_with(&engine, plan, json!(null), json!({})).await;
    assert_eq!(
        outputs(&run, "Uses"),
        json!("s3cr3t"),
        "the run itself sees the value"
    );
    let tree = store.run(&run.id).unwrap().unwrap().actions.unwrap();
    assert_eq!(tree[0]["inputs"], json!(crate::record::SECURED));
    assert_eq!(tree[0]["outputs"], json!(crate::record::SECURED));
    assert_eq!(
        tree[1]["outputs"],
        json!("s3cr3t"),
        "secureData applies to the action that sets it"
    );
}

#[tokio::test]
async fn history_filters_and_purge() {
    let store = store("filters");
    let engine = engine_with(&store, downstream(None));
    let ok = run_with(&engine, two_calls(), json!(null), json!({})).await;
    let failing =
        plan(json!({"Boom": {"type": "Compose", "inputs": "@div(1, 0)", "runAfter": {}}}));
    let bad = run_with(&engine, failing, json!(null), json!({})).await;
    let by_status = |s| {
        store
            .list(&RunFilter {
                status: Some(s),
                ..RunFilter::default()
            })
            .unwrap()
    };
    assert_eq!(
        by_status(RunStatus::Failed)
            .iter()
            .map(|h| h.id.clone())
            .collect::<Vec<_>>(),
        [bad.id.to_string()]
    );
    assert_eq!(by_status(RunStatus::Succeeded)[0].id, ok.id.to_string());
    let all = store.list(&RunFilter::default()).unwrap();
    assert_eq!(
        all.iter().map(|h| h.id.clone()).collect::<Vec<_>>(),
        [bad.id.to_string(), ok.id.to_string()],
        "newest first"
    );
    let limited = store
        .list(&RunFilter {
            limit: 1,
            ..RunFilter::default()
        })
        .unwrap();
    assert_eq!(limited.len(), 1);
    let future = store
        .list(&RunFilter {
            since: Some(Utc::now() + chrono::Duration::hours(1)),
            ..RunFilter::default()
        })
        .unwrap();
    assert!(future.is_empty());
    let past = store
        .list(&RunFilter {
            until: Some(ok.start_time - chrono::Duration::hours(1)),
            ..RunFilter::default()
        })
        .unwrap();
    assert!(past.is_empty());
    assert_eq!(
        store
            .purge(Utc::now() + chrono::Duration::seconds(1))
            .unwrap(),
        2
    );
    assert!(store.list(&RunFilter::default()).unwrap().is_empty());
    assert!(store.run(&ok.id).unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn large_values_are_stored_once_and_released_on_purge() {
    let dir = std::env::temp_dir().join(format!("sluice-store-large-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let disk = Arc::new(DiskStore::open(&dir).unwrap().with_large_value_bytes(1024));
    let store: SharedStore = disk.clone();
    let engine = engine_with(&store, downstream(None));
    let plan = plan(json!({
        "Echo": {"type": "Compose", "inputs": "@triggerBody()", "runAfter": {}},
        "Small": {"type": "Compose", "inputs": "@length(outputs('Echo'))", "runAfter": {"Echo": ["Succeeded"]}}
    }));
    let big = "x".repeat(5000);
    let first = run_with(&engine, plan.clone(), json!(big), json!({})).await;
    let second = run_with(&engine, plan, json!(big), json!({})).await;
    assert_eq!(
        disk.large_value_count(),
        1,
        "the same large value is stored once"
    );
    for run in [&first, &second] {
        let tree = store.run(&run.id).unwrap().unwrap().actions.unwrap();
        assert_eq!(
            tree[0]["outputs"],
            json!(big),
            "history shows the value itself"
        );
        assert_eq!(tree[1]["outputs"], json!(5000));
    }
    let purger = store.clone();
    let later = Utc::now() + chrono::Duration::seconds(1);
    let purged = tokio::task::spawn_blocking(move || purger.purge(later))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(purged, 2);
    assert_eq!(disk.large_value_count(), 0, "no run references it any more");
}

/// A handler that panics: a bug, or an input no check foresaw.
struct Panics;

impl ActionHandler for Panics {
    fn execute<'a>(&'a self, _: ActionCall<'a>) -> BoxFuture<'a, Result<Value, ActionFailure>> {
        Box::pin(async move { panic!("boom in the handler") })
    }
}

#[tokio::test]
async fn a_panic_fails_its_run_only_and_is_recorded_as_failed() {
    let store = store("panic");
    let mut handlers = Handlers::default();
    handlers.register(ActionType::Http, Arc::new(Panics));
    let engine = engine(handlers).with_store(store.clone());
    let run = run_with(
        &engine,
        stateful(json!({"Call": http(json!({}))})),
        json!(1),
        json!({}),
    )
    .await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.get("code"), Some(&Value::from("EngineFailure")));
    let message = run
        .error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(message.contains("boom in the handler"), "{message}");
    let stored = store.run(&run.id).unwrap().unwrap();
    assert!(
        !stored.header.running,
        "recorded as ended, so never resumed"
    );
    let again = run_with(
        &engine,
        two_calls(),
        json!(2),
        json!({"First": {}, "Second": {}}),
    )
    .await;
    assert_eq!(again.status, RunStatus::Succeeded, "the engine runs on");
}

#[tokio::test]
async fn a_run_whose_definition_no_longer_loads_is_marked_failed() {
    let store = store("unresumable");
    let engine = engine_with(&store, downstream(None));
    let header = crate::store::RunHeader {
        id: Engine::new_run_id().to_string(),
        workflow: "gone".into(),
        version: "0000000000000000".into(),
        status: RunStatus::Succeeded,
        running: true,
        start_time: chrono::Utc::now(),
        end_time: None,
        trigger: Value::Null,
        error: Value::Null,
        event_id: None,
        secure_trigger: false,
    };
    store.put_run(&header).await.unwrap();
    engine
        .fail_unresumable(
            &header,
            "definition version 0000000000000000 of 'gone' is not recorded",
        )
        .await
        .unwrap();
    let stored = store.run(&header.id).unwrap().unwrap();
    assert!(!stored.header.running);
    assert_eq!(stored.header.status, RunStatus::Failed);
    assert_eq!(
        stored.header.error.get("code"),
        Some(&Value::from("RecoveryFailed"))
    );
}
