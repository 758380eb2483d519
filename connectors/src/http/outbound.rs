//! Outgoing HTTP: one pooled reqwest client for every Http, Function and webhook call of an
//! instance; requests built from action inputs (`method`, `uri`, `headers`, `queries`, `body`,
//! `authentication`); responses turned into outputs `{statusCode, headers, body}`.

use super::auth::{Authentication, Tokens};
use super::body;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use sluice_engine::definition::names::OperationOption;
use sluice_engine::expr::functions::to_text;
use sluice_engine::expr::value::Map;
use sluice_engine::expr::Value;
use sluice_engine::runtime::{ActionCall, ActionFailure, Settings};
use sluice_http::retry_after::parse_retry_after;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one request may take before it counts as a (retried) timeout. Logic Apps
/// Standard's outbound request limit; longer work uses the asynchronous 202 pattern.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(230);

/// Requests in progress to one host at a time, by default: beyond it, calls queue here
/// rather than open thousands of connections at once (a connection storm overflows the
/// downstream's accept queue and costs seconds of SYN retransmits). App setting
/// `Sluice.Http.MaxConnectionsPerHost`.
pub const MAX_CONNECTIONS_PER_HOST: usize = 256;

/// One HTTP call, as an action describes it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: reqwest::Method,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub queries: Vec<(String, String)>,
    pub body: Value,
    pub authentication: Option<Authentication>,
}

impl Request {
    /// Reads `{method, uri, headers, queries, body, authentication}`.
    pub fn from_inputs(inputs: &Value) -> Result<Request, ActionFailure> {
        let text = |name: &str| inputs.get(name).map(to_text).unwrap_or_default();
        let method = text("method");
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())
            .map_err(|_| invalid(format!("'{method}' is not an HTTP method")))?;
        let uri = text("uri");
        if uri.is_empty() {
            return Err(invalid("the request has no 'uri'"));
        }
        Ok(Request {
            method,
            uri,
            headers: pairs(inputs.get("headers")),
            queries: pairs(inputs.get("queries")),
            body: inputs.get("body").cloned().unwrap_or_default(),
            authentication: inputs
                .get("authentication")
                .filter(|a| !a.is_null())
                .map(Authentication::from_value)
                .transpose()
                .map_err(invalid)?,
        })
    }

    /// A GET of `uri` with this request's headers and authentication (polling a `Location`).
    pub fn follow(&self, uri: String) -> Request {
        Request {
            method: reqwest::Method::GET,
            uri,
            queries: Vec::new(),
            body: Value::Null,
            ..self.clone()
        }
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

fn invalid(message: impl Into<String>) -> ActionFailure {
    ActionFailure::permanent("InvalidRequest", message)
}

/// `{name: value}` as text pairs.
fn pairs(value: Option<&Value>) -> Vec<(String, String)> {
    value
        .and_then(Value::as_object)
        .map(|map| map.iter().map(|(k, v)| (k.clone(), to_text(v))).collect())
        .unwrap_or_default()
}

/// A response as action outputs, and what the action needs to decide what comes next.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub outputs: Value,
    pub location: Option<String>,
    pub retry_after: Option<Duration>,
}

/// The instance's HTTP client: pooled connections, client certificates, cached tokens.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    /// Clients presenting a client certificate, by the certificate's text.
    with_certificate: Arc<Mutex<HashMap<String, reqwest::Client>>>,
    tokens: Arc<Tokens>,
    per_host: Arc<Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>>,
    max_per_host: usize,
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(256)
        .redirect(reqwest::redirect::Policy::limited(10))
}

impl Outbound {
    /// A client whose token endpoints come from `settings` (see [`Tokens`]).
    pub fn new(settings: Settings) -> Outbound {
        let max_per_host = settings("Sluice.Http.MaxConnectionsPerHost")
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(MAX_CONNECTIONS_PER_HOST);
        Outbound {
            client: builder().build().expect("the HTTP client builds"),
            with_certificate: Arc::default(),
            tokens: Arc::new(Tokens::new(settings)),
            per_host: Arc::default(),
            max_per_host,
        }
    }

    /// The gate of requests to `url`'s host and port.
    fn gate(&self, url: &reqwest::Url) -> Arc<tokio::sync::Semaphore> {
        let key = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        );
        let mut gates = self.per_host.lock().unwrap_or_else(|p| p.into_inner());
        gates
            .entry(key)
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.max_per_host)))
            .clone()
    }

    /// The plain pooled client (for callers that build their own requests).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request` with `extra` headers; any status is a response, only a failure to get
    /// one is an error (retried, as a connection failure).
    pub async fn send(
        &self,
        request: &Request,
        extra: &[(&str, &str)],
    ) -> Result<Response, ActionFailure> {
        let client = self.client_for(request.authentication.as_ref())?;
        let mut url = reqwest::Url::parse(&request.uri).map_err(|e| {
            let uri = sluice_http::secrets::without_query(&request.uri);
            invalid(format!("'{uri}' is not a valid URI: {e}"))
        })?;
        if !request.queries.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.queries);
        }
        let (bytes, implied_type) = body::encode(&request.body).map_err(invalid)?;
        let mut headers = HeaderMap::new();
        for (name, value) in extra.iter().copied().chain(
            request
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
        ) {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("'{name}' is not a valid header name")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| invalid(format!("the header '{name}' has an invalid value")))?;
            headers.insert(name, value);
        }
        if !bytes.is_empty() && !headers.contains_key(CONTENT_TYPE) {
            let own = body::own_content_type(&request.body);
            let kind = own.as_deref().unwrap_or(implied_type);
            if let Ok(value) = HeaderValue::from_str(kind) {
                headers.insert(CONTENT_TYPE, value);
            }
        }
        if let Some(auth) = &request.authentication {
            if let Some(value) = self.tokens.authorization(auth, &self.client).await? {
                headers.insert(reqwest::header::AUTHORIZATION, value);
            }
        }
        let gate = self.gate(&url);
        let _permit = gate.acquire().await.expect("gates are never closed");
        let mut builder = client.request(request.method.clone(), url).headers(headers);
        if !bytes.is_empty() {
            builder = builder.body(bytes);
        }
        let response = builder.send().await.map_err(connection_failure)?;
        read_response(response).await
    }

    fn client_for(&self, auth: Option<&Authentication>) -> Result<reqwest::Client, ActionFailure> {
        let Some(Authentication::ClientCertificate { pem }) = auth else {
            return Ok(self.client.clone());
        };
        let mut clients = self
            .with_certificate
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(pem) {
            return Ok(client.clone());
        }
        let identity = reqwest::Identity::from_pem(pem.as_bytes())
            .map_err(|e| invalid(format!("the client certificate cannot be used: {e}")))?;
        let client = builder()
            .identity(identity)
            .build()
            .map_err(|e| invalid(format!("the client certificate cannot be used: {e}")))?;
        clients.insert(pem.clone(), client.clone());
        Ok(client)
    }
}

/// A failure to get a response. reqwest names the URL, whose query may hold a key (a
/// Function's `?code=`, a SAS `sig`): the message keeps the URL without it.
fn connection_failure(e: reqwest::Error) -> ActionFailure {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    let message = sluice_http::secrets::redact_queries(&message);
    if e.is_timeout() {
        ActionFailure {
            retryable: true,
            ..ActionFailure::permanent("RequestTimeout", message)
        }
    } else {
        ActionFailure::connection(message)
    }
}

async fn read_response(response: reqwest::Response) -> Result<Response, ActionFailure> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.map_err(connection_failure)?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut header_map = Map::default();
    for name in headers.keys() {
        let joined = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        header_map.insert(name.as_str().to_string(), Value::from(joined));
    }
    let mut outputs = Map::default();
    outputs.insert("statusCode".into(), Value::from(i64::from(status)));
    outputs.insert("headers".into(), Value::object(header_map));
    outputs.insert("body".into(), body::decode(&bytes, content_type));
    Ok(Response {
        status,
        outputs: Value::object(outputs),
        location: headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        retry_after: headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after),
    })
}

impl Response {
    /// The outputs as the action's result: 2xx succeeds; any other status fails with these
    /// outputs recorded, retried on 408, 429 and 5xx after the downstream's `Retry-After`.
    pub fn into_result(self) -> Result<Value, ActionFailure> {
        if (200..300).contains(&self.status) {
            return Ok(self.outputs);
        }
        let message = format!("the downstream answered {}", self.status);
        Err(ActionFailure {
            retry_after: self.retry_after,
            ..ActionFailure::from_status(self.status, message, Some(self.outputs))
        })
    }
}

/// The headers every outgoing action call carries.
pub fn workflow_headers<'a>(
    call: &'a ActionCall<'a>,
    request: &Request,
) -> Vec<(&'a str, &'a str)> {
    let mut headers = Vec::with_capacity(4);
    if !request.has_header("Idempotency-Key") {
        headers.push(("Idempotency-Key", call.idempotency_key));
    }
    if !call.has_option(OperationOption::SuppressWorkflowHeaders) {
        headers.push(("x-ms-workflow-name", call.workflow));
        headers.push(("x-ms-workflow-run-id", call.run_id));
        headers.push(("x-ms-workflow-operation-name", call.action));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_name_the_call() {
        let inputs: Value = serde_json::from_str(
            r#"{"method":"post","uri":"http://x/a","headers":{"A":"1"},"queries":{"q":2},"body":{"k":true}}"#,
        )
        .unwrap();
        let request = Request::from_inputs(&inputs).unwrap();
        assert_eq!(request.method, reqwest::Method::POST);
        assert_eq!(request.queries, vec![("q".to_string(), "2".to_string())]);
        assert!(request.has_header("a"));
        let bad: Value = serde_json::from_str(r#"{"method":"GET"}"#).unwrap();
        assert!(Request::from_inputs(&bad)
            .unwrap_err()
            .message
            .contains("uri"));
    }
}
