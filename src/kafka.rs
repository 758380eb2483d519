//! Kafka wiring for `sluice run`: the app's Kafka triggers, and the embedded cluster when a
//! Kafka connection names no bootstrap servers.

use sluice_connectors::kafka::consumer::Running;
use sluice_connectors::kafka::{connections, EmbeddedCluster, KafkaTrigger};
use sluice_engine::definition::App;
use sluice_engine::runtime::hosting::host::Host;
use std::sync::Arc;

pub struct Kafka {
    pub cluster: Option<EmbeddedCluster>,
    pub triggers: Vec<KafkaTrigger>,
}

impl Kafka {
    /// Reads the app's Kafka triggers and connections; starts the embedded cluster (with the
    /// triggers' topics and dead-letter topics) if a connection needs it.
    pub fn prepare(app: &App) -> anyhow::Result<Kafka> {
        let triggers = KafkaTrigger::for_app(app).map_err(|e| anyhow::anyhow!(e))?;
        let embedded = connections(app)
            .map_err(|e| anyhow::anyhow!(e))?
            .iter()
            .any(|(_, c)| c.bootstrap.is_none());
        let cluster = if embedded {
            let mut topics: Vec<String> = triggers
                .iter()
                .flat_map(|t| [t.topic.clone(), t.dead_letter_topic.clone()])
                .collect();
            topics.sort();
            topics.dedup();
            let cluster = EmbeddedCluster::start(&topics).map_err(|e| anyhow::anyhow!(e))?;
            eprintln!(
                "sluice: embedded Kafka cluster at {} (topics: {})",
                cluster.bootstrap_servers(),
                topics.join(", ")
            );
            eprintln!(
                "sluice: the embedded cluster is for trying things out: it keeps only the last ~5 MiB \
                 of each partition in memory, so a burst larger than that, faster than the workflow \
                 consumes it, loses its oldest events (counted as LOST on the status line and in \
                 sluice_trigger_events_lost_total). Name a real broker in connections.json for durability."
            );
            Some(cluster)
        } else {
            None
        };
        Ok(Kafka { cluster, triggers })
    }

    pub fn bootstrap(&self) -> Option<String> {
        self.cluster
            .as_ref()
            .map(EmbeddedCluster::bootstrap_servers)
    }

    /// Starts every Kafka trigger.
    pub fn start(&self, host: &Arc<Host>) -> anyhow::Result<Vec<Running>> {
        let bootstrap = self.bootstrap();
        self.triggers
            .iter()
            .map(|t| {
                eprintln!(
                    "sluice: {}: Kafka topic '{}' (group '{}', batch {}{})",
                    t.workflow,
                    t.topic,
                    t.group,
                    t.batch_size,
                    if t.split { ", one run per event" } else { "" }
                );
                t.clone()
                    .start(host.clone(), bootstrap.as_deref())
                    .map_err(|e| anyhow::anyhow!(e))
            })
            .collect()
    }
}
