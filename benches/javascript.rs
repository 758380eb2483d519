//! One JavaScriptCode execution: the `Flatten_skus` code of Microsoft's burst enricher on a
//! 10-item document, as the runtime runs it (the worker's cached engine and compiled
//! function; `workflowContext` converted in, the result converted out).
//!
//! `cargo bench --bench javascript`

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use sluice_engine::expr::Value;
use sluice_engine::runtime::builtin::javascript::{execute, Limits};
use sluice_engine::runtime::plan::script::Script;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn flatten_skus(c: &mut Criterion) {
    let code = "var skus = workflowContext.actions.Get_document.outputs.body.skus;\r\nreturn skus.map((el) => el.sku);";
    let script = Script::new(code, &["Get_document".to_string()]);
    let skus: Vec<_> = (0..10)
        .map(|i| json!({"sku": format!("sku-{i}"), "isDeleted": false, "versionId": 1621257217}))
        .collect();
    let context = Value::from_json(json!({
        "trigger": {"name": "manual", "outputs": {"headers": {}, "body": {}}},
        "actions": {"Get_document": {"name": "Get_document", "status": "Succeeded", "outputs": {"body": {"code": "Found", "skus": skus}}}},
        "workflow": {"id": "enricher", "name": "enricher", "run": {"id": "R"}}
    }));
    let limits = Limits {
        timeout: Duration::from_secs(15),
        memory_mb: 64,
    };
    let out = execute(&script, &context, &limits).unwrap();
    assert_eq!(out.as_array().map(<[Value]>::len), Some(10));
    c.bench_function("javascript/flatten_skus_10_items", |b| {
        b.iter(|| execute(&script, &context, &limits).unwrap())
    });
}

criterion_group!(benches, flatten_skus);
criterion_main!(benches);
