//! The embedded cluster: librdkafka's mock cluster, in-process, over real loopback sockets.
//! `sluice run` starts it when a Kafka connection names no bootstrap servers and creates the
//! topics the app uses; any Kafka client can produce to its bootstrap address.

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

/// Partitions of each topic the embedded cluster creates.
pub const PARTITIONS: i32 = 4;

/// A running embedded cluster (stops when dropped).
pub struct EmbeddedCluster {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl EmbeddedCluster {
    /// Starts a one-broker cluster with `topics` created.
    pub fn start(topics: &[String]) -> Result<EmbeddedCluster, super::Error> {
        let cluster = MockCluster::new(1).map_err(super::Error::EmbeddedCluster)?;
        let cluster = EmbeddedCluster { cluster };
        for topic in topics {
            cluster.create_topic(topic)?;
        }
        Ok(cluster)
    }

    /// Creates one more topic.
    pub fn create_topic(&self, topic: &str) -> Result<(), super::Error> {
        self.cluster
            .create_topic(topic, PARTITIONS, 1)
            .map_err(super::Error::client(format!("creating topic '{topic}'")))
    }

    /// `host:port` of the broker.
    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }
}
