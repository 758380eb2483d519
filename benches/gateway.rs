//! Gateway overhead: latency through `sluice gateway`'s router minus latency straight to
//! `sluice mock llm`, under open-loop load at fixed request rates.
//!
//! Open loop: request i is sent at t0 + i/rate (in ticks of tokio's millisecond timer)
//! whether or not earlier ones have answered, so a slow path piles up requests instead of
//! slowing the load; latency counts from the send. Everything runs
//! in this process over loopback: the load generator, the gateway and the mock share the
//! machine's two cores, so the figures include that contention for both paths alike.
//!
//! `cargo bench --bench gateway` (release). Prints p50/p99/max per path and rate, and the
//! overhead (gateway − direct) at p50 and p99.

use serde_json::json;
use sluice_gateway::config::GatewayConfig;
use sluice_gateway::{server, Gateway};
use sluice_mocks::llm::{self, MockLlmConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECONDS: u64 = 4;

async fn listen(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    format!("http://{addr}")
}

/// Latencies in microseconds of `rate` req/s for `SECONDS`, open loop.
async fn load(client: &reqwest::Client, url: &str, rate: u64) -> Vec<u64> {
    load_for(client, url, rate, SECONDS).await
}

async fn load_for(client: &reqwest::Client, url: &str, rate: u64, seconds: u64) -> Vec<u64> {
    let body = json!({"model": "gpt-4o-mini", "max_tokens": 16,
        "messages": [{"role": "system", "content": "You are terse."},
                     {"role": "user", "content": "Summarise the order status for customer 42 in one line."}]})
    .to_string();
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now() + Duration::from_millis(50);
    // The client's connections, as a real client pool would bound them: a request waits
    // for one (and the wait counts in its latency) rather than opening the thousandth.
    let connections = Arc::new(tokio::sync::Semaphore::new(128));
    let mut handles = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (client, url, body) = (client.clone(), url.to_string(), body.clone());
        let connections = connections.clone();
        handles.push(tokio::spawn(async move {
            // Timed from the send: tokio's timer fires up to a millisecond late, which
            // would bury a sub-millisecond difference. The schedule stays open loop.
            let sent = Instant::now();
            let _connection = connections.acquire().await.unwrap();
            let ok = match client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
            {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            ok.then(|| sent.elapsed().as_micros() as u64)
        }));
    }
    let mut out = Vec::with_capacity(handles.len());
    let mut failed = 0;
    for h in handles {
        match h.await.unwrap() {
            Some(l) => out.push(l),
            None => failed += 1,
        }
    }
    if failed > 0 {
        println!("gateway/{rate}rps: {failed} requests failed (the machine fell behind the rate)");
    }
    out.sort_unstable();
    out
}

/// Requests per second with `workers` requests always in flight (closed loop).
async fn capacity(client: &reqwest::Client, url: &str, workers: usize) -> f64 {
    let body = json!({"model": "gpt-4o-mini", "max_tokens": 16,
        "messages": [{"role": "user", "content": "Summarise the order status for customer 42 in one line."}]})
    .to_string();
    let until = Instant::now() + Duration::from_secs(3);
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.to_string(), body.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < until {
                    let r = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    r.bytes().await.unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / 3.0
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    metrics::set_global_recorder(recorder).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let llm = listen(llm::router(MockLlmConfig::default())).await;
        let config = |limit: bool| {
            let mut api = json!({"pool": "p"});
            if limit {
                api["tokenLimit"] =
                    json!({"counterKey": "{subscription}", "tokensPerMinute": 1_000_000_000u64});
            }
            let c: GatewayConfig = serde_json::from_value(json!({
                "backends": {"llm": {"url": llm}},
                "pools": {"p": {"backends": [{"id": "llm"}]}},
                "apis": {"chat": api}}))
            .unwrap();
            Arc::clone(&Gateway::new(c, &|_| None, None).unwrap())
        };
        let plain = listen(server::router(config(false))).await;
        let limited = listen(server::router(config(true))).await;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(4096)
            .tcp_nodelay(true)
            .build()
            .unwrap();
        // Warm-up: tiktoken's encoder tables.
        load_for(&client, &format!("{limited}/v1/chat/completions"), 200, 1).await;
        for (name, url) in [
            ("direct", &llm),
            ("gateway", &plain),
            ("gateway+limit", &limited),
        ] {
            let rps = capacity(&client, &format!("{url}/v1/chat/completions"), 32).await;
            println!("gateway/capacity/{name}: {rps:.0} req/s (32 in flight, closed loop)");
        }
        // GATEWAY_BENCH_RATES=5000,1000 runs other rates.
        let rates: Vec<u64> = std::env::var("GATEWAY_BENCH_RATES")
            .ok()
            .map(|r| r.split(',').filter_map(|x| x.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![1_000, 2_500, 5_000]);
        for rate in rates {
            // Each path is warmed at the rate first (one second), so its connection pools hold
            // what the rate needs and the measured seconds are the steady state.
            let mut measured = Vec::new();
            for url in [&llm, &plain, &limited] {
                let url = format!("{url}/v1/chat/completions");
                load_for(&client, &url, rate, 1).await;
                measured.push(load(&client, &url, rate).await);
            }
            let [direct, through, policed] = <[Vec<u64>; 3]>::try_from(measured).unwrap();
            for (name, l) in [
                ("direct", &direct),
                ("gateway", &through),
                ("gateway+limit", &policed),
            ] {
                if l.is_empty() {
                    continue;
                }
                println!(
                    "gateway/{rate}rps/{name}: p50 {} µs, p99 {} µs, max {} µs ({} requests)",
                    pct(l, 0.5),
                    pct(l, 0.99),
                    l[l.len() - 1],
                    l.len()
                );
            }
            for (name, l) in [("gateway", &through), ("gateway+limit", &policed)] {
                println!(
                    "gateway/{rate}rps/{name}_overhead: p50 {} µs, p99 {} µs",
                    pct(l, 0.5) as i64 - pct(&direct, 0.5) as i64,
                    pct(l, 0.99) as i64 - pct(&direct, 0.99) as i64
                );
            }
        }
    });
}
