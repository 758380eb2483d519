//! The routes of the app's HTTP server: Request triggers, the management API (behind its key),
//! `/health` and `/metrics`. Connectors add theirs (webhook callbacks, the AI gateway).

use super::management;
use super::server::{invoke, Server, MANAGEMENT};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

/// The router of the app's server.
pub fn router(server: Server) -> Router {
    let runs = format!("{MANAGEMENT}/workflows/{{workflow}}/runs");
    let management = Router::new()
        .route(
            &format!("{MANAGEMENT}/workflows"),
            get(management::workflows),
        )
        .route(&runs, get(management::list_runs))
        .route(&format!("{runs}/{{id}}"), get(management::run_status))
        .route(
            &format!("{runs}/{{id}}/resubmit"),
            post(management::resubmit),
        )
        .route(&format!("{runs}/{{id}}/cancel"), post(management::cancel))
        .route_layer(axum::middleware::from_fn_with_state(
            server.clone(),
            management::require_key,
        ));
    Router::new()
        .route("/api/{workflow}/triggers/{trigger}/invoke", post(invoke))
        .merge(management)
        .route(
            "/health",
            get(|| async { Json(json!({"status": "Healthy"})) }),
        )
        .route("/metrics", get(management::metrics))
        .with_state(server)
}
