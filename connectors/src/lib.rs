//! sluice-connectors: everything in Sluice that touches the outside world.
//!
//! Each connector has the same shape (configuration → client → trigger and actions) and
//! implements the trigger and action-handler seams of `sluice-engine`. None has landed yet:
//! Kafka / Event Hubs, AMQP (RabbitMQ), HTTP (Request trigger, management API, Http and
//! Function actions) and the AI gateway arrive with their issues; see ARCHITECTURE.md.
