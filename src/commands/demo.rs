//! `sluice run --demo RATE`: a newcomer's first run. The scoring function is served
//! in-process (`sluice mock function` with a little latency) and synthetic events are produced
//! at RATE per second into every Kafka trigger's topic (the embedded cluster's, when the app
//! names none), so the status line shows live rates at once.

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use sluice_mocks::function::{router, MockConfig};
use std::time::{Duration, Instant};

/// The app setting the sample app reads its scoring function's URL from.
pub const FUNCTION_URL_SETTING: &str = "Scoring_FunctionUrl";

/// Binds the stand-in function now (before the app's settings are read) and points the
/// sample app's setting at it; serve it with [`serve_function`] inside the runtime.
pub fn bind_function() -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}/api/score", listener.local_addr()?);
    // Set before any other thread reads the environment (the runtime is not started yet).
    std::env::set_var(FUNCTION_URL_SETTING, &url);
    eprintln!("sluice: demo: scoring function at {url}");
    Ok(listener)
}

pub fn serve_function(listener: std::net::TcpListener) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let config = MockConfig {
        latency: Duration::from_millis(2),
        ..MockConfig::default()
    };
    tokio::spawn(async move { axum::serve(listener, router(config)).await });
    Ok(())
}

/// Produces synthetic events at `rate` per second to `topics`, open loop, until aborted.
pub fn produce(
    bootstrap: String,
    topics: Vec<String>,
    rate: f64,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "5")
        .create()?;
    eprintln!(
        "sluice: demo: producing {rate} events/s to {}",
        topics.join(", ")
    );
    Ok(tokio::spawn(async move {
        let started = Instant::now();
        for n in 0u64.. {
            let due = started + Duration::from_secs_f64(n as f64 / rate.max(0.001));
            tokio::time::sleep_until(due.into()).await;
            let payload = crate::commands::produce::event(n);
            let key = n.to_string();
            for topic in &topics {
                let producer = producer.clone();
                let (topic, payload, key) = (topic.clone(), payload.clone(), key.clone());
                tokio::spawn(async move {
                    let record = FutureRecord::to(&topic).key(&key).payload(&payload);
                    let _ = producer.send(record, Duration::from_secs(30)).await;
                });
            }
        }
    }))
}
