//! What can go wrong in the Service Bus connector, by kind.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Service Bus connection names no broker Sluice can use.
    #[error("connection '{name}': {reason}")]
    Connection { name: String, reason: String },
    /// connections.json has no such Service Bus connection.
    #[error("connections.json has no Service Bus connection '{0}'")]
    NoConnection(String),
    /// A trigger whose parameters cannot be used.
    #[error("workflow '{workflow}', trigger '{trigger}': {reason}")]
    Trigger {
        workflow: String,
        trigger: String,
        reason: String,
    },
    /// The broker refused or dropped something (with what was being done).
    #[error("{what}: {cause}")]
    Broker {
        what: String,
        cause: lapin::Error,
    },
    /// The broker cancelled the trigger's consumer (the queue was deleted, or the broker
    /// is shutting down).
    #[error("the consumer was cancelled")]
    Cancelled,
}

impl Error {
    pub(crate) fn broker(what: impl Into<String>) -> impl FnOnce(lapin::Error) -> Error {
        let what = what.into();
        move |cause| Error::Broker { what, cause }
    }
}
