//! The app's HTTP server under `sluice run`, over real loopback HTTP: Request triggers (a
//! synchronous Response, 202 with polling, splitOn, 429 when the queue is full), the management
//! API, `/health` and `/metrics`.

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{app, header, request, request_with, start};

fn sample_app(name: &str) -> PathBuf {
    let dir = app(name, &[]);
    for workflow in ["hello", "orders"] {
        std::fs::create_dir_all(dir.join(workflow)).unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("workflows")
            .join(workflow)
            .join("workflow.json");
        std::fs::copy(source, dir.join(workflow).join("workflow.json")).unwrap();
    }
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/local.settings.json"),
        dir.join("local.settings.json"),
    )
    .unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/parameters.json"),
        dir.join("parameters.json"),
    )
    .unwrap();
    dir
}

#[test]
fn request_triggers_answer_synchronously_or_with_202() {
    let sluice = start(&sample_app("http-sample"));
    let (status, headers, body) = request(
        &sluice.base,
        "POST",
        "/api/hello/triggers/manual/invoke",
        Some(&json!({"name": "Ada"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"greeting": "Hello, Ada!"})
    );
    assert!(!header(&headers, "x-ms-workflow-run-id").is_empty());

    let order =
        json!({"orders": [{"id": "o-1", "lines": [{"sku": "A", "price": 10, "quantity": 2}]}]});
    let (status, headers, _) = request(
        &sluice.base,
        "POST",
        "/api/orders/triggers/When_orders_arrive/invoke",
        Some(&order),
    );
    assert_eq!(status, 202);
    let location = header(&headers, "location").to_string();
    let path = location.trim_start_matches(&sluice.base).to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let run = loop {
        let (status, _, body) = request(&sluice.base, "GET", &path, None);
        if status == 200 {
            break serde_json::from_str::<Value>(&body).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the run did not finish: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(run["status"], "Succeeded", "{run:#}");

    let (status, _, body) = request(
        &sluice.base,
        "GET",
        "/runtime/webhooks/workflow/api/management/workflows",
        None,
    );
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        list[0]["callbackUrl"],
        format!("{}/api/hello/triggers/manual/invoke", sluice.base)
    );
    let (status, _, body) = request(&sluice.base, "GET", "/health", None);
    assert_eq!((status, body.as_str()), (200, r#"{"status":"Healthy"}"#));
    let (status, _, _) = request(
        &sluice.base,
        "POST",
        "/api/nope/triggers/manual/invoke",
        Some(&json!({})),
    );
    assert_eq!(status, 404);
}

fn request_workflow(actions: Value, runtime: Value) -> Value {
    json!({"definition": {"triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}, "splitOn": "@triggerBody()?['items']", "runtimeConfiguration": runtime}}, "actions": actions}, "kind": "Stateless"})
}

#[test]
fn split_on_over_a_thousand_items_and_429_when_full() {
    let echo = request_workflow(
        json!({"Echo": {"type": "Compose", "inputs": "@triggerBody()", "runAfter": {}}}),
        json!({}),
    );
    let slow = request_workflow(
        json!({"Slow": {"type": "Wait", "inputs": {"interval": {"count": 5, "unit": "Second"}}, "runAfter": {}}}),
        json!({"concurrency": {"runs": 1, "maximumWaitingRuns": 1}}),
    );
    let sluice = start(&app("http-split", &[("echo", echo), ("slow", slow)]));
    let items: Vec<i64> = (0..1000).collect();
    let (status, _, body) = request(
        &sluice.base,
        "POST",
        "/api/echo/triggers/manual/invoke",
        Some(&json!({"items": items})),
    );
    assert_eq!(status, 202, "{body}");
    let runs: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1000);

    let one = json!({"items": [1]});
    let (first, _, _) = request(
        &sluice.base,
        "POST",
        "/api/slow/triggers/manual/invoke",
        Some(&one),
    );
    let (second, _, _) = request(
        &sluice.base,
        "POST",
        "/api/slow/triggers/manual/invoke",
        Some(&one),
    );
    let (third, headers, body) = request(
        &sluice.base,
        "POST",
        "/api/slow/triggers/manual/invoke",
        Some(&one),
    );
    assert_eq!((first, second), (202, 202), "one runs, one waits");
    assert_eq!(third, 429, "{body}");
    assert_eq!(header(&headers, "retry-after"), "1");
    assert!(body.contains("WorkflowTriggerIsThrottled"));
}

#[test]
fn metrics_are_valid_prometheus_text() {
    let sluice = start(&sample_app("http-metrics"));
    request(
        &sluice.base,
        "POST",
        "/api/hello/triggers/manual/invoke",
        Some(&json!({"name": "x"})),
    );
    let (status, headers, body) = request(&sluice.base, "GET", "/metrics", None);
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").starts_with("text/plain"));
    let sample = regex::Regex::new(
        r#"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? -?[0-9.eE+-]+$"#,
    )
    .unwrap();
    let mut samples = 0;
    for line in body.lines().filter(|l| !l.is_empty()) {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        assert!(sample.is_match(line), "not a Prometheus sample: {line}");
        samples += 1;
    }
    assert!(samples > 0);
    assert!(
        body.contains(r#"sluice_runs_completed_total{status="Succeeded"} 1"#),
        "{body}"
    );
    assert!(
        body.contains("# TYPE sluice_job_execution_delay_seconds summary"),
        "{body}"
    );
    for line in body.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split(' ').nth(2).unwrap();
        assert!(
            body.contains(&format!("# HELP {name} ")),
            "{name} has no HELP line:\n{body}"
        );
    }
}

#[test]
fn a_redelivered_event_with_a_tracking_id_runs_once() {
    let sluice = start(&sample_app("http-dedup"));
    let order = json!({"orders": [{"id": "o-1", "lines": []}, {"id": "o-2", "lines": []}]});
    let path = "/api/orders/triggers/When_orders_arrive/invoke";
    let send = |tracking: &str| {
        let (status, _, body) = request_with(&sluice.base, "POST", path, Some(&order), tracking);
        assert_eq!(status, 202, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["runs"].clone()
    };
    let first = send("x-ms-client-tracking-id: batch-42\r\n");
    let again = send("x-ms-client-tracking-id: batch-42\r\n");
    let other = send("");
    assert_eq!(first.as_array().unwrap().len(), 2);
    assert_eq!(
        first, again,
        "the redelivery gets the runs the first delivery started"
    );
    assert_ne!(first, other, "without a tracking id every delivery runs");
}
