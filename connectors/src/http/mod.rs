//! HTTP: the app's server and every action that calls out over HTTP.
//!
//! - [`server`]: the axum router — Request triggers at their callback URLs, the management
//!   API, webhook callbacks, `/health` and `/metrics`.
//! - [`outbound`]: the one pooled reqwest client; requests from action inputs, responses as
//!   outputs. [`auth`]: the `authentication` kinds. [`body`]: bodies ↔ values.
//! - [`action`]: the Http action. [`function`]: Function and InvokeFunction. [`workflow`]: the
//!   Workflow action (nested child workflows, in-process or on another instance).
//! - [`webhook`]: HttpWebhook and the callbacks it waits for. [`mock_function`]: the
//!   downstream stand-in behind `sluice mock function`.

pub mod action;
pub mod auth;
pub mod body;
pub mod function;
pub mod management;
pub mod mock_function;
pub mod outbound;
pub mod serve;
pub mod server;
pub mod webhook;
pub mod workflow;

pub use action::HttpAction;
pub use function::FunctionAction;
pub use outbound::Outbound;
pub use server::{router, Server};
pub use workflow::WorkflowAction;
