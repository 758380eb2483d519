//! sluice-connectors: everything in Sluice that touches the outside world.
//!
//! Each connector has the same shape (configuration → client → trigger and actions) and
//! implements the trigger and action-handler seams of `sluice-engine`.
//!
//! - [`http`]: the app's HTTP server — Request triggers, the management API, `/health`,
//!   `/metrics`.
//!
//! Kafka / Event Hubs, AMQP (RabbitMQ), the Http and Function actions and the AI gateway arrive
//! with their issues; see ARCHITECTURE.md.

pub mod http;
