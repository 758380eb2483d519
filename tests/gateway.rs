//! The AI gateway's policies against `sluice mock llm` instances, over real loopback HTTP:
//! the gateway and the mocks are the same routers `sluice gateway` and `sluice mock llm`
//! serve, started in the test's runtime.

mod support;

use futures_util::future::join_all;
use serde_json::{json, Value};
use sluice_mocks::llm::Faults;
use std::time::Duration;
use support::gateway::{chat, gateway, mock, stats};

fn ask(text: &str) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], "max_tokens": 20})
}

fn backend(url: &str, breaker: Value) -> Value {
    let mut b = json!({"url": url});
    if !breaker.is_null() {
        b["circuitBreaker"] = breaker;
    }
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_falls_back_while_the_first_group_is_out_and_returns_after() {
    let client = reqwest::Client::new();
    let ptu = mock("ptu", Faults::default()).await;
    let payg = mock("payg", Faults::default()).await;
    let on_429 = json!({"failureCondition": {"count": 1, "interval": "PT1M",
        "statusCodeRanges": [{"min": 429, "max": 429}]}, "tripDuration": "PT1M", "acceptRetryAfter": true});
    let gw = gateway(json!({
        "backends": {"ptu": backend(&ptu, on_429.clone()), "payg": backend(&payg, on_429)},
        "pools": {"p": {"backends": [{"id": "ptu", "priority": 1}, {"id": "payg", "priority": 2}]}},
        "apis": {"chat": {"pool": "p"}}}))
    .await;
    for _ in 0..5 {
        let a = chat(&client, &gw, ask("hi"), &[]).await;
        assert_eq!((a.status, a.header("x-sluice-backend")), (200, "ptu"));
    }
    // The first group runs out of capacity for two seconds.
    client
        .post(format!("{ptu}/_faults"))
        .header("content-type", "application/json")
        .body(json!({"failFirst": 1, "retryAfter": 2}).to_string())
        .send()
        .await
        .unwrap();
    let a = chat(&client, &gw, ask("hi"), &[]).await;
    assert_eq!(
        (a.status, a.header("x-sluice-backend")),
        (200, "payg"),
        "retried on the next group: the client never sees the 429"
    );
    for _ in 0..5 {
        let a = chat(&client, &gw, ask("hi"), &[]).await;
        assert_eq!(
            a.header("x-sluice-backend"),
            "payg",
            "the breaker keeps the first group out"
        );
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let a = chat(&client, &gw, ask("hi"), &[]).await;
    assert_eq!(
        (a.status, a.header("x-sluice-backend")),
        (200, "ptu"),
        "back to the first group after Retry-After"
    );
    assert_eq!(stats(&client, &ptu).await.rejected, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_split_ten_thousand_requests() {
    let client = reqwest::Client::new();
    let a = mock("a", Faults::default()).await;
    let b = mock("b", Faults::default()).await;
    let gw = gateway(json!({
        "backends": {"a": backend(&a, Value::Null), "b": backend(&b, Value::Null)},
        "pools": {"p": {"backends": [{"id": "a", "weight": 3}, {"id": "b", "weight": 1}]}},
        "apis": {"chat": {"pool": "p"}}}))
    .await;
    let workers = (0..50).map(|_| {
        let (client, gw) = (client.clone(), gw.clone());
        async move {
            for _ in 0..200 {
                assert_eq!(chat(&client, &gw, ask("x"), &[]).await.status, 200);
            }
        }
    });
    join_all(workers).await;
    let (na, nb) = (
        stats(&client, &a).await.requests,
        stats(&client, &b).await.requests,
    );
    assert_eq!(na + nb, 10_000);
    let share = na as f64 / 10_000.0;
    assert!((share - 0.75).abs() < 0.02, "a served {na}, b {nb}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_trips_answers_503_and_recovers_after_retry_after() {
    let client = reqwest::Client::new();
    let only = mock(
        "only",
        Faults {
            fail_first: 2,
            fail_status: 500,
            retry_after: Some(1.0),
            ..Faults::default()
        },
    )
    .await;
    let gw = gateway(json!({
        "backends": {"only": backend(&only, json!({"failureCondition": {"count": 2, "interval": "PT1M"},
            "tripDuration": "PT1H", "acceptRetryAfter": true}))},
        "pools": {"p": {"backends": [{"id": "only"}]}},
        "apis": {"chat": {"pool": "p"}}}))
    .await;
    assert_eq!(chat(&client, &gw, ask("x"), &[]).await.status, 500);
    assert_eq!(chat(&client, &gw, ask("x"), &[]).await.status, 500);
    let open = chat(&client, &gw, ask("x"), &[]).await;
    assert_eq!(open.status, 503, "{:?}", open.body);
    assert_eq!(
        open.header("retry-after"),
        "1",
        "the open time is the backend's Retry-After, not the hour"
    );
    assert_eq!(
        stats(&client, &only).await.requests,
        2,
        "an open breaker sends nothing"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(chat(&client, &gw, ask("x"), &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_limit_holds_under_200_concurrent_requests() {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let llm = mock("llm", Faults::default()).await;
    let tpm = 3_000;
    let gw = gateway(json!({
        "backends": {"llm": backend(&llm, Value::Null)},
        "pools": {"p": {"backends": [{"id": "llm"}]}},
        "apis": {"chat": {"pool": "p", "tokenLimit": {"counterKey": "{header:x-team}", "tokensPerMinute": tpm}}}}))
    .await;
    let workers = (0..200).map(|i| {
        let (client, gw) = (client.clone(), gw.clone());
        async move {
            let mut limited = 0;
            for _ in 0..5 {
                let a = chat(
                    &client,
                    &gw,
                    ask(&format!("question {i} about the weather")),
                    &[("x-team", "blue")],
                )
                .await;
                match a.status {
                    200 => {}
                    429 => {
                        assert!(a.header("retry-after").parse::<u64>().unwrap() >= 1);
                        limited += 1;
                    }
                    other => panic!("unexpected {other}"),
                }
            }
            limited
        }
    });
    let limited: u32 = join_all(workers).await.into_iter().sum();
    let used = stats(&client, &llm).await;
    let tokens = used.prompt_tokens + used.completion_tokens;
    assert!(
        tokens <= tpm,
        "{tokens} tokens used in well under a minute, limit {tpm}"
    );
    assert!(
        tokens >= tpm / 2,
        "the limit admits up to it, not far below: {tokens}"
    );
    assert!(limited > 0);
    // Another counter key has its own budget.
    assert_eq!(
        chat(&client, &gw, ask("hello"), &[("x-team", "green")])
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_quota_answers_403() {
    let client = reqwest::Client::new();
    let llm = mock("llm", Faults::default()).await;
    let gw = gateway(json!({
        "backends": {"llm": backend(&llm, Value::Null)},
        "pools": {"p": {"backends": [{"id": "llm"}]}},
        "apis": {"chat": {"pool": "p", "tokenLimit": {"tokenQuota": 100, "tokenQuotaPeriod": "Daily"}}}}))
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let a = chat(&client, &gw, ask("hello there"), &[("api-key", "k1")]).await;
        statuses.push(a.status);
        if a.status == 403 {
            assert!(a.header("retry-after").parse::<u64>().unwrap() > 0);
            assert_eq!(a.body["error"]["code"], "quota_exceeded");
        } else {
            assert!(a
                .header("x-sluice-remaining-quota-tokens")
                .parse::<u64>()
                .is_ok());
        }
    }
    assert_eq!(statuses[0], 200);
    assert_eq!(*statuses.last().unwrap(), 403, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_settled_from_its_final_usage_chunk() {
    let client = reqwest::Client::new();
    let llm = mock("llm", Faults::default()).await;
    let gw = gateway(json!({
        "backends": {"llm": backend(&llm, Value::Null)},
        "pools": {"p": {"backends": [{"id": "llm"}]}},
        "apis": {"chat": {"pool": "p", "tokenLimit": {"tokensPerMinute": 1000}}}}))
    .await;
    let mut body = ask("tell me a story");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    body["max_tokens"] = json!(500);
    let r = client
        .post(format!("{gw}/v1/chat/completions"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    let usage: Value = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|c| c["usage"].is_object())
        .expect("the client asked for the usage chunk")["usage"]
        .clone();
    assert!(text.trim_end().ends_with("data: [DONE]"));
    let streamed = usage["total_tokens"].as_u64().unwrap();
    // While streaming, 500 + prompt were reserved; after, only what was used counts.
    let next = chat(&client, &gw, ask("hi"), &[]).await;
    let second = next.body["usage"]["total_tokens"].as_u64().unwrap();
    assert_eq!(
        next.header("x-sluice-remaining-tokens"),
        (1000 - streamed - second).to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_semantic_cache_hits_paraphrases_within_a_partition_only() {
    let client = reqwest::Client::new();
    let llm = mock("llm", Faults::default()).await;
    let gw = gateway(json!({
        "backends": {"llm": backend(&llm, Value::Null)},
        "pools": {"p": {"backends": [{"id": "llm"}]}},
        "apis": {"chat": {"pool": "p", "semanticCache": {"embeddingsBackend": "llm",
            "scoreThreshold": 0.2, "varyBy": ["{header:x-tenant}"]}}}}))
    .await;
    let t1 = [("x-tenant", "one")];
    let first = chat(&client, &gw, ask("What is the capital of France?"), &t1).await;
    assert_eq!(first.header("x-sluice-cache"), "miss");
    let para = chat(
        &client,
        &gw,
        ask("Tell me the capital of France, please"),
        &t1,
    )
    .await;
    assert_eq!(para.header("x-sluice-cache"), "hit");
    assert_eq!(para.body["id"], first.body["id"], "the cached answer");
    let other = chat(&client, &gw, ask("How do I bake sourdough bread?"), &t1).await;
    assert_eq!(other.header("x-sluice-cache"), "miss");
    let t2 = [("x-tenant", "two")];
    let across = chat(&client, &gw, ask("What is the capital of France?"), &t2).await;
    assert_eq!(
        across.header("x-sluice-cache"),
        "miss",
        "no hit across vary-by partitions"
    );
    // The same prompt with any sampling parameter changed (or added) misses.
    for (k, v) in [
        ("model", json!("gpt-4o")),
        ("temperature", json!(0.2)),
        ("top_p", json!(0.5)),
        ("max_tokens", json!(21)),
        (
            "tools",
            json!([{"type": "function", "function": {"name": "f"}}]),
        ),
        ("response_format", json!({"type": "json_object"})),
        ("stop", json!(["\n"])),
        ("seed", json!(7)),
    ] {
        let mut body = ask("What is the capital of France?");
        body[k] = v;
        let a = chat(&client, &gw, body, &t1).await;
        assert_eq!(a.header("x-sluice-cache"), "miss", "{k} differs");
    }
    let again = chat(&client, &gw, ask("What is the capital of France?"), &t1).await;
    assert_eq!(again.header("x-sluice-cache"), "hit");
}
