//! The app's HTTP server.
//!
//! - `POST /api/{workflow}/triggers/{trigger}/invoke`: a Request trigger. A workflow with a
//!   Response action answers with that response once it has run; any other answers 202 with the
//!   run's `Location`. A full waiting queue answers 429 with `Retry-After`.
//! - `GET /runtime/webhooks/workflow/api/management/workflows`: the workflows and their
//!   callback URLs; `.../workflows/{workflow}/runs/{id}`: one run (202 while it runs).
//! - `GET /health`, `GET /metrics` (Prometheus text).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use sluice_engine::definition::TriggerType;
use sluice_engine::expr::value::Map;
use sluice_engine::expr::Value;
use sluice_engine::runtime::host::{Host, Rejected};
use sluice_engine::runtime::RunRecord;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How long a caller refused with 429 should wait, in seconds.
const RETRY_AFTER_SECONDS: &str = "1";
/// Finished runs kept in memory for status polling (stateless runs have no stored history).
const RECENT_RUNS: usize = 10_000;

/// What the handlers share.
#[derive(Clone)]
pub struct Server {
    pub host: Arc<Host>,
    /// Base URL for callback URLs and `Location` headers, e.g. `http://127.0.0.1:7071`.
    pub base_url: String,
    pub metrics: Option<PrometheusHandle>,
    recent: Arc<Mutex<RecentRuns>>,
}

/// Finished runs by id, oldest first in `order`.
#[derive(Default)]
struct RecentRuns {
    by_id: HashMap<String, Arc<RunRecord>>,
    order: VecDeque<String>,
}

impl Server {
    pub fn new(host: Arc<Host>, base_url: String, metrics: Option<PrometheusHandle>) -> Server {
        Server {
            host,
            base_url,
            metrics,
            recent: Arc::default(),
        }
    }

    fn remember(&self, run: RunRecord) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let id = run.id.to_string();
        recent.by_id.insert(id.clone(), Arc::new(run));
        recent.order.push_back(id);
        while recent.order.len() > RECENT_RUNS {
            if let Some(old) = recent.order.pop_front() {
                recent.by_id.remove(&old);
            }
        }
    }

    fn callback_url(&self, workflow: &str, trigger: &str) -> String {
        format!("{}/api/{workflow}/triggers/{trigger}/invoke", self.base_url)
    }

    fn run_url(&self, workflow: &str, id: &str) -> String {
        format!(
            "{}/runtime/webhooks/workflow/api/management/workflows/{workflow}/runs/{id}",
            self.base_url
        )
    }
}

/// The router of the app's server.
pub fn router(server: Server) -> Router {
    Router::new()
        .route("/api/{workflow}/triggers/{trigger}/invoke", post(invoke))
        .route(
            "/runtime/webhooks/workflow/api/management/workflows",
            get(workflows),
        )
        .route(
            "/runtime/webhooks/workflow/api/management/workflows/{workflow}/runs/{id}",
            get(run_status),
        )
        .route(
            "/health",
            get(|| async { Json(json!({"status": "Healthy"})) }),
        )
        .route("/metrics", get(metrics))
        .with_state(server)
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message.into()}})),
    )
        .into_response()
}

/// The trigger outputs of a request: `{headers, queries, body}`, the body parsed when JSON.
fn trigger_outputs(headers: &HeaderMap, queries: HashMap<String, String>, body: &Bytes) -> Value {
    let mut header_map = Map::default();
    for (name, value) in headers {
        header_map.insert(
            name.as_str().to_string(),
            Value::from(value.to_str().unwrap_or_default()),
        );
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let body = if body.is_empty() {
        Value::Null
    } else if let Ok(json) = serde_json::from_slice::<Value>(body) {
        json
    } else if content_type.starts_with("text/") || std::str::from_utf8(body).is_ok() {
        Value::from(String::from_utf8_lossy(body).into_owned())
    } else {
        sluice_engine::expr::functions::binary_value(body, content_type)
    };
    let mut query_map = Map::default();
    for (k, v) in queries
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "sig" | "sp" | "sv" | "api-version"))
    {
        query_map.insert(k, Value::from(v));
    }
    let mut outputs = Map::default();
    outputs.insert("headers".into(), Value::object(header_map));
    outputs.insert("queries".into(), Value::object(query_map));
    outputs.insert("body".into(), body);
    Value::object(outputs)
}

async fn invoke(
    State(server): State<Server>,
    Path((workflow, trigger)): Path<(String, String)>,
    Query(queries): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((name, hosted)) = server
        .host
        .workflows
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&workflow))
    else {
        return error(
            StatusCode::NOT_FOUND,
            "WorkflowNotFound",
            format!("no workflow '{workflow}' in this app"),
        );
    };
    let trigger_name = hosted
        .plan
        .trigger
        .as_ref()
        .map(|t| t.name.to_string())
        .unwrap_or_default();
    if hosted.trigger_type != Some(TriggerType::Request)
        || !trigger_name.eq_ignore_ascii_case(&trigger)
    {
        return error(
            StatusCode::NOT_FOUND,
            "TriggerNotFound",
            format!("workflow '{name}' has no Request trigger '{trigger}'"),
        );
    }
    let responds = hosted.plan.responds();
    let tracking_id = headers
        .get("x-ms-client-tracking-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let outputs = trigger_outputs(&headers, queries, &body);
    let accepted = match server.host.accept(name, outputs, tracking_id.as_deref()) {
        Ok(accepted) => accepted,
        Err(Rejected::QueueFull) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "WorkflowTriggerIsThrottled",
                format!("workflow '{name}' has reached its limit of concurrent and waiting runs"),
            );
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static(RETRY_AFTER_SECONDS));
            return response;
        }
        Err(Rejected::SplitOn(message)) => {
            return error(StatusCode::BAD_REQUEST, "InvalidSplitOn", message)
        }
        Err(Rejected::Unknown) => {
            return error(StatusCode::NOT_FOUND, "WorkflowNotFound", workflow)
        }
    };
    let first = accepted
        .run_ids
        .first()
        .map(|id| id.to_string())
        .unwrap_or_default();
    let location = server.run_url(name, &first);
    if !responds {
        let keeper = server.clone();
        tokio::spawn(async move {
            if let Ok(runs) = accepted.done.await {
                runs.into_iter().for_each(|run| keeper.remember(run));
            }
        });
        let mut response = (StatusCode::ACCEPTED, Json(json!({"runs": accepted.run_ids.iter().map(|id| id.to_string()).collect::<Vec<_>>()}))).into_response();
        set_header(&mut response, "location", &location);
        set_header(&mut response, "x-ms-workflow-run-id", &first);
        return response;
    }
    let runs = accepted.done.await.unwrap_or_default();
    let Some(run) = runs.into_iter().next() else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "RunLost",
            "the run did not complete",
        );
    };
    let answer = if run.response.is_null() {
        error(
            StatusCode::BAD_GATEWAY,
            "NoResponse",
            format!(
                "the run ended {} without reaching its Response action: {}",
                run.status, run.error
            ),
        )
    } else {
        workflow_response(&run.response)
    };
    let mut answer = answer;
    set_header(&mut answer, "x-ms-workflow-run-id", &run.id);
    server.remember(run);
    answer
}

fn set_header(response: &mut Response, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
        response.headers_mut().insert(n, v);
    }
}

/// What a Response action recorded, as an HTTP response.
fn workflow_response(recorded: &Value) -> Response {
    let status = recorded
        .get("statusCode")
        .and_then(|s| {
            s.as_f64()
                .or_else(|| s.as_str().and_then(|t| t.parse().ok()))
        })
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::OK);
    let body = recorded.get("body").cloned().unwrap_or_default();
    let (bytes, default_type) = match &body {
        Value::Null => (Vec::new(), None),
        Value::String(s) => (s.as_bytes().to_vec(), Some("text/plain; charset=utf-8")),
        other => (
            serde_json::to_vec(other).unwrap_or_default(),
            Some("application/json; charset=utf-8"),
        ),
    };
    let mut response = (status, bytes).into_response();
    if let Some(t) = default_type {
        set_header(&mut response, "content-type", t);
    }
    for (name, value) in recorded
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        set_header(
            &mut response,
            name,
            &sluice_engine::expr::functions::to_text(value),
        );
    }
    response
}

async fn workflows(State(server): State<Server>) -> Json<serde_json::Value> {
    let mut names: Vec<&String> = server.host.workflows.keys().collect();
    names.sort();
    let list: Vec<_> = names
        .into_iter()
        .map(|name| {
            let hosted = &server.host.workflows[name];
            let trigger = hosted.plan.trigger.as_ref().map(|t| t.name.to_string());
            let callback = match (&trigger, hosted.trigger_type) {
                (Some(t), Some(TriggerType::Request)) => json!(server.callback_url(name, t)),
                _ => serde_json::Value::Null,
            };
            json!({"name": name, "kind": hosted.plan.kind.as_str(), "trigger": trigger,
                   "triggerType": hosted.trigger_type.map(|t| t.as_str()), "callbackUrl": callback})
        })
        .collect();
    Json(json!(list))
}

async fn run_status(
    State(server): State<Server>,
    Path((workflow, id)): Path<(String, String)>,
) -> Response {
    let recent = server
        .recent
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .by_id
        .get(&id)
        .cloned();
    if let Some(run) = recent {
        return (
            StatusCode::OK,
            Json(serde_json::to_value(&*run).unwrap_or_default()),
        )
            .into_response();
    }
    if let Some(store) = server.host.engine.store() {
        if let Ok(Some(stored)) = store.run(&id) {
            let h = &stored.header;
            let status = if h.running {
                "Running"
            } else {
                h.status.as_str()
            };
            let body = json!({"id": h.id, "workflow": h.workflow, "status": status, "startTime": h.start_time,
                              "endTime": h.end_time, "error": h.error, "actions": stored.actions});
            let code = if h.running {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            return (code, Json(body)).into_response();
        }
    }
    error(
        StatusCode::NOT_FOUND,
        "RunNotFound",
        format!("no run {id} of '{workflow}' is known (it may still be starting)"),
    )
}

async fn metrics(State(server): State<Server>) -> Response {
    match &server.metrics {
        Some(handle) => {
            let mut response = handle.render().into_response();
            set_header(&mut response, "content-type", "text/plain; version=0.0.4");
            response
        }
        None => error(
            StatusCode::NOT_FOUND,
            "MetricsDisabled",
            "metrics are not exported by this process",
        ),
    }
}
