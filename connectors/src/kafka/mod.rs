//! Kafka and Event Hubs (through its Kafka endpoint), with rdkafka.
//!
//! Same shape as every connector ([`connector`]): [`connection`] (connections.json →
//! librdkafka settings) → [`trigger`] (the app's triggers, configured) / [`consumer`] (the batched trigger that never loses an event) and [`send`]
//! (the send action); [`cluster`] is the embedded cluster `sluice run` starts when a Kafka
//! connection names no bootstrap servers. [`event`] shapes records as the Event Hubs trigger
//! does, [`offsets`] stores offsets in order, [`dead_letter`] takes poison events.

pub mod cluster;
pub mod connection;
pub mod connector;
pub mod consumer;
pub mod dead_letter;
pub mod error;
pub mod event;
pub mod offsets;
pub mod send;
pub mod trigger;

pub use cluster::EmbeddedCluster;
pub use connection::KafkaConnection;
pub use connector::build;
pub use error::Error;
pub use send::SendAction;
pub use trigger::KafkaTrigger;

use sluice_engine::definition::App;

/// The app's Kafka-protocol connections by name, each resolved or with the reason it cannot
/// be: a connection fails what uses it (a trigger: the app's start; an action: the action).
pub fn connections(app: &App) -> Vec<(String, Result<KafkaConnection, Error>)> {
    app.connections
        .service_provider_connections
        .iter()
        .filter(|(_, c)| trigger::is_kafka(&c.service_provider.id))
        .map(|(name, c)| {
            let resolved = || {
            let unusable = |reason: String| Error::Connection {
                name: name.clone(),
                reason,
            };
            let values = sluice_engine::runtime::resolve_app_value(app, &c.parameter_values)
                .map_err(|e| unusable(e.to_string()))?;
            KafkaConnection::from_parameters(&values).map_err(unusable)
            };
            (name.clone(), resolved())
        })
        .collect()
}

/// One named connection.
pub fn connection_of(app: &App, name: &str) -> Result<KafkaConnection, Error> {
    connections(app)
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, c)| c)
        .ok_or_else(|| Error::NoConnection(name.to_string()))?
}
