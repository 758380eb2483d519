//! The Kafka / Event Hubs trigger: `ServiceProvider` with `/serviceProviders/eventHub` (or
//! `/serviceProviders/kafka`), operation `receiveEvents`.
//!
//! Parameters: `eventHubName` (the topic), `consumerGroup` (default `$Default`),
//! `maxEventBatchSize` (default 100), `minEventBatchSize` (default 1) and `maxWaitTime`
//! (ISO 8601, default PT1S): as in the Functions Event Hubs extension that Logic Apps' trigger
//! is built on, a batch takes what is available up to its maximum as soon as it holds the
//! minimum, and waits at most `maxWaitTime` for the minimum; `contentType` (`application/json` makes a non-JSON body poison),
//! `deadLetterTopic` (default `{topic}-deadletter`).
//!
//! With `splitOn` every event is a run of its own (its trigger body is the event); without,
//! a run gets the batch as an array.

use super::connection::KafkaConnection;
use sluice_engine::definition::{App, TriggerType};
use sluice_engine::expr::functions::to_text;
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
    /// Events a batch waits for (up to `max_wait`) before it goes with what is available.
    pub min_batch_size: usize,
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
    pub fn for_app(app: &App) -> Result<Vec<KafkaTrigger>, super::Error> {
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
            let at = |reason: String| super::Error::Trigger {
                workflow: name.clone(),
                trigger: trigger.name.to_string(),
                reason,
            };
            let connection_name = config["connectionName"].as_str().unwrap_or_default();
            let connection = super::connection_of(app, connection_name)?;
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
            let batch_size = text("maxEventBatchSize")
                .and_then(|b| b.parse().ok())
                .unwrap_or(100usize)
                .max(1);
            triggers.push(KafkaTrigger {
                workflow: name.clone(),
                group: text("consumerGroup").unwrap_or_else(|| "$Default".into()),
                batch_size,
                min_batch_size: text("minEventBatchSize")
                    .and_then(|b| b.parse().ok())
                    .unwrap_or(1usize)
                    .clamp(1, batch_size),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trigger_with(parameters: serde_json::Value) -> KafkaTrigger {
        let dir = std::env::temp_dir().join(format!(
            "sluice-kafka-trigger-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(dir.join("ingest")).unwrap();
        let workflow = json!({"kind": "Stateless", "definition": {
            "triggers": {"events": {"type": "ServiceProvider", "inputs": {"parameters": parameters,
                "serviceProviderConfiguration": {"connectionName": "hub", "operationId": "receiveEvents",
                    "serviceProviderId": "/serviceProviders/eventHub"}}}},
            "actions": {}}});
        std::fs::write(dir.join("ingest/workflow.json"), workflow.to_string()).unwrap();
        let connections = json!({"serviceProviderConnections": {"hub": {
            "parameterValues": {"bootstrapServers": "127.0.0.1:9092"},
            "serviceProvider": {"id": "/serviceProviders/eventHub"}}}});
        std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
        let app = App::load(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        KafkaTrigger::for_app(&app).unwrap().remove(0)
    }

    #[test]
    fn batches_go_with_what_is_available_once_they_hold_the_minimum() {
        let t = trigger_with(json!({"eventHubName": "in"}));
        assert_eq!(
            (t.batch_size, t.min_batch_size, t.max_wait),
            (100, 1, Duration::from_secs(1))
        );
        let t = trigger_with(json!({"eventHubName": "in", "maxEventBatchSize": 50,
            "minEventBatchSize": 500, "maxWaitTime": "PT5S"}));
        assert_eq!(
            (t.batch_size, t.min_batch_size),
            (50, 50),
            "the minimum is at most the maximum"
        );
        assert_eq!(t.max_wait, Duration::from_secs(5));
    }
}
