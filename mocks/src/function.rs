//! `sluice mock function`: a local stand-in for a function or any JSON HTTP downstream, for
//! tests and the scenario benchmarks.
//!
//! Any method and path answers JSON after `latency`: with `?ean=E`, `{"skus":["sku-E"]}`
//! (the retail function of Microsoft's burst benchmark); otherwise `{"ok": true, "method",
//! "path", "body"}` echoing the request. With a capacity, at most that many requests are
//! served at once and the rest get 429 with `Retry-After` (a throttled downstream); with a
//! fail rate, that fraction of requests gets 500. `GET /_stats` reports the counters,
//! `GET /_keys` the requests served per `Idempotency-Key`.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the stand-in behaves.
#[derive(Debug, Clone, Default)]
pub struct MockConfig {
    /// Time taken by each request before it answers.
    pub latency: Duration,
    /// At most this many requests in progress; beyond, 429. None: unlimited.
    pub capacity: Option<u64>,
    /// Fraction (0–1) of requests answered 500.
    pub fail_rate: f64,
    /// The `Retry-After` of a 429, in seconds.
    pub retry_after_seconds: u64,
}

/// The counters `GET /_stats` reports.
#[derive(Debug, Default, Serialize)]
pub struct MockStats {
    pub requests: u64,
    pub max_concurrent: u64,
    pub rejected: u64,
    pub failed: u64,
    /// Distinct `Idempotency-Key` headers seen.
    pub idempotency_keys_seen: u64,
    /// Requests whose `Idempotency-Key` had been seen before (repeats of a call).
    pub repeated_keys: u64,
    /// The most requests served (not rejected) with one `Idempotency-Key`.
    pub max_requests_per_key: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    concurrent: AtomicU64,
    max_concurrent: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    keys: Mutex<(HashSet<String>, HashMap<String, u64>, u64)>,
}

#[derive(Clone)]
struct Mock {
    config: Arc<MockConfig>,
    counters: Arc<Counters>,
}

/// The stand-in's router.
pub fn router(config: MockConfig) -> Router {
    let mock = Mock {
        config: Arc::new(config),
        counters: Arc::default(),
    };
    Router::new()
        .route("/_stats", get(stats))
        .route("/_keys", get(keys))
        .fallback(serve)
        .with_state(mock)
}

async fn stats(State(mock): State<Mock>) -> Json<MockStats> {
    let c = &mock.counters;
    let keys = c.keys.lock().unwrap_or_else(|p| p.into_inner());
    Json(MockStats {
        requests: c.requests.load(Relaxed),
        max_concurrent: c.max_concurrent.load(Relaxed),
        rejected: c.rejected.load(Relaxed),
        failed: c.failed.load(Relaxed),
        idempotency_keys_seen: keys.0.len() as u64,
        repeated_keys: keys.2,
        max_requests_per_key: keys.1.values().copied().max().unwrap_or(0),
    })
}

/// Requests served per `Idempotency-Key`, for tests that check exactly-once effects.
async fn keys(State(mock): State<Mock>) -> Json<HashMap<String, u64>> {
    let keys = mock.counters.keys.lock().unwrap_or_else(|p| p.into_inner());
    Json(keys.1.clone())
}

/// Leaves the in-progress count when dropped (also when the caller goes away).
struct InProgress<'a>(&'a AtomicU64);

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

async fn serve(
    State(mock): State<Mock>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let c = &mock.counters;
    c.requests.fetch_add(1, Relaxed);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(key) = &key {
        let mut keys = c.keys.lock().unwrap_or_else(|p| p.into_inner());
        if !keys.0.insert(key.clone()) {
            keys.2 += 1;
        }
    }
    let now = c.concurrent.fetch_add(1, Relaxed) + 1;
    let _in_progress = InProgress(&c.concurrent);
    if mock.config.capacity.is_some_and(|cap| now > cap) {
        c.rejected.fetch_add(1, Relaxed);
        let retry_after = mock.config.retry_after_seconds.to_string();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after)],
            Json(json!({"error": {"code": "TooManyRequests", "message": "over capacity"}})),
        )
            .into_response();
    }
    c.max_concurrent.fetch_max(now, Relaxed);
    if let Some(key) = key {
        let mut keys = c.keys.lock().unwrap_or_else(|p| p.into_inner());
        *keys.1.entry(key).or_default() += 1;
    }
    if !mock.config.latency.is_zero() {
        tokio::time::sleep(mock.config.latency).await;
    }
    if mock.config.fail_rate > 0.0 && fastrand::f64() < mock.config.fail_rate {
        c.failed.fetch_add(1, Relaxed);
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"code": "InternalServerError", "message": "injected failure"}})),
        )
            .into_response();
    }
    if let Some(ean) = query.get("ean") {
        return Json(json!({"skus": [format!("sku-{ean}")]})).into_response();
    }
    let body = serde_json::from_slice::<serde_json::Value>(&body)
        .unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)));
    Json(json!({"ok": true, "method": method.as_str(), "path": uri.path(), "body": body}))
        .into_response()
}
