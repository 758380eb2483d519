//! The hand-written baseline for `sluice bench sustained`: a plain Rust program that consumes
//! the same events from the same embedded cluster and does the same work per event without the
//! engine — parse, count, the same branches, the scoring function called over HTTP where the
//! workflow calls it (large or small score, and the EU lookup), the status event sent and its
//! delivery awaited, the offset stored — then runs `sluice bench sustained` on the same input
//! and reports the engine's throughput as a ratio of the baseline's, both measured in this run.
//!
//! `cargo bench --bench sustained_baseline` (EVENTS=N, default 100,000; RATE=R events/s,
//! default 5,000: above what either can take, so both run at saturation; STATELESS=1 runs the
//! engine's workflow stateless).

use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use serde_json::{json, Value};
use sluice_mocks::function::{router, MockConfig};
use std::process::Command;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Events in flight at once, as the Kafka trigger's default concurrency allows.
const IN_FLIGHT: usize = 1_000;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let events: u64 = env("EVENTS", 100_000);
    let rate: f64 = env("RATE", 5_000.0);
    let stateless = env("STATELESS", 0u8) == 1;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let baseline = runtime.block_on(baseline(events, rate));
    drop(runtime);
    let engine = engine(events, rate, stateless);
    println!("sustained/baseline: {baseline:.0} events/min");
    println!(
        "sustained/engine ({}): {engine:.0} events/min",
        if stateless { "stateless" } else { "stateful" }
    );
    println!("sustained/ratio: {:.2}", engine / baseline);
}

/// The engine on the same input: `sluice bench sustained` as a child process.
fn engine(events: u64, rate: f64, stateless: bool) -> f64 {
    let results = std::env::temp_dir().join(format!("sluice-baseline-{}", std::process::id()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command.args(["bench", "sustained", "--format", "json"]);
    command.args(["--events", &events.to_string(), "--rate", &rate.to_string()]);
    command.arg("--results").arg(&results);
    if stateless {
        command.arg("--stateless");
    }
    let output = command.output().expect("sluice bench runs");
    let _ = std::fs::remove_dir_all(&results);
    let result: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "sluice bench sustained: {e}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(result["lost"], 0, "the engine lost events: {result}");
    result["events_per_min"].as_f64().unwrap()
}

async fn baseline(events: u64, rate: f64) -> f64 {
    let cluster = MockCluster::new(1).unwrap();
    for topic in ["events", "status"] {
        cluster.create_topic(topic, 4, 1).unwrap();
    }
    let bootstrap = cluster.bootstrap_servers();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let score = format!(
        "http://{}/api/score?Code=bench",
        listener.local_addr().unwrap()
    );
    let function = router(MockConfig {
        latency: Duration::from_millis(5),
        ..MockConfig::default()
    });
    tokio::spawn(async move { axum::serve(listener, function).await });
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "baseline")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&["events"]).unwrap();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let client = reqwest::Client::new();

    // The same generator as the engine's run: open loop at RATE, batches lingering 100 ms.
    let started = Instant::now();
    let mut generator = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["produce", "--bootstrap", &bootstrap, "--topic", "events"])
        .args(["--count", &events.to_string(), "--rate", &rate.to_string()])
        .args(["--linger-ms", "100"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut done = 0;
    let mut pending = FuturesUnordered::new();
    let mut stream = consumer.stream();
    while done < events {
        tokio::select! {
            Some(message) = stream.next(), if pending.len() < IN_FLIGHT => {
                let message = message.unwrap();
                let (partition, offset) = (message.partition(), message.offset());
                let event: Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
                let (client, producer, score) = (&client, &producer, &score);
                pending.push(async move {
                    process(client, producer, score, &event).await;
                    (partition, offset)
                });
            }
            Some((partition, offset)) = pending.next() => {
                consumer.store_offset("events", partition, offset).unwrap();
                done += 1;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = generator.wait();
    events as f64 * 60.0 / elapsed
}

/// One event's work, as the sustained workflow does it.
async fn process(client: &reqwest::Client, producer: &FutureProducer, score: &str, event: &Value) {
    let id = event["id"].as_u64().unwrap();
    let amount = event["amount"].as_f64().unwrap_or(0.0);
    let region = event["region"].as_str().unwrap_or_default().to_uppercase();
    let priority = event["priority"].as_bool().unwrap_or(false);
    let (mut count, status) = (0i64, "new");
    if event.get("id").is_some_and(|v| !v.is_null()) {
        count += 1;
    }
    let call = |name: &'static str| {
        let body = json!({"id": id, "n": count}).to_string();
        async move {
            let response = client
                .post(score)
                .header("content-type", "application/json")
                .header("x-call", name)
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
            response.bytes().await.unwrap()
        }
    };
    if amount > 100.0 {
        call("Score_large").await;
    } else {
        call("Score_small").await;
    }
    if region == "EU" {
        call("Lookup_eu").await;
    }
    let _ = count > 0 || priority;
    if status == "new" {
        let summary = json!({"id": id, "count": count, "at": format!("{}-{id}", event["region"].as_str().unwrap_or_default())});
        let payload = summary.to_string();
        let record = FutureRecord::<(), _>::to("status").payload(&payload);
        producer
            .send(record, Duration::from_secs(30))
            .await
            .unwrap();
    }
}
