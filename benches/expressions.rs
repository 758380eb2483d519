//! Compiling and evaluating representative templates: a condition object, an interpolated
//! string, and a 20-field `inputs` object with 10 expressions.
//!
//! `cargo bench --bench expressions` (release build). Evaluation reads a realistic context:
//! a trigger body of an order with 10 lines, two variables and one action output.

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use sluice_engine::expr::{JsonContext, Template, Value};
use std::hint::black_box;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn context() -> JsonContext {
    let lines: Vec<_> = (0..10)
        .map(|i| json!({"sku": format!("SKU-{i}"), "price": 9.5 + i as f64, "quantity": i + 1}))
        .collect();
    JsonContext::new(Value::from_json(json!({
        "triggerBody": {"id": "order-42", "customer": {"name": "Sophia Owen", "tier": "gold"}, "total": 512.25, "lines": lines},
        "variables": {"discount": 0.1, "count": 7},
        "parameters": {"threshold": 100},
        "actions": {"Get_customer": {"status": "Succeeded", "outputs": {"statusCode": 200, "body": {"email": "sophia@example.com", "country": "NL"}}}}
    })))
}

fn condition() -> serde_json::Value {
    json!({"and": [
        {"greater": ["@triggerBody()?['total']", "@parameters('threshold')"]},
        {"equals": ["@triggerBody()?['customer']?['tier']", "gold"]},
        {"not": {"equals": ["@body('Get_customer')?['country']", "US"]}}
    ]})
}

fn interpolated() -> serde_json::Value {
    json!("Order @{triggerBody()?['id']} for @{triggerBody()?['customer']?['name']}: @{length(triggerBody()?['lines'])} lines, total @{triggerBody()?['total']}")
}

fn inputs() -> serde_json::Value {
    json!({
        "method": "POST",
        "uri": "@{appsetting('Api')}/orders/@{triggerBody()?['id']}",
        "headers": {"Content-Type": "application/json", "x-tier": "@triggerBody()?['customer']?['tier']"},
        "body": {
            "id": "@triggerBody()?['id']",
            "email": "@body('Get_customer')?['email']",
            "total": "@mul(triggerBody()?['total'], sub(1, variables('discount')))",
            "count": "@variables('count')",
            "first": "@first(triggerBody()?['lines'])?['sku']",
            "upper": "@toUpper(triggerBody()?['customer']?['name'])",
            "large": "@greater(triggerBody()?['total'], parameters('threshold'))",
            "source": "sluice",
            "version": 3,
            "flags": ["a", "b"],
            "channel": "web",
            "region": "eu-west",
            "priority": 2,
            "currency": "EUR",
            "note": "literal text",
            "retries": 0,
            "trace": true
        }
    })
}

fn bench(c: &mut Criterion) {
    std::env::set_var("Api", "https://api.example.com");
    let ctx = context();
    let cases = [
        ("condition", condition(), true),
        ("interpolated", interpolated(), false),
        ("inputs_20_fields_10_expressions", inputs(), false),
    ];
    for (name, value, is_condition) in cases {
        let compile = |v: &serde_json::Value| {
            if is_condition {
                Template::compile_condition(v)
            } else {
                Template::compile(v)
            }
            .expect("compiles")
        };
        c.bench_function(&format!("compile/{name}"), |b| {
            b.iter(|| compile(black_box(&value)))
        });
        let template = compile(&value);
        template.evaluate(&ctx).expect("evaluates");
        c.bench_function(&format!("evaluate/{name}"), |b| {
            b.iter(|| template.evaluate(black_box(&ctx)).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
