//! The throttling pattern of the Logic Apps scaling study, under `sluice run`: a stateful
//! parent sends each of 2,000 events to a child workflow (trigger concurrency 10, 20 waiting
//! runs) whose Http action calls `sluice mock function --capacity 10`. A full child queue
//! answers 429 + Retry-After and the parent's exponential retry policy backs off, so the
//! throttled function is never overrun and no event is lost or run twice.

mod support;

use serde_json::{json, Value};
use support::{app, finished_runs, get_json, mock_function, request, settings, start};

const EVENTS: usize = 2_000;

fn parent() -> Value {
    json!({"kind": "Stateful", "definition": {
        "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {},
            "splitOn": "@triggerBody()?['events']",
            "runtimeConfiguration": {"concurrency": {"runs": 50, "maximumWaitingRuns": EVENTS}}}},
        "actions": {"Send_to_child": {"type": "Workflow", "runAfter": {}, "inputs": {
            "host": {"workflow": {"id": "child"}, "triggerName": "manual"},
            "body": "@triggerBody()",
            "retryPolicy": {"type": "exponential", "count": 10, "interval": "PT1S",
                            "minimumInterval": "PT1S", "maximumInterval": "PT2S"}}}}}})
}

fn child() -> Value {
    json!({"kind": "Stateless", "definition": {
        "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {},
            "runtimeConfiguration": {"concurrency": {"runs": 10, "maximumWaitingRuns": 20}}}},
        "actions": {
            "Call_function": {"type": "Http", "runAfter": {}, "inputs": {"method": "GET",
                "uri": "@{appsetting('Downstream')}/api/work?ean=@{triggerBody()?['id']}"}},
            "Respond": {"type": "Response", "runAfter": {"Call_function": ["Succeeded"]},
                "inputs": {"statusCode": 200, "body": "@body('Call_function')"}}}}})
}

#[test]
fn a_throttled_child_is_never_overrun_and_no_event_is_lost() {
    let function = mock_function(&["--capacity", "10", "--latency-ms", "5"]);
    let dir = app("throttling", &[("parent", parent()), ("child", child())]);
    settings(&dir, &[("Downstream", &function.base)]);
    let sluice = start(&dir);
    let events: Vec<Value> = (0..EVENTS).map(|i| json!({"id": i})).collect();
    let (status, _, body) = request(
        &sluice.base,
        "POST",
        "/api/parent/triggers/manual/invoke",
        Some(&json!({"events": events})),
    );
    assert_eq!(status, 202, "{body}");
    let started: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(started["runs"].as_array().unwrap().len(), EVENTS);

    let finished = finished_runs(&sluice, &function, "parent", EVENTS as u64);
    assert_eq!(finished.len(), EVENTS, "one run per event");
    let failed: Vec<_> = finished
        .iter()
        .filter(|r| r["status"] != "Succeeded")
        .collect();
    assert!(
        failed.is_empty(),
        "{} runs did not succeed, e.g. {:#}",
        failed.len(),
        failed[0]
    );

    let stats = get_json(&function.base, "/_stats");
    assert!(stats["max_concurrent"].as_u64().unwrap() <= 10, "{stats}");
    assert_eq!(
        stats["rejected"], 0,
        "the child's concurrency kept the function under capacity: {stats}"
    );
    assert_eq!(stats["requests"], EVENTS, "one call per event: {stats}");
    assert_eq!(stats["idempotency_keys_seen"], EVENTS, "{stats}");
    assert_eq!(
        stats["max_requests_per_key"], 1,
        "no call was repeated: {stats}"
    );

    let (_, _, metrics) = request(&sluice.base, "GET", "/metrics", None);
    let retries = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sluice_action_retries_total "))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(retries > 0.0, "the parents were throttled and retried");
    eprintln!("{EVENTS} events, {retries} parent retries after 429, function stats {stats}");
}
