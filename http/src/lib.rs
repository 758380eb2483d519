//! sluice-http: the HTTP plumbing the connectors and the AI gateway share.
//!
//! - [`serve`]: the accept loop every Sluice HTTP server runs — header-read and body-read
//!   timeouts, a body size cap, a connection cap.
//! - [`secrets`]: constant-time key checks, and what is never shown (credential headers,
//!   query strings in messages).
//! - [`retry_after`]: what a downstream's `Retry-After` asks for, checked.
//! - [`metric_definitions`]: the servers' metric names and descriptions.

pub mod metric_definitions;
pub mod retry_after;
pub mod secrets;
pub mod serve;
