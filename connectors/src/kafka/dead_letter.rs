//! The one dead-letter path of the Kafka trigger: an event that cannot run (undecodable, or
//! refused by `splitOn`) goes to the dead-letter topic with headers that say why and where it
//! came from — `x-dead-letter-reason`, `x-source-topic`, `x-source-partition`,
//! `x-source-offset`, `x-dead-lettered-at` — besides the event's own headers, key and body.
//!
//! A send is retried until the broker takes it (with a growing pause, at most
//! [`MAX_PAUSE`]), so the source offset moves on only once the event is safe: an offset never
//! passes an event that neither ran nor reached the dead-letter topic.

use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;

/// The longest pause between two attempts to dead-letter one event.
pub const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Where an event came from.
pub struct Source<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// Dead-letters a consumed message as it arrived.
pub async fn send(
    producer: &FutureProducer,
    topic: &str,
    message: &BorrowedMessage<'_>,
    reason: &str,
) {
    let mut headers = OwnedHeaders::new();
    if let Some(own) = message.headers() {
        for h in own.iter() {
            headers = headers.insert(Header {
                key: h.key,
                value: h.value,
            });
        }
    }
    let source = Source {
        topic: message.topic(),
        partition: message.partition(),
        offset: message.offset(),
    };
    let payload = message.payload().unwrap_or_default();
    let key = message.key().unwrap_or_default();
    deliver(producer, topic, payload, key, headers, reason, &source).await;
}

/// Dead-letters an event already decoded (refused at admission): its body as JSON.
pub async fn send_event(
    producer: &FutureProducer,
    topic: &str,
    payload: &[u8],
    reason: &str,
    source: &Source<'_>,
) {
    deliver(
        producer,
        topic,
        payload,
        &[],
        OwnedHeaders::new(),
        reason,
        source,
    )
    .await;
}

async fn deliver(
    producer: &FutureProducer,
    topic: &str,
    payload: &[u8],
    key: &[u8],
    headers: OwnedHeaders,
    reason: &str,
    source: &Source<'_>,
) {
    let (partition, offset) = (source.partition.to_string(), source.offset.to_string());
    let at = chrono::Utc::now().to_rfc3339();
    let mut headers = headers;
    for (name, value) in [
        ("x-dead-letter-reason", reason),
        ("x-source-topic", source.topic),
        ("x-source-partition", partition.as_str()),
        ("x-source-offset", offset.as_str()),
        ("x-dead-lettered-at", at.as_str()),
    ] {
        headers = headers.insert(Header {
            key: name,
            value: Some(value),
        });
    }
    let mut pause = Duration::from_millis(100);
    loop {
        let mut record = FutureRecord::to(topic)
            .payload(payload)
            .headers(headers.clone());
        if !key.is_empty() {
            record = record.key(key);
        }
        match producer.send(record, Duration::from_secs(30)).await {
            Ok(_) => {
                metrics::counter!(crate::metric_definitions::KAFKA_DEAD_LETTERED, "topic" => source.topic.to_string())
                    .increment(1);
                return;
            }
            Err((e, _)) => {
                tracing::warn!(
                    "dead-lettering {}/{}/{} to {topic} failed ({e}); retrying in {} ms, the partition waits",
                    source.topic,
                    source.partition,
                    source.offset,
                    pause.as_millis()
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}
