//! One run of a 24-action workflow shaped like the Logic Apps sustained-processing study:
//! 3 InitializeVariable, 1 IncrementVariable, 2 Compose, 6 If, 8 Scope, 3 Function calls and
//! 1 Event Hubs send, the calls answered at once by an in-process handler (no network).
//!
//! `cargo bench --bench runtime`; runs/s = 1 / time per run, actions/s = 24 × runs/s, on one
//! core (a current-thread Tokio runtime).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use sluice_engine::definition::{check_workflow_text, ActionType};
use sluice_engine::expr::Value;
use sluice_engine::runtime::{
    ActionCall, ActionFailure, ActionHandler, BoxFuture, Engine, Handlers, Mocks, Plan,
};
use std::collections::HashMap;
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Instant200;

impl ActionHandler for Instant200 {
    fn execute<'a>(&'a self, call: ActionCall<'a>) -> BoxFuture<'a, Result<Value, ActionFailure>> {
        Box::pin(async move {
            let body = call.inputs.get("body").cloned().unwrap_or_default();
            Ok(Value::from_json(
                json!({"statusCode": 200, "body": {"echo": body.to_json(), "ok": true}}),
            ))
        })
    }
}

fn function(name: &str, run_after: serde_json::Value) -> (String, serde_json::Value) {
    (
        name.to_string(),
        json!({"type": "Function", "runAfter": run_after, "inputs": {
            "function": {"connectionName": "fn"}, "method": "POST",
            "body": {"id": "@triggerBody()?['id']", "n": "@variables('count')"}}}),
    )
}

fn workflow() -> serde_json::Value {
    let ok = json!(["Succeeded"]);
    json!({"definition": {
        "triggers": {"When_events_arrive": {"type": "Request", "kind": "Http", "inputs": {}}},
        "actions": {
            "Init_count": {"type": "InitializeVariable", "inputs": {"variables": [{"name": "count", "type": "integer", "value": 0}]}, "runAfter": {}},
            "Init_status": {"type": "InitializeVariable", "inputs": {"variables": [{"name": "status", "type": "string", "value": "new"}]}, "runAfter": {"Init_count": ok}},
            "Init_total": {"type": "InitializeVariable", "inputs": {"variables": [{"name": "total", "type": "float", "value": 0}]}, "runAfter": {"Init_status": ok}},
            "Validate": {"type": "Scope", "runAfter": {"Init_total": ok}, "actions": {
                "Parse_event": {"type": "Compose", "inputs": {"id": "@triggerBody()?['id']", "amount": "@triggerBody()?['amount']", "region": "@toUpper(triggerBody()?['region'])"}, "runAfter": {}},
                "Has_id": {"type": "If", "expression": {"and": [{"not": {"equals": ["@outputs('Parse_event')?['id']", "@null"]}}]}, "runAfter": {"Parse_event": ok},
                    "actions": {"Count": {"type": "IncrementVariable", "inputs": {"name": "count"}, "runAfter": {}}}, "else": {"actions": {}}}
            }},
            "Enrich": {"type": "Scope", "runAfter": {"Validate": ok}, "actions": {
                "Enrich_scope": {"type": "Scope", "runAfter": {}, "actions": {
                    "Is_large": {"type": "If", "expression": "@greater(triggerBody()?['amount'], 100)", "runAfter": {},
                        "actions": {"Large_path": {"type": "Scope", "runAfter": {}, "actions": Map::from([function("Score_large", json!({}))])}},
                        "else": {"actions": {"Small_path": {"type": "Scope", "runAfter": {}, "actions": Map::from([function("Score_small", json!({}))])}}}}
                }}
            }},
            "Route": {"type": "Scope", "runAfter": {"Enrich": ok}, "actions": {
                "Is_eu": {"type": "If", "expression": {"equals": ["@outputs('Parse_event')?['region']", "EU"]}, "runAfter": {},
                    "actions": {"Eu_scope": {"type": "Scope", "runAfter": {}, "actions": Map::from([function("Lookup_eu", json!({}))])}},
                    "else": {"actions": {}}},
                "Is_priority": {"type": "If", "expression": {"or": [{"greater": ["@variables('count')", 0]}, {"equals": ["@triggerBody()?['priority']", true]}]}, "runAfter": {"Is_eu": ok},
                    "actions": {}, "else": {"actions": {}}}
            }},
            "Finish": {"type": "Scope", "runAfter": {"Route": ok}, "actions": {
                "Status_ok": {"type": "If", "expression": "@equals(variables('status'), 'new')", "runAfter": {},
                    "actions": {"Summary": {"type": "Compose", "inputs": {"id": "@triggerBody()?['id']", "count": "@variables('count')", "at": "@{triggerBody()?['region']}-@{triggerBody()?['id']}"}, "runAfter": {}}},
                    "else": {"actions": {}}},
                "Send_status": {"type": "ServiceProvider", "runAfter": {"Status_ok": ok}, "inputs": {
                    "parameters": {"eventHubName": "status", "content": "@outputs('Summary')"},
                    "serviceProviderConfiguration": {"connectionName": "eventHub", "operationId": "sendEvent", "serviceProviderId": "/serviceProviders/eventHub"}}},
                "Sent": {"type": "If", "expression": "@equals(outputs('Send_status')?['statusCode'], 200)", "runAfter": {"Send_status": ok}, "actions": {}, "else": {"actions": {}}}
            }}
        }
    }, "kind": "Stateless"})
}

type Map = std::collections::BTreeMap<String, serde_json::Value>;

fn bench(c: &mut Criterion) {
    let report = check_workflow_text(&workflow().to_string(), "bench.json".as_ref(), "sustained");
    let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    let definition = report
        .workflow
        .unwrap_or_else(|| panic!("{}", problems.join("\n")));
    let plan = Arc::new(Plan::compile(&definition, &HashMap::new()).unwrap());
    let mut handlers = Handlers::default();
    handlers.register(ActionType::Function, Arc::new(Instant200));
    handlers.register(ActionType::ServiceProvider, Arc::new(Instant200));
    let engine = Engine::new(handlers, Arc::new(|_| None));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mocks = Arc::new(Mocks::new());
    let event = Value::from_json(
        json!({"headers": {}, "body": {"id": "evt-1", "amount": 250.5, "region": "eu", "priority": false}}),
    );

    let first = runtime.block_on(engine.run(plan.clone(), event.clone(), mocks.clone()));
    fn count(records: &[Arc<sluice_engine::runtime::ActionRecord>]) -> usize {
        records.iter().map(|a| 1 + count(&a.actions)).sum()
    }
    assert_eq!(format!("{:?}", first.status), "Succeeded");
    let executed = count(&first.actions);

    let mut group = c.benchmark_group("runtime");
    group.throughput(Throughput::Elements(executed as u64));
    group.bench_function(format!("sustained_run_{executed}_actions_executed"), |b| {
        b.iter(|| runtime.block_on(engine.run(plan.clone(), event.clone(), mocks.clone())))
    });
    group.finish();
}

criterion_group!(benches, bench, durability);
criterion_main!(benches);

/// The same workflow, stateless and stateful, as a sustained stream: 1,000 runs with 200 in
/// flight at any time, on one core for the runs (the store's writer thread takes the other):
/// how much the durable run store (sled, group commit) costs.
fn durability(c: &mut Criterion) {
    use futures_util::StreamExt;
    const RUNS: usize = 1000;
    const IN_FLIGHT: usize = 200;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("durability");
    group.throughput(Throughput::Elements(RUNS as u64));
    group.sample_size(20);
    for kind in ["Stateless", "Stateful"] {
        let mut doc = workflow();
        doc["kind"] = json!(kind);
        let report = check_workflow_text(&doc.to_string(), "bench.json".as_ref(), "sustained");
        let plan = Arc::new(Plan::compile(&report.workflow.unwrap(), &HashMap::new()).unwrap());
        let mut handlers = Handlers::default();
        handlers.register(ActionType::Function, Arc::new(Instant200));
        handlers.register(ActionType::ServiceProvider, Arc::new(Instant200));
        let dir = std::env::temp_dir().join(format!("sluice-bench-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store: sluice_engine::store::SharedStore =
            Arc::new(sluice_engine::store::DiskStore::open(&dir).unwrap());
        let engine = Engine::new(handlers, Arc::new(|_| None)).with_store(store);
        let mocks = Arc::new(Mocks::new());
        let event = Value::from_json(
            json!({"headers": {}, "body": {"id": "evt-1", "amount": 250.5, "region": "eu", "priority": false}}),
        );
        let name = format!("{}_{RUNS}_runs_{IN_FLIGHT}_in_flight", kind.to_lowercase());
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(
                    futures_util::stream::iter(0..RUNS)
                        .map(|_| engine.run(plan.clone(), event.clone(), mocks.clone()))
                        .buffer_unordered(IN_FLIGHT)
                        .collect::<Vec<_>>(),
                )
            })
        });
    }
    group.finish();
}
