//! The Kafka / Event Hubs connector: the batched triggers, the send action, and the embedded
//! cluster started when a Kafka connection names no bootstrap servers.

use super::cluster::EmbeddedCluster;
use super::send::SendAction;
use super::trigger::{KafkaTrigger, PROVIDERS};
use crate::connector::{Actions, Connector, ConnectorError, Trigger, Wiring};
use sluice_engine::runtime::Host;
use std::sync::Arc;

/// Builds the Kafka connector. A trigger whose connection cannot be used is an error; a
/// connection only actions use fails those actions with its reason (logged now). When
/// triggers will be hosted and a connection names no bootstrap servers, the embedded cluster
/// starts with the triggers' topics and dead-letter topics.
pub fn build(wiring: &Wiring<'_>) -> Result<Box<dyn Connector>, ConnectorError> {
    let error = |e| ConnectorError::new("kafka", e);
    let triggers = match wiring.hosting {
        true => KafkaTrigger::for_app(wiring.app).map_err(error)?,
        false => Vec::new(),
    };
    let connections = super::connections(wiring.app);
    let embedded = wiring.hosting
        && connections
            .iter()
            .any(|(_, c)| matches!(c, Ok(c) if c.bootstrap.is_none()));
    let cluster = match embedded {
        true => Some(start_cluster(&triggers).map_err(error)?),
        false => None,
    };
    let bootstrap = cluster.as_ref().map(EmbeddedCluster::bootstrap_servers);
    let send = SendAction::new(&connections, bootstrap.as_deref());
    Ok(Box::new(KafkaConnector {
        triggers,
        cluster,
        send: Arc::new(send),
    }))
}

fn start_cluster(triggers: &[KafkaTrigger]) -> Result<EmbeddedCluster, super::Error> {
    let mut topics: Vec<String> = triggers
        .iter()
        .flat_map(|t| [t.topic.clone(), t.dead_letter_topic.clone()])
        .collect();
    topics.sort();
    topics.dedup();
    let cluster = EmbeddedCluster::start(&topics)?;
    tracing::info!(
        "embedded Kafka cluster at {} (topics: {})",
        cluster.bootstrap_servers(),
        topics.join(", ")
    );
    tracing::warn!(
        "the embedded cluster is for trying things out: it keeps only the last ~5 MiB of each \
         partition in memory, so a burst larger than that, faster than the workflow consumes it, \
         loses its oldest events (counted as LOST on the status line and in \
         sluice_trigger_events_lost_total). Name a real broker in connections.json for durability."
    );
    Ok(cluster)
}

/// The Kafka connector of an app.
pub struct KafkaConnector {
    triggers: Vec<KafkaTrigger>,
    cluster: Option<EmbeddedCluster>,
    send: Arc<SendAction>,
}

impl KafkaConnector {
    /// The embedded cluster, when it runs (`sluice run --demo` and `sluice bench` produce
    /// to it).
    pub fn embedded(&self) -> Option<&EmbeddedCluster> {
        self.cluster.as_ref()
    }

    /// The embedded cluster's bootstrap servers, when it runs.
    pub fn embedded_bootstrap(&self) -> Option<String> {
        self.cluster
            .as_ref()
            .map(EmbeddedCluster::bootstrap_servers)
    }

    /// The topics the app's triggers consume.
    pub fn topics(&self) -> Vec<String> {
        self.triggers.iter().map(|t| t.topic.clone()).collect()
    }
}

impl Connector for KafkaConnector {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn actions(&self, actions: &mut Actions) {
        for id in PROVIDERS {
            actions.register_provider(id, self.send.clone());
        }
    }

    fn start(&self, host: &Arc<Host>) -> Result<Vec<Trigger>, ConnectorError> {
        let bootstrap = self.embedded_bootstrap();
        self.triggers
            .iter()
            .map(|t| {
                let source = format!(
                    "Kafka topic '{}' (group '{}', batch {}{})",
                    t.topic,
                    t.group,
                    t.batch_size,
                    if t.split { ", one run per event" } else { "" }
                );
                let running = super::consumer::start(t.clone(), host.clone(), bootstrap.as_deref())
                    .map_err(|e| ConnectorError::new("kafka", e))?;
                Ok(Trigger::new(&t.workflow, source, running))
            })
            .collect()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
