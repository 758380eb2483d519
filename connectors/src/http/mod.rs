//! HTTP: the app's server and every action that calls out over HTTP.
//!
//! - [`connector`]: the HTTP connector — its actions and the webhook callback route.
//! - [`server`]: the server's shared state and the Request triggers at their callback URLs;
//!   [`routes`] puts the server's routes together (the management API, `/health`, `/metrics`);
//!   [`serve`]: the accept loop with its timeouts and caps.
//! - [`outbound`]: the one pooled reqwest client; requests from action inputs, responses as
//!   outputs. [`auth`]: the `authentication` kinds. [`body`]: bodies ↔ values.
//! - [`action`]: the Http action. [`function`]: Function and InvokeFunction; [`gateway_route`]:
//!   either of them routed through an API of the app's AI gateway.
//! - [`webhook`]: HttpWebhook and the callbacks it waits for.

pub mod action;
pub mod auth;
pub mod body;
pub mod connector;
pub mod error;
pub mod function;
pub mod gateway_route;
pub mod management;
pub mod outbound;
pub mod routes;
pub mod server;
pub mod webhook;

pub use action::HttpAction;
pub use connector::build;
pub use error::Error;
pub use function::FunctionAction;
pub use outbound::Outbound;
pub use routes::router;
pub use server::Server;
