//! `sluice mock llm`: an OpenAI-compatible stand-in for a model provider, so that every
//! gateway policy can be tested and benchmarked on one machine.
//!
//! - `POST /v1/chat/completions` and `/openai/deployments/{d}/chat/completions`: a reply of
//!   `--completion-tokens` words (fewer if `max_tokens` says so), with `usage` counted by
//!   tiktoken; `stream: true` sends SSE chunks and, with `stream_options.include_usage`,
//!   a final usage chunk, as OpenAI does.
//! - `POST /v1/embeddings` and the Azure path: deterministic 256-dimension vectors of hashed
//!   (lightly stemmed) words and word pairs, normalised, so paraphrases land close together.
//! - Faults: `--fail-rate R` (0–1) or `--fail-first N` answer `--fail-status` (429 by
//!   default, with `Retry-After: --retry-after` when set); `POST /_faults` changes them
//!   while running (`{"failRate", "failFirst", "failStatus", "retryAfter"}`).
//! - `GET /_stats`: `requests`, `prompt_tokens`, `completion_tokens`, `rejected` (429s),
//!   `failed` (other errors), `max_concurrent`. Every answer carries `x-mock-name`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sluice_gateway::tokens;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The stand-in's behaviour.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Faults {
    #[serde(default)]
    pub fail_rate: f64,
    #[serde(default)]
    pub fail_first: u64,
    #[serde(default = "too_many")]
    pub fail_status: u16,
    #[serde(default)]
    pub retry_after: Option<f64>,
}

fn too_many() -> u16 {
    429
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            fail_rate: 0.0,
            fail_first: 0,
            fail_status: 429,
            retry_after: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct MockLlmConfig {
    pub name: String,
    pub latency: Duration,
    pub completion_tokens: u64,
    pub faults: Faults,
}

impl Default for MockLlmConfig {
    fn default() -> MockLlmConfig {
        MockLlmConfig {
            name: "mock-llm".into(),
            latency: Duration::ZERO,
            completion_tokens: 16,
            faults: Faults::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MockLlmStats {
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub rejected: u64,
    pub failed: u64,
    pub max_concurrent: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    in_flight: AtomicU64,
    max_concurrent: AtomicU64,
}

#[derive(Clone)]
struct Mock {
    name: String,
    latency: Duration,
    completion_tokens: u64,
    faults: Arc<Mutex<Faults>>,
    counters: Arc<Counters>,
}

pub fn router(config: MockLlmConfig) -> Router {
    let mock = Mock {
        name: config.name,
        latency: config.latency,
        completion_tokens: config.completion_tokens,
        faults: Arc::new(Mutex::new(config.faults)),
        counters: Arc::default(),
    };
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/openai/deployments/{d}/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings))
        .route("/openai/deployments/{d}/embeddings", post(embeddings))
        .route("/_stats", get(stats))
        .route("/_faults", post(set_faults))
        .with_state(mock)
}

async fn stats(State(m): State<Mock>) -> Json<MockLlmStats> {
    let c = &m.counters;
    Json(MockLlmStats {
        requests: c.requests.load(Relaxed),
        prompt_tokens: c.prompt_tokens.load(Relaxed),
        completion_tokens: c.completion_tokens.load(Relaxed),
        rejected: c.rejected.load(Relaxed),
        failed: c.failed.load(Relaxed),
        max_concurrent: c.max_concurrent.load(Relaxed),
    })
}

async fn set_faults(State(m): State<Mock>, Json(faults): Json<Faults>) -> StatusCode {
    *m.faults.lock().unwrap_or_else(|p| p.into_inner()) = faults;
    StatusCode::NO_CONTENT
}

/// Counts a request in flight for as long as it lives.
struct InFlight(Arc<Counters>);

impl InFlight {
    fn new(c: &Arc<Counters>) -> InFlight {
        c.requests.fetch_add(1, Relaxed);
        let now = c.in_flight.fetch_add(1, Relaxed) + 1;
        c.max_concurrent.fetch_max(now, Relaxed);
        InFlight(c.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

/// Counts a request, waits the latency, and answers the injected fault if there is one.
async fn begin(m: &Mock) -> Result<InFlight, Response> {
    let in_flight = InFlight::new(&m.counters);
    if !m.latency.is_zero() {
        tokio::time::sleep(m.latency).await;
    }
    match fault(m) {
        Some(r) => Err(r),
        None => Ok(in_flight),
    }
}

/// The injected fault for this request, if any.
fn fault(m: &Mock) -> Option<Response> {
    let (status, retry_after) = {
        let mut f = m.faults.lock().unwrap_or_else(|p| p.into_inner());
        let fail = if f.fail_first > 0 {
            f.fail_first -= 1;
            true
        } else {
            f.fail_rate > 0.0 && fastrand::f64() < f.fail_rate
        };
        if !fail {
            return None;
        }
        (f.fail_status, f.retry_after)
    };
    let counter = if status == 429 {
        &m.counters.rejected
    } else {
        &m.counters.failed
    };
    counter.fetch_add(1, Relaxed);
    let mut headers = HeaderMap::new();
    headers.insert("x-mock-name", m.name.parse().expect("checked at start"));
    if let Some(s) = retry_after {
        headers.insert("retry-after", format!("{s}").parse().expect("a number"));
    }
    let body =
        json!({"error": {"message": "injected fault", "type": "mock", "code": status.to_string()}});
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Some((status, headers, Json(body)).into_response())
}

async fn chat(State(m): State<Mock>, Json(body): Json<Value>) -> Response {
    let _in_flight = match begin(&m).await {
        Ok(counted) => counted,
        Err(fault) => return fault,
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("gpt-4o-mini")
        .to_string();
    let prompt = tokens::chat_prompt(&model, &body);
    let words = tokens::max_completion(&body)
        .map_or(m.completion_tokens, |max| max.min(m.completion_tokens));
    let pieces: Vec<String> = (0..words)
        .map(|i| if i == 0 { "ok".into() } else { " ok".into() })
        .collect();
    let content: String = pieces.concat();
    let completion = tokens::count(&model, &content);
    m.counters.prompt_tokens.fetch_add(prompt, Relaxed);
    m.counters.completion_tokens.fetch_add(completion, Relaxed);
    let usage = json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0}});
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = chrono::Utc::now().timestamp();
    let mut headers = HeaderMap::new();
    headers.insert("x-mock-name", m.name.parse().expect("checked at start"));
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        let with_usage = body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
        let chunk = |delta: Value, finish: Value| {
            json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        };
        let mut events = vec![chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        )];
        events.extend(
            pieces
                .iter()
                .map(|p| chunk(json!({"content": p}), Value::Null)),
        );
        events.push(chunk(json!({}), json!("stop")));
        if with_usage {
            events.push(json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [], "usage": usage}));
        }
        let mut text = String::new();
        for e in events {
            text.push_str(&format!("data: {e}\n\n"));
        }
        text.push_str("data: [DONE]\n\n");
        headers.insert("content-type", "text/event-stream".parse().expect("valid"));
        // One chunk per event, as a server flushing each token would send them.
        let parts: Vec<Result<String, std::io::Error>> = text
            .split_inclusive("\n\n")
            .map(|s| Ok(s.to_string()))
            .collect();
        return (
            headers,
            Body::from_stream(futures_util::stream::iter(parts)),
        )
            .into_response();
    }
    let reply = json!({"id": id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": usage});
    (headers, Json(reply)).into_response()
}

async fn embeddings(State(m): State<Mock>, Json(body): Json<Value>) -> Response {
    let _in_flight = match begin(&m).await {
        Ok(counted) => counted,
        Err(fault) => return fault,
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("text-embedding-3-small")
        .to_string();
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string)).collect(),
        _ => return (StatusCode::BAD_REQUEST, Json(json!({"error": {"message": "'input' is required", "type": "invalid_request_error"}}))).into_response(),
    };
    let prompt = tokens::embeddings_input(&model, &body);
    m.counters.prompt_tokens.fetch_add(prompt, Relaxed);
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| json!({"object": "embedding", "index": i, "embedding": embed(text)}))
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert("x-mock-name", m.name.parse().expect("checked at start"));
    (
        headers,
        Json(json!({"object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt}})),
    )
        .into_response()
}

const DIMENSIONS: usize = 256;
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "is", "are", "of", "to", "in", "on", "for", "me", "please", "what", "whats",
    "how", "can", "you", "tell", "i", "do", "does",
];

/// Hashed word and word-pair features, normalised: texts sharing their content words land
/// close together, whatever their order or filler.
pub fn embed(text: &str) -> Vec<f32> {
    let words: Vec<String> = text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOP_WORDS.contains(w))
        .map(|w| {
            w.strip_suffix('s')
                .filter(|s| s.len() > 2)
                .unwrap_or(w)
                .to_string()
        })
        .collect();
    let mut v = vec![0f32; DIMENSIONS];
    let mut add = |feature: &str, weight: f32| {
        let h = fnv(feature);
        let sign = if h & 1 == 0 { 1.0 } else { -1.0 };
        v[(h >> 1) as usize % DIMENSIONS] += sign * weight;
    };
    for w in &words {
        add(w, 1.0);
    }
    for pair in words.windows(2) {
        add(&format!("{} {}", pair[0], pair[1]), 0.5);
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_gateway::cache::cosine;

    #[test]
    fn paraphrases_land_close_and_other_questions_far() {
        let a = embed("What is the capital of France?");
        let b = embed("Tell me the capital of France, please");
        let c = embed("How do I bake sourdough bread?");
        assert!(1.0 - cosine(&a, &b) < 0.1, "{}", cosine(&a, &b));
        assert!(1.0 - cosine(&a, &c) > 0.5, "{}", cosine(&a, &c));
    }
}
