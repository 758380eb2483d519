//! The AI gateway against `sluice mock llm`, each a real process as users run them: the
//! load generator here, `sluice gateway` (with and without a token limit) and the mock, all
//! on this machine's two cores over loopback.
//!
//! 1. Closed loop: the most requests per second with 512 always in flight on a 20 ms
//!    backend, and the CPU each request costs the process that serves it.
//! 2. Open loop at 200, 1,000 and 3,000 req/s (`GATEWAY_BENCH_RATES`): request i is sent at
//!    t0 + i/rate whatever came before, and timed from its send; p50/p99 straight to the
//!    mock and through the gateway, and the difference.
//! 3. Real model latency: a backend answering in 1 s, 256 clients in a closed loop,
//!    direct and through the gateway with its defaults.
//! 4. Memory: the peak RSS of the gateway with a token limit and without, after the same load.
//!
//! `cargo bench --bench gateway` (release).

use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECONDS: u64 = 4;

/// A `sluice` process, killed when dropped.
struct Process {
    child: Child,
    base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Starts `sluice ARGS --port 0` and waits for "listening on URL".
    fn start(args: &[&str]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .args(["--port", "0"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("sluice starts");
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let base = loop {
            let line = lines.next().expect("an address").expect("a line");
            if let Some((_, rest)) = line.split_once("listening on ") {
                let url = rest.split_whitespace().next().expect("a URL");
                break url.trim_end_matches("/v1").to_string();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Process { child, base }
    }

    fn gateway(dir: &Path, name: &str, backend: &str, limit: bool) -> Process {
        let mut api = json!({"pool": "p"});
        if limit {
            api["tokenLimit"] =
                json!({"counterKey": "{subscription}", "tokensPerMinute": 1_000_000_000u64});
        }
        let config = json!({"backends": {"llm": {"url": backend}},
            "pools": {"p": {"backends": [{"id": "llm"}]}}, "apis": {"chat": api}});
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, config.to_string()).expect("written");
        Process::start(&["gateway", "--config", path.to_str().expect("UTF-8")])
    }

    /// CPU time used so far (user + system), in seconds.
    fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let ticks: Vec<f64> = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|t| t.parse().ok())
            .collect();
        ticks.iter().sum::<f64>() / 100.0
    }

    /// Peak resident memory (VmHWM), in MiB.
    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

fn body() -> String {
    json!({"model": "gpt-4o-mini", "max_tokens": 16,
        "messages": [{"role": "system", "content": "You are terse."},
                     {"role": "user", "content": "Summarise the order status for customer 42 in one line."}]})
    .to_string()
}

/// Latencies in microseconds of `rate` req/s for `seconds`, open loop.
async fn open_loop(client: &reqwest::Client, url: &str, rate: u64, seconds: u64) -> Vec<u64> {
    let body = body();
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now() + Duration::from_millis(50);
    let mut handles = Vec::with_capacity(total as usize);
    for i in 0..total {
        tokio::time::sleep_until((start + interval * i as u32).into()).await;
        let (client, url, body) = (client.clone(), url.to_string(), body.clone());
        handles.push(tokio::spawn(async move {
            // Timed from the send: tokio's timer fires up to a millisecond late.
            let sent = Instant::now();
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
    for h in handles {
        if let Some(l) = h.await.expect("joined") {
            out.push(l);
        }
    }
    if out.len() < total as usize {
        println!(
            "gateway/{rate}rps: {} requests failed",
            total as usize - out.len()
        );
    }
    out.sort_unstable();
    out
}

/// Requests per second with `workers` requests always in flight, over `seconds`.
async fn closed_loop(client: &reqwest::Client, url: &str, workers: usize, seconds: f64) -> f64 {
    let body = axum::body::Bytes::from(body());
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (client, url, body, failed) = (
                client.clone(),
                url.to_string(),
                body.clone(),
                failed.clone(),
            );
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < until {
                    let sent = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    let ok = match sent {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if ok {
                        n += 1;
                    } else {
                        failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("joined");
    }
    let failed = failed.load(std::sync::atomic::Ordering::Relaxed);
    if failed > 0 {
        println!("gateway/closed_loop: {failed} requests failed");
    }
    total as f64 / seconds
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn chat(base: &str) -> String {
    format!("{base}/v1/chat/completions")
}

async fn rates(client: &reqwest::Client, llm: &Process, plain: &Process, limited: &Process) {
    let rates: Vec<u64> = std::env::var("GATEWAY_BENCH_RATES")
        .ok()
        .map(|r| r.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![200, 1_000, 3_000]);
    for rate in rates {
        let mut measured = Vec::new();
        for p in [llm, plain, limited] {
            // A second at the rate first, so the connection pools hold what it needs.
            open_loop(client, &chat(&p.base), rate, 1).await;
            measured.push(open_loop(client, &chat(&p.base), rate, SECONDS).await);
        }
        let [direct, through, policed] = <[Vec<u64>; 3]>::try_from(measured).expect("three");
        for (name, l) in [
            ("direct", &direct),
            ("gateway", &through),
            ("gateway+limit", &policed),
        ] {
            println!(
                "gateway/{rate}rps/{name}: p50 {} µs, p99 {} µs, max {} µs ({} requests)",
                pct(l, 0.5),
                pct(l, 0.99),
                l.last().copied().unwrap_or(0),
                l.len()
            );
        }
        for (name, l) in [("gateway", &through), ("gateway+limit", &policed)] {
            println!(
                "gateway/{rate}rps/{name}_added: p50 {} µs, p99 {} µs",
                pct(l, 0.5) as i64 - pct(&direct, 0.5) as i64,
                pct(l, 0.99) as i64 - pct(&direct, 0.99) as i64
            );
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = std::env::temp_dir().join(format!("sluice-gateway-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let llm = Process::start(&["mock", "llm", "--latency-ms", "20"]);
    let plain = Process::gateway(&dir, "plain", &llm.base, false);
    let limited = Process::gateway(&dir, "limited", &llm.base, true);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .tcp_nodelay(true)
        .build()
        .expect("a client");
    runtime.block_on(async {
        for (name, p) in [("direct", &llm), ("gateway", &plain), ("gateway+limit", &limited)] {
            closed_loop(&client, &chat(&p.base), 512, 1.0).await;
            let cpu = p.cpu_seconds();
            let rps = closed_loop(&client, &chat(&p.base), 512, 3.0).await;
            let per_request = (p.cpu_seconds() - cpu) / (rps * 3.0) * 1e6;
            println!(
                "gateway/closed_loop/{name}: {rps:.0} req/s (512 in flight, 20 ms backend), {per_request:.0} µs CPU per request in its process"
            );
        }
        rates(&client, &llm, &plain, &limited).await;
        println!(
            "gateway/peak_rss: {:.0} MiB without a token limit, {:.0} MiB with one (×{:.2})",
            plain.peak_rss_mib(),
            limited.peak_rss_mib(),
            limited.peak_rss_mib() / plain.peak_rss_mib().max(1.0)
        );
        let slow = Process::start(&["mock", "llm", "--latency-ms", "1000"]);
        let through = Process::gateway(&dir, "slow", &slow.base, false);
        // A round first on each path, so both measure with their connections open.
        closed_loop(&client, &chat(&slow.base), 256, 1.5).await;
        let direct = closed_loop(&client, &chat(&slow.base), 256, 5.0).await;
        closed_loop(&client, &chat(&through.base), 256, 1.5).await;
        let gateway = closed_loop(&client, &chat(&through.base), 256, 5.0).await;
        println!(
            "gateway/1s_backend_256_clients: direct {direct:.0} req/s, gateway {gateway:.0} req/s (×{:.3})",
            gateway / direct
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
