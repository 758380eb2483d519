//! sluice-connectors: everything in Sluice that touches the outside world.
//!
//! Every connector has the same shape ([`connector`]): built for an app from its
//! [`connector::Wiring`], it registers action handlers, may serve routes on the app's HTTP
//! server, and starts triggers that the host drains and closes the same way. The
//! `connectors!` line below lists them; [`registry::Connectors`] builds them for an app, and
//! the host loops over them and names none.
//!
//! The connectors:
//! - [`http`]: Http, HttpWebhook, Function and InvokeFunction actions; also the app's HTTP
//!   server (Request triggers, the management API, `/health`, `/metrics`) and its accept loop.
//! - [`workflow`]: the Workflow action (nested child workflows, in-process or on another
//!   instance).
//! - [`kafka`]: Kafka / Event Hubs — the batched trigger, the send action, the embedded cluster.
//! - [`amqp`]: Service Bus workflows on RabbitMQ — queue and topic triggers, settlement, sending.
//! - [`openai`]: the `openai` service provider through the AI gateway (`sluice-gateway`).
//!
//! Shared by them:
//! - [`service_provider`]: ServiceProvider actions routed to their connector.
//! - [`trigger_params`]: what the message-driven triggers read the same way.
//! - [`metric_definitions`]: every connector metric's name and description.

pub mod connector;
pub mod metric_definitions;
pub mod registry;
pub mod service_provider;
pub mod trigger_params;

/// Declares the connector modules and [`registry::BUILTIN`], in the order they are built and
/// started: each module's `build` makes its connector for an app.
macro_rules! connectors {
    ($($name:ident),* $(,)?) => {
        $(pub mod $name;)*
        /// Every connector of this build.
        pub(crate) const BUILTIN: &[connector::Build] = &[$($name::build),*];
    };
}

// Adding a connector: its folder, and its name here.
connectors!(http, workflow, kafka, amqp, openai);

pub use connector::{Connector, ConnectorError, Trigger, Wiring};
pub use registry::Connectors;
