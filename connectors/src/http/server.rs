//! The app's HTTP server: its shared state ([`Server`]) and the Request triggers; the routes
//! are put together in [`super::routes`], the management API is in [`super::management`].
//!
//! `POST /api/{workflow}/triggers/{trigger}/invoke` is a Request trigger. When the workflow has
//! an access key (app setting `Workflows.{name}.AccessKey`), the request must carry it as the
//! `sig` query parameter or header (401 otherwise). When the trigger turns on
//! `EnableSchemaValidation`, the body is checked against `inputs.schema` (400 naming the
//! property). A workflow with a Response action answers with that response once it has run;
//! any other answers 202 with the run's `Location`. A full waiting queue answers 429 with
//! `Retry-After`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use sluice_engine::definition::TriggerType;
use sluice_engine::expr::value::Map;
use sluice_engine::expr::Value;
use sluice_engine::runtime::hosting::host::{Host, Rejected};
use sluice_engine::runtime::RunRecord;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How long a caller refused with 429 should wait, in seconds.
const RETRY_AFTER_SECONDS: &str = "1";
/// Finished runs kept in memory for status polling (stateless runs have no stored history).
const RECENT_RUNS: usize = 10_000;
pub(super) const MANAGEMENT: &str = "/runtime/webhooks/workflow/api/management";

/// What the handlers share.
#[derive(Clone)]
pub struct Server {
    pub host: Arc<Host>,
    /// Base URL for callback URLs and `Location` headers, e.g. `http://127.0.0.1:7071`.
    pub base_url: String,
    pub metrics: Option<PrometheusHandle>,
    /// Access keys by lower-case workflow name.
    access_keys: Arc<HashMap<String, String>>,
    /// The key the management API requires (see [`Server::with_management_key`]).
    management_key: Option<Arc<str>>,
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
            access_keys: Arc::default(),
            management_key: None,
            recent: Arc::default(),
        }
    }

    /// Requires `key` on the management API (runs, resubmit, cancel, the workflows' callback
    /// URLs): as the `x-functions-key` header, `Authorization: Bearer KEY`, or the `code`
    /// query parameter, as the Logic Apps Standard runtime API takes its master key. Without
    /// one the management API answers 401 to everyone.
    pub fn with_management_key(mut self, key: &str) -> Server {
        self.management_key = Some(Arc::from(key));
        self
    }

    /// Requires `sig` on the Request triggers of these workflows: the app settings
    /// `Workflows.{name}.AccessKey`, read through `setting`.
    pub fn with_access_keys(mut self, setting: impl Fn(&str) -> Option<String>) -> Server {
        let keys = self
            .host
            .workflows
            .keys()
            .filter_map(|name| {
                let key = setting(&format!("Workflows.{name}.AccessKey"))?;
                Some((name.to_lowercase(), key)).filter(|(_, k)| !k.is_empty())
            })
            .collect();
        self.access_keys = Arc::new(keys);
        self
    }

    pub(super) fn management_key(&self) -> Option<Arc<str>> {
        self.management_key.clone()
    }

    pub(super) fn remember(&self, run: RunRecord) {
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

    pub(super) fn recent_run(&self, id: &str) -> Option<Arc<RunRecord>> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.by_id.get(id).cloned()
    }

    pub(super) fn callback_url(&self, workflow: &str, trigger: &str) -> String {
        let url = format!("{}/api/{workflow}/triggers/{trigger}/invoke", self.base_url);
        match self.access_keys.get(&workflow.to_lowercase()) {
            Some(key) => format!(
                "{url}?sig={}",
                url::form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>()
            ),
            None => url,
        }
    }

    pub(super) fn run_url(&self, workflow: &str, id: &str) -> String {
        format!(
            "{}{MANAGEMENT}/workflows/{workflow}/runs/{id}",
            self.base_url
        )
    }

    /// Whether a request to `workflow`'s trigger carries its access key (when it has one).
    fn authorized(
        &self,
        workflow: &str,
        queries: &HashMap<String, String>,
        headers: &HeaderMap,
    ) -> bool {
        let Some(expected) = self.access_keys.get(&workflow.to_lowercase()) else {
            return true;
        };
        let given = queries
            .get("sig")
            .map(String::as_bytes)
            .or_else(|| headers.get("sig").map(HeaderValue::as_bytes))
            .unwrap_or_default();
        constant_time_eq(given, expected.as_bytes())
    }
}

use sluice_http::secrets::constant_time_eq;

pub(super) use sluice_http::serve::error_response as error;

/// The trigger outputs of a request: `{headers, queries, body}`, the body parsed when JSON.
/// Headers that carry credentials are left out ([`sluice_http::secrets::CREDENTIAL_HEADERS`]),
/// except `Authorization` when `keep_authorization`.
pub(super) fn trigger_outputs(
    headers: &HeaderMap,
    queries: HashMap<String, String>,
    body: &Bytes,
    keep_authorization: bool,
) -> Value {
    let mut header_map = Map::default();
    for (name, value) in headers {
        let kept = keep_authorization && name.as_str() == "authorization";
        if !kept && sluice_http::secrets::is_credential_header(name.as_str()) {
            continue;
        }
        header_map.insert(
            name.as_str().to_string(),
            Value::from(value.to_str().unwrap_or_default()),
        );
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let body = super::body::decode(body, content_type);
    let mut query_map = Map::default();
    for (k, v) in queries
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "sig" | "sp" | "sv" | "api-version" | "code"))
    {
        query_map.insert(k, Value::from(v));
    }
    let mut outputs = Map::default();
    outputs.insert("headers".into(), Value::object(header_map));
    outputs.insert("queries".into(), Value::object(query_map));
    outputs.insert("body".into(), body);
    Value::object(outputs)
}

pub(super) async fn invoke(
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
    if !server.authorized(name, &queries, &headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "DirectApiAuthorizationRequired",
            format!(
                "workflow '{name}' needs its access key as the 'sig' query parameter or header"
            ),
        );
    }
    let responds = hosted.plan.responds();
    let tracking_id = headers
        .get("x-ms-client-tracking-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let keep_authorization = hosted
        .plan
        .trigger
        .as_ref()
        .is_some_and(|t| t.include_authorization);
    let outputs = trigger_outputs(&headers, queries, &body, keep_authorization);
    let schema = hosted
        .plan
        .trigger
        .as_ref()
        .and_then(|t| t.request_schema.as_ref());
    if let Some(schema) = schema {
        let body = outputs.get("body").cloned().unwrap_or_default();
        if let Err(message) = sluice_engine::runtime::builtin::schema::validate(&body, schema) {
            return error(
                StatusCode::BAD_REQUEST,
                "TriggerInputSchemaMismatch",
                format!("the request body does not match the trigger's schema: {message}"),
            );
        }
    }
    let mut accepted = match server.host.accept(name, outputs, tracking_id.as_deref()) {
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
    // Stateful runs are acknowledged only once their admission is on disk: a crash after
    // this answer resumes them.
    if let Err(e) = accepted.durable().await {
        let mut response = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "RunNotRecorded",
            format!("the run could not be recorded in the run store: {e}"),
        );
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static(RETRY_AFTER_SECONDS));
        return response;
    }
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

pub(super) fn set_header(response: &mut Response, name: &str, value: &str) {
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
