//! A trivial connector, written by following ARCHITECTURE.md's "Adding a connector" recipe:
//! everything it needs is in this folder, and the test registers it with one line.
//!
//! The `/serviceProviders/ticker` trigger (`parameters.count`) starts one run per tick
//! (`{"body": {"n": i}}`); its `echo` action answers `{"echo": parameters.text}`.

use sluice_connectors::connector::{Actions, Connector, ConnectorError, Trigger, Wiring};
use sluice_engine::definition::TriggerType;
use sluice_engine::expr::value::Map;
use sluice_engine::expr::Value;
use sluice_engine::record::RunRecord;
use sluice_engine::runtime::{ActionCall, ActionFailure, ActionHandler, BoxFuture, Host};
use std::sync::Arc;
use tokio::sync::mpsc;

pub const PROVIDER: &str = "/serviceProviders/ticker";

/// Configuration → client (none here) → trigger and action.
pub fn build(wiring: &Wiring<'_>) -> Result<Box<dyn Connector>, ConnectorError> {
    let mut ticks = Vec::new();
    for (name, workflow) in &wiring.app.workflows {
        let Some(trigger) = workflow.definition.triggers.values().next() else {
            continue;
        };
        let config = &trigger.inputs["serviceProviderConfiguration"];
        let ours = config["serviceProviderId"].as_str() == Some(PROVIDER);
        if trigger.trigger_type != TriggerType::ServiceProvider || !ours {
            continue;
        }
        let count = trigger.inputs["parameters"]["count"]
            .as_u64()
            .ok_or_else(|| ConnectorError::new("ticker", format!("{name}: no 'count'")))?;
        ticks.push((name.clone(), count));
    }
    let (runs, finished) = mpsc::unbounded_channel();
    Ok(Box::new(Ticker {
        ticks,
        runs,
        finished: std::sync::Mutex::new(Some(finished)),
    }))
}

pub struct Ticker {
    ticks: Vec<(String, u64)>,
    runs: mpsc::UnboundedSender<RunRecord>,
    finished: std::sync::Mutex<Option<mpsc::UnboundedReceiver<RunRecord>>>,
}

impl Ticker {
    /// The runs the ticks started, as they finish (for the test).
    pub fn finished(&self) -> mpsc::UnboundedReceiver<RunRecord> {
        self.finished.lock().unwrap().take().expect("taken once")
    }
}

impl Connector for Ticker {
    fn name(&self) -> &'static str {
        "ticker"
    }

    fn actions(&self, actions: &mut Actions) {
        actions.register_provider(PROVIDER, Arc::new(Echo));
    }

    fn start(&self, host: &Arc<Host>) -> Result<Vec<Trigger>, ConnectorError> {
        let triggers = self.ticks.iter().map(|(workflow, count)| {
            let (host, name, count, runs) =
                (host.clone(), workflow.clone(), *count, self.runs.clone());
            let task = tokio::spawn(async move {
                for n in 0..count {
                    let mut event = Map::default();
                    event.insert("body".into(), Value::from_json(serde_json::json!({"n": n})));
                    if let Ok(records) = host.submit(&name, Value::object(event)).await {
                        records.into_iter().for_each(|r| {
                            let _ = runs.send(r);
                        });
                    }
                }
            });
            Trigger::task(workflow, format!("ticker ({count} ticks)"), task)
        });
        Ok(triggers.collect())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

struct Echo;

impl ActionHandler for Echo {
    fn execute<'a>(&'a self, call: ActionCall<'a>) -> BoxFuture<'a, Result<Value, ActionFailure>> {
        Box::pin(async move {
            let text = call.inputs.get("parameters").and_then(|p| p.get("text"));
            let mut body = Map::default();
            body.insert("echo".into(), text.cloned().unwrap_or(Value::Null));
            let mut outputs = Map::default();
            outputs.insert("body".into(), Value::object(body));
            Ok(Value::object(outputs))
        })
    }
}
