//! Poison events go to a dead-letter topic with headers that say why and where they came from:
//! `x-dead-letter-reason`, `x-source-topic`, `x-source-partition`, `x-source-offset`,
//! `x-dead-lettered-at`, besides the event's own headers, key and body.

use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;

/// Sends `message` to `topic` with `reason`; retries until the broker takes it, so the
/// source offset only moves on once the event is safe.
pub async fn send(
    producer: &FutureProducer,
    topic: &str,
    message: &BorrowedMessage<'_>,
    reason: &str,
) {
    let partition = message.partition().to_string();
    let offset = message.offset().to_string();
    let at = chrono::Utc::now().to_rfc3339();
    let mut headers = OwnedHeaders::new();
    if let Some(own) = message.headers() {
        for h in own.iter() {
            headers = headers.insert(Header {
                key: h.key,
                value: h.value,
            });
        }
    }
    for (key, value) in [
        ("x-dead-letter-reason", reason),
        ("x-source-topic", message.topic()),
        ("x-source-partition", partition.as_str()),
        ("x-source-offset", offset.as_str()),
        ("x-dead-lettered-at", at.as_str()),
    ] {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    let payload = message.payload().unwrap_or_default();
    let key = message.key().unwrap_or_default();
    loop {
        let record = FutureRecord::to(topic)
            .payload(payload)
            .key(key)
            .headers(headers.clone());
        match producer.send(record, Duration::from_secs(30)).await {
            Ok(_) => {
                metrics::counter!(crate::metrics::KAFKA_DEAD_LETTERED, "topic" => message.topic().to_string())
                    .increment(1);
                return;
            }
            Err((e, _)) => {
                eprintln!("sluice: dead-letter send to {topic} failed ({e}); retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
