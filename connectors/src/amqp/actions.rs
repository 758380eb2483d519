//! Service Bus actions on RabbitMQ: settlement of peek-locked messages
//! (`complete…`, `abandon…`, `deadLetter…` with `deadLetterReason` and
//! `deadLetterErrorDescription`, `renewLock…`, queue and topic forms, V2 or not) by
//! `lockToken`, and `sendMessage` / `sendMessages` to `entityName` (a queue, or a topic's
//! exchange) with publisher confirms, persistent delivery, and the Service Bus fields mapped to
//! AMQP properties (`messageId`, `correlationId`, `contentType`, `userProperties` → headers,
//! `sessionId` → header `x-session-id`).

use super::client::{Publisher, DEAD_LETTER_SUFFIX};
use super::locks::Locks;
use crate::metric_definitions as metric;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicPublishOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Confirmation};
use sluice_engine::expr::functions::to_text;
use sluice_engine::expr::value::Map;
use sluice_engine::expr::Value;
use sluice_engine::runtime::{ActionCall, ActionFailure, ActionHandler, BoxFuture};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Runs Service Bus actions.
pub struct ServiceBusActions {
    pub locks: Arc<Locks>,
    /// Publishers by connection name (lower case).
    /// By lower-case connection name; a connection that does not resolve keeps its reason.
    pub publishers: HashMap<String, Result<Publisher, String>>,
    pub lock_duration: Duration,
}

fn failure(message: String) -> ActionFailure {
    ActionFailure {
        retryable: true,
        ..ActionFailure::permanent("ServiceProviderActionFailed", message)
    }
}

fn lost(token: &str) -> ActionFailure {
    ActionFailure::permanent(
        "MessageLockLost",
        format!(
            "the lock '{token}' is not held: the message was settled already or its lock expired"
        ),
    )
}

impl ServiceBusActions {
    async fn settle(&self, operation: &str, parameters: &Value) -> Result<Value, ActionFailure> {
        let token = parameters.get("lockToken").map(to_text).unwrap_or_default();
        if operation.starts_with("renewlock") {
            let until = self
                .locks
                .renew(&token, self.lock_duration)
                .ok_or_else(|| lost(&token))?;
            let left = until.saturating_duration_since(std::time::Instant::now());
            let until = chrono::Utc::now() + chrono::Duration::from_std(left).unwrap_or_default();
            return Ok(body(Value::from(sluice_engine::record::timestamp(until))));
        }
        let held = self.locks.take(&token).ok_or_else(|| lost(&token))?;
        let done = if operation.starts_with("complete") {
            held.acker
                .ack(BasicAckOptions::default())
                .await
                .map(|_| metric::AMQP_ACKED)
        } else if operation.starts_with("abandon") {
            held.acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await
                .map(|_| metric::AMQP_NACKED)
        } else {
            let reason = parameters
                .get("deadLetterReason")
                .map(to_text)
                .unwrap_or_default();
            let description = parameters
                .get("deadLetterErrorDescription")
                .map(to_text)
                .unwrap_or_default();
            let mut headers = held.properties.headers().clone().unwrap_or_default();
            headers.insert(
                "DeadLetterReason".into(),
                AMQPValue::LongString(reason.as_str().into()),
            );
            headers.insert(
                "DeadLetterErrorDescription".into(),
                AMQPValue::LongString(description.as_str().into()),
            );
            let properties = held.properties.clone().with_headers(headers);
            let publisher = self
                .publishers
                .values()
                .find_map(|p| p.as_ref().ok())
                .ok_or_else(|| failure("no usable Service Bus connection".into()))?;
            let dead = format!("{}{DEAD_LETTER_SUFFIX}", held.queue);
            publish(publisher, "", &dead, &held.payload, properties, true).await?;
            metrics::counter!(metric::AMQP_DEAD_LETTERED, "queue" => held.queue.clone())
                .increment(1);
            held.acker
                .ack(BasicAckOptions::default())
                .await
                .map(|_| metric::AMQP_ACKED)
        };
        let counter = done.map_err(|e| failure(format!("settling the message: {e}")))?;
        metrics::counter!(counter, "queue" => held.queue).increment(1);
        Ok(body(Value::Null))
    }

    async fn send(
        &self,
        connection: &str,
        operation: &str,
        parameters: &Value,
    ) -> Result<Value, ActionFailure> {
        let publisher = match self.publishers.get(&connection.to_lowercase()) {
            Some(Ok(publisher)) => publisher,
            Some(Err(reason)) => {
                return Err(ActionFailure::permanent(
                    "ConnectionNotValid",
                    reason.clone(),
                ))
            }
            None => {
                return Err(ActionFailure::permanent(
                    "ConnectionNotFound",
                    format!("no Service Bus connection '{connection}'"),
                ))
            }
        };
        let entity = parameters
            .get("entityName")
            .or_else(|| parameters.get("queueName"))
            .map(to_text)
            .unwrap_or_default();
        if entity.is_empty() {
            return Err(ActionFailure::permanent(
                "InvalidParameters",
                "no 'entityName' to send to",
            ));
        }
        let messages = if operation == "sendmessages" {
            parameters
                .get("messages")
                .and_then(Value::as_array)
                .map(<[Value]>::to_vec)
                .unwrap_or_default()
        } else {
            vec![parameters.get("message").cloned().unwrap_or_default()]
        };
        let topic = publisher.is_topic(&entity).await;
        let (exchange, key) = if topic {
            (entity.as_str(), "")
        } else {
            ("", entity.as_str())
        };
        for message in &messages {
            let (payload, properties) = to_amqp(message);
            // A queue send is mandatory: RabbitMQ returns a message no queue takes (the queue
            // does not exist), where it would otherwise drop it, and the action fails as Service
            // Bus fails a send to a missing entity. A topic with no subscription keeps nothing,
            // as on Service Bus.
            publish(publisher, exchange, key, &payload, properties, !topic).await?;
        }
        Ok(body(Value::Null))
    }
}

async fn publish(
    publisher: &Publisher,
    exchange: &str,
    key: &str,
    payload: &[u8],
    properties: BasicProperties,
    mandatory: bool,
) -> Result<(), ActionFailure> {
    let channel = publisher
        .channel()
        .await
        .map_err(|e| failure(e.to_string()))?;
    let options = BasicPublishOptions {
        mandatory,
        ..BasicPublishOptions::default()
    };
    let confirm = channel
        .basic_publish(exchange.into(), key.into(), options, payload, properties)
        .await
        .map_err(|e| failure(format!("publishing to '{key}{exchange}': {e}")))?
        .await
        .map_err(|e| failure(format!("publishing to '{key}{exchange}': {e}")))?;
    match confirm {
        Confirmation::Ack(Some(returned)) => {
            metrics::counter!(metric::AMQP_RETURNED).increment(1);
            Err(ActionFailure::permanent(
                "MessagingEntityNotFound",
                format!(
                    "the messaging entity '{key}{exchange}' could not be found: the broker returned the message ({:?}: {})",
                    returned.reply_code, returned.reply_text
                ),
            ))
        }
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        Confirmation::Nack(_) => Err(failure(format!(
            "the broker refused the message for '{key}{exchange}'"
        ))),
    }
}

/// A Service Bus message `{contentData, contentType, messageId, correlationId,
/// userProperties, sessionId}` as an AMQP body and properties (persistent).
fn to_amqp(message: &Value) -> (Vec<u8>, BasicProperties) {
    let text = |k: &str| message.get(k).map(to_text).filter(|s| !s.is_empty());
    let payload = match message.get("contentData") {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => other.to_json_string().into_bytes(),
    };
    let mut properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_timestamp(chrono::Utc::now().timestamp() as u64)
        .with_message_id(
            text("messageId")
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
                .into(),
        );
    let content_type = text("contentType").or_else(|| {
        matches!(
            message.get("contentData"),
            Some(Value::Object(_) | Value::Array(_))
        )
        .then(|| "application/json".into())
    });
    if let Some(c) = content_type {
        properties = properties.with_content_type(c.into());
    }
    if let Some(c) = text("correlationId") {
        properties = properties.with_correlation_id(c.into());
    }
    let mut headers = FieldTable::default();
    for (k, v) in message
        .get("userProperties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        headers.insert(
            k.as_str().into(),
            AMQPValue::LongString(to_text(v).as_str().into()),
        );
    }
    if let Some(session) = text("sessionId") {
        headers.insert(
            "x-session-id".into(),
            AMQPValue::LongString(session.as_str().into()),
        );
    }
    (payload, properties.with_headers(headers))
}

fn body(value: Value) -> Value {
    let mut map = Map::default();
    map.insert("body".into(), value);
    Value::object(map)
}

impl ActionHandler for ServiceBusActions {
    fn execute<'a>(&'a self, call: ActionCall<'a>) -> BoxFuture<'a, Result<Value, ActionFailure>> {
        Box::pin(async move {
            let config = call.inputs.get("serviceProviderConfiguration");
            let field = |k: &str| {
                config
                    .and_then(|c| c.get(k))
                    .map(to_text)
                    .unwrap_or_default()
            };
            let operation = field("operationId").to_lowercase();
            let parameters = call.inputs.get("parameters").cloned().unwrap_or_default();
            let settle = ["complete", "abandon", "deadletter", "renewlock"];
            if settle.iter().any(|s| operation.starts_with(s)) {
                self.settle(&operation, &parameters).await
            } else if operation == "sendmessage" || operation == "sendmessages" {
                self.send(&field("connectionName"), &operation, &parameters)
                    .await
            } else {
                Err(ActionFailure::permanent(
                    "OperationNotSupported",
                    format!(
                        "the Service Bus connector on RabbitMQ has no operation '{}'",
                        field("operationId")
                    ),
                ))
            }
        })
    }
}
