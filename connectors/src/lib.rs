//! sluice-connectors: everything in Sluice that touches the outside world.
//!
//! Each connector has the same shape (configuration → client → trigger and actions) and
//! implements the trigger and action-handler seams of `sluice-engine`.
//!
//! - [`http`]: the app's HTTP server (Request triggers, the management API, webhook
//!   callbacks, `/health`, `/metrics`) and the actions that call out over HTTP (Http,
//!   HttpWebhook, Function, InvokeFunction, Workflow).
//! - [`handlers`]: an app's action handlers, wired from its settings and connections.json.
//!
//! Kafka / Event Hubs, AMQP (RabbitMQ) and the AI gateway arrive with their issues; see
//! ARCHITECTURE.md.

pub mod handlers;
pub mod http;

pub use handlers::AppHandlers;
