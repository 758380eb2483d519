//! The management API, under `/runtime/webhooks/workflow/api/management` as in Logic Apps
//! Standard, with the same data as `sluice runs`:
//!
//! - `GET  …/workflows`: every workflow, its kind, trigger and callback URL (with `sig` when
//!   the workflow has an access key).
//! - `GET  …/workflows/{workflow}/runs?status=&since=&until=&top=`: run headers, newest
//!   first, filtered in the store.
//! - `GET  …/workflows/{workflow}/runs/{id}`: one run with its action tree (202 while it runs).
//! - `POST …/workflows/{workflow}/runs/{id}/resubmit[?action=NAME]`: a new run with the same
//!   trigger outputs, from an action when named; 202 with the new run's `Location`.
//! - `POST …/workflows/{workflow}/runs/{id}/cancel`: stops a running run, or marks an
//!   unfinished recorded one Cancelled.
//!
//! Plus `POST /runtime/webhooks/workflow/callbacks/{key}` (HttpWebhook callbacks), `/health`
//! and `/metrics`.

use super::server::{error, set_header, Server};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use sluice_engine::definition::{RunStatus, TriggerType};
use sluice_engine::runtime::Cancelled;
use sluice_engine::store::history;
use sluice_engine::store::RunFilter;
use std::collections::HashMap;

/// Lets a request through only with the management key (see `Server::with_management_key`).
pub(super) async fn require_key(
    State(server): State<Server>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let code = request.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
    });
    let given = headers
        .get("x-functions-key")
        .and_then(|v| v.to_str().ok())
        .or(bearer)
        .map(str::to_string)
        .or(code);
    let allowed = match (&server.management_key(), given) {
        (Some(expected), Some(given)) => {
            sluice_http::secrets::constant_time_eq(given.as_bytes(), expected.as_bytes())
        }
        _ => false,
    };
    if !allowed {
        return error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "the management API needs its key: the x-functions-key header, Authorization: Bearer KEY, or ?code=KEY",
        );
    }
    next.run(request).await
}

pub(super) async fn workflows(State(server): State<Server>) -> Json<serde_json::Value> {
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

pub(super) async fn list_runs(
    State(server): State<Server>,
    Path(workflow): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(store) = server.host.engine.store() else {
        return error(
            StatusCode::NOT_FOUND,
            "NoHistory",
            "this instance keeps no run history",
        );
    };
    let mut filter = RunFilter {
        workflow: Some(workflow),
        limit: 50,
        ..Default::default()
    };
    for (key, value) in &query {
        let bad = |what: &str| {
            error(
                StatusCode::BAD_REQUEST,
                "InvalidQuery",
                format!("'{key}' must be {what}"),
            )
        };
        match key.as_str() {
            "status" if value.eq_ignore_ascii_case("running") => filter.running = true,
            "status" => match RunStatus::parse(value) {
                Some(status) => filter.status = Some(status),
                None => return bad("a run status"),
            },
            "since" | "until" => match value.parse() {
                Ok(time) if key == "since" => filter.since = Some(time),
                Ok(time) => filter.until = Some(time),
                Err(_) => return bad("an ISO 8601 time"),
            },
            "top" => match value.parse() {
                Ok(n) => filter.limit = n,
                Err(_) => return bad("a number"),
            },
            "stuckForSeconds" => match value.parse() {
                Ok(seconds) => filter.stuck_for = Some(std::time::Duration::from_secs(seconds)),
                Err(_) => return bad("a number of seconds"),
            },
            _ => {}
        }
    }
    match store.list(&filter) {
        Ok(runs) => {
            Json(json!({"value": runs.iter().map(history::header_json).collect::<Vec<_>>()}))
                .into_response()
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "StoreFailed",
            e.to_string(),
        ),
    }
}

pub(super) async fn run_status(
    State(server): State<Server>,
    Path((workflow, id)): Path<(String, String)>,
) -> Response {
    if let Some(run) = server.recent_run(&id) {
        return (
            StatusCode::OK,
            Json(serde_json::to_value(&*run).unwrap_or_default()),
        )
            .into_response();
    }
    if let Some(Ok(Some(stored))) = server.host.engine.store().map(|s| s.run(&id)) {
        // A finished header can be on disk a moment before its action tree (another tree of
        // the same batch): until both are, the run still reads as running.
        let code = if stored.header.running || stored.actions.is_none() {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
        return (code, Json(history::run_json(&stored))).into_response();
    }
    error(
        StatusCode::NOT_FOUND,
        "RunNotFound",
        format!("no run {id} of '{workflow}' is known (it may still be starting)"),
    )
}

pub(super) async fn resubmit(
    State(server): State<Server>,
    Path((workflow, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match server
        .host
        .resubmit(&id, query.get("action").map(String::as_str))
    {
        Ok((new_id, done)) => {
            let keeper = server.clone();
            tokio::spawn(async move {
                if let Ok(run) = done.await {
                    keeper.remember(run);
                }
            });
            let mut response = (
                StatusCode::ACCEPTED,
                Json(json!({"runId": &*new_id, "resubmittedFrom": id})),
            )
                .into_response();
            set_header(
                &mut response,
                "location",
                &server.run_url(&workflow, &new_id),
            );
            set_header(&mut response, "x-ms-workflow-run-id", &new_id);
            response
        }
        Err(message) => error(StatusCode::NOT_FOUND, "ResubmitFailed", message),
    }
}

pub(super) async fn cancel(
    State(server): State<Server>,
    Path((_workflow, id)): Path<(String, String)>,
) -> Response {
    match server.host.engine.cancel(&id).await {
        Ok(Cancelled::Stopped) => {
            Json(json!({"runId": id, "status": "Cancelled", "stopped": true})).into_response()
        }
        Ok(Cancelled::Marked) => {
            Json(json!({"runId": id, "status": "Cancelled", "stopped": false})).into_response()
        }
        Err(message) => error(StatusCode::CONFLICT, "CancelFailed", message),
    }
}

pub(super) async fn metrics(State(server): State<Server>) -> Response {
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
