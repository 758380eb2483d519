//! One backend: where a request goes for each backend kind, with which key, and what the
//! backend's answer says about usage.

use super::breaker::{Breaker, Outcome};
use super::config::{BackendConfig, BackendKind};
use super::Operation;
use crate::metric_definitions as metric;
use axum::http::{HeaderMap, HeaderValue};
use serde_json::Value;
use sluice_http::retry_after::parse_retry_after;
use std::time::Duration;

pub struct Backend {
    pub id: String,
    pub config: BackendConfig,
    key: Option<String>,
    base: String,
    pub breaker: Breaker,
    /// Requests in progress at most (`maxConnections`), when capped.
    gate: Option<tokio::sync::Semaphore>,
    queued: metrics::Gauge,
    in_flight: metrics::Gauge,
    /// The chat and embeddings URLs, parsed once, when no request's deployment changes them
    /// (parsing a URL, IDNA included, is a visible share of a request's cost).
    fixed: Option<(reqwest::Url, reqwest::Url)>,
}

/// A request's turn on a backend: counted in flight while it lives.
pub struct Turn<'b> {
    _permit: Option<tokio::sync::SemaphorePermit<'b>>,
    in_flight: &'b metrics::Gauge,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.in_flight.decrement(1.0);
    }
}

/// Token counts a backend reported.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub prompt: u64,
    pub completion: u64,
    pub total: u64,
    pub cached: u64,
}

impl Usage {
    /// `usage` of an OpenAI response or stream chunk; None when absent or null.
    pub fn from_body(body: &Value) -> Option<Usage> {
        Usage::from_usage(body.get("usage")?)
    }

    /// A `usage` object; None when it is not one.
    pub fn from_usage(u: &Value) -> Option<Usage> {
        let u = Some(u).filter(|u| u.is_object())?;
        let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
        let prompt = n("prompt_tokens");
        let completion = n("completion_tokens");
        Some(Usage {
            prompt,
            completion,
            total: u
                .get("total_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(prompt + completion),
            cached: u
                .pointer("/prompt_tokens_details/cached_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        })
    }
}

impl Backend {
    /// `setting` resolves an app setting (the API key's).
    pub fn new(
        id: &str,
        config: BackendConfig,
        setting: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Backend, String> {
        let key = match &config.api_key_setting {
            Some(name) => Some(setting(name).ok_or_else(|| {
                format!(
                    "backends.{id}.apiKeySetting: no app setting or environment variable '{name}'"
                )
            })?),
            None => None,
        };
        let parsed = url::Url::parse(&config.url).map_err(|e| format!("backends.{id}.url: {e}"))?;
        let mut base = config.url.trim_end_matches('/').to_string();
        if config.kind == BackendKind::OpenAi && matches!(parsed.path(), "" | "/") {
            base.push_str("/v1");
        }
        let labels = [("backend", id.to_string())];
        let mut backend = Backend {
            id: id.to_string(),
            breaker: Breaker::new(
                id,
                config.circuit_breaker.clone(),
                Duration::from_secs(config.timeout_seconds),
            ),
            gate: config
                .max_connections
                .map(|n| tokio::sync::Semaphore::new(n.max(1))),
            queued: metrics::gauge!(metric::GATEWAY_BACKEND_QUEUED, &labels),
            in_flight: metrics::gauge!(metric::GATEWAY_BACKEND_IN_FLIGHT, &labels),
            config,
            key,
            base,
            fixed: None,
        };
        if backend.config.kind != BackendKind::AzureOpenAi || backend.config.deployment.is_some() {
            let parse = |op| reqwest::Url::parse(&backend.url(&op, None)).ok();
            backend.fixed = parse(Operation::ChatCompletions).zip(parse(Operation::Embeddings));
        }
        Ok(backend)
    }

    /// The parsed URL of `operation` on this backend ([`Backend::url`]).
    pub fn target(
        &self,
        operation: &Operation,
        deployment: Option<&str>,
    ) -> Result<reqwest::Url, url::ParseError> {
        match (&self.fixed, operation) {
            (Some((chat, _)), Operation::ChatCompletions) => Ok(chat.clone()),
            (Some((_, embeddings)), Operation::Embeddings) => Ok(embeddings.clone()),
            _ => reqwest::Url::parse(&self.url(operation, deployment)),
        }
    }

    /// The URL of `operation` on this backend; `deployment` is the request's (Azure paths)
    /// or its `model`.
    pub fn url(&self, operation: &Operation, deployment: Option<&str>) -> String {
        let op = match operation {
            Operation::ChatCompletions => "chat/completions",
            Operation::Embeddings => "embeddings",
            Operation::Function(path) => {
                return format!("{}/{}", self.base, path.trim_start_matches('/'));
            }
        };
        match self.config.kind {
            BackendKind::AzureOpenAi => {
                let d = self
                    .config
                    .deployment
                    .as_deref()
                    .or(deployment)
                    .unwrap_or("default");
                format!(
                    "{}/openai/deployments/{}/{op}?api-version={}",
                    self.base,
                    super::request::segment(d),
                    self.config.api_version
                )
            }
            _ => format!("{}/{op}", self.base),
        }
    }

    /// The authentication header of this backend's kind.
    pub fn auth(&self, headers: &mut HeaderMap) {
        let Some(key) = &self.key else {
            return;
        };
        let (name, value) = match self.config.kind {
            BackendKind::OpenAi => ("authorization", format!("Bearer {key}")),
            BackendKind::AzureOpenAi => ("api-key", key.clone()),
            BackendKind::Function => ("x-functions-key", key.clone()),
        };
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }

    /// Waits for a slot when the backend is capped, at most `queueTimeoutSeconds`; None
    /// when the wait ran out.
    pub async fn turn(&self) -> Option<Turn<'_>> {
        let permit = match &self.gate {
            None => None,
            Some(gate) => match gate.try_acquire() {
                Ok(p) => Some(p),
                Err(_) => {
                    self.queued.increment(1.0);
                    let wait = Duration::from_secs(self.config.queue_timeout_seconds);
                    let waited = tokio::time::timeout(wait, gate.acquire()).await;
                    self.queued.decrement(1.0);
                    Some(waited.ok()?.expect("never closed"))
                }
            },
        };
        self.in_flight.increment(1.0);
        Some(Turn {
            _permit: permit,
            in_flight: &self.in_flight,
        })
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_seconds)
    }

    /// Counts a response for the breaker.
    pub fn record_status(&self, status: u16, headers: &HeaderMap) {
        let retry_after = retry_after(headers);
        self.breaker.record(
            Outcome::Status(status),
            retry_after,
            std::time::Instant::now(),
        );
    }

    pub fn record_error(&self, error: &reqwest::Error) {
        let outcome = if error.is_timeout() {
            Outcome::Timeout
        } else {
            Outcome::ConnectionFailure
        };
        self.breaker
            .record(outcome, None, std::time::Instant::now());
    }
}

/// A response's `Retry-After` (or `retry-after-ms`, which OpenAI also sends).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
    {
        if ms.is_nan() {
            return None;
        }
        let seconds = ms.max(0.0) / 1000.0;
        return Some(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX));
    }
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(json: Value) -> Backend {
        Backend::new("b", serde_json::from_value(json).unwrap(), &|_| {
            Some("k".into())
        })
        .unwrap()
    }

    #[test]
    fn urls_per_kind() {
        let b = backend(serde_json::json!({"url": "http://127.0.0.1:9"}));
        assert_eq!(
            b.url(&Operation::ChatCompletions, None),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        let b = backend(serde_json::json!({"url": "https://api.example.com/openai/v1/"}));
        assert_eq!(
            b.url(&Operation::Embeddings, None),
            "https://api.example.com/openai/v1/embeddings"
        );
        let b = backend(
            serde_json::json!({"url": "https://x.openai.azure.com", "kind": "azureOpenAi", "apiKeySetting": "K"}),
        );
        assert_eq!(
            b.url(&Operation::ChatCompletions, Some("gpt4o")),
            "https://x.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"
        );
        let mut h = HeaderMap::new();
        b.auth(&mut h);
        assert_eq!(h["api-key"], "k");
        let b = backend(serde_json::json!({"url": "http://f:1/api", "kind": "function"}));
        assert_eq!(
            b.url(&Operation::Function("/score?x=1".into()), None),
            "http://f:1/api/score?x=1"
        );
    }

    #[test]
    fn usage_with_cached_tokens() {
        let u = Usage::from_body(
            &serde_json::json!({"usage": {"prompt_tokens": 10, "completion_tokens": 5,
            "total_tokens": 15, "prompt_tokens_details": {"cached_tokens": 4}}}),
        );
        assert_eq!(
            u,
            Some(Usage {
                prompt: 10,
                completion: 5,
                total: 15,
                cached: 4
            })
        );
        assert_eq!(Usage::from_body(&serde_json::json!({"usage": null})), None);
    }
}
