//! The apps the scenarios host, written to a scratch folder in Logic Apps Standard layout:
//! the repository's workflow files (compiled in, so the benchmark runs from any directory)
//! with only the settings a benchmark must point at its own downstream changed.

use serde_json::{json, Value};
use std::path::PathBuf;

const SUSTAINED: &str = include_str!("../../../workflows/sustained/workflow.json");
const HOST: &str = include_str!("../../../workflows/host.json");
const DISPATCHER: &str = include_str!("../../../benchmarks/burst/dispatcher/workflow.json");
const ENRICHER: &str = include_str!("../../../benchmarks/burst/enricher/workflow.json");
const BURST_HOST: &str = include_str!("../../../benchmarks/burst/host.json");

/// Child workflows of the throttled scenario, as in the study.
pub const CHILDREN: u64 = 10;

/// A scratch app folder, removed when dropped.
pub struct AppDir {
    pub path: PathBuf,
}

impl Drop for AppDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl AppDir {
    fn new(name: &str) -> anyhow::Result<AppDir> {
        let path = std::env::temp_dir().join(format!("sluice-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(AppDir { path })
    }

    fn write(&self, file: &str, text: &str) -> anyhow::Result<()> {
        let path = self.path.join(file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, text)?;
        Ok(())
    }

    fn settings(&self, values: &[(&str, &str)]) -> anyhow::Result<()> {
        let values: serde_json::Map<String, Value> = values
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        self.write(
            "local.settings.json",
            &json!({"IsEncrypted": false, "Values": values}).to_string(),
        )
    }

    /// The data directory for stateful runs.
    pub fn data(&self) -> PathBuf {
        self.path.join(".sluice")
    }
}

/// An Event Hubs connection on the embedded cluster.
fn event_hub_connection() -> Value {
    json!({"eventHub": {"parameterValues": {"connectionString": "", "bootstrapServers": ""},
        "serviceProvider": {"id": "/serviceProviders/eventHub"}}})
}

fn kind(stateless: bool) -> &'static str {
    if stateless {
        "Stateless"
    } else {
        "Stateful"
    }
}

/// `workflows/sustained` with its batch size and kind, calling `downstream` as its scoring function.
pub fn sustained(downstream: &str, batch: u64, stateless: bool) -> anyhow::Result<AppDir> {
    let dir = AppDir::new("sustained")?;
    let mut workflow: Value = serde_json::from_str(SUSTAINED)?;
    workflow["kind"] = kind(stateless).into();
    let trigger = &mut workflow["definition"]["triggers"]["When_events_are_available_in_Event_hub"];
    trigger["inputs"]["parameters"]["maxEventBatchSize"] = batch.into();
    dir.write("sustained/workflow.json", &workflow.to_string())?;
    dir.write("host.json", HOST)?;
    let connections = json!({"serviceProviderConnections": event_hub_connection(),
        "functionConnections": {"scoring": {
            "function": {"id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/sluice/providers/Microsoft.Web/sites/scoring/functions/score"},
            "triggerUrl": "@appsetting('Scoring_FunctionUrl')",
            "authentication": {"type": "QueryString", "name": "Code", "value": "@appsetting('Scoring_FunctionKey')"}}}});
    dir.write("connections.json", &connections.to_string())?;
    dir.settings(&[
        ("Scoring_FunctionUrl", &format!("{downstream}/api/score")),
        ("Scoring_FunctionKey", "bench"),
    ])?;
    Ok(dir)
}

/// The throttled study's shape.
pub struct Throttled<'a> {
    pub downstream: &'a str,
    pub batch: u64,
    pub stateless: bool,
    /// Each child's trigger concurrency and waiting runs.
    pub child_runs: u64,
    pub child_waiting: u64,
    /// The parent's trigger concurrency.
    pub parent_runs: u64,
    /// The study's retry intervals are divided by this.
    pub time_scale: f64,
}

/// A parent on Event Hubs that sends each event to one of ten child workflows (a Switch on the
/// id), with the study's retry policy scaled in time; children call the throttled downstream.
pub fn throttled(t: &Throttled) -> anyhow::Result<AppDir> {
    let dir = AppDir::new("throttled")?;
    dir.write("host.json", HOST)?;
    dir.write(
        "connections.json",
        &json!({"serviceProviderConnections": event_hub_connection()}).to_string(),
    )?;
    dir.settings(&[("Downstream", t.downstream)])?;
    dir.write("parent/workflow.json", &parent(t).to_string())?;
    for n in 0..CHILDREN {
        dir.write(&format!("child{n}/workflow.json"), &child(t).to_string())?;
    }
    Ok(dir)
}

/// An ISO 8601 duration of `seconds / scale`.
fn scaled(seconds: f64, scale: f64) -> String {
    format!("PT{}S", seconds / scale.max(1e-9))
}

fn parent(t: &Throttled) -> Value {
    let retry = json!({"type": "exponential", "count": 4,
        "interval": scaled(20.0, t.time_scale),
        "minimumInterval": scaled(10.0, t.time_scale),
        "maximumInterval": scaled(3600.0, t.time_scale)});
    let cases: serde_json::Map<String, Value> = (0..CHILDREN)
        .map(|n| {
            let call = json!({"type": "Workflow", "runAfter": {}, "inputs": {
                "host": {"workflow": {"id": format!("child{n}")}, "triggerName": "manual"},
                "body": "@triggerBody()?['contentData']",
                "retryPolicy": retry}});
            (
                format!("Child_{n}"),
                json!({"case": n, "actions": {format!("Call_child_{n}"): call}}),
            )
        })
        .collect();
    let runs = t.parent_runs;
    json!({"kind": kind(t.stateless), "definition": {
        "triggers": {"When_events_are_available_in_Event_hub": {"type": "ServiceProvider",
            "splitOn": "@triggerOutputs()?['body']",
            "inputs": {"parameters": {"eventHubName": "events", "consumerGroup": "throttled",
                "maxEventBatchSize": t.batch},
                "serviceProviderConfiguration": {"connectionName": "eventHub",
                    "operationId": "receiveEvents", "serviceProviderId": "/serviceProviders/eventHub"}},
            "runtimeConfiguration": {"concurrency": {"runs": runs}}}},
        "actions": {
            "Pick_child": {"type": "Switch", "runAfter": {},
                "expression": "@mod(triggerBody()?['contentData']?['id'], 10)",
                "cases": cases, "default": {"actions": {}}},
            "Send_status": {"type": "ServiceProvider", "runAfter": {"Pick_child": ["Succeeded"]},
                "inputs": {"parameters": {"eventHubName": "status",
                    "eventData": {"contentData": {"id": "@triggerBody()?['contentData']?['id']"}}},
                "serviceProviderConfiguration": {"connectionName": "eventHub",
                    "operationId": "sendEvent", "serviceProviderId": "/serviceProviders/eventHub"}}}}}})
}

fn child(t: &Throttled) -> Value {
    json!({"kind": "Stateless", "definition": {
        "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {},
            "runtimeConfiguration": {"concurrency": {"runs": t.child_runs,
                "maximumWaitingRuns": t.child_waiting}}}},
        "actions": {
            "Call_downstream": {"type": "Http", "runAfter": {}, "inputs": {"method": "GET",
                "uri": "@{appsetting('Downstream')}/api/work?id=@{triggerBody()?['id']}"}},
            "Respond": {"type": "Response", "runAfter": {"Call_downstream": ["Succeeded"]},
                "inputs": {"statusCode": 200, "body": "@body('Call_downstream')"}}}}})
}

/// Microsoft's burst app, unchanged, with its retail function at `downstream`.
pub fn burst(downstream: &str) -> anyhow::Result<AppDir> {
    let dir = AppDir::new("burst")?;
    dir.write("dispatcher/workflow.json", DISPATCHER)?;
    dir.write("enricher/workflow.json", ENRICHER)?;
    dir.write("host.json", BURST_HOST)?;
    dir.settings(&[
        (
            "Enricher.RetailApiUrl",
            &format!("{downstream}/api/retail?ean="),
        ),
        ("Enricher.Cosmos.DefaultTtl", "2592000"),
        ("Enricher.MaxMappingValidUntil", "30"),
    ])?;
    Ok(dir)
}

/// Whether `path` holds an app this module wrote (for tests).
#[cfg(test)]
fn has_workflow(path: &std::path::Path, name: &str) -> bool {
    path.join(name).join("workflow.json").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::definition::App;

    #[test]
    fn every_scenario_app_loads_without_problems() {
        let s = sustained("http://127.0.0.1:1", 50, true).unwrap();
        assert!(has_workflow(&s.path, "sustained"));
        App::load(&s.path).unwrap();
        let t = throttled(&Throttled {
            downstream: "http://127.0.0.1:1",
            batch: 100,
            stateless: false,
            child_runs: 2,
            child_waiting: 8,
            parent_runs: 40,
            time_scale: 100.0,
        })
        .unwrap();
        let app = App::load(&t.path).unwrap();
        assert_eq!(app.workflows.len(), 11);
        let b = burst("http://127.0.0.1:1").unwrap();
        App::load(&b.path).unwrap();
        assert_eq!(scaled(20.0, 100.0), "PT0.2S");
    }
}
