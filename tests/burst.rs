//! Microsoft's burst benchmark, unchanged (`benchmarks/burst`: a stateful dispatcher that
//! splits each request's orders and calls the stateless enricher for each, which calls the
//! retail function over HTTP), under `sluice run` with `sluice mock function` as the retail
//! function: 10,000 messages end to end (with the enricher's JavaScriptCode), none lost, none
//! run twice.

mod support;

use serde_json::{json, Value};
use std::path::Path;
use std::time::Instant;
use support::{app, finished_runs, get_json, mock_function, request, settings, start};

const MESSAGES: usize = 10_000;
const PER_REQUEST: usize = 1_000;

#[test]
fn ten_thousand_messages_through_dispatcher_and_enricher() {
    let function = mock_function(&[]);
    let dir = app("burst", &[]);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("benchmarks/burst");
    for workflow in ["dispatcher", "enricher"] {
        std::fs::create_dir_all(dir.join(workflow)).unwrap();
        let file = Path::new(workflow).join("workflow.json");
        std::fs::copy(source.join(&file), dir.join(&file)).unwrap();
    }
    std::fs::copy(source.join("host.json"), dir.join("host.json")).unwrap();
    let retail = format!("{}/api/retail?ean=", function.base);
    settings(
        &dir,
        &[
            ("Enricher.RetailApiUrl", &retail),
            ("Enricher.Cosmos.DefaultTtl", "2592000"),
            ("Enricher.MaxMappingValidUntil", "30"),
        ],
    );
    let sluice = start(&dir);
    let began = Instant::now();
    for batch in 0..MESSAGES / PER_REQUEST {
        let orders: Vec<Value> = (0..PER_REQUEST)
            .map(|i| json!({"order": batch * PER_REQUEST + i}))
            .collect();
        let (status, _, body) = request(
            &sluice.base,
            "POST",
            "/api/dispatcher/triggers/manual/invoke",
            Some(&json!({"orders": orders})),
        );
        assert_eq!(status, 202, "{body}");
    }
    let api = "/runtime/webhooks/workflow/api/management/workflows/dispatcher/runs";
    let runs = finished_runs(&sluice, &function, "dispatcher", MESSAGES as u64);
    let elapsed = began.elapsed();
    assert_eq!(runs.len(), MESSAGES, "one run per event");
    let failed: Vec<_> = runs.iter().filter(|r| r["status"] != "Succeeded").collect();
    assert!(
        failed.is_empty(),
        "{} runs failed, e.g. {:#}",
        failed.len(),
        failed[0]
    );

    let one = get_json(
        &sluice.base,
        &format!("{api}/{}", runs[0]["id"].as_str().unwrap()),
    );
    let call = &one["actions"][1];
    assert_eq!(call["name"], "Invoke_a_workflow_in_this_workflow_app");
    assert_eq!(call["outputs"]["statusCode"], 200, "{call:#}");
    assert_eq!(
        call["outputs"]["body"]["PriceAvailableEvents"]["body"][0]["contentType"],
        "application/json",
        "the enricher's Response came back: {call:#}"
    );

    let stats = get_json(&function.base, "/_stats");
    assert_eq!(
        stats["requests"], MESSAGES,
        "one retail call per message: {stats}"
    );
    assert_eq!(stats["idempotency_keys_seen"], MESSAGES, "{stats}");
    eprintln!(
        "{MESSAGES} messages in {:.1} s (debug build): {:.0} messages/s",
        elapsed.as_secs_f64(),
        MESSAGES as f64 / elapsed.as_secs_f64()
    );
}
