//! The OpenAI-compatible surface: what `sluice gateway` serves, and what `sluice run`
//! merges into the app's server when the app has a `gateway.json`.
//!
//! - `POST /v1/chat/completions`, `POST /v1/embeddings`: the default API, or the one the
//!   `x-sluice-api` header names;
//! - `POST /apis/{api}/v1/chat/completions`, `POST /apis/{api}/v1/embeddings`;
//! - `POST /openai/deployments/{deployment}/chat/completions|embeddings?api-version=…`: the
//!   Azure OpenAI paths (the deployment stands for the model);
//! - `POST /apis/{api}/functions/{*path}`: a plain HTTP function behind the API's pool;
//! - `GET /metrics` (standalone only: `sluice run` has its own).

use super::{Gateway, GatewayRequest, GatewayResponse, Operation, ResponseBody};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;

/// The gateway's routes; serve them with `into_make_service_with_connect_info::<SocketAddr>()`
/// (the client's address is the `{ip}` of key templates).
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings))
        .route("/apis/{api}/v1/chat/completions", post(api_chat))
        .route("/apis/{api}/v1/embeddings", post(api_embeddings))
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(azure_chat),
        )
        .route(
            "/openai/deployments/{deployment}/embeddings",
            post(azure_embeddings),
        )
        .route("/apis/{api}/functions/{*path}", any(function))
        .with_state(gateway)
}

fn named_api(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-sluice-api")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn client_ip(ConnectInfo(addr): ConnectInfo<SocketAddr>) -> Option<std::net::IpAddr> {
    Some(addr.ip())
}

async fn serve(
    gateway: &Gateway,
    api: Option<String>,
    operation: Operation,
    deployment: Option<String>,
    connect: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = GatewayRequest {
        api,
        operation,
        method: axum::http::Method::POST,
        deployment,
        body,
        client_ip: client_ip(connect),
        workflow: None,
        headers,
    };
    into_response(gateway.call(request).await)
}

pub fn into_response(r: GatewayResponse) -> Response {
    let body = match r.body {
        ResponseBody::Full(b) => Body::from(b),
        ResponseBody::Stream(s) => Body::from_stream(s),
    };
    (r.status, r.headers, body).into_response()
}

async fn chat(
    State(g): State<Arc<Gateway>>,
    connect: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let api = named_api(&headers);
    serve(
        &g,
        api,
        Operation::ChatCompletions,
        None,
        connect,
        headers,
        body,
    )
    .await
}

async fn embeddings(
    State(g): State<Arc<Gateway>>,
    connect: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let api = named_api(&headers);
    serve(&g, api, Operation::Embeddings, None, connect, headers, body).await
}

async fn api_chat(
    State(g): State<Arc<Gateway>>,
    Path(api): Path<String>,
    connect: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(
        &g,
        Some(api),
        Operation::ChatCompletions,
        None,
        connect,
        headers,
        body,
    )
    .await
}

async fn api_embeddings(
    State(g): State<Arc<Gateway>>,
    Path(api): Path<String>,
    connect: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(
        &g,
        Some(api),
        Operation::Embeddings,
        None,
        connect,
        headers,
        body,
    )
    .await
}

async fn azure_chat(
    State(g): State<Arc<Gateway>>,
    Path(deployment): Path<String>,
    connect: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let api = named_api(&headers);
    serve(
        &g,
        api,
        Operation::ChatCompletions,
        Some(deployment),
        connect,
        headers,
        body,
    )
    .await
}

async fn azure_embeddings(
    State(g): State<Arc<Gateway>>,
    Path(deployment): Path<String>,
    connect: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let api = named_api(&headers);
    serve(
        &g,
        api,
        Operation::Embeddings,
        Some(deployment),
        connect,
        headers,
        body,
    )
    .await
}

async fn function(
    State(g): State<Arc<Gateway>>,
    method: axum::http::Method,
    Path((api, path)): Path<(String, String)>,
    uri: Uri,
    connect: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let request = GatewayRequest {
        api: Some(api),
        operation: Operation::Function(path),
        method,
        deployment: None,
        body,
        client_ip: client_ip(connect),
        workflow: None,
        headers,
    };
    into_response(g.call(request).await)
}
