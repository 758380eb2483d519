//! What can go wrong while the HTTP connector is built, by kind. (Failures of a call are
//! `ActionFailure`s of the action, retried per its policy.)

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `functionConnections` entry of connections.json that cannot be used.
    #[error("connections.json functionConnections.{name}: {reason}")]
    FunctionConnection { name: String, reason: String },
}
