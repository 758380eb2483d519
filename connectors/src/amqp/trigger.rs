//! The Service Bus trigger on RabbitMQ: `ServiceProvider` with `/serviceProviders/serviceBus`.
//!
//! Operations: `receiveQueueMessages` (auto-complete) and `peekLockQueueMessages[V2]` on
//! `queueName`; `receiveTopicMessages` and `peekLockTopicMessages[V2]` on `topicName` +
//! `subscriptionName` (a fanout exchange with one queue `topic.subscription` per
//! subscription). Queues are quorum queues dead-lettering to `NAME.deadletter` after
//! `maxDeliveryCount` deliveries (default 10, as Service Bus). `lockDuration` (default PT1M) is
//! how long a peek-locked message waits for its settlement before it is abandoned.
//!
//! With `splitOn` each message is a run; without, a run gets up to `maxMessageBatchSize`
//! (default 20) messages that arrive within a second. The consumer's prefetch is the
//! workflow's runs + waiting runs, so at most that many messages are in flight. Auto-complete messages are acknowledged when their run has finished
//! (a stateful run is then durable); peek-locked ones when the workflow settles them. A
//! stateful workflow runs a redelivered message (same `messageId`) once. The consumer
//! reconnects (with backoff) when the connection drops; unacknowledged messages come back.

use super::client::{connect, declare, redact};
use super::locks::{Held, Locks};
use crate::metric_definitions as metric;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use sluice_engine::definition::{App, TriggerType};
use sluice_engine::expr::functions::to_text;
use sluice_engine::expr::value::Map;
use sluice_engine::expr::Value;
use sluice_engine::runtime::hosting::host::{Host, Rejected};
use sluice_engine::runtime::Settings;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One workflow's Service Bus trigger.
#[derive(Debug, Clone)]
pub struct AmqpTrigger {
    pub workflow: String,
    pub uri: String,
    pub queue: String,
    pub topic: Option<String>,
    pub peek_lock: bool,
    pub lock_duration: Duration,
    pub max_deliveries: u32,
    pub prefetch: u16,
    pub stateful: bool,
    /// One run per message (`splitOn`), or batches of up to `batch_size` messages.
    pub split: bool,
    pub batch_size: usize,
}

/// How long a batch waits to fill (without splitOn).
const BATCH_WAIT: Duration = Duration::from_secs(1);

impl AmqpTrigger {
    pub fn for_app(app: &App, settings: &Settings) -> Result<Vec<AmqpTrigger>, super::Error> {
        let mut found = Vec::new();
        for (name, workflow) in &app.workflows {
            let Some(trigger) = workflow.definition.triggers.values().next() else {
                continue;
            };
            if trigger.trigger_type != TriggerType::ServiceProvider {
                continue;
            }
            let config = &trigger.inputs["serviceProviderConfiguration"];
            if !config["serviceProviderId"]
                .as_str()
                .unwrap_or_default()
                .eq_ignore_ascii_case(super::PROVIDER)
            {
                continue;
            }
            let at = |reason: String| super::Error::Trigger {
                workflow: name.clone(),
                trigger: trigger.name.to_string(),
                reason,
            };
            let operation = config["operationId"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase();
            let uri = super::uri_of(
                app,
                config["connectionName"].as_str().unwrap_or_default(),
                settings,
            )?;
            let params =
                sluice_engine::runtime::resolve_app_value(app, &trigger.inputs["parameters"])
                    .map_err(|e| at(e.to_string()))?;
            let text = |k: &str| params.get(k).map(to_text).filter(|s| !s.is_empty());
            let topic = operation
                .contains("topic")
                .then(|| text("topicName"))
                .flatten();
            let queue = match &topic {
                Some(t) => format!(
                    "{t}.{}",
                    text("subscriptionName").ok_or_else(|| at("no 'subscriptionName'".into()))?
                ),
                None => text("queueName").ok_or_else(|| at("no 'queueName'".into()))?,
            };
            let lock_duration =
                crate::trigger_params::duration(&params, "lockDuration", Duration::from_secs(60))
                    .map_err(at)?;
            let (runs, waiting) = crate::trigger_params::in_flight(trigger, |_| 0);
            found.push(AmqpTrigger {
                workflow: name.clone(),
                uri,
                queue,
                topic,
                peek_lock: operation.starts_with("peeklock"),
                lock_duration,
                max_deliveries: text("maxDeliveryCount")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(10)
                    .max(1),
                prefetch: (runs + waiting).clamp(1, u16::MAX as usize) as u16,
                stateful: workflow.kind == sluice_engine::definition::WorkflowKind::Stateful,
                split: trigger.split_on.is_some(),
                batch_size: text("maxMessageBatchSize")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(20)
                    .max(1),
            });
        }
        Ok(found)
    }

    /// Consumes until the task is aborted; peek-locked messages are held in `locks`.
    pub fn start(self, host: Arc<Host>, locks: Arc<Locks>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            let mut last_error = String::new();
            loop {
                let started = Instant::now();
                if let Err(e) = self.consume(&host, &locks).await {
                    // Said once per new error, not at every retry while the broker is away.
                    let e = e.to_string();
                    if e != last_error {
                        tracing::warn!(
                            "{}: queue '{}' on {}: {e}; reconnecting",
                            self.workflow,
                            self.queue,
                            redact(&self.uri)
                        );
                        last_error = e;
                    }
                }
                metrics::counter!(metric::AMQP_RECONNECTS, "queue" => self.queue.clone())
                    .increment(1);
                if started.elapsed() > Duration::from_secs(10) {
                    backoff = Duration::from_millis(100);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        })
    }

    async fn consume(&self, host: &Arc<Host>, locks: &Arc<Locks>) -> Result<(), super::Error> {
        let connection = connect(&self.uri).await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(super::Error::broker("opening a channel"))?;
        declare(
            &channel,
            &self.queue,
            self.topic.as_deref(),
            self.max_deliveries,
        )
        .await?;
        channel
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await
            .map_err(super::Error::broker("setting the prefetch"))?;
        let mut consumer = channel
            .basic_consume(
                self.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(super::Error::broker(format!("consuming '{}'", self.queue)))?;
        let delivery = || super::Error::broker(format!("a delivery from '{}'", self.queue));
        while let Some(first) = consumer.next().await {
            let mut batch = vec![first.map_err(delivery())?];
            if !self.split {
                // Without splitOn a run gets the messages that arrive within a second, up to
                // the batch size, as the Service Bus trigger does.
                let deadline = tokio::time::Instant::now() + BATCH_WAIT;
                while batch.len() < self.batch_size {
                    match tokio::time::timeout_at(deadline, consumer.next()).await {
                        Ok(Some(next)) => batch.push(next.map_err(delivery())?),
                        _ => break,
                    }
                }
            }
            self.submit(host, locks, batch).await;
        }
        Err(super::Error::Cancelled)
    }

    /// Hands messages to the workflow (one with splitOn, else a batch) and settles them when
    /// the run ends: acknowledged (auto-complete), left to the workflow (peek-lock), or
    /// refused (dead-lettered by the broker).
    async fn submit(
        &self,
        host: &Arc<Host>,
        locks: &Arc<Locks>,
        batch: Vec<lapin::message::Delivery>,
    ) {
        let mut events = Vec::with_capacity(batch.len());
        for delivery in &batch {
            metrics::counter!(metric::AMQP_CONSUMED, "queue" => self.queue.clone()).increment(1);
            if delivery.redelivered {
                metrics::counter!(metric::AMQP_REDELIVERED, "queue" => self.queue.clone())
                    .increment(1);
            }
            let event = event(delivery, &self.queue);
            if self.peek_lock {
                let token = to_text(event.get("lockToken").unwrap_or(&Value::Null));
                let held = Held {
                    acker: delivery.acker.clone(),
                    expires: Instant::now() + self.lock_duration,
                    queue: self.queue.clone(),
                    payload: delivery.data.clone(),
                    properties: delivery.properties.clone(),
                };
                locks.hold(token, held);
            }
            events.push(event);
        }
        // A single message of a stateful workflow runs once however often it is delivered.
        let event_id = match events.as_slice() {
            [one] if self.stateful => one
                .get("messageId")
                .map(to_text)
                .filter(|m| !m.is_empty())
                .map(|m| format!("{}/{m}", self.queue)),
            _ => None,
        };
        let mut outputs = Map::default();
        outputs.insert("headers".into(), Value::object(Map::default()));
        outputs.insert("body".into(), Value::array(events));
        let outputs = Value::object(outputs);
        let accepted = loop {
            match host.accept(&self.workflow, outputs.clone(), event_id.as_deref()) {
                Ok(accepted) => break Some(accepted),
                Err(Rejected::QueueFull) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(other) => {
                    tracing::warn!(
                        "{}: message refused ({other:?}); dead-lettering",
                        self.workflow
                    );
                    break None;
                }
            }
        };
        let ackers: Vec<_> = batch.iter().map(|d| d.acker.clone()).collect();
        let (queue, peek_lock) = (self.queue.clone(), self.peek_lock);
        tokio::spawn(async move {
            if let Some(accepted) = accepted {
                let _ = accepted.done.await;
                if peek_lock {
                    return;
                }
                for acker in ackers {
                    if acker.ack(BasicAckOptions::default()).await.is_ok() {
                        metrics::counter!(metric::AMQP_ACKED, "queue" => queue.clone())
                            .increment(1);
                    }
                }
            } else {
                for acker in ackers {
                    let refuse = BasicNackOptions {
                        requeue: false,
                        ..Default::default()
                    };
                    if acker.nack(refuse).await.is_ok() {
                        metrics::counter!(metric::AMQP_NACKED, "queue" => queue.clone())
                            .increment(1);
                    }
                }
            }
        });
    }
}

/// Abandons peek-locked messages whose lock expired, every second, until aborted.
pub fn expire_locks(locks: Arc<Locks>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            for held in locks.expired() {
                let _ = held
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await;
                metrics::counter!(metric::AMQP_NACKED, "queue" => held.queue).increment(1);
            }
        }
    })
}

/// A delivery as the Service Bus trigger shows a message.
fn event(delivery: &lapin::message::Delivery, queue: &str) -> Value {
    let p = &delivery.properties;
    let content_type = p
        .content_type()
        .as_ref()
        .map(|c| c.to_string())
        .unwrap_or_default();
    let content = if delivery.data.is_empty() {
        Value::Null
    } else if let Ok(json) = serde_json::from_slice::<Value>(&delivery.data) {
        json
    } else {
        match std::str::from_utf8(&delivery.data) {
            Ok(text) => Value::from(text),
            Err(_) => sluice_engine::expr::functions::binary_value(&delivery.data, &content_type),
        }
    };
    let mut properties = Map::default();
    let mut deliveries = 0_i64;
    if let Some(headers) = p.headers() {
        for (key, value) in headers.inner() {
            if key.as_str() == "x-delivery-count" {
                deliveries = amqp_number(value).unwrap_or(0);
                continue;
            }
            properties.insert(key.to_string(), amqp_value(value));
        }
    }
    let enqueued = p
        .timestamp()
        .and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0))
        .map(|t| Value::from(sluice_engine::record::timestamp(t)))
        .unwrap_or_default();
    let mut event = Map::default();
    event.insert("contentData".into(), content);
    event.insert("contentType".into(), Value::from(content_type));
    event.insert(
        "messageId".into(),
        p.message_id()
            .as_ref()
            .map(|m| Value::from(m.as_str()))
            .unwrap_or_default(),
    );
    event.insert(
        "correlationId".into(),
        p.correlation_id()
            .as_ref()
            .map(|m| Value::from(m.as_str()))
            .unwrap_or_default(),
    );
    event.insert("userProperties".into(), Value::object(properties));
    event.insert("deliveryCount".into(), Value::from(deliveries + 1));
    event.insert(
        "lockToken".into(),
        Value::from(uuid_like(queue, delivery.delivery_tag)),
    );
    event.insert("enqueuedTimeUtc".into(), enqueued);
    Value::object(event)
}

/// A lock token unique in this process: the queue, the delivery tag and a random part.
fn uuid_like(queue: &str, tag: u64) -> String {
    format!("{queue}:{tag}:{:016x}", fastrand::u64(..))
}

fn amqp_number(value: &AMQPValue) -> Option<i64> {
    Some(match value {
        AMQPValue::ShortShortInt(n) => i64::from(*n),
        AMQPValue::ShortShortUInt(n) => i64::from(*n),
        AMQPValue::ShortInt(n) => i64::from(*n),
        AMQPValue::ShortUInt(n) => i64::from(*n),
        AMQPValue::LongInt(n) => i64::from(*n),
        AMQPValue::LongUInt(n) => i64::from(*n),
        AMQPValue::LongLongInt(n) => *n,
        _ => return None,
    })
}

fn amqp_value(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::LongString(s) => Value::from(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Value::from(s.as_str()),
        AMQPValue::Float(f) => Value::Float(f64::from(*f)),
        AMQPValue::Double(f) => Value::Float(*f),
        other => amqp_number(other)
            .map(Value::from)
            .unwrap_or_else(|| Value::from(format!("{other:?}"))),
    }
}
