//! The load side of a benchmark: an open-loop generator (input does not slow down when the
//! engine does), and the tally that checks what came out against what was sent — lost and
//! duplicated events and end-to-end latency per event.

use futures_util::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Message};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per event id: when it was sent and how often it came out, against one clock.
pub struct Tally {
    start: Instant,
    /// `start` on the wall clock, for outputs timed by the store.
    wall_start: chrono::DateTime<chrono::Utc>,
    /// Outputs with ids the generator does not send (the warm-up event).
    pub other_seen: AtomicU64,
    /// Microseconds after `start` + 1 (0: not sent yet).
    sent: Vec<AtomicU64>,
    seen: Vec<AtomicU32>,
    /// Events sent and outputs seen so far (for progress).
    pub sent_count: AtomicU64,
    pub seen_count: AtomicU64,
    /// Events seen at least once.
    distinct: AtomicU64,
    /// End-to-end latency of each first output, microseconds.
    latencies: std::sync::Mutex<Vec<u32>>,
}

/// What the tally found.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub sent: u64,
    pub distinct: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// End-to-end latency quantiles (p50, p95, p99, max) in milliseconds.
    pub latency_ms: Option<[f64; 4]>,
}

impl Tally {
    pub fn new(events: u64) -> Arc<Tally> {
        Arc::new(Tally {
            start: Instant::now(),
            wall_start: chrono::Utc::now(),
            other_seen: AtomicU64::new(0),
            sent: (0..events).map(|_| AtomicU64::new(0)).collect(),
            seen: (0..events).map(|_| AtomicU32::new(0)).collect(),
            sent_count: AtomicU64::new(0),
            seen_count: AtomicU64::new(0),
            distinct: AtomicU64::new(0),
            latencies: std::sync::Mutex::new(Vec::with_capacity(events as usize)),
        })
    }

    pub fn mark_sent(&self, id: u64) {
        let micros = self.start.elapsed().as_micros() as u64 + 1;
        self.sent[id as usize].store(micros, Relaxed);
        self.sent_count.fetch_add(1, Relaxed);
    }

    /// Records an output for `id` that appeared at `at`; ids the generator never made are ignored.
    pub fn mark_seen_at(&self, id: u64, at: Instant) {
        let Some(seen) = self.seen.get(id as usize) else {
            self.other_seen.fetch_add(1, Relaxed);
            return;
        };
        self.seen_count.fetch_add(1, Relaxed);
        if seen.fetch_add(1, Relaxed) > 0 {
            return;
        }
        self.distinct.fetch_add(1, Relaxed);
        let sent = self.sent[id as usize].load(Relaxed);
        if sent > 0 {
            let at = at.saturating_duration_since(self.start).as_micros() as u64 + 1;
            let latency = at.saturating_sub(sent).min(u32::MAX as u64) as u32;
            self.latencies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(latency);
        }
    }

    pub fn mark_seen(&self, id: u64) {
        self.mark_seen_at(id, Instant::now());
    }

    /// Records an output timed on the wall clock (a stored run's end).
    pub fn mark_seen_wall(&self, id: u64, at: chrono::DateTime<chrono::Utc>) {
        let after = (at - self.wall_start).to_std().unwrap_or_default();
        self.mark_seen_at(id, self.start + after);
    }

    /// Every sent event has come out at least once.
    pub fn complete(&self) -> bool {
        let all = self.sent.len() as u64;
        self.sent_count.load(Relaxed) == all && self.distinct.load(Relaxed) == all
    }

    pub fn check(&self) -> Checked {
        let sent = self.sent.iter().filter(|s| s.load(Relaxed) > 0).count() as u64;
        let mut distinct = 0;
        let mut duplicated = 0;
        for s in &self.seen {
            let n = s.load(Relaxed) as u64;
            distinct += u64::from(n > 0);
            duplicated += n.saturating_sub(1);
        }
        let mut latencies = self
            .latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        latencies.sort_unstable();
        let quantile = |q: f64| {
            let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[i] as f64 / 1e3
        };
        Checked {
            sent,
            distinct,
            lost: self.seen.len() as u64 - distinct,
            duplicated,
            latency_ms: (!latencies.is_empty())
                .then(|| [quantile(0.5), quantile(0.95), quantile(0.99), quantile(1.0)]),
        }
    }
}

/// When event `i` is due, for `rate` events per second (0: at once).
fn due(start: Instant, i: u64, rate: f64) -> Instant {
    if rate > 0.0 {
        start + Duration::from_secs_f64(i as f64 / rate)
    } else {
        start
    }
}

/// Produces events `0..events` (`crate::commands::produce::event`) to `topic` at `rate` per second, open
/// loop: whatever is due is enqueued at once, however far the engine is behind.
pub fn produce_kafka(
    bootstrap: &str,
    topic: &str,
    rate: f64,
    tally: Arc<Tally>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    // The embedded cluster (librdkafka's mock broker) answers a fetch with at most one
    // producer batch per partition, so at high rates small batches would throttle the
    // consumer: above 1,000 events/s batches linger 100 ms, as a real producer's would fill.
    let linger = if rate > 0.0 && rate <= 1000.0 {
        "5"
    } else {
        "100"
    };
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", linger)
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let topic = topic.to_string();
    let events = tally.sent.len() as u64;
    Ok(tokio::spawn(async move {
        let start = Instant::now();
        let mut i = 0;
        while i < events {
            let now = Instant::now();
            while i < events && due(start, i, rate) <= now {
                let payload = crate::commands::produce::event(i);
                let key = i.to_string();
                loop {
                    let record = FutureRecord::to(&topic).key(&key).payload(&payload);
                    match producer.send_result(record) {
                        Ok(_) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                            tokio::time::sleep(Duration::from_millis(1)).await
                        }
                        Err((e, _)) => {
                            eprintln!("sluice bench: producing event {i}: {e}");
                            return;
                        }
                    }
                }
                tally.mark_sent(i);
                i += 1;
            }
            if i < events {
                tokio::time::sleep_until(due(start, i, rate).into()).await;
            }
        }
        let _ = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(300))).await;
    }))
}

/// Reads `topic` from the start and marks the `id` of each JSON event as seen.
pub fn check_kafka(
    bootstrap: &str,
    topic: &str,
    tally: Arc<Tally>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("sluice-bench-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "5")
        .create()?;
    consumer.subscribe(&[topic])?;
    Ok(tokio::spawn(async move {
        let mut stream = consumer.stream();
        while let Some(message) = stream.next().await {
            let Ok(message) = message else { continue };
            let id = message
                .payload()
                .and_then(|p| serde_json::from_slice::<serde_json::Value>(p).ok())
                .and_then(|v| v.get("id").and_then(serde_json::Value::as_u64));
            if let Some(id) = id {
                tally.mark_seen(id);
            }
        }
    }))
}

/// POSTs `{"orders": [{"order": i}, …]}` to `url` in requests of `batch` orders, open loop at
/// `rate` orders per second (0: all at once, each request as soon as the previous is accepted).
pub fn post_orders(
    url: String,
    batch: u64,
    rate: f64,
    tally: Arc<Tally>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let events = tally.sent.len() as u64;
        let start = Instant::now();
        let mut first = 0;
        while first < events {
            let last = (first + batch).min(events);
            tokio::time::sleep_until(due(start, first, rate).into()).await;
            let orders: Vec<serde_json::Value> = (first..last)
                .map(|i| serde_json::json!({"order": i}))
                .collect();
            (first..last).for_each(|i| tally.mark_sent(i));
            let body = serde_json::json!({ "orders": orders }).to_string();
            let request = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body);
            match request.send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => eprintln!("sluice bench: POST {url}: {}", r.status()),
                Err(e) => eprintln!("sluice bench: POST {url}: {e}"),
            }
            first = last;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_finds_lost_and_duplicated_events() {
        let tally = Tally::new(4);
        (0..4).for_each(|i| tally.mark_sent(i));
        let later = Instant::now() + Duration::from_millis(5);
        tally.mark_seen_at(0, later);
        tally.mark_seen_at(1, later);
        tally.mark_seen_at(1, later);
        tally.mark_seen_at(9, later);
        assert!(!tally.complete());
        assert_eq!(tally.other_seen.load(Relaxed), 1, "an id never sent");
        let checked = tally.check();
        assert_eq!(
            (
                checked.sent,
                checked.distinct,
                checked.lost,
                checked.duplicated
            ),
            (4, 2, 2, 1)
        );
        let [p50, _, _, max] = checked.latency_ms.unwrap();
        assert!((5.0..1000.0).contains(&p50) && max >= p50, "{p50} {max}");
        tally.mark_seen(2);
        tally.mark_seen(3);
        assert!(tally.complete());
    }
}
