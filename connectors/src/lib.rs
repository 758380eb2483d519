//! sluice-connectors: everything in Sluice that touches the outside world.
//!
//! Each connector has the same shape (configuration → client → trigger and actions) and
//! implements the trigger and action-handler seams of `sluice-engine`.
//!
//! - [`http`]: the app's HTTP server (Request triggers, the management API, webhook
//!   callbacks, `/health`, `/metrics`) and the actions that call out over HTTP (Http,
//!   HttpWebhook, Function, InvokeFunction, Workflow).
//! - [`kafka`]: Kafka / Event Hubs — the batched trigger, the send action, the embedded cluster.
//! - [`handlers`]: an app's action handlers, wired from its settings and connections.json.
//! - [`metrics`]: the connectors' metric names and descriptions.
//! - [`service_provider`]: ServiceProvider actions routed to their connector.
//! - [`trigger_params`]: what the message-driven triggers read the same way.
//!
//! - [`amqp`]: Service Bus workflows on RabbitMQ — queue and topic triggers, settlement, sending.
//! - [`gateway`]: the AI gateway — token limits, token metrics, backend pools with circuit
//!   breakers, the semantic cache, the OpenAI-compatible surface, `sluice mock llm`.

pub mod amqp;
pub mod gateway;
pub mod handlers;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod secrets;
pub mod service_provider;
pub mod trigger_params;

pub use handlers::AppHandlers;
