//! The send action: `ServiceProvider` with `/serviceProviders/eventHub` (or
//! `/serviceProviders/kafka`), operations `sendEvent` (`eventData` `{contentData, properties}`)
//! and `sendEvents` (`eventData` an array of those), to `eventHubName`. The plain Kafka form
//! also takes `key` and `partition` per event (or for the action). The body is JSON unless
//! `contentData` is a string. Each send waits for the delivery report; the producer is
//! idempotent; a failed send is retried under the action's retry policy.

use super::connection::KafkaConnection;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sluice_engine::expr::functions::to_text;
use sluice_engine::expr::value::Map;
use sluice_engine::expr::Value;
use sluice_engine::runtime::{ActionCall, ActionFailure, ActionHandler, BoxFuture};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a send may wait for its delivery report.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs Kafka send actions, one idempotent producer per connection. A connection without a
/// producer keeps its reason, and the actions that use it fail with it.
pub struct SendAction {
    producers: HashMap<String, Result<FutureProducer, String>>,
}

impl SendAction {
    /// Producers for the app's Kafka connections (`embedded`: the in-process cluster).
    pub fn new(
        connections: &[(String, Result<KafkaConnection, super::Error>)],
        embedded: Option<&str>,
    ) -> SendAction {
        let producers = connections
            .iter()
            .map(|(name, connection)| {
                let producer = match connection {
                    Ok(connection) => producer(name, connection, embedded),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = &producer {
                    tracing::warn!("Kafka connection '{name}' cannot send: {e}");
                }
                (name.to_lowercase(), producer)
            })
            .collect();
        SendAction { producers }
    }
}

fn producer(
    name: &str,
    connection: &KafkaConnection,
    embedded: Option<&str>,
) -> Result<FutureProducer, String> {
    let mut config = connection
        .client_config(embedded)
        .map_err(|e| format!("connection '{name}': {e}"))?;
    config
        .set("enable.idempotence", "true")
        .set("linger.ms", "2");
    config
        .create()
        .map_err(|e| format!("Kafka producer for connection '{name}': {e}"))
}

fn events(parameters: &Value, operation: &str) -> Vec<Value> {
    let data = parameters
        .get("eventData")
        .or_else(|| parameters.get("events"))
        .cloned()
        .unwrap_or_default();
    match (operation, data) {
        (_, Value::Array(items)) => items.to_vec(),
        (_, Value::Null) => Vec::new(),
        (_, one) => vec![one],
    }
}

async fn send_one(
    producer: &FutureProducer,
    topic: &str,
    event: &Value,
    defaults: &Value,
) -> Result<Value, ActionFailure> {
    let payload = match event.get("contentData") {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(other) => other.to_json_string().into_bytes(),
        None => Vec::new(),
    };
    let mut headers = OwnedHeaders::new();
    let properties = event
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let texts: Vec<(String, String)> = properties
        .iter()
        .map(|(k, v)| (k.clone(), to_text(v)))
        .collect();
    for (key, value) in &texts {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    let field = |name: &str| {
        event
            .get(name)
            .or_else(|| defaults.get(name))
            .filter(|v| !v.is_null())
    };
    let key = field("key").map(to_text);
    let partition = field("partition").and_then(|p| to_text(p).parse::<i32>().ok());
    let mut record = FutureRecord::to(topic).payload(&payload).headers(headers);
    if let Some(key) = &key {
        record = record.key(key);
    }
    if let Some(p) = partition {
        record = record.partition(p);
    }
    let started = Instant::now();
    let delivered = producer.send(record, DELIVERY_TIMEOUT).await;
    metrics::histogram!(crate::metric_definitions::KAFKA_SEND)
        .record(started.elapsed().as_secs_f64());
    match delivered {
        Ok(delivery) => {
            let mut out = Map::default();
            out.insert(
                "partition".into(),
                Value::from(i64::from(delivery.partition)),
            );
            out.insert("offset".into(), Value::from(delivery.offset));
            Ok(Value::object(out))
        }
        Err((e, _)) => Err(ActionFailure {
            retryable: true,
            ..ActionFailure::permanent(
                "ServiceProviderActionFailed",
                format!("sending to '{topic}': {e}"),
            )
        }),
    }
}

impl ActionHandler for SendAction {
    fn execute<'a>(&'a self, call: ActionCall<'a>) -> BoxFuture<'a, Result<Value, ActionFailure>> {
        Box::pin(async move {
            let config = call.inputs.get("serviceProviderConfiguration");
            let text = |v: Option<&Value>, k: &str| {
                v.and_then(|c| c.get(k)).map(to_text).unwrap_or_default()
            };
            let operation = text(config, "operationId");
            let connection = text(config, "connectionName");
            if !matches!(
                operation.to_lowercase().as_str(),
                "sendevent" | "sendevents" | "send"
            ) {
                return Err(ActionFailure::permanent(
                    "OperationNotSupported",
                    format!("the Kafka / Event Hubs connector has no operation '{operation}' (sendEvent, sendEvents)"),
                ));
            }
            let producer = match self.producers.get(&connection.to_lowercase()) {
                Some(Ok(producer)) => producer,
                Some(Err(reason)) => {
                    return Err(ActionFailure::permanent("ConnectionNotValid", reason.clone()))
                }
                None => {
                    return Err(ActionFailure::permanent(
                        "ConnectionNotFound",
                        format!("no Kafka connection '{connection}'"),
                    ))
                }
            };
            let parameters = call.inputs.get("parameters").cloned().unwrap_or_default();
            let topic = text(Some(&parameters), "eventHubName");
            let topic = if topic.is_empty() {
                text(Some(&parameters), "topic")
            } else {
                topic
            };
            if topic.is_empty() {
                return Err(ActionFailure::permanent(
                    "InvalidParameters",
                    "no 'eventHubName' (the topic) to send to",
                ));
            }
            let mut results = Vec::new();
            for event in events(&parameters, &operation) {
                results.push(send_one(producer, &topic, &event, &parameters).await?);
            }
            let mut outputs = Map::default();
            outputs.insert(
                "body".into(),
                if results.len() == 1 {
                    results.remove(0)
                } else {
                    Value::array(results)
                },
            );
            Ok(Value::object(outputs))
        })
    }
}
