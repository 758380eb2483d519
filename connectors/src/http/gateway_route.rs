//! Function, InvokeFunction and Http actions routed to a gateway API, in-process.
//!
//! Http actions whose URL starts with one of an API's `routes` go through that API, the
//! rest of the URL after the prefix appended to the chosen backend's URL.
//!
//! When the app's `gateway.json` has an API named like the action's function connection
//! (`function.connectionName`) or, for InvokeFunction, like its `functionName`, the call
//! goes through that API's pool (backends of kind `function`: the function app's
//! instances), breakers and metrics instead of straight to the connection's URL. The
//! request keeps its method, headers (workflow headers and `Idempotency-Key` included),
//! queries and body; the path and query of the function's URL are appended to the chosen
//! backend's URL. Credentials are the backend's (`apiKeySetting` as `x-functions-key`);
//! a `QueryString` key of the connection stays in the query.

use super::body;
use super::outbound::{workflow_headers, Request};
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use sluice_engine::expr::value::Map;
use sluice_engine::expr::Value;
use sluice_engine::runtime::{ActionCall, ActionFailure};
use sluice_gateway::{Gateway, GatewayRequest, Operation, ResponseBody};

/// Sends a Function action's request through the gateway API `api`.
/// `prefix`: a route's URL prefix, cut from the URL (Http actions); None: the URL's whole
/// path and query go to the backend (Function actions).
pub async fn call(
    gateway: &Gateway,
    api: &str,
    prefix: Option<&str>,
    request: &Request,
    call: &ActionCall<'_>,
) -> Result<Value, ActionFailure> {
    let invalid = |m: String| ActionFailure::permanent("InvalidFunctionRequest", m);
    let mut url = url::Url::parse(&request.uri).map_err(|e| {
        invalid(format!(
            "'{}' is not a URL: {e}",
            sluice_http::secrets::without_query(&request.uri)
        ))
    })?;
    if !request.queries.is_empty() {
        url.query_pairs_mut().extend_pairs(&request.queries);
    }
    let full = url.as_str();
    let path = match prefix.and_then(|p| full.strip_prefix(p)) {
        Some(rest) => rest.to_string(),
        None => match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        },
    };
    let (bytes, content_type) = if request.body.is_null() {
        (Vec::new(), "application/json")
    } else {
        body::encode(&request.body).map_err(invalid)?
    };
    let mut headers = HeaderMap::new();
    let pairs = request
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(workflow_headers(call, request));
    for (k, v) in pairs {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(k, v);
        }
    }
    if !request.has_header("content-type") && !bytes.is_empty() {
        headers.insert("content-type", HeaderValue::from_static(content_type));
    }
    let response = gateway
        .call(GatewayRequest {
            api: Some(api.to_string()),
            operation: Operation::Function(path),
            method: request.method.clone(),
            deployment: None,
            body: Bytes::from(bytes),
            headers,
            client_ip: None,
            workflow: Some(call.workflow.to_string()),
        })
        .await;
    let ResponseBody::Full(bytes) = response.body else {
        return Err(ActionFailure::permanent(
            "BadGateway",
            "a streamed answer from a function",
        ));
    };
    let content_type = response
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut header_values = Map::default();
    for (k, v) in &response.headers {
        if let Ok(v) = v.to_str() {
            header_values.insert(k.as_str().into(), Value::from(v));
        }
    }
    let status = response.status.as_u16();
    let mut outputs = Map::default();
    outputs.insert("statusCode".into(), Value::from(i64::from(status)));
    outputs.insert("headers".into(), Value::object(header_values));
    outputs.insert("body".into(), body::decode(&bytes, content_type));
    let outputs = Value::object(outputs);
    if response.status.is_success() {
        return Ok(outputs);
    }
    let retry_after = sluice_gateway::backend::retry_after(&response.headers);
    Err(ActionFailure {
        retry_after,
        ..ActionFailure::from_status(
            status,
            format!("the function answered {status} (through the gateway API '{api}')"),
            Some(outputs),
        )
    })
}
