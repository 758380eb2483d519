//! The HttpWebhook action: subscribe with a callback URL (`listCallbackUrl()` in the
//! subscribe inputs), wait for the downstream to call it back on this instance's server, then
//! unsubscribe. The callback's headers and body are the action's outputs.
//!
//! The callback URL is named by the action's idempotency key, so it is the same across retries
//! and recovery. If the action ends without a callback (its `limit.timeout`, cancellation), the
//! unsubscribe call is still made.

use super::outbound::{Outbound, Request};
use super::server::{error, trigger_outputs};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use sluice_engine::expr::value::Map;
use sluice_engine::expr::Value;
use sluice_engine::runtime::{ActionCall, ActionFailure, ActionHandler, BoxFuture};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Webhook actions waiting for their callback, by idempotency key.
#[derive(Default)]
pub struct Callbacks {
    /// Waiters by key: more than one only while an earlier attempt of the same action is
    /// being torn down, and a callback goes to every one.
    waiting: Mutex<HashMap<String, Vec<oneshot::Sender<Value>>>>,
}

impl Callbacks {
    fn register(&self, key: &str) -> oneshot::Receiver<Value> {
        let (tx, rx) = oneshot::channel();
        self.lock().entry(key.to_string()).or_default().push(tx);
        rx
    }

    /// Hands a received callback (`{headers, body}`) to its waiting action; false when no
    /// action waits for that key.
    pub fn deliver(&self, key: &str, callback: Value) -> bool {
        let waiters = self.lock().remove(key).unwrap_or_default();
        let sent: Vec<bool> = waiters
            .into_iter()
            .map(|tx| tx.send(callback.clone()).is_ok())
            .collect();
        sent.contains(&true)
    }

    fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<oneshot::Sender<Value>>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs HttpWebhook actions.
pub struct HttpWebhookAction {
    pub outbound: Outbound,
    pub callbacks: Arc<Callbacks>,
}

/// While the action waits: on drop (callback received, timeout, cancellation) the
/// registration goes and the unsubscribe call is made.
struct Subscription {
    callbacks: Arc<Callbacks>,
    key: String,
    unsubscribe: Option<(Outbound, Request)>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.callbacks.forget(&self.key);
        if let Some((outbound, request)) = self.unsubscribe.take() {
            let key = self.key.clone();
            tokio::spawn(async move {
                let headers = [("Idempotency-Key", key.as_str())];
                match outbound.send(&request, &headers).await.map(|r| r.status) {
                    Ok(status) if status < 400 => {}
                    Ok(status) => tracing::warn!("webhook unsubscribe answered {status}"),
                    Err(e) => tracing::warn!("webhook unsubscribe failed: {}", e.message),
                }
            });
        }
    }
}

impl ActionHandler for HttpWebhookAction {
    fn execute<'a>(&'a self, call: ActionCall<'a>) -> BoxFuture<'a, Result<Value, ActionFailure>> {
        Box::pin(async move {
            let subscribe =
                Request::from_inputs(call.inputs.get("subscribe").unwrap_or(&Value::Null))
                    .map_err(|e| ActionFailure {
                        message: format!("subscribe: {}", e.message),
                        ..e
                    })?;
            let unsubscribe = call
                .inputs
                .get("unsubscribe")
                .filter(|u| !u.is_null())
                .map(Request::from_inputs)
                .transpose()
                .map_err(|e| ActionFailure {
                    message: format!("unsubscribe: {}", e.message),
                    ..e
                })?;
            let received = self.callbacks.register(call.idempotency_key);
            let mut subscription = Subscription {
                callbacks: self.callbacks.clone(),
                key: call.idempotency_key.to_string(),
                unsubscribe: None,
            };
            let headers = super::outbound::workflow_headers(&call, &subscribe);
            self.outbound
                .send(&subscribe, &headers)
                .await?
                .into_result()?;
            subscription.unsubscribe = unsubscribe.map(|u| (self.outbound.clone(), u));
            let mut received = received;
            let callback = loop {
                match (&mut received).await {
                    Ok(callback) => break callback,
                    // Our registration went with another attempt's teardown: wait again.
                    Err(_) => received = self.callbacks.register(call.idempotency_key),
                }
            };
            drop(subscription);
            let mut outputs = Map::default();
            outputs.insert("statusCode".into(), Value::from(200));
            for field in ["headers", "body"] {
                outputs.insert(
                    field.into(),
                    callback.get(field).cloned().unwrap_or_default(),
                );
            }
            Ok(Value::object(outputs))
        })
    }
}

/// The route the downstreams call back: `POST /runtime/webhooks/workflow/callbacks/{key}?sig=…`.
pub fn routes(callbacks: Arc<Callbacks>) -> Router {
    Router::new()
        .route(
            "/runtime/webhooks/workflow/callbacks/{key}",
            axum::routing::post(webhook_callback),
        )
        .with_state(callbacks)
}

async fn webhook_callback(
    State(callbacks): State<Arc<Callbacks>>,
    Path(key): Path<String>,
    Query(queries): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let expected = sluice_engine::runtime::run::webhook_signature(&key);
    let signed = queries.get("sig").is_some_and(|sig| {
        sluice_http::secrets::constant_time_eq(sig.as_bytes(), expected.as_bytes())
    });
    if !signed {
        return error(
            StatusCode::UNAUTHORIZED,
            "InvalidCallbackSignature",
            "this callback URL is not signed for this action; use the URL listCallbackUrl() gave",
        );
    }
    let callback = trigger_outputs(&headers, queries, &body, false);
    if callbacks.deliver(&key, callback) {
        StatusCode::OK.into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            "CallbackNotFound",
            "no webhook action is waiting for this callback (it ended or was never subscribed)",
        )
    }
}
