//! Retry policies and timeouts, timed on the paused clock.

use super::*;
use crate::definition::{ActionType, RunStatus};
use std::time::Duration;

fn call(retry: serde_json::Value, limit: Option<&str>) -> Arc<Plan> {
    let mut action = json!({"type": "Http", "inputs": {"method": "POST", "uri": "http://localhost/f", "body": "@triggerBody()", "retryPolicy": retry}, "runAfter": {}});
    if let Some(timeout) = limit {
        action["limit"] = json!({"timeout": timeout});
    }
    plan(json!({"Call": action}))
}

fn with(handler: Arc<Scripted>) -> Engine {
    let mut handlers = Handlers::default();
    handlers.register(ActionType::Http, handler);
    engine(handlers)
}

fn gaps(handler: &Scripted) -> Vec<u64> {
    let calls = handler.calls.lock().unwrap();
    calls
        .windows(2)
        .map(|w| (w[1].2 - w[0].2).as_secs())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn fixed_policy_retries_retryable_failures() {
    let handler = Scripted::new(vec![
        Err(ActionFailure::from_status(503, "busy", None)),
        Err(ActionFailure::from_status(429, "slow down", None)),
        Ok(json!({"statusCode": 200, "body": "done"})),
    ]);
    let r = run_with(
        &with(handler.clone()),
        call(
            json!({"type": "fixed", "count": 3, "interval": "PT20S"}),
            None,
        ),
        json!({"x": 1}),
        json!({}),
    )
    .await;
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!(gaps(&handler), [20, 20]);
    let record = find(&r, "Call");
    assert_eq!(
        record
            .retries
            .iter()
            .map(|t| t.code.as_str())
            .collect::<Vec<_>>(),
        ["ServiceUnavailable", "TooManyRequests"]
    );
    // Every attempt carries the same idempotency key and inputs.
    let calls = handler.calls.lock().unwrap();
    assert!(calls
        .iter()
        .all(|c| c.0 == format!("{}/Call", r.id) && c.1["body"] == json!({"x": 1})));
}

#[tokio::test(start_paused = true)]
async fn non_retryable_failures_and_exhausted_retries_fail() {
    let handler = Scripted::new(vec![Err(ActionFailure::from_status(400, "bad", None))]);
    let r = run_with(
        &with(handler.clone()),
        call(
            json!({"type": "fixed", "count": 3, "interval": "PT20S"}),
            None,
        ),
        json!(null),
        json!({}),
    )
    .await;
    assert_eq!(
        (r.status, handler.calls.lock().unwrap().len()),
        (RunStatus::Failed, 1)
    );
    assert_eq!(find(&r, "Call").code.as_deref(), Some("BadRequest"));

    let handler = Scripted::new(
        (0..5)
            .map(|_| Err(ActionFailure::connection("refused")))
            .collect(),
    );
    let r = run_with(
        &with(handler.clone()),
        call(json!({"type": "none"}), None),
        json!(null),
        json!({}),
    )
    .await;
    assert_eq!(
        (r.status, handler.calls.lock().unwrap().len()),
        (RunStatus::Failed, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn exponential_policy_waits_within_documented_bounds() {
    let handler = Scripted::new(
        (0..5)
            .map(|_| Err(ActionFailure::from_status(500, "down", None)))
            .collect(),
    );
    let policy = json!({"type": "exponential", "count": 4, "interval": "PT10S", "minimumInterval": "PT5S", "maximumInterval": "PT30S"});
    let r = run_with(
        &with(handler.clone()),
        call(policy, None),
        json!(null),
        json!({}),
    )
    .await;
    assert_eq!(r.status, RunStatus::Failed);
    let g = gaps(&handler);
    assert_eq!(g.len(), 4);
    let bounds = [(5, 10), (10, 20), (20, 30), (30, 30)];
    for (gap, (low, high)) in g.iter().zip(bounds) {
        assert!((low..=high).contains(gap), "{g:?}");
    }
    assert_eq!(find(&r, "Call").retries.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_and_capped() {
    let mut slow = ActionFailure::from_status(429, "slow down", None);
    slow.retry_after = Some(Duration::from_secs(600));
    let mut soon = ActionFailure::from_status(503, "soon", None);
    soon.retry_after = Some(Duration::from_secs(3));
    let handler = Scripted::new(vec![Err(slow), Err(soon), Ok(json!({"statusCode": 200}))]);
    let policy =
        json!({"type": "exponential", "count": 4, "interval": "PT10S", "maximumInterval": "PT1M"});
    let r = run_with(
        &with(handler.clone()),
        call(policy, None),
        json!(null),
        json!({}),
    )
    .await;
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!(gaps(&handler), [60, 3]);
}

#[tokio::test(start_paused = true)]
async fn default_policy_applies_to_http_and_timeout_turns_into_timed_out() {
    let handler = Scripted::new(
        (0..10)
            .map(|_| Err(ActionFailure::from_status(502, "bad gateway", None)))
            .collect(),
    );
    let r = run_with(&with(handler.clone()), plan(json!({"Call": {"type": "Http", "inputs": {"method": "GET", "uri": "http://localhost/"}, "runAfter": {}}})), json!(null), json!({})).await;
    assert_eq!(
        handler.calls.lock().unwrap().len(),
        5,
        "the default policy retries 4 times"
    );
    assert_eq!(r.status, RunStatus::Failed);

    let handler = Scripted::new(
        (0..10)
            .map(|_| Err(ActionFailure::from_status(503, "busy", None)))
            .collect(),
    );
    let r = run_with(
        &with(handler.clone()),
        call(
            json!({"type": "fixed", "count": 10, "interval": "PT30S"}),
            Some("PT50S"),
        ),
        json!(null),
        json!({}),
    )
    .await;
    let record = find(&r, "Call");
    assert_eq!(
        (record.status, record.code.as_deref()),
        (RunStatus::TimedOut, Some("ActionTimedOut"))
    );
    assert_eq!(handler.calls.lock().unwrap().len(), 2);
}
