//! HTTP: the app's server — Request triggers at their callback URLs, the management API,
//! `/health` and `/metrics`.
//!
//! - [`server`]: the axum router and its handlers.
//!
//! Still to come with the HTTP issue: the Http, HttpWebhook and Function actions (reqwest), the
//! in-process Workflow action, schema validation on arrival, access keys, and `sluice mock function`.

pub mod server;

pub use server::{router, Server};
