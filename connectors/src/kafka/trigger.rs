//! The Kafka / Event Hubs trigger: `ServiceProvider` with `/serviceProviders/eventHub` (or
//! `/serviceProviders/kafka`), operation `receiveEvents`.
//!
//! Parameters: `eventHubName` (the topic), `consumerGroup` (default `$Default`),
//! `maxEventBatchSize` (default 100), `maxWaitTime` (ISO 8601, default PT1S: how long a
//! batch waits to fill), `contentType` (`application/json` makes a non-JSON body poison),
//! `deadLetterTopic` (default `{topic}-deadletter`).
//!
//! With `splitOn` every event is a run of its own (its trigger body is the event); without,
//! a run gets the batch as an array.

use super::connection::KafkaConnection;
use super::consumer;
use sluice_engine::definition::{App, TriggerType};
use sluice_engine::expr::functions::to_text;
use sluice_engine::runtime::host::Host;
use std::sync::Arc;
use std::time::Duration;

/// The service providers this connector serves.
pub const PROVIDERS: [&str; 2] = ["/serviceProviders/eventHub", "/serviceProviders/kafka"];

/// One workflow's Kafka trigger, configured.
#[derive(Debug, Clone)]
pub struct KafkaTrigger {
    pub workflow: String,
    pub topic: String,
    pub group: String,
    pub batch_size: usize,
    pub max_wait: Duration,
    pub split: bool,
    pub json_only: bool,
    pub dead_letter_topic: String,
    pub connection: KafkaConnection,
    /// Events in flight at most (the workflow's runs + waiting runs): backpressure beyond.
    pub capacity: usize,
}

/// Whether a connection entry is a Kafka-protocol provider.
pub fn is_kafka(provider_id: &str) -> bool {
    PROVIDERS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(provider_id))
}

impl KafkaTrigger {
    /// The Kafka triggers of an app's workflows.
    pub fn for_app(app: &App) -> Result<Vec<KafkaTrigger>, String> {
        let mut triggers = Vec::new();
        for (name, workflow) in &app.workflows {
            let Some(trigger) = workflow.definition.triggers.values().next() else {
                continue;
            };
            if trigger.trigger_type != TriggerType::ServiceProvider {
                continue;
            }
            let inputs = &trigger.inputs;
            let config = &inputs["serviceProviderConfiguration"];
            let provider = config["serviceProviderId"].as_str().unwrap_or_default();
            if !is_kafka(provider) {
                continue;
            }
            let at = |m: String| format!("workflow '{name}', trigger '{}': {m}", trigger.name);
            let connection_name = config["connectionName"].as_str().unwrap_or_default();
            let connection = super::connection_of(app, connection_name).map_err(at)?;
            let params = sluice_engine::runtime::resolve_app_value(app, &inputs["parameters"])
                .map_err(|e| at(e.to_string()))?;
            let text = |k: &str| params.get(k).map(to_text).filter(|s| !s.is_empty());
            let topic = text("eventHubName")
                .or_else(|| text("topic"))
                .ok_or_else(|| at("no 'eventHubName' (the topic)".into()))?;
            let max_wait =
                crate::trigger_params::duration(&params, "maxWaitTime", Duration::from_secs(1))
                    .map_err(at)?;
            let (runs, waiting) = crate::trigger_params::in_flight(trigger, |runs| runs.min(100));
            triggers.push(KafkaTrigger {
                workflow: name.clone(),
                group: text("consumerGroup").unwrap_or_else(|| "$Default".into()),
                batch_size: text("maxEventBatchSize")
                    .and_then(|b| b.parse().ok())
                    .unwrap_or(100)
                    .max(1),
                max_wait,
                split: trigger.split_on.is_some(),
                json_only: text("contentType").is_some_and(|c| c.contains("json")),
                dead_letter_topic: text("deadLetterTopic")
                    .unwrap_or_else(|| format!("{topic}-deadletter")),
                topic,
                connection,
                capacity: runs + waiting,
            });
        }
        Ok(triggers)
    }

    /// Consumes until the task is aborted; `embedded` is the in-process cluster's bootstrap.
    pub fn start(
        self,
        host: Arc<Host>,
        embedded: Option<&str>,
    ) -> Result<consumer::Running, String> {
        consumer::start(self, host, embedded)
    }
}
