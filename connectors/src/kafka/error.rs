//! What can go wrong while the Kafka connector is built or started, by kind.

use rdkafka::error::KafkaError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kafka / Event Hubs connection of connections.json that cannot be used.
    #[error("connections.json {name}: {reason}")]
    Connection { name: String, reason: String },
    /// A trigger names a connection connections.json does not have.
    #[error("connections.json has no Kafka / Event Hubs connection '{0}'")]
    NoConnection(String),
    /// A connection names no bootstrap servers, and no embedded cluster runs.
    #[error("the connection names no bootstrap servers and no embedded cluster is running")]
    NoBootstrap,
    /// A trigger whose parameters cannot be used.
    #[error("workflow '{workflow}', trigger '{trigger}': {reason}")]
    Trigger {
        workflow: String,
        trigger: String,
        reason: String,
    },
    /// librdkafka refused to create or subscribe a client.
    #[error("{what}: {cause}")]
    Client {
        what: String,
        cause: KafkaError,
    },
    /// The embedded cluster could not start or create a topic.
    #[error("the embedded Kafka cluster: {0}")]
    EmbeddedCluster(KafkaError),
}

impl Error {
    pub(crate) fn client(what: impl Into<String>) -> impl FnOnce(KafkaError) -> Error {
        let what = what.into();
        move |cause| Error::Client { what, cause }
    }
}
