//! The runtime: runs of compiled workflows.
//!
//! - [`plan`]: a workflow compiled once: steps indexed per container, runAfter edges
//!   resolved, every expression a template, retry policies resolved.
//! - [`Engine`]: starts runs (after `splitOn`) and returns their [`RunRecord`]s.
//! - `executor` and `loops`: the job scheduler of one run — runAfter, skip propagation,
//!   container status, Foreach/Until/Wait, handler actions with retries and timeouts.
//! - `builtin` and `table`: the inline actions (variables, Compose, ParseJson, Query,
//!   Select, Join, Table, Terminate, Response); `schema`: ParseJson's schema check.
//! - [`handler`]: the seam connectors implement ([`ActionHandler`]).
//! - [`run`]: the state of a run and what its expressions see; [`record`]: what it leaves.
//! - [`admission`]: trigger concurrency, waiting runs and backpressure.
//! - [`metrics`]: metric names, descriptions and cached handles.
//! - `retry`: retry delays as documented.

pub mod admission;
mod builtin;
mod executor;
pub mod handler;
pub mod host;
mod loops;
pub mod metrics;
pub mod plan;
pub mod record;
mod retry;
pub mod run;
mod schema;
pub mod stats;
mod table;

pub use executor::Environment;
pub use handler::{ActionCall, ActionFailure, ActionHandler, BoxFuture, Handlers};
pub use plan::Plan;
pub use record::{ActionRecord, RunRecord};
pub use run::{Mock, Mocks, Settings};

use crate::definition::RunStatus;
use crate::expr::value::Map;
use crate::expr::{EvalError, JsonContext, Value};
use chrono::Utc;
use executor::{container_status, Executor};
use record::timestamp;
use run::{Frame, RunState};
use std::sync::Arc;

/// Runs workflows: holds the handlers for connector actions, the app settings and the
/// metric handles shared by every run.
pub struct Engine {
    env: Environment,
    settings: Settings,
}

impl Engine {
    /// An engine with `handlers`; create it after installing a metrics recorder.
    pub fn new(handlers: Handlers, settings: Settings) -> Engine {
        Engine {
            env: Environment {
                handlers,
                metrics: metrics::Metrics::new(),
            },
            settings,
        }
    }

    /// The trigger outputs of each run an event starts: one per `splitOn` item, or the
    /// event itself. `outputs` is `{headers, body}`.
    pub fn split(&self, plan: &Plan, outputs: Value) -> Result<Vec<Value>, EvalError> {
        self.env.metrics.trigger_events.increment(1);
        let Some(split_on) = plan.trigger.as_ref().and_then(|t| t.split_on.as_ref()) else {
            return Ok(vec![outputs]);
        };
        let mut document = Map::default();
        document.insert("triggerOutputs".into(), outputs.clone());
        let items = split_on.evaluate(&JsonContext::new(Value::object(document)))?;
        let Value::Array(items) = items else {
            return Err(EvalError::new(format!(
                "splitOn must give an array but gave {}",
                crate::expr::eval::describe(&items)
            )));
        };
        Ok(items
            .iter()
            .map(|item| {
                let mut each = outputs.as_object().cloned().unwrap_or_default();
                each.insert("body".into(), item.clone());
                Value::object(each)
            })
            .collect())
    }

    /// Runs `plan` once for a trigger output `{headers, body}`.
    pub async fn run(
        &self,
        plan: Arc<Plan>,
        trigger_outputs: Value,
        mocks: Arc<Mocks>,
    ) -> RunRecord {
        let start = Utc::now();
        let id: Arc<str> = Arc::from(uuid::Uuid::now_v7().simple().to_string().to_uppercase());
        let trigger = trigger_record(&plan, trigger_outputs, start);
        let state = RunState::new(
            id.clone(),
            plan.clone(),
            trigger.clone(),
            self.settings.clone(),
            mocks,
        );
        let m = &self.env.metrics;
        m.runs_started.increment(1);
        m.runs_in_flight.increment(1.0);
        m.jobs.increment(1);
        let executor = Executor {
            run: &state,
            env: &self.env,
        };
        let root = Frame::root();
        let records = executor.container(&plan.root, &root).await;
        let (status, error) = match state.terminated() {
            Some((status, error)) => (status, error),
            None => {
                let status = container_status(&plan.root, &records);
                let error = first_error(&records, status);
                (status, error)
            }
        };
        m.run_completed(status);
        RunRecord {
            id,
            workflow: plan.workflow.clone(),
            status,
            start_time: start,
            end_time: Utc::now(),
            trigger,
            error,
            response: state.response(),
            actions: records.into_iter().flatten().collect(),
        }
    }
}

/// The app's parameters.json values, with `@appsetting('…')` references resolved.
pub fn app_parameters(
    app: &crate::definition::App,
) -> Result<std::collections::HashMap<String, Value>, crate::Error> {
    let mut settings = Map::default();
    for (k, v) in app.settings.file_values() {
        let value = std::env::var(k).unwrap_or_else(|_| v.clone());
        settings.insert(k.clone(), Value::from(value));
    }
    let mut document = Map::default();
    document.insert("appsettings".into(), Value::object(settings));
    let ctx = JsonContext::new(Value::object(document));
    app.parameters
        .iter()
        .map(|(name, p)| {
            let template = crate::expr::Template::compile(&p.value)
                .map_err(|mut e| crate::Error::Syntax(e.remove(0).error))?;
            Ok((name.clone(), template.evaluate(&ctx)?))
        })
        .collect()
}

/// App settings as the runtime reads them: the environment first, then local.settings.json.
pub fn app_settings(app: &crate::definition::App) -> Settings {
    let settings = app.settings.clone();
    Arc::new(move |name| settings.get(name))
}

fn trigger_record(plan: &Plan, outputs: Value, start: chrono::DateTime<Utc>) -> Value {
    let mut trigger = Map::default();
    let name = plan.trigger.as_ref().map_or("manual", |t| &*t.name);
    trigger.insert("name".into(), Value::from(name));
    trigger.insert("inputs".into(), Value::Null);
    trigger.insert("outputs".into(), outputs);
    trigger.insert("startTime".into(), Value::from(timestamp(start)));
    trigger.insert("endTime".into(), Value::from(timestamp(start)));
    trigger.insert("status".into(), Value::from("Succeeded"));
    Value::object(trigger)
}

/// The error of a failed run: that of the first failed action, looking inside containers.
fn first_error(records: &[Option<Arc<ActionRecord>>], status: RunStatus) -> Value {
    fn failed<'a>(
        mut records: impl Iterator<Item = &'a Arc<ActionRecord>>,
    ) -> Option<&'a ActionRecord> {
        records
            .find(|r| matches!(r.status, RunStatus::Failed | RunStatus::TimedOut))
            .map(|r| failed(r.actions.iter()).unwrap_or(r))
    }
    if status == RunStatus::Succeeded {
        return Value::Null;
    }
    failed(records.iter().flatten())
        .map(|r| r.error.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
