//! Service Bus workflows on RabbitMQ (AMQP 0.9.1, with lapin).
//!
//! [`connection`] (connections.json → an AMQP URI) → [`trigger`] (queue and topic
//! subscriptions, auto-complete and peek-lock, prefetch as the concurrency bound, reconnection)
//! and [`actions`] (settlement by lock token, sending with publisher confirms); [`client`]
//! declares the topology and keeps the publishing connection; [`locks`] holds peek-locked
//! messages.

pub mod actions;
pub mod client;
pub mod connection;
pub mod connector;
pub mod error;
pub mod locks;
pub mod trigger;

pub use connection::PROVIDER;
pub use connector::build;
pub use error::Error;
pub use trigger::AmqpTrigger;

use sluice_engine::definition::App;
use sluice_engine::runtime::Settings;

/// The AMQP URI of connection `name`.
pub fn uri_of(app: &App, name: &str, settings: &Settings) -> Result<String, Error> {
    let connection = app
        .connections
        .service_provider_connections
        .iter()
        .find(|(n, c)| {
            n.eq_ignore_ascii_case(name) && c.service_provider.id.eq_ignore_ascii_case(PROVIDER)
        })
        .map(|(_, c)| c)
        .ok_or_else(|| Error::NoConnection(name.to_string()))?;
    let values = sluice_engine::runtime::resolve_app_value(app, &connection.parameter_values)
        .map_err(|e| Error::Connection {
            name: name.to_string(),
            reason: e.to_string(),
        })?;
    connection::amqp_uri(name, &values, settings)
}

/// The app's Service Bus connections by name, each resolved to its URI or with the reason it
/// cannot be: a connection fails what uses it (a trigger: the app's start; an action: the
/// action).
pub fn connections(app: &App, settings: &Settings) -> Vec<(String, Result<String, Error>)> {
    app.connections
        .service_provider_connections
        .iter()
        .filter(|(_, c)| c.service_provider.id.eq_ignore_ascii_case(PROVIDER))
        .map(|(name, _)| (name.clone(), uri_of(app, name, settings)))
        .collect()
}
