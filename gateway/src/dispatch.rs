//! One request through an API: cache lookup, token reservation, backend selection with
//! retries, and on the way back settlement, metrics and cache store.

use super::backend::{retry_after, Backend, Usage};
use super::breaker::Admission;
use super::cache::Lookup;
use super::key::KeyContext;
use super::limit::{Refusal, Remaining, Reservation};
use super::stream::{metered, Settle, Used};
use super::{tokens, Api, Gateway, GatewayRequest, GatewayResponse, Operation, ResponseBody};
use crate::metric_definitions as metric;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The `usage` of a response, the rest skipped unparsed.
#[derive(serde::Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: Option<Value>,
}

/// The parts of a request the policies read.
pub(super) struct Facts {
    pub api: String,
    pub operation: &'static str,
    pub model: String,
    pub headers: HeaderMap,
    pub client_ip: Option<std::net::IpAddr>,
    pub workflow: Option<String>,
}

impl Facts {
    pub fn context<'a>(&'a self, backend: &'a str) -> KeyContext<'a> {
        KeyContext {
            headers: &self.headers,
            client_ip: self.client_ip,
            workflow: self.workflow.as_deref(),
            api: &self.api,
            operation: self.operation,
            model: &self.model,
            backend,
        }
    }
}

pub(super) async fn call(gw: &Gateway, mut request: GatewayRequest) -> GatewayResponse {
    let api_name = request
        .api
        .clone()
        .unwrap_or_else(|| gw.default_api.clone());
    let Some(api) = gw.apis.get(&api_name).cloned() else {
        return GatewayResponse::error(
            StatusCode::NOT_FOUND,
            "api_not_found",
            format!("no API '{api_name}' in the gateway"),
        );
    };
    if !gw.subscription_keys.is_empty() {
        let facts = facts(&api.name, &request, "", request.headers.clone());
        let key = facts.context("").subscription().to_string();
        let known = gw.subscription_keys.iter().map(String::as_str);
        if !sluice_http::secrets::matches_any(key.as_bytes(), known) {
            return GatewayResponse::error(StatusCode::UNAUTHORIZED, "invalid_api_key", "a valid subscription key is required (api-key, Authorization: Bearer or Ocp-Apim-Subscription-Key)");
        }
    }
    // A typed peek (no allocation for the rest of the body); the whole JSON value only when
    // a policy reads it or a stream needs its usage option.
    let mut body: Option<Value> = None;
    let mut model = request.deployment.clone().unwrap_or_default();
    let mut streaming = false;
    if let Operation::Function(path) = &request.operation {
        if let Err(message) = super::request::check_function_path(path) {
            return bad_request(message);
        }
    } else {
        let peek = match super::request::peek(&request.body) {
            Ok(peek) => peek,
            Err(message) => return bad_request(message),
        };
        if let Some(m) = peek.model {
            model = m.into_owned();
        }
        for name in [request.deployment.as_deref(), Some(model.as_str())]
            .into_iter()
            .flatten()
            .filter(|n| !n.is_empty())
        {
            if let Err(message) = super::request::check_deployment(name) {
                return bad_request(message);
            }
        }
        streaming = peek.stream == Some(true);
        if api.limit.is_some() || api.cache.is_some() || streaming {
            body = match super::request::parse(&request.body) {
                Ok(b) => Some(b),
                Err(message) => return bad_request(message),
            };
        }
    }
    // The request's headers move into the facts the policies read (no copy per request).
    let headers = std::mem::take(&mut request.headers);
    let facts = facts(&api.name, &request, &model, headers);
    // 1. The semantic cache.
    let mut lookup = None;
    if let (Some(cache), Some(b), Operation::ChatCompletions) =
        (&api.cache, &body, &request.operation)
    {
        match cache.lookup(gw, &facts, b, streaming).await {
            Lookup::Hit { body, distance } => {
                metrics::counter!(metric::GATEWAY_CACHE, "api" => api.name.clone(), "result" => "hit").increment(1);
                let mut r = json_response(StatusCode::OK, body);
                set(&mut r.headers, "x-sluice-cache", "hit");
                set(
                    &mut r.headers,
                    "x-sluice-cache-distance",
                    &format!("{distance:.4}"),
                );
                return r;
            }
            Lookup::Bypass => {}
            miss @ Lookup::Miss { .. } => {
                metrics::counter!(metric::GATEWAY_CACHE, "api" => api.name.clone(), "result" => "miss").increment(1);
                lookup = Some(miss);
            }
        }
    }
    // 2. The token limit.
    let mut forwarded = request.body.clone();
    let client_asked_usage = body
        .as_ref()
        .and_then(|b| b.pointer("/stream_options/include_usage"))
        == Some(&Value::Bool(true));
    if streaming {
        if let Some(b) = body.as_mut() {
            // Without this, streams carry no usage and could not be settled.
            if let Err(message) = super::request::ask_for_usage(b) {
                return bad_request(message);
            }
            forwarded = Bytes::from(b.to_string());
        }
    }
    // tiktoken costs tens of µs: only a token limit needs the estimate before the call.
    let (prompt, max_completion) = match (&api.limit, &body) {
        (Some(_), Some(b)) => prompt_estimate(&request.operation, &facts.model, b),
        _ => (0, None),
    };
    let estimate = prompt.saturating_add(max_completion.unwrap_or(0));
    let mut reservation = None;
    let mut remaining = Remaining::default();
    if let Some((limiter, key, config)) = &api.limit {
        let counter = key.render(&facts.context(""));
        let prompt = if config.estimate_prompt_tokens {
            prompt
        } else {
            0
        };
        // A chat without max_tokens reserves the completion estimate (None: none known yet,
        // and the request reserves what is left).
        let reserve = match (&request.operation, max_completion) {
            (Operation::ChatCompletions, None) => limiter
                .completion_estimate(&counter, &facts.model)
                .map(|c| prompt.saturating_add(c)),
            (_, completion) => Some(prompt.saturating_add(completion.unwrap_or(0))),
        };
        match limiter.reserve(&counter, reserve, prompt) {
            Ok((r, left)) => {
                reservation = Some(r);
                remaining = left;
            }
            Err(refusal) => return refused(&api, config, refusal),
        }
    }
    // 3. The pool.
    let started = Instant::now();
    let (backend, response) = match forward(gw, &api, &request, &facts, forwarded).await {
        Ok(answer) => answer,
        Err(r) => {
            release(&api, reservation);
            return r;
        }
    };
    metrics::histogram!(metric::GATEWAY_BACKEND_DURATION, "backend" => backend.id.clone())
        .record(started.elapsed().as_secs_f64());
    let status = response.status();
    metrics::counter!(metric::GATEWAY_REQUESTS, "api" => api.name.clone(), "backend" => backend.id.clone(), "status" => status.as_u16().to_string()).increment(1);
    let mut headers = pass_headers(response.headers());
    set(&mut headers, "x-sluice-backend", &backend.id);
    if lookup.is_some() {
        set(&mut headers, "x-sluice-cache", "miss");
    } else if api.cache.is_some() && streaming {
        set(&mut headers, "x-sluice-cache", "bypass");
    }
    let settle = Settle {
        api: api.clone(),
        facts,
        backend: backend.id.clone(),
        reservation,
        estimate,
    };
    let event_stream = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/event-stream"));
    if streaming && status.is_success() && event_stream {
        limit_headers(&api, &mut headers, remaining, Some(estimate));
        return GatewayResponse {
            status,
            headers,
            body: ResponseBody::Stream(metered(response, settle, client_asked_usage)),
        };
    }
    let bytes = match response.bytes().await {
        Ok(b) => b,
        Err(e) => {
            settle.finish(Used::Unknown);
            return GatewayResponse::error(
                StatusCode::BAD_GATEWAY,
                "backend_error",
                sluice_http::secrets::redact_queries(&format!(
                    "backend '{}' broke off its answer: {e}",
                    backend.id
                )),
            );
        }
    };
    // A refused or failed call used no tokens: its reservation is released.
    let used = if status.is_success() {
        serde_json::from_slice::<UsageOnly>(&bytes)
            .ok()
            .and_then(|u| u.usage)
            .and_then(|u| Usage::from_usage(&u))
            .map_or(Used::Unknown, Used::Reported)
    } else {
        Used::Nothing
    };
    let consumed = match &used {
        Used::Reported(u) => Some(u.total),
        Used::Nothing => Some(0),
        Used::Counted(_) | Used::Unknown => None,
    };
    let left = settle.finish(used);
    limit_headers(
        &api,
        &mut headers,
        left.unwrap_or(remaining),
        consumed.or(Some(estimate)),
    );
    if let (Some(Lookup::Miss { store }), true) = (lookup, status.is_success()) {
        if let Some(cache) = &api.cache {
            cache.store(store, bytes.clone());
        }
    }
    GatewayResponse {
        status,
        headers,
        body: ResponseBody::Full(bytes),
    }
}

fn facts(api: &str, request: &GatewayRequest, model: &str, headers: HeaderMap) -> Facts {
    Facts {
        api: api.to_string(),
        operation: request.operation.name(),
        model: model.to_string(),
        headers,
        client_ip: request.client_ip,
        workflow: request.workflow.clone(),
    }
}

fn bad_request(message: String) -> GatewayResponse {
    GatewayResponse::error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

/// The prompt estimate, and the completion budget the request names.
fn prompt_estimate(operation: &Operation, model: &str, body: &Value) -> (u64, Option<u64>) {
    match operation {
        Operation::ChatCompletions => (
            tokens::chat_prompt(model, body),
            tokens::max_completion(body),
        ),
        Operation::Embeddings => (tokens::embeddings_input(model, body), Some(0)),
        Operation::Function(_) => (0, Some(0)),
    }
}

fn refused(
    api: &Api,
    config: &super::config::TokenLimitConfig,
    refusal: Refusal,
) -> GatewayResponse {
    let (status, code, wait, message) = match refusal {
        Refusal::Rate {
            retry_after,
            needed,
        } => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            retry_after,
            format!(
                "token limit of {} per minute reached ({needed} needed); retry after {} s",
                config.tokens_per_minute.unwrap_or(0),
                retry_after.as_secs()
            ),
        ),
        Refusal::Quota { retry_after } => (
            StatusCode::FORBIDDEN,
            "quota_exceeded",
            retry_after,
            format!(
                "token quota of {} reached for this period",
                config.token_quota.unwrap_or(0)
            ),
        ),
    };
    metrics::counter!(metric::GATEWAY_LIMITED, "api" => api.name.clone(), "status" => status.as_u16().to_string()).increment(1);
    let mut r = GatewayResponse::error(status, code, message);
    set(
        &mut r.headers,
        &config.retry_after_header_name,
        &wait.as_secs().to_string(),
    );
    r
}

fn release(api: &Api, reservation: Option<Reservation>) {
    if let (Some((limiter, _, _)), Some(r)) = (&api.limit, reservation) {
        limiter.settle(r, 0);
    }
}

/// Sends the request to the pool's backends, each at most once, until one answers with a
/// status that is not one of the pool's failover statuses, or the retries run out. A
/// half-open backend takes only its one probe; a capped backend that has no slot within its
/// queue timeout is passed over like a failed one.
async fn forward<'g>(
    gw: &'g Gateway,
    api: &Api,
    request: &GatewayRequest,
    facts: &Facts,
    body: Bytes,
) -> Result<(&'g Backend, reqwest::Response), GatewayResponse> {
    // Backends out of this request: tried, or half-open with another request probing.
    let mut passed: Vec<usize> = Vec::new();
    let mut attempts = 0;
    let mut last: Option<GatewayResponse> = None;
    // The backend the last attempt left, and why: a failover once another takes the request.
    let mut left: Option<(&Backend, String)> = None;
    while attempts <= api.pool.retries {
        let now = Instant::now();
        let chosen = api.pool.select(|i| {
            if passed.contains(&i) {
                Some(Duration::MAX)
            } else {
                gw.backends[i].breaker.open_for(now)
            }
        });
        let i = match chosen {
            Ok(i) => i,
            Err(wait) => return Err(last.unwrap_or_else(|| unavailable(wait))),
        };
        passed.push(i);
        let backend = &gw.backends[i];
        let probe = match backend.breaker.admit(now) {
            Admission::Refused => continue,
            Admission::Probe => ProbeGuard(Some(&backend.breaker)),
            Admission::Request => ProbeGuard(None),
        };
        attempts += 1;
        if let Some((from, reason)) = left.take() {
            metrics::counter!(metric::GATEWAY_FAILOVERS, "api" => api.name.clone(), "backend" => from.id.clone(), "reason" => reason).increment(1);
        }
        let Some(turn) = backend.turn().await else {
            drop(probe);
            left = Some(answered(api, backend, "queue_timeout"));
            last = Some(queue_timeout(backend));
            continue;
        };
        let deployment = request
            .deployment
            .as_deref()
            .or(Some(facts.model.as_str()).filter(|m| !m.is_empty()));
        let url = match backend.target(&request.operation, deployment) {
            Ok(url) => url,
            Err(e) => {
                last = Some(GatewayResponse::error(
                    StatusCode::BAD_GATEWAY,
                    "backend_url",
                    format!("backend '{}': no URL for this request: {e}", backend.id),
                ));
                continue;
            }
        };
        let sent = send(gw, backend, request, &facts.headers, url, body.clone()).await;
        drop(turn);
        probe.answered();
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                backend.record_status(status, response.headers());
                if !api.pool.fails_over(status) {
                    return Ok((backend, response));
                }
                left = Some(answered(api, backend, &status.to_string()));
                let mut headers = pass_headers(response.headers());
                set(&mut headers, "x-sluice-backend", &backend.id);
                let bytes = response.bytes().await.unwrap_or_default();
                last = Some(GatewayResponse {
                    status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                    headers,
                    body: ResponseBody::Full(bytes),
                });
            }
            Err(e) => {
                backend.record_error(&e);
                left = Some(answered(api, backend, "error"));
                last = Some(GatewayResponse::error(
                    StatusCode::BAD_GATEWAY,
                    "backend_unreachable",
                    sluice_http::secrets::redact_queries(&format!("backend '{}': {e}", backend.id)),
                ));
            }
        }
    }
    Err(last.unwrap_or_else(|| unavailable(Duration::from_secs(1))))
}

/// One call to one backend, up to its response headers.
async fn send(
    gw: &Gateway,
    backend: &Backend,
    request: &GatewayRequest,
    headers: &HeaderMap,
    url: reqwest::Url,
    body: Bytes,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut headers = outgoing_headers(&request.operation, headers);
    backend.auth(&mut headers);
    gw.client
        .request(request.method.clone(), url)
        .headers(headers)
        .timeout(backend.timeout())
        .body(body)
        .send()
        .await
}

/// A half-open backend's probe: if the request is dropped before the backend answers (its
/// client left), the next request probes instead.
struct ProbeGuard<'b>(Option<&'b super::breaker::Breaker>);

impl ProbeGuard<'_> {
    /// The backend answered (or failed): the breaker has its outcome.
    fn answered(mut self) {
        self.0 = None;
    }
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if let Some(breaker) = self.0 {
            breaker.abandon_probe();
        }
    }
}

/// Counts a failover status's answer from `backend` (the others are counted once the
/// response is passed on); returns what a failover to the next backend is counted with.
fn answered<'b>(api: &Api, backend: &'b Backend, status: &str) -> (&'b Backend, String) {
    metrics::counter!(metric::GATEWAY_REQUESTS, "api" => api.name.clone(), "backend" => backend.id.clone(), "status" => status.to_string()).increment(1);
    (backend, status.to_string())
}

/// 503 when a capped backend had no slot within its queue timeout (and no other backend
/// took the request).
fn queue_timeout(backend: &Backend) -> GatewayResponse {
    let mut r = GatewayResponse::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "backend_busy",
        format!(
            "backend '{}' had no free connection (maxConnections) within {} s",
            backend.id, backend.config.queue_timeout_seconds
        ),
    );
    set(&mut r.headers, "retry-after", "1");
    r
}

/// The client's headers a backend gets: for a model, the content type and `accept`; for a
/// function, everything but the client's credentials and the connection's own headers.
fn outgoing_headers(operation: &Operation, client: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if matches!(operation, Operation::Function(_)) {
        for (name, value) in client {
            let n = name.as_str();
            let own = [
                "host",
                "content-length",
                "connection",
                "transfer-encoding",
                "authorization",
                "api-key",
                "ocp-apim-subscription-key",
                "x-sluice-api",
            ];
            if !own.contains(&n) {
                headers.append(name.clone(), value.clone());
            }
        }
        return headers;
    }
    set(&mut headers, "content-type", "application/json");
    if let Some(accept) = client.get("accept") {
        headers.insert("accept", accept.clone());
    }
    headers
}

/// 503 when every backend's breaker is open, with the time until the first closes.
fn unavailable(wait: Duration) -> GatewayResponse {
    let secs = if wait == Duration::MAX {
        60
    } else {
        wait.as_secs_f64().ceil().max(1.0) as u64
    };
    let mut r = GatewayResponse::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_backend_available",
        format!("every backend of the pool is unavailable; retry after {secs} s"),
    );
    set(&mut r.headers, "retry-after", &secs.to_string());
    r
}

/// The backend's headers a client should see.
fn pass_headers(from: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in from {
        let n = name.as_str();
        if n == "content-type"
            || n == "retry-after"
            || n == "retry-after-ms"
            || n.starts_with("x-ratelimit")
            || n.starts_with("openai-")
            || n == "x-request-id"
        {
            headers.append(name.clone(), value.clone());
        }
    }
    if let Some(wait) = retry_after(from) {
        // Our own clients get whole seconds too (the OpenAI SDKs read both); a backend's
        // absurd wait is passed on as at most a day.
        let wait = wait.min(Duration::from_secs(86_400));
        set(
            &mut headers,
            "retry-after",
            &wait.as_secs_f64().ceil().to_string(),
        );
    }
    headers
}

fn limit_headers(api: &Api, headers: &mut HeaderMap, left: Remaining, consumed: Option<u64>) {
    let Some((_, _, config)) = &api.limit else {
        return;
    };
    if let Some(t) = left.tokens {
        set(
            headers,
            &config.remaining_tokens_header_name,
            &t.to_string(),
        );
    }
    if let Some(q) = left.quota {
        set(
            headers,
            &config.remaining_quota_tokens_header_name,
            &q.to_string(),
        );
    }
    if let Some(c) = consumed {
        set(headers, &config.tokens_consumed_header_name, &c.to_string());
    }
}

pub(super) fn json_response(status: StatusCode, body: Bytes) -> GatewayResponse {
    let mut headers = HeaderMap::new();
    set(&mut headers, "content-type", "application/json");
    GatewayResponse {
        status,
        headers,
        body: ResponseBody::Full(body),
    }
}

pub(super) fn set(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        axum::http::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.insert(n, v);
    }
}
