//! The engine: starts runs, records stateful ones in the store, resumes them after a crash.

use crate::definition::{RunStatus, WorkflowKind};
use crate::expr::value::Map;
use crate::expr::{EvalError, JsonContext, Value};
use crate::record::{timestamp, ActionRecord, RunRecord};
use crate::runtime::execution::executor::{container_status, Environment, Executor};
use crate::runtime::execution::handler::Handlers;
use crate::runtime::run::{Frame, Mocks, RunState, Settings};
use crate::runtime::{observation::metrics, Plan};
use crate::store::{JournalEntry, RunHeader, SharedStore};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

/// Runs workflows: holds the handlers for connector actions, the app settings, the run store
/// and the metric handles shared by every run.
pub struct Engine {
    env: Environment,
    settings: Settings,
    store: Option<SharedStore>,
    /// Where this instance's HTTP server answers (`http://127.0.0.1:7071`), for
    /// `listCallbackUrl()`; none when nothing listens.
    base_url: Option<Arc<str>>,
    /// Runs executing in this process, by id, with the signal that cancels each.
    live: std::sync::Mutex<HashMap<Arc<str>, Arc<tokio::sync::Notify>>>,
    /// When this engine was created (Unix ms), to tell claims of earlier processes.
    started_ms: u64,
    /// Orphaned claims of earlier processes adopted here, so that each runs once.
    adopted: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// What [`Engine::claim`] found for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The event is new (or the workflow keeps no durable record): run it under the new id.
    Fresh,
    /// A run already has the event.
    Duplicate(String),
    /// An earlier process claimed the event but never recorded the run: run it under this id.
    Orphaned(String),
}

/// What cancelling a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// The run was executing here and has been stopped.
    Stopped,
    /// The run was recorded as unfinished and is now marked Cancelled, so it is not resumed.
    Marked,
}

/// A recorded admission: the run's start as recorded, and the write to await before
/// acknowledging its trigger event.
pub struct Recorded {
    pub start: DateTime<Utc>,
    pub commit: crate::store::Commit,
}

/// The trigger event was already turned into a run, which the store still knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub run_id: String,
}

/// How a run begins: fresh, or resumed from what the store recorded.
struct Start {
    id: Arc<str>,
    start: DateTime<Utc>,
    outputs: Value,
    event_id: Option<String>,
    replay: HashMap<String, Arc<ActionRecord>>,
    resumed: bool,
    /// The header is in the store already (recorded at admission, or resumed).
    recorded: bool,
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
            store: None,
            base_url: None,
            live: Default::default(),
            started_ms: Utc::now().timestamp_millis().max(0) as u64,
            adopted: Default::default(),
        }
    }

    /// The base URL of the HTTP server that receives Request triggers and webhook callbacks.
    pub fn with_base_url(mut self, base_url: &str) -> Engine {
        self.base_url = Some(Arc::from(base_url.trim_end_matches('/')));
        self
    }

    /// Records stateful runs in `store`.
    pub fn with_store(mut self, store: SharedStore) -> Engine {
        self.store = Some(store);
        self
    }

    pub fn store(&self) -> Option<&SharedStore> {
        self.store.as_ref()
    }

    /// The trigger outputs of each run an event starts: one per `splitOn` item, or the
    /// event itself. `outputs` is `{headers, body}`.
    pub fn split(&self, plan: &Plan, outputs: Value) -> Result<Vec<Value>, EvalError> {
        self.env.metrics.trigger_events.increment(1);
        // Triggers call this on their own task: a panic here must refuse the event, not stop
        // the trigger.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| split(plan, outputs)))
            .unwrap_or_else(|panic| {
                let error = panicked_error(panic.as_ref());
                let message = error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Err(EvalError::new(message))
            })
    }

    /// Runs `plan` once for a trigger output `{headers, body}`.
    pub async fn run(
        &self,
        plan: Arc<Plan>,
        trigger_outputs: Value,
        mocks: Arc<Mocks>,
    ) -> RunRecord {
        let start = fresh(trigger_outputs, None);
        self.execute(plan, start, mocks).await
    }
}

/// The trigger outputs of each run `splitOn` makes of an event.
fn split(plan: &Plan, outputs: Value) -> Result<Vec<Value>, EvalError> {
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

impl Engine {
    /// A new run id: time-ordered (UUIDv7, upper-case hex), so history sorts by start.
    pub fn new_run_id() -> Arc<str> {
        Arc::from(uuid::Uuid::now_v7().simple().to_string().to_uppercase())
    }

    /// Runs `plan` under an id chosen beforehand (to answer a caller before the run ends),
    /// recording the trigger event's id with it. Claim the event first with [`Engine::claim`].
    pub async fn run_as(
        &self,
        plan: Arc<Plan>,
        id: Arc<str>,
        trigger_outputs: Value,
        event_id: Option<String>,
        mocks: Arc<Mocks>,
    ) -> RunRecord {
        let mut start = fresh(trigger_outputs, event_id);
        start.id = id;
        self.execute(plan, start, mocks).await
    }

    /// Records a stateful run's admission (its header, Running, with the trigger outputs)
    /// so that its trigger can acknowledge the event once the returned commit resolves: from
    /// then on a crash resumes the run rather than losing it. `None` when the workflow keeps
    /// no durable record (stateless, or no store). Run it with [`Engine::run_admitted`].
    pub fn record_admission(
        &self,
        plan: &Plan,
        id: &str,
        trigger_outputs: &Value,
        event_id: Option<&str>,
    ) -> Option<Recorded> {
        let store = self.durable_store(plan)?;
        let header = RunHeader {
            id: id.to_string(),
            workflow: plan.workflow.to_string(),
            version: plan.version.clone(),
            status: RunStatus::Succeeded,
            running: true,
            start_time: Utc::now(),
            end_time: None,
            trigger: trigger_outputs.clone(),
            error: Value::Null,
            event_id: event_id.map(str::to_string),
            secure_trigger: plan.trigger.as_ref().is_some_and(|t| t.secure_outputs),
        };
        drop(store.save_definition(&plan.version, &plan.source));
        let commit = store.put_run(&header);
        Some(Recorded {
            start: header.start_time,
            commit,
        })
    }

    /// Runs a run whose admission [`Engine::record_admission`] recorded (`start` is its
    /// recorded start), without recording its header again.
    pub async fn run_admitted(
        &self,
        plan: Arc<Plan>,
        id: Arc<str>,
        start: DateTime<Utc>,
        trigger_outputs: Value,
        event_id: Option<String>,
        mocks: Arc<Mocks>,
    ) -> RunRecord {
        let mut fresh = fresh(trigger_outputs, event_id);
        fresh.id = id;
        fresh.start = start;
        fresh.recorded = true;
        self.execute(plan, fresh, mocks).await
    }

    /// Records that trigger event `event_id` starts run `run_id`, for a stateful workflow with a
    /// store; or finds the run that already has the event.
    ///
    /// A claim whose run never got recorded (the process died between the claim and the run's
    /// first durable write) is adopted: the event runs under that claimed id, so the actions it
    /// may already have called go out again with the same idempotency keys.
    pub fn claim(&self, plan: &Plan, event_id: &str, run_id: &str) -> Claim {
        let Some(store) = self.durable_store(plan) else {
            return Claim::Fresh;
        };
        let Some(existing) = store.claim_event(event_id, run_id).ok().flatten() else {
            return Claim::Fresh;
        };
        // Only a claim made before this engine started can be orphaned: a newer one may be a
        // run of this process whose header is still on its way to disk.
        let before_start = run_id_millis(&existing).is_some_and(|ms| ms < self.started_ms);
        if before_start && matches!(store.run(&existing), Ok(None)) {
            let mut adopted = self.adopted.lock().unwrap_or_else(|p| p.into_inner());
            if adopted.insert(existing.clone()) {
                return Claim::Orphaned(existing);
            }
        }
        Claim::Duplicate(existing)
    }

    /// Runs `plan` for a trigger event with an id: a stateful run is recorded with the id, and
    /// an id the store already knows does not start a second run. (Triggers go through
    /// `Host::accept`; the engine's own tests use this.)
    #[cfg(test)]
    pub(crate) async fn run_event(
        &self,
        plan: Arc<Plan>,
        trigger_outputs: Value,
        event_id: &str,
        mocks: Arc<Mocks>,
    ) -> Result<RunRecord, Duplicate> {
        let fresh_id = Engine::new_run_id();
        let id = match self.claim(&plan, event_id, &fresh_id) {
            Claim::Fresh => fresh_id,
            Claim::Orphaned(id) => Arc::from(id),
            Claim::Duplicate(run_id) => return Err(Duplicate { run_id }),
        };
        Ok(self
            .run_as(plan, id, trigger_outputs, Some(event_id.to_string()), mocks)
            .await)
    }

    /// Runs `plan` again for a recorded run: `replay` holds the recorded results by action
    /// path, which are used instead of executing (the rest runs, with the same idempotency
    /// keys when `resume` keeps the run id).
    pub async fn replay(
        &self,
        plan: Arc<Plan>,
        header: &RunHeader,
        replay: Vec<JournalEntry>,
        resume: bool,
        mocks: Arc<Mocks>,
    ) -> RunRecord {
        let mut start = fresh(header.trigger.clone(), None);
        if resume {
            start.id = Arc::from(header.id.as_str());
            start.start = header.start_time;
            start.event_id = header.event_id.clone();
            start.resumed = true;
            start.recorded = true;
        }
        start.replay = replay.into_iter().map(|e| (e.path, e.record)).collect();
        self.execute(plan, start, mocks).await
    }

    /// Resubmits a recorded run as new run `id`: the same trigger outputs, with `replay`'s
    /// recorded results used instead of executing those actions.
    pub async fn resubmit_as(
        &self,
        plan: Arc<Plan>,
        header: &RunHeader,
        replay: Vec<JournalEntry>,
        id: Arc<str>,
        mocks: Arc<Mocks>,
    ) -> RunRecord {
        let mut start = fresh(header.trigger.clone(), None);
        start.id = id;
        start.replay = replay.into_iter().map(|e| (e.path, e.record)).collect();
        self.execute(plan, start, mocks).await
    }

    fn durable_store(&self, plan: &Plan) -> Option<&SharedStore> {
        self.store
            .as_ref()
            .filter(|_| plan.kind == WorkflowKind::Stateful)
    }

    async fn execute(&self, plan: Arc<Plan>, start: Start, mocks: Arc<Mocks>) -> RunRecord {
        let trigger = trigger_record(&plan, start.outputs.clone(), start.start);
        let mut state = RunState::new(
            start.id.clone(),
            plan.clone(),
            trigger.clone(),
            self.settings.clone(),
            mocks,
        );
        state.replay = start.replay;
        state.base_url = self.base_url.clone();
        let store = self.durable_store(&plan).cloned();
        let mut header = RunHeader {
            id: start.id.to_string(),
            workflow: plan.workflow.to_string(),
            version: plan.version.clone(),
            status: RunStatus::Succeeded,
            running: true,
            start_time: start.start,
            end_time: None,
            trigger: start.outputs,
            error: Value::Null,
            event_id: start.event_id,
            secure_trigger: plan.trigger.as_ref().is_some_and(|t| t.secure_outputs),
        };
        if let Some(store) = &store {
            if !start.recorded {
                drop(store.save_definition(&plan.version, &plan.source));
                // Not awaited: the header rides in the batch that makes the run's first I/O result
                // durable, before any side effect depends on it, or else with the run's end.
                drop(store.put_run(&header));
            }
            state.store = Some(store.clone());
        }
        let m = &self.env.metrics;
        m.runs_started.increment(1);
        m.runs_in_flight.increment(1.0);
        m.jobs.increment(1);
        let executor = Executor {
            run: &state,
            env: &self.env,
        };
        let root = Frame::root();
        let cancel = self
            .live_runs()
            .entry(start.id.clone())
            .or_default()
            .clone();
        // A panic inside the run (a bug, or an input no check foresaw) fails this run only:
        // it is recorded Failed with the panic's message, so it is not resumed again.
        let body = std::panic::AssertUnwindSafe(executor.container(&plan.root, &root));
        let records = tokio::select! {
            records = futures_util::FutureExt::catch_unwind(body) => match records {
                Ok(records) => records,
                Err(panic) => {
                    state.terminate(RunStatus::Failed, panicked_error(panic.as_ref()));
                    Vec::new()
                }
            },
            _ = cancel.notified() => {
                state.terminate(RunStatus::Cancelled, cancelled_error());
                Vec::new()
            }
        };
        self.live_runs().remove(&start.id);
        let (status, error) = match state.terminated() {
            Some((status, error)) => (status, error),
            None => {
                let status = container_status(&plan.root, &records);
                (status, first_error(&records, status))
            }
        };
        let actions: Vec<Arc<ActionRecord>> = records.into_iter().flatten().collect();
        let end = Utc::now();
        header.status = status;
        header.running = false;
        header.end_time = Some(end);
        header.error = error.clone();
        if let Some(store) = &store {
            // Awaited, so that the history shows the run ended once the caller has its record
            // (the run was durable from its admission on: a crash before this resumes it).
            let _ = store.finish_run(&header, actions.clone()).await;
        } else if let Some(history) = self.store.as_ref().filter(|_| plan.stateless_history) {
            // A stateless workflow with run history on: a summary, written off the run's path.
            drop(history.finish_run(&header, actions.clone()));
        }
        m.run_completed(status);
        RunRecord {
            id: start.id,
            workflow: plan.workflow.clone(),
            status,
            start_time: start.start,
            end_time: end,
            trigger,
            error,
            response: state.response(),
            actions,
            secure_trigger: header.secure_trigger,
        }
    }
}

impl Engine {
    fn live_runs(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<tokio::sync::Notify>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether run `id` was started by an earlier process (its UUIDv7 time is before this
    /// engine's start) and is not executing here: a recorded unfinished run to resume.
    pub fn is_from_earlier_process(&self, id: &str) -> bool {
        run_id_millis(id).is_some_and(|ms| ms < self.started_ms)
            && !self.live_runs().contains_key(id)
    }

    /// Makes run `id` cancellable before it starts (while it waits for admission), so that a
    /// caller given its id at once can cancel it.
    pub fn reserve(&self, id: &Arc<str>) {
        self.live_runs().entry(id.clone()).or_default();
    }

    /// Drops the reservation of run `id`, which will not start after all (its admission
    /// could not be made durable).
    pub fn unreserve(&self, id: &str) {
        self.live_runs().remove(id);
    }

    /// Cancels run `id`: stops it if it executes here (actions in flight are abandoned), or
    /// marks a recorded unfinished run Cancelled so that it is not resumed.
    pub async fn cancel(&self, id: &str) -> Result<Cancelled, String> {
        if let Some(signal) = self.live_runs().get(id) {
            signal.notify_one();
            return Ok(Cancelled::Stopped);
        }
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| format!("no run {id} is executing"))?;
        let run = store
            .run(id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no run {id} in the history"))?;
        if !run.header.running {
            return Err(format!("run {id} already ended ({})", run.header.status));
        }
        let mut header = run.header.clone();
        header.running = false;
        header.status = RunStatus::Cancelled;
        header.end_time = Some(Utc::now());
        header.error = cancelled_error();
        let actions = run.journal.iter().map(|e| e.record.clone()).collect();
        store
            .finish_run(&header, actions)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Cancelled::Marked)
    }
}

impl Engine {
    /// Marks a recorded unfinished run that cannot be resumed (its definition no longer
    /// loads) Failed with `reason`, so that it is not tried again on every start.
    pub async fn fail_unresumable(
        &self,
        header: &RunHeader,
        reason: &str,
    ) -> Result<(), crate::store::StoreError> {
        let Some(store) = self.store.as_ref() else {
            return Ok(());
        };
        let mut header = header.clone();
        header.running = false;
        header.status = RunStatus::Failed;
        header.end_time = Some(Utc::now());
        let mut error = Map::default();
        error.insert("code".into(), Value::from("RecoveryFailed"));
        error.insert(
            "message".into(),
            Value::from(format!("the run could not be resumed: {reason}")),
        );
        header.error = Value::object(error);
        let actions = match store.run(&header.id) {
            Ok(Some(run)) => run.journal.iter().map(|e| e.record.clone()).collect(),
            _ => Vec::new(),
        };
        store.finish_run(&header, actions).await
    }
}

/// The creation time (Unix ms) in a run id: UUIDv7's first 48 bits.
fn run_id_millis(id: &str) -> Option<u64> {
    u64::from_str_radix(id.get(..12)?, 16).ok()
}

/// The error of a run that panicked: the panic's message (the engine's own text).
pub(super) fn panicked_error(panic: &(dyn std::any::Any + Send)) -> Value {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "an unknown failure".into());
    let mut error = Map::default();
    error.insert("code".into(), Value::from("EngineFailure"));
    error.insert(
        "message".into(),
        Value::from(format!("the run failed inside the engine: {message}")),
    );
    Value::object(error)
}

fn cancelled_error() -> Value {
    let mut error = Map::default();
    error.insert("code".into(), Value::from("Cancelled"));
    error.insert("message".into(), Value::from("the run was cancelled"));
    Value::object(error)
}

fn fresh(outputs: Value, event_id: Option<String>) -> Start {
    Start {
        id: Engine::new_run_id(),
        start: Utc::now(),
        outputs,
        event_id,
        replay: HashMap::new(),
        resumed: false,
        recorded: false,
    }
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
