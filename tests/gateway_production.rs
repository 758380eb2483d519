//! The AI gateway under real model latencies and faults: no hidden per-backend cap,
//! failover on 5xx with a half-open breaker, token limits that hold without `max_tokens`
//! with a true `Retry-After`, and streams that carry only what the client asked for.

mod support;

use futures_util::future::join_all;
use serde_json::{json, Value};
use sluice_mocks::llm::{Faults, MockLlmConfig};
use std::time::{Duration, Instant};
use support::gateway::{chat, gateway, mock_with, stats};

fn llm(name: &str, latency_ms: u64, completion_tokens: u64, faults: Faults) -> MockLlmConfig {
    MockLlmConfig {
        name: name.into(),
        latency: Duration::from_millis(latency_ms),
        completion_tokens,
        faults,
    }
}

fn always(status: u16) -> Faults {
    Faults {
        fail_rate: 1.0,
        fail_status: status,
        ..Faults::default()
    }
}

/// A gateway.json with one backend behind API `chat`, with this token limit.
fn limited(backend: &str, token_limit: Value) -> Value {
    json!({"backends": {"llm": {"url": backend}},
        "pools": {"p": {"backends": [{"id": "llm"}]}},
        "apis": {"chat": {"pool": "p", "tokenLimit": token_limit}}})
}

fn ask(text: &str) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_answering_500_behind_a_healthy_one_reaches_no_client() {
    let client = reqwest::Client::new();
    let broken = mock_with(llm("broken", 0, 16, always(500))).await;
    let healthy = mock_with(llm("healthy", 0, 16, Faults::default())).await;
    let gw = gateway(json!({
        "backends": {
            "broken": {"url": broken, "circuitBreaker": {"failureCondition": {"count": 3, "interval": "PT1M"},
                "tripDuration": "PT1S"}},
            "healthy": {"url": healthy}},
        "pools": {"p": {"backends": [{"id": "broken"}, {"id": "healthy"}]}},
        "apis": {"chat": {"pool": "p"}}}))
    .await;
    // Round-robin sends every other request to the broken backend: each fails over.
    for i in 0..20 {
        let a = chat(&client, &gw, ask(&format!("one {i}")), &[]).await;
        assert_eq!(a.status, 200, "request {i}: {}", a.body);
        assert_eq!(a.header("x-sluice-backend"), "healthy");
    }
    let tripped = stats(&client, &broken).await.requests;
    assert_eq!(tripped, 3, "the breaker opened after three failures");
    // After the trip the breaker is half-open: of a burst, one probe goes to the broken
    // backend, the rest to the healthy one, and every client gets 200.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let burst = (0..50).map(|i| chat(&client, &gw, ask(&format!("burst {i}")), &[]));
    for a in join_all(burst).await {
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let probes = stats(&client, &broken).await.requests - tripped;
    assert_eq!(probes, 1, "one probe, then open again");
    assert_eq!(stats(&client, &healthy).await.requests, 20 + 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_requests_without_max_tokens_stay_within_the_limit_and_one_completion() {
    let client = reqwest::Client::new();
    let backend = mock_with(llm("llm", 200, 100, Faults::default())).await;
    let gw = gateway(limited(
        &backend,
        json!({"counterKey": "team", "tokensPerMinute": 500}),
    ))
    .await;
    let asks = (0..50).map(|i| chat(&client, &gw, ask(&format!("question {i}")), &[]));
    let answers = join_all(asks).await;
    let passed = answers.iter().filter(|a| a.status == 200).count();
    assert!(answers.iter().all(|a| a.status == 200 || a.status == 429));
    let s = stats(&client, &backend).await;
    let tokens = s.prompt_tokens + s.completion_tokens;
    assert!(passed >= 1, "the first request runs");
    assert!(
        tokens <= 500 + 100,
        "{tokens} tokens passed a 500-token limit ({passed} requests)"
    );
    // Later requests, with the completion estimate learnt, fill the minute up to the limit.
    let mut more = 0;
    for i in 0..10 {
        if chat(&client, &gw, ask(&format!("later {i}")), &[])
            .await
            .status
            == 200
        {
            more += 1;
        }
    }
    let s = stats(&client, &backend).await;
    let tokens = s.prompt_tokens + s.completion_tokens;
    assert!(tokens <= 500 + 100, "{tokens} tokens after {more} more");
    assert!(
        passed + more >= 4,
        "about four 110-token requests fit in 500"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_within_a_second_of_when_the_next_request_succeeds() {
    let client = reqwest::Client::new();
    let backend = mock_with(llm("llm", 0, 100, Faults::default())).await;
    let gw = gateway(limited(
        &backend,
        json!({"counterKey": "team", "tokensPerMinute": 300}),
    ))
    .await;
    // Two requests of ~110 tokens fit in 300; the third waits for the first to leave the
    // sliding minute.
    let mut refused = None;
    for i in 0..4 {
        let a = chat(&client, &gw, ask(&format!("q {i}")), &[]).await;
        if a.status == 429 {
            refused = Some((Instant::now(), a));
            break;
        }
        assert_eq!(a.status, 200);
    }
    let (at, a) = refused.expect("the limit refuses within four requests");
    let wait: u64 = a.header("retry-after").parse().unwrap();
    assert!((50..=60).contains(&wait), "Retry-After {wait}");
    let due = at + Duration::from_secs(wait);
    tokio::time::sleep_until((due - Duration::from_millis(1200)).into()).await;
    let early = chat(&client, &gw, ask("early"), &[]).await;
    assert_eq!(early.status, 429, "more than a second before Retry-After");
    tokio::time::sleep_until(due.into()).await;
    let on_time = chat(&client, &gw, ask("on time"), &[]).await;
    assert_eq!(on_time.status, 200, "at Retry-After: {}", on_time.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_carries_a_usage_chunk_only_when_the_client_asked() {
    let client = reqwest::Client::new();
    let backend = mock_with(llm("llm", 0, 5, Faults::default())).await;
    let gw = gateway(limited(&backend, json!({"tokensPerMinute": 100000}))).await;
    let stream = |options: Value| {
        let mut body = ask("stream please");
        body["stream"] = json!(true);
        if !options.is_null() {
            body["stream_options"] = options;
        }
        let client = client.clone();
        let url = format!("{gw}/v1/chat/completions");
        async move {
            let r = client
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let text = r.text().await.unwrap();
            let chunks: Vec<Value> = text
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter(|d| *d != "[DONE]")
                .map(|d| serde_json::from_str(d).unwrap())
                .collect();
            assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
            chunks
        }
    };
    let plain = stream(Value::Null).await;
    assert!(plain.len() >= 5, "a chunk per word at least");
    assert!(
        plain.iter().all(|c| c["usage"].is_null()
            && c["choices"].as_array().is_some_and(|a| !a.is_empty())),
        "no usage chunk: {plain:?}"
    );
    let asked = stream(json!({"include_usage": true})).await;
    assert_eq!(asked.len(), plain.len() + 1);
    let last = asked.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["completion_tokens"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_are_uncapped_unless_configured_and_a_cap_times_out_with_503() {
    let client = reqwest::Client::new();
    let slow = mock_with(llm("slow", 1000, 16, Faults::default())).await;
    let slower = mock_with(llm("slower", 700, 16, Faults::default())).await;
    let gw = gateway(json!({
        "backends": {"slow": {"url": slow},
                     "capped": {"url": slower, "maxConnections": 1, "queueTimeoutSeconds": 1}},
        "pools": {"open": {"backends": [{"id": "slow"}]}, "capped": {"backends": [{"id": "capped"}]}},
        "apis": {"open": {"pool": "open"}, "capped": {"pool": "capped"}}}))
    .await;
    let started = Instant::now();
    let open = format!("{gw}/apis/open");
    let asks = (0..300).map(|i| chat(&client, &open, ask(&format!("q {i}")), &[]));
    let answers = join_all(asks).await;
    let failed: Vec<_> = answers.iter().filter(|a| a.status != 200).collect();
    assert!(
        failed.is_empty(),
        "{} failed: {}",
        failed.len(),
        failed[0].body
    );
    // The old default capped a backend at 128 requests in progress; now all that arrive
    // within the backend's second are sent at once.
    let concurrent = stats(&client, &slow).await.max_concurrent;
    assert!(concurrent > 200, "{concurrent} at once");
    assert!(started.elapsed() < Duration::from_secs(5), "no queue");
    let capped = format!("{gw}/apis/capped");
    // 700 ms each, one at a time, a second's wait: the second runs after the first, the
    // third's wait runs out at 1 s.
    let asks = (0..3).map(|i| chat(&client, &capped, ask(&format!("c {i}")), &[]));
    let answers = join_all(asks).await;
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let busy: Vec<_> = answers.iter().filter(|a| a.status == 503).collect();
    assert_eq!((ok, busy.len()), (2, 1), "two in turn, one timed out");
    assert_eq!(stats(&client, &slower).await.max_concurrent, 1);
    assert_eq!(busy[0].header("retry-after"), "1");
    assert_eq!(busy[0].body["error"]["code"], "backend_busy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_quota_stays_spent_after_the_gateway_is_killed_and_restarted() {
    let client = reqwest::Client::new();
    let backend = mock_with(llm("llm", 0, 10, Faults::default())).await;
    let dir = std::env::temp_dir().join(format!("sluice-quota-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gateway.json");
    std::fs::write(
        &config,
        limited(
            &backend,
            json!({"counterKey": "team", "tokenQuota": 100, "tokenQuotaPeriod": "Monthly"}),
        )
        .to_string(),
    )
    .unwrap();
    let data = dir.join("data");
    let mut gw = support::gateway::sluice_gateway(&config, Some(&data));
    let mut body = ask("spend the quota");
    body["max_tokens"] = json!(10);
    let mut passed = 0;
    loop {
        let a = chat(&client, &gw.base, body.clone(), &[]).await;
        match a.status {
            200 => passed += 1,
            403 => break,
            other => panic!("{other}: {}", a.body),
        }
        assert!(passed < 20, "the quota never ran out");
    }
    assert!(passed >= 2, "{passed} requests fitted in 100 tokens");
    // Usage reaches the disk within sled's flush interval (half a second); then a crash.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    gw.child.kill().unwrap();
    gw.child.wait().unwrap();
    let gw = support::gateway::sluice_gateway(&config, Some(&data));
    let a = chat(&client, &gw.base, body, &[]).await;
    assert_eq!(a.status, 403, "the quota is still spent: {}", a.body);
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}
