//! `sluice produce`: a plain librdkafka producer in its own process, to feed any Kafka
//! cluster (the embedded one of `sluice run` included) with synthetic JSON events at a fixed
//! rate: `{"id": N, "amount": …, "region": …, "priority": …}`.

use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub struct Options {
    pub bootstrap: String,
    pub topic: String,
    pub count: u64,
    /// Events per second; 0: as fast as the broker takes them.
    pub rate: f64,
    pub first_id: u64,
    /// librdkafka's linger.ms: how long a batch waits to fill.
    pub linger_ms: u64,
}

/// The event with id `i`.
pub fn event(i: u64) -> String {
    const REGIONS: [&str; 4] = ["eu", "us", "apac", "latam"];
    serde_json::json!({
        "id": i,
        "amount": (i * 37 % 1000) as f64 + 0.5,
        "region": REGIONS[(i % 4) as usize],
        "priority": i % 10 == 0,
    })
    .to_string()
}

pub fn run(options: Options) -> anyhow::Result<ExitCode> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &options.bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", options.linger_ms.to_string())
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    runtime.block_on(async {
        let mut pending = futures_util::stream::FuturesUnordered::new();
        for n in 0..options.count {
            if options.rate > 0.0 {
                let due = started + Duration::from_secs_f64(n as f64 / options.rate);
                tokio::time::sleep_until(due.into()).await;
            }
            let i = options.first_id + n;
            let key = i.to_string();
            let payload = event(i);
            let producer = producer.clone();
            let topic = options.topic.clone();
            pending.push(async move {
                let record = FutureRecord::to(&topic).key(&key).payload(&payload);
                producer
                    .send(record, Duration::from_secs(30))
                    .await
                    .map(|_| ())
                    .map_err(|(e, _)| e)
            });
            if pending.len() >= 10_000 {
                use futures_util::StreamExt;
                pending.next().await.transpose()?;
            }
        }
        use futures_util::StreamExt;
        while let Some(result) = pending.next().await {
            result?;
        }
        anyhow::Ok(())
    })?;
    producer.flush(Duration::from_secs(30))?;
    eprintln!(
        "sluice: produced {} events to '{}' in {:.2} s",
        options.count,
        options.topic,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
