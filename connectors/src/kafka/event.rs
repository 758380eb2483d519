//! A Kafka record as the Event Hubs built-in trigger shows an event: `contentData` (the body,
//! parsed when it is JSON), `properties` (the headers) and `systemProperties` (partition,
//! offset, sequence number, enqueued time, partition key), under both the Event Hubs names
//! (`x-opt-…`) and plain ones.

use rdkafka::message::{BorrowedMessage, Headers, Message};
use sluice_engine::expr::value::Map;
use sluice_engine::expr::Value;

/// Why a record cannot be the trigger's event.
#[derive(Debug, Clone, PartialEq)]
pub struct Undecodable(pub String);

/// The event, or why the record is poison. With `json_only`, a body that is not JSON is
/// poison (the trigger's `contentType` is `application/json`).
pub fn decode(message: &BorrowedMessage<'_>, json_only: bool) -> Result<Value, Undecodable> {
    let payload = message.payload().unwrap_or_default();
    let content = if payload.is_empty() {
        Value::Null
    } else if let Ok(json) = serde_json::from_slice::<Value>(payload) {
        json
    } else if json_only {
        return Err(Undecodable(format!(
            "the body is not JSON ({} bytes) but the trigger expects application/json",
            payload.len()
        )));
    } else {
        match std::str::from_utf8(payload) {
            Ok(text) => Value::from(text),
            Err(_) => {
                sluice_engine::expr::functions::binary_value(payload, "application/octet-stream")
            }
        }
    };
    let mut properties = Map::default();
    if let Some(headers) = message.headers() {
        for header in headers.iter() {
            let value = header
                .value
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            properties.insert(header.key.to_string(), Value::from(value));
        }
    }
    let key = message
        .key()
        .map(|k| Value::from(String::from_utf8_lossy(k).into_owned()))
        .unwrap_or_default();
    let enqueued = message
        .timestamp()
        .to_millis()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| Value::from(sluice_engine::record::timestamp(t)))
        .unwrap_or_default();
    let mut system = Map::default();
    let partition = Value::from(i64::from(message.partition()));
    let offset = Value::from(message.offset());
    for (name, value) in [
        ("x-opt-partition-key", key.clone()),
        ("x-opt-offset", offset.clone()),
        ("x-opt-sequence-number", offset.clone()),
        ("x-opt-enqueued-time", enqueued.clone()),
        ("partitionId", partition),
        ("offset", offset.clone()),
        ("sequenceNumber", offset),
        ("enqueuedTime", enqueued),
        ("partitionKey", key),
        ("topic", Value::from(message.topic())),
    ] {
        system.insert(name.into(), value);
    }
    let mut event = Map::default();
    event.insert("contentData".into(), content);
    event.insert("properties".into(), Value::object(properties));
    event.insert("systemProperties".into(), Value::object(system));
    Ok(Value::object(event))
}
