//! Actions that call out over HTTP, under `sluice run`, against a real downstream server in
//! this test process and `sluice mock function`: Http (headers, queries, body, the
//! idempotency key, retries after `Retry-After`, the 202 + `Location` pattern), HttpWebhook
//! (subscribe, callback, unsubscribe), Function through connections.json, access keys,
//! schema validation on arrival, and the management API (runs list, resubmit, cancel).

mod support;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{
    app, get_json, header, mock_function, request, request_with, settings, start, wait_for,
};

/// What the downstream saw.
#[derive(Default)]
struct Seen {
    /// (path, idempotency key, x-ms-workflow-name, body)
    calls: Vec<(String, String, String, Value)>,
    attempts: HashMap<String, u32>,
    polls: u32,
}

type Shared = Arc<Mutex<Seen>>;

fn record(seen: &Shared, path: &str, headers: &HeaderMap, body: &Value) -> u32 {
    let text = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut seen = seen.lock().unwrap();
    let key = text("idempotency-key");
    seen.calls.push((
        path.into(),
        key.clone(),
        text("x-ms-workflow-name"),
        body.clone(),
    ));
    let n = seen.attempts.entry(format!("{path} {key}")).or_default();
    *n += 1;
    *n
}

async fn echo(
    State(seen): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    record(&seen, "/echo", &headers, &body);
    let test = headers
        .get("x-test")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Json(json!({"got": body, "x-test": test}))
}

/// 503 with `Retry-After: 0` on the first attempt of each idempotency key, then 200.
async fn flaky(State(seen): State<Shared>, headers: HeaderMap) -> impl IntoResponse {
    match record(&seen, "/flaky", &headers, &Value::Null) {
        1 => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "0")],
            Json(json!({"busy": true})),
        ),
        n => (
            StatusCode::OK,
            [("x-attempt", "")],
            Json(json!({"attempt": n})),
        ),
    }
}

/// 202 + `Location` (relative), polled until the second poll.
async fn start_job(State(seen): State<Shared>, headers: HeaderMap) -> impl IntoResponse {
    record(&seen, "/async", &headers, &Value::Null);
    (
        StatusCode::ACCEPTED,
        [("location", "/async/status/7"), ("retry-after", "0")],
        "",
    )
}

async fn job_status(State(seen): State<Shared>, UrlPath(id): UrlPath<String>) -> impl IntoResponse {
    let polls = {
        let mut seen = seen.lock().unwrap();
        seen.polls += 1;
        seen.polls
    };
    if polls < 2 {
        (
            StatusCode::ACCEPTED,
            [("retry-after", "0")],
            Json(json!({"running": id})),
        )
    } else {
        (
            StatusCode::OK,
            [("retry-after", "0")],
            Json(json!({"done": id})),
        )
    }
}

/// Records the subscription and calls the callback URL back a little later.
async fn subscribe(
    State(seen): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    record(&seen, "/subscribe", &headers, &body);
    let url = body["callbackUrl"].as_str().unwrap_or_default().to_string();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(r#"{"event":"fired"}"#)
            .send()
            .await
            .unwrap();
    });
    StatusCode::OK
}

async fn unsubscribe(State(seen): State<Shared>, headers: HeaderMap) -> StatusCode {
    record(&seen, "/unsubscribe", &headers, &Value::Null);
    StatusCode::OK
}

/// Serves the downstream on an ephemeral port from a thread of its own.
fn downstream() -> (String, Shared) {
    let seen: Shared = Arc::default();
    let state = seen.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(format!("http://{}", listener.local_addr().unwrap()))
                .unwrap();
            let router = Router::new()
                .route("/echo", post(echo))
                .route("/flaky", post(flaky))
                .route("/async", post(start_job))
                .route("/async/status/{id}", get(job_status))
                .route("/subscribe", post(subscribe))
                .route("/unsubscribe", post(unsubscribe))
                .with_state(state);
            axum::serve(listener, router).await.unwrap();
        });
    });
    (rx.recv().unwrap(), seen)
}

fn calls_workflow(down: &str) -> Value {
    let http = |uri: String, after: &str| {
        json!({"type": "Http", "inputs": {"method": "POST", "uri": uri,
               "retryPolicy": {"type": "fixed", "count": 3, "interval": "PT10S"}},
               "runAfter": {after: ["Succeeded"]}})
    };
    json!({"kind": "Stateful", "definition": {
    "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
    "actions": {
        "Echo": {"type": "Http", "runAfter": {}, "inputs": {"method": "POST", "uri": format!("{down}/echo"),
                 "headers": {"X-Test": "yes"}, "queries": {"q": "v"}, "body": {"n": "@triggerBody()?['n']"}}},
        "Flaky": http(format!("{down}/flaky"), "Echo"),
        "Async": http(format!("{down}/async"), "Flaky"),
        "Hook": {"type": "HttpWebhook", "runAfter": {"Async": ["Succeeded"]}, "inputs": {
            "subscribe": {"method": "POST", "uri": format!("{down}/subscribe"), "body": {"callbackUrl": "@{listCallbackUrl()}"}},
            "unsubscribe": {"method": "POST", "uri": format!("{down}/unsubscribe")}}},
        "Skus": {"type": "Function", "runAfter": {"Hook": ["Succeeded"]},
                 "inputs": {"function": {"connectionName": "retail"}, "method": "GET", "queries": {"ean": "42"}}},
        "Respond": {"type": "Response", "runAfter": {"Skus": ["Succeeded"]}, "inputs": {"statusCode": 200, "body": {
            "echo": "@body('Echo')", "flaky": "@body('Flaky')", "async": "@body('Async')",
            "hook": "@body('Hook')", "skus": "@body('Skus')"}}}
    }}})
}

#[test]
fn http_webhook_and_function_actions_call_real_servers() {
    let (down, seen) = downstream();
    let mock = mock_function(&[]);
    let dir = app("http-actions", &[("calls", calls_workflow(&down))]);
    settings(
        &dir,
        &[
            ("RetailUrl", &format!("{}/api/skus", mock.base)),
            ("RetailKey", "k1"),
        ],
    );
    let connections = json!({"functionConnections": {"retail": {
        "function": {"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/retail/functions/skus"},
        "triggerUrl": "@appsetting('RetailUrl')",
        "authentication": {"type": "QueryString", "name": "Code", "value": "@appsetting('RetailKey')"}}}});
    std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
    let sluice = start(&dir);
    let (status, headers, body) = request(
        &sluice.base,
        "POST",
        "/api/calls/triggers/manual/invoke",
        Some(&json!({"n": 5})),
    );
    assert_eq!(status, 200, "{body}");
    let out: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(out["echo"], json!({"got": {"n": 5}, "x-test": "yes"}));
    // The action retried once after the 503's Retry-After. (The downstream's own count is
    // not asserted: hyper now and then re-sends a request on a reused connection, which the
    // Idempotency-Key makes harmless.)
    let runs = support::get_json(
        &sluice.base,
        "/runtime/webhooks/workflow/api/management/workflows/calls/runs",
    );
    let id = runs["value"][0]["id"].as_str().unwrap().to_string();
    let run = support::wait_for(Duration::from_secs(30), "the run to be recorded", || {
        let run = support::get_json(
            &sluice.base,
            &format!("/runtime/webhooks/workflow/api/management/workflows/calls/runs/{id}"),
        );
        (run["status"] == "Succeeded").then_some(run)
    });
    let flaky = run["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Flaky")
        .unwrap();
    assert_eq!(flaky["status"], "Succeeded");
    let retries = flaky["retries"].as_array().unwrap();
    assert_eq!(retries.len(), 1, "retried after Retry-After: {flaky}");
    assert_eq!(retries[0]["code"], "ServiceUnavailable");
    assert!(out["flaky"]["attempt"].as_u64().unwrap() >= 2);
    assert_eq!(
        out["async"],
        json!({"done": "7"}),
        "the Location was polled to the end"
    );
    assert_eq!(
        out["hook"],
        json!({"event": "fired"}),
        "the callback's body"
    );
    assert_eq!(out["skus"], json!({"skus": ["sku-42"]}));

    let run_id = header(&headers, "x-ms-workflow-run-id").to_string();
    let seen = wait_for(Duration::from_secs(5), "the unsubscribe call", || {
        let seen = seen.lock().unwrap();
        seen.calls
            .iter()
            .any(|c| c.0 == "/unsubscribe")
            .then(|| seen.calls.clone())
    });
    let keys: HashMap<&str, &str> = seen.iter().map(|c| (c.0.as_str(), c.1.as_str())).collect();
    assert_eq!(keys["/echo"], format!("{run_id}/Echo"));
    assert_eq!(keys["/subscribe"], format!("{run_id}/Hook"));
    assert!(
        seen.iter().all(|c| c.0 == "/unsubscribe" || c.2 == "calls"),
        "workflow headers: {seen:?}"
    );
    let flaky: Vec<_> = seen
        .iter()
        .filter(|c| c.0 == "/flaky")
        .map(|c| c.1.as_str())
        .collect();
    assert_eq!(
        flaky,
        vec![format!("{run_id}/Flaky"); 2],
        "a retry keeps the idempotency key"
    );

    let history = get_json(
        &sluice.base,
        &format!("/runtime/webhooks/workflow/api/management/workflows/calls/runs/{run_id}"),
    );
    let flaky = history["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Flaky")
        .unwrap();
    assert_eq!(
        flaky["retries"].as_array().map(Vec::len),
        Some(1),
        "{flaky:#}"
    );
}

fn guarded_workflow() -> Value {
    json!({"kind": "Stateless", "definition": {
        "triggers": {"manual": {"type": "Request", "kind": "Http", "operationOptions": "EnableSchemaValidation",
            "inputs": {"schema": {"type": "object", "required": ["qty"], "properties": {"qty": {"type": "integer"}}}}}},
        "actions": {"Ok": {"type": "Response", "runAfter": {}, "inputs": {"statusCode": 200, "body": "@triggerBody()?['qty']"}}}}})
}

#[test]
fn access_keys_and_schema_validation_guard_request_triggers() {
    let dir = app("http-guarded", &[("guarded", guarded_workflow())]);
    settings(&dir, &[("Workflows.guarded.AccessKey", "s3cret")]);
    let sluice = start(&dir);
    let path = "/api/guarded/triggers/manual/invoke";
    let (status, _, body) = request(&sluice.base, "POST", path, Some(&json!({"qty": 1})));
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = request(
        &sluice.base,
        "POST",
        &format!("{path}?sig=wrong"),
        Some(&json!({"qty": 1})),
    );
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = request(
        &sluice.base,
        "POST",
        &format!("{path}?sig=s3cret"),
        Some(&json!({"qty": "many"})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("qty"), "the failed property is named: {body}");
    let (status, _, body) = request(
        &sluice.base,
        "POST",
        &format!("{path}?sig=s3cret"),
        Some(&json!({"n": 1})),
    );
    assert_eq!(status, 400, "a missing required property: {body}");
    let (status, _, body) = request_with(
        &sluice.base,
        "POST",
        path,
        Some(&json!({"qty": 3})),
        "sig: s3cret\r\n",
    );
    assert_eq!((status, body.as_str()), (200, "3"));
    let list = get_json(
        &sluice.base,
        "/runtime/webhooks/workflow/api/management/workflows",
    );
    assert_eq!(
        list[0]["callbackUrl"],
        format!("{}{path}?sig=s3cret", sluice.base)
    );
}

#[test]
fn runs_are_listed_resubmitted_and_cancelled_over_the_management_api() {
    let quick = json!({"kind": "Stateful", "definition": {
        "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
        "actions": {"Double": {"type": "Compose", "runAfter": {}, "inputs": "@mul(triggerBody()?['n'], 2)"}}}});
    let sleepy = json!({"kind": "Stateful", "definition": {
        "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
        "actions": {"Nap": {"type": "Wait", "runAfter": {}, "inputs": {"interval": {"count": 60, "unit": "Second"}}}}}});
    let sluice = start(&app(
        "http-management",
        &[("quick", quick), ("sleepy", sleepy)],
    ));
    let api = "/runtime/webhooks/workflow/api/management/workflows";
    let (status, headers, _) = request(
        &sluice.base,
        "POST",
        "/api/quick/triggers/manual/invoke",
        Some(&json!({"n": 21})),
    );
    assert_eq!(status, 202);
    let first = header(&headers, "x-ms-workflow-run-id").to_string();
    let listed = wait_for(Duration::from_secs(10), "the run in history", || {
        let list = get_json(&sluice.base, &format!("{api}/quick/runs?status=Succeeded"));
        (list["value"].as_array().unwrap().len() == 1).then_some(list)
    });
    assert_eq!(listed["value"][0]["id"], first.as_str());

    let (status, headers, body) = request(
        &sluice.base,
        "POST",
        &format!("{api}/quick/runs/{first}/resubmit"),
        None,
    );
    assert_eq!(status, 202, "{body}");
    let location = header(&headers, "location")
        .trim_start_matches(&sluice.base)
        .to_string();
    let again = wait_for(Duration::from_secs(10), "the resubmitted run", || {
        let (status, _, body) = request(&sluice.base, "GET", &location, None);
        (status == 200).then(|| serde_json::from_str::<Value>(&body).unwrap())
    });
    assert_eq!(again["status"], "Succeeded");
    assert_ne!(again["id"], first.as_str());
    assert_eq!(again["actions"][0]["outputs"], 42, "{again:#}");
    let (status, _, _) = request(
        &sluice.base,
        "POST",
        &format!("{api}/quick/runs/NOPE/resubmit"),
        None,
    );
    assert_eq!(status, 404);

    let (status, headers, _) = request(
        &sluice.base,
        "POST",
        "/api/sleepy/triggers/manual/invoke",
        Some(&json!({})),
    );
    assert_eq!(status, 202);
    let napping = header(&headers, "x-ms-workflow-run-id").to_string();
    let (status, _, body) = request(
        &sluice.base,
        "POST",
        &format!("{api}/sleepy/runs/{napping}/cancel"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let cancelled = wait_for(Duration::from_secs(10), "the cancelled run", || {
        // 404 until the cancelled run has been recorded.
        let (_, _, body) = request(
            &sluice.base,
            "GET",
            &format!("{api}/sleepy/runs/{napping}"),
            None,
        );
        let run: Value = serde_json::from_str(&body).ok()?;
        (run["status"] == "Cancelled").then_some(run)
    });
    assert_eq!(cancelled["error"]["code"], "Cancelled");
    let (status, _, _) = request(
        &sluice.base,
        "POST",
        &format!("{api}/sleepy/runs/{napping}/cancel"),
        None,
    );
    assert_eq!(status, 409, "an ended run cannot be cancelled again");
}

#[test]
fn a_child_workflow_on_another_instance_is_called_over_http() {
    let child = json!({"kind": "Stateless", "definition": {
        "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
        "actions": {"Answer": {"type": "Response", "runAfter": {}, "inputs": {"statusCode": 200,
            "body": {"doubled": "@mul(triggerBody()?['n'], 2)"}}}}}});
    let remote = start(&app("http-remote-child", &[("child", child)]));
    let parent = json!({"kind": "Stateful", "definition": {
        "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
        "actions": {
            "Call_child": {"type": "Workflow", "runAfter": {}, "inputs": {
                "host": {"workflow": {"id": "child"}, "triggerName": "manual"}, "body": {"n": "@triggerBody()?['n']"}}},
            "Respond": {"type": "Response", "runAfter": {"Call_child": ["Succeeded"]},
                "inputs": {"statusCode": 200, "body": "@body('Call_child')"}}}}});
    let dir = app("http-remote-parent", &[("parent", parent)]);
    settings(&dir, &[("Sluice.Workflows.child.BaseUrl", &remote.base)]);
    let local = start(&dir);
    let (status, _, body) = request(
        &local.base,
        "POST",
        "/api/parent/triggers/manual/invoke",
        Some(&json!({"n": 21})),
    );
    assert_eq!((status, body.as_str()), (200, r#"{"doubled":42}"#));
}
