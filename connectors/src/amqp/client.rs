//! One AMQP connection per Service Bus connection for publishing and settling, reopened when
//! it drops; topology (queues, topics, dead-letter queues) declared the same way by the
//! trigger and the actions.

use lapin::options::{
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use std::collections::HashMap;
use tokio::sync::Mutex;

/// Suffix of an entity's dead-letter queue (`orders` → `orders.deadletter`).
pub const DEAD_LETTER_SUFFIX: &str = ".deadletter";

/// Opens a connection.
pub async fn connect(uri: &str) -> Result<Connection, super::Error> {
    Connection::connect(
        uri,
        ConnectionProperties::default().with_connection_name("sluice".into()),
    )
    .await
    .map_err(super::Error::broker(format!(
        "connecting to {}",
        redact(uri)
    )))
}

/// The URI without its password, for messages.
pub fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…{}", &uri[..scheme], &uri[at..]),
        _ => uri.to_string(),
    }
}

/// Declares the quorum queue `queue` (dead-lettering to `queue.deadletter`, at most
/// `max_deliveries` deliveries), and for a topic subscription the fanout exchange `topic`
/// with `queue` bound to it.
pub async fn declare(
    channel: &Channel,
    queue: &str,
    topic: Option<&str>,
    max_deliveries: u32,
) -> Result<(), super::Error> {
    let fail = |e: lapin::Error| super::Error::broker(format!("declaring '{queue}'"))(e);
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let dead = format!("{queue}{DEAD_LETTER_SUFFIX}");
    channel
        .queue_declare(dead.as_str().into(), durable, quorum())
        .await
        .map_err(fail)?;
    let mut args = quorum();
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(dead.as_str().into()),
    );
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongInt(max_deliveries.saturating_sub(1) as i32),
    );
    channel
        .queue_declare(queue.into(), durable, args)
        .await
        .map_err(fail)?;
    if let Some(topic) = topic {
        declare_topic(channel, topic).await?;
        channel
            .queue_bind(
                queue.into(),
                topic.into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(fail)?;
    }
    Ok(())
}

pub async fn declare_topic(channel: &Channel, topic: &str) -> Result<(), super::Error> {
    let options = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            topic.into(),
            ExchangeKind::Fanout,
            options,
            FieldTable::default(),
        )
        .await
        .map_err(super::Error::broker(format!("declaring topic '{topic}'")))
}

fn quorum() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args
}

/// A publishing channel (with publisher confirms) on a connection reopened on demand.
pub struct Publisher {
    uri: String,
    open: Mutex<Option<(Connection, Channel)>>,
    /// Entities known to be topics (exchanges) or queues.
    kinds: std::sync::Mutex<HashMap<String, bool>>,
}

impl Publisher {
    pub fn new(uri: String) -> Publisher {
        Publisher {
            uri,
            open: Mutex::new(None),
            kinds: Default::default(),
        }
    }

    /// The channel, reconnecting if the connection dropped.
    pub async fn channel(&self) -> Result<Channel, super::Error> {
        let mut open = self.open.lock().await;
        if let Some((connection, channel)) = open.as_ref() {
            if connection.status().connected() && channel.status().connected() {
                return Ok(channel.clone());
            }
        }
        let connection = connect(&self.uri).await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(super::Error::broker("opening a publishing channel"))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(super::Error::broker("turning on publisher confirms"))?;
        *open = Some((connection, channel.clone()));
        Ok(channel)
    }

    /// Whether `entity` is a topic (an exchange exists by that name); asked once.
    pub async fn is_topic(&self, entity: &str) -> bool {
        if let Some(known) = self
            .kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(entity)
        {
            return *known;
        }
        let Ok(connection) = connect(&self.uri).await else {
            return false;
        };
        let topic = match connection.create_channel().await {
            Ok(probe) => {
                let options = ExchangeDeclareOptions {
                    passive: true,
                    ..ExchangeDeclareOptions::default()
                };
                probe
                    .exchange_declare(
                        entity.into(),
                        ExchangeKind::Fanout,
                        options,
                        FieldTable::default(),
                    )
                    .await
                    .is_ok()
            }
            Err(_) => false,
        };
        let _ = connection.close(200, "".into()).await;
        self.kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entity.to_string(), topic);
        topic
    }
}
