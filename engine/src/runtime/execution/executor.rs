//! Executes containers: the job scheduler of one run.
//!
//! Within a container every action is a job that becomes ready when all the actions its
//! runAfter names have finished; it then runs if their statuses match and is Skipped
//! otherwise (skip propagation follows, since dependents see a Skipped predecessor). Inline
//! actions run at once; containers, waits and handler actions are awaited concurrently, so
//! parallel branches really run in parallel. The time from ready to started is the job's
//! execution delay.

use crate::definition::RunStatus;
use crate::expr::functions::logical::loose_equals;
use crate::expr::{Template, Value};
use crate::record::{ActionRecord, RetryRecord};
use crate::runtime::builtin::{self, Failure};
use crate::runtime::execution::handler::{ActionCall, BoxFuture, Handlers};
use crate::runtime::observation::metrics::Metrics;
use crate::runtime::plan::{Container, Step, StepKind};
use crate::runtime::run::{Frame, RunContext, RunState};
use chrono::Utc;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What a run executes with: the handlers for connector actions and the metric handles.
pub struct Environment {
    pub handlers: Handlers,
    pub metrics: Metrics,
}

/// Runs the containers of one run.
pub struct Executor<'r> {
    pub run: &'r RunState,
    pub env: &'r Environment,
}

/// Records of a container's steps, by step index; `None` for steps that never started.
pub type Records = Vec<Option<Arc<ActionRecord>>>;

impl<'r> Executor<'r> {
    /// Runs every step of `c` in `frame` and returns their records.
    pub fn container<'a>(
        &'a self,
        c: &'a Container,
        frame: &'a Frame<'a>,
    ) -> BoxFuture<'a, Records> {
        Box::pin(async move {
            let n = c.steps.len();
            let mut records: Records = (0..n).map(|_| None).collect();
            let mut waiting: Vec<usize> = c.steps.iter().map(|s| s.run_after.len()).collect();
            let now = Instant::now();
            let mut ready: VecDeque<(usize, Instant)> = (0..n)
                .filter(|&i| waiting[i] == 0)
                .map(|i| (i, now))
                .collect();
            let mut pending = FuturesUnordered::new();
            let mut in_flight = Vec::new();
            loop {
                while let Some((i, ready_at)) = ready.pop_front() {
                    if self.run.is_terminated() {
                        break;
                    }
                    let step = &c.steps[i];
                    let record = if let Some(blocked) = unmet_condition(step, c, &records) {
                        skipped(step, &blocked)
                    } else if builtin::is_inline(step) {
                        self.env
                            .metrics
                            .delay
                            .record(ready_at.elapsed().as_secs_f64());
                        self.inline(step, frame)
                    } else {
                        in_flight.push(i);
                        pending.push(async move { (i, self.step(step, frame, ready_at).await) });
                        continue;
                    };
                    self.finish(c, i, record, frame, &mut records, &mut waiting, &mut ready);
                }
                if self.run.is_terminated() {
                    break;
                }
                match pending.next().await {
                    Some((i, record)) => {
                        in_flight.retain(|&j| j != i);
                        self.finish(c, i, record, frame, &mut records, &mut waiting, &mut ready);
                    }
                    None => break,
                }
            }
            drop(pending);
            for i in in_flight {
                let step = &c.steps[i];
                let mut record = step.record(RunStatus::Cancelled, Utc::now());
                record.code = Some("Cancelled".into());
                records[i] = Some(Arc::new(record));
            }
            records
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        c: &Container,
        i: usize,
        record: ActionRecord,
        frame: &Frame<'_>,
        records: &mut Records,
        waiting: &mut [usize],
        ready: &mut VecDeque<(usize, Instant)>,
    ) {
        let seconds = (record.end_time - record.start_time)
            .num_microseconds()
            .unwrap_or(0) as f64
            / 1e6;
        self.env
            .metrics
            .action_completed(record.action_type, record.status, seconds);
        let step = &c.steps[i];
        let mut record = record;
        record.secure = (step.secure_inputs, step.secure_outputs);
        let record = Arc::new(record);
        if builtin::is_inline(step) && step.nondeterministic {
            // Deterministic inline results are recomputed on replay; these could not be. They
            // ride along in the next batch, unawaited.
            drop(self.journal(step, frame, &record));
        }
        frame.record(record.clone());
        records[i] = Some(record);
        let now = Instant::now();
        for &d in &c.dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push_back((d, now));
            }
        }
    }

    pub(super) fn scope<'a>(&'a self, frame: &'a Frame<'a>) -> RunContext<'a> {
        RunContext {
            run: self.run,
            frame,
            item: None,
            callback: None,
        }
    }

    /// Runs an inline step (or returns its canned result).
    fn inline(&self, step: &Step, frame: &Frame<'_>) -> ActionRecord {
        let start = Utc::now();
        if let Some(record) = self
            .canned(step, start)
            .or_else(|| self.replayed(step, frame))
        {
            return record;
        }
        let mut record = step.record(RunStatus::Succeeded, start);
        match builtin::execute(step, &self.scope(frame)) {
            Ok((inputs, outputs)) => {
                record.inputs = inputs;
                record.outputs = outputs;
                record.code = Some("OK".into());
            }
            Err(failure) => fail(&mut record, &failure),
        }
        record.end_time = Utc::now();
        record
    }

    /// A mocked or static result for the step, if one is configured.
    fn canned(&self, step: &Step, start: chrono::DateTime<Utc>) -> Option<ActionRecord> {
        let (status, outputs, error) = match self.run.mocks.get(&*step.name) {
            Some(m) => (m.status, m.outputs.clone(), m.error.clone()),
            None => {
                let name = step.static_result.as_ref()?;
                let (status, outputs) = self.run.plan.static_results.get(name)?;
                (*status, outputs.clone(), Value::Null)
            }
        };
        let mut record = step.record(status, start);
        record.outputs = outputs;
        record.error = error;
        record.code = Some(
            if status == RunStatus::Succeeded {
                "OK"
            } else {
                "ActionFailed"
            }
            .into(),
        );
        record.end_time = Utc::now();
        Some(record)
    }

    /// Runs a step that awaits: a container, a Wait, or a handler action.
    fn step<'a>(
        &'a self,
        step: &'a Step,
        frame: &'a Frame<'a>,
        ready_at: Instant,
    ) -> BoxFuture<'a, ActionRecord> {
        Box::pin(async move {
            self.env
                .metrics
                .delay
                .record(ready_at.elapsed().as_secs_f64());
            let start = Utc::now();
            if let Some(record) = self.canned(step, start) {
                return record;
            }
            // Results replay cannot recompute: I/O, and scripts that read the clock or random.
            let leaf = match step.kind {
                StepKind::Wait { .. } | StepKind::Handler => true,
                StepKind::JavaScript(_) => step.nondeterministic,
                _ => false,
            };
            if let Some(record) = self.replayed(step, frame).filter(|_| leaf) {
                return record;
            }
            let mut record = step.record(RunStatus::Succeeded, start);
            let outcome = match &step.kind {
                StepKind::Scope(c) => self.branch(step, c, frame, &mut record).await,
                StepKind::If {
                    condition,
                    then,
                    otherwise,
                } => match self.truth(condition, frame) {
                    Ok(true) => self.branch(step, then, frame, &mut record).await,
                    Ok(false) => self.branch(step, otherwise, frame, &mut record).await,
                    Err(f) => Err(f),
                },
                StepKind::Switch { on, cases, default } => match on.evaluate(&self.scope(frame)) {
                    Ok(value) => {
                        let chosen = cases
                            .iter()
                            .find(|(case, _)| loose_equals(case, &value))
                            .map_or(default, |(_, c)| c);
                        self.branch(step, chosen, frame, &mut record).await
                    }
                    Err(e) => Err(Failure::new("InvalidTemplate", e.message)),
                },
                StepKind::Foreach {
                    items,
                    body,
                    concurrency,
                } => {
                    self.foreach(step, items, body, *concurrency, frame, &mut record)
                        .await
                }
                StepKind::Until {
                    condition,
                    body,
                    count,
                    timeout,
                } => {
                    self.until(step, condition, body, count, *timeout, frame, &mut record)
                        .await
                }
                StepKind::Wait { interval, until } => {
                    self.wait(interval.as_ref(), until.as_ref(), frame).await
                }
                StepKind::Handler => self.handler(step, frame, &mut record).await,
                StepKind::JavaScript(script) => {
                    self.javascript(step, script, frame, &mut record).await
                }
                _ => return self.inline(step, frame),
            };
            match outcome {
                Ok(status) => {
                    record.status = status;
                    record.code = Some(status_code(status).into());
                    if status == RunStatus::Failed && record.error.is_null() {
                        record.error = Failure::new(
                            "ActionFailed",
                            "An action failed. No dependent actions succeeded.",
                        )
                        .to_value();
                    }
                }
                Err(failure) => fail(&mut record, &failure),
            }
            record.end_time = Utc::now();
            if leaf {
                // An I/O result cannot be recomputed: it is on disk before dependents run.
                record.secure = (step.secure_inputs, step.secure_outputs);
                if let Some(commit) = self.journal(step, frame, &record) {
                    if let Err(e) = commit.await {
                        fail(&mut record, &Failure::new("StoreFailed", e.to_string()));
                    }
                }
            }
            record
        })
    }

    /// JavaScriptCode on the script pool, off this run's thread.
    async fn javascript(
        &self,
        step: &Step,
        script: &crate::runtime::plan::script::Script,
        frame: &Frame<'_>,
        record: &mut ActionRecord,
    ) -> Result<RunStatus, Failure> {
        let (context, limits) = builtin::javascript_context(script, &self.scope(frame));
        let result =
            crate::runtime::builtin::javascript::run_on_pool(script, context, limits).await?;
        record.inputs = step.inputs.evaluate(&self.scope(frame)).unwrap_or_default();
        record.outputs = builtin::body(result);
        Ok(RunStatus::Succeeded)
    }

    /// Journals a finished leaf action of a stateful run.
    fn journal(
        &self,
        step: &Step,
        frame: &Frame<'_>,
        record: &ActionRecord,
    ) -> Option<crate::store::Commit> {
        let store = self.run.store.as_ref()?;
        let path = format!("{}{}", frame.path, step.name);
        if self.run.replay.contains_key(&path) {
            return None;
        }
        let entry = crate::store::JournalEntry {
            path,
            record: Arc::new(record.clone()),
        };
        Some(store.journal(&self.run.id, entry))
    }

    /// The recorded result of `step` when the run is replayed, with its effects on the run's
    /// state (variables, Terminate, Response) applied again.
    fn replayed(&self, step: &Step, frame: &Frame<'_>) -> Option<ActionRecord> {
        if self.run.replay.is_empty() {
            return None;
        }
        let record = self
            .run
            .replay
            .get(&format!("{}{}", frame.path, step.name))?;
        match &step.kind {
            StepKind::InitializeVariable(_) => {
                let declared = record
                    .inputs
                    .get("variables")
                    .and_then(Value::as_array)
                    .unwrap_or(&[]);
                let mut variables = self.run.variables();
                for v in declared {
                    let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
                    let t = v
                        .get("type")
                        .and_then(Value::as_str)
                        .and_then(crate::definition::names::VariableType::parse);
                    if let Some(t) = t {
                        variables.insert(
                            Arc::from(name),
                            (t, v.get("value").cloned().unwrap_or_default()),
                        );
                    }
                }
            }
            StepKind::SetVariable { name, .. }
            | StepKind::IncrementVariable { name, .. }
            | StepKind::AppendToArrayVariable { name, .. }
            | StepKind::AppendToStringVariable { name, .. } => {
                if let (Some((_, value)), Some(new)) = (
                    self.run.variables().get_mut(name),
                    record.outputs.get("body"),
                ) {
                    *value = new.clone();
                }
            }
            StepKind::Terminate { status, .. } => self.run.terminate(
                *status,
                record.inputs.get("runError").cloned().unwrap_or_default(),
            ),
            StepKind::Response { .. } => self.run.set_response(record.outputs.clone()),
            _ => {}
        }
        Some((**record).clone())
    }

    pub(super) fn truth(&self, condition: &Template, frame: &Frame<'_>) -> Result<bool, Failure> {
        match condition.evaluate(&self.scope(frame)) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(Failure::new(
                "InvalidTemplate",
                format!(
                    "the condition must be a boolean but is {}",
                    crate::expr::eval::describe(&other)
                ),
            )),
            Err(e) => Err(Failure::new("InvalidTemplate", e.message)),
        }
    }

    /// Runs one child container of a Scope, If or Switch and takes its status.
    async fn branch(
        &self,
        step: &Step,
        c: &Container,
        frame: &Frame<'_>,
        record: &mut ActionRecord,
    ) -> Result<RunStatus, Failure> {
        let records = self.container(c, frame).await;
        let status = container_status(c, &records);
        let children: Vec<Arc<ActionRecord>> = records.into_iter().flatten().collect();
        frame.set_result(step.name.clone(), children.clone().into());
        record.actions = children;
        Ok(status)
    }
}

/// The first runAfter condition of `step` that its predecessors did not meet.
fn unmet_condition(step: &Step, c: &Container, records: &Records) -> Option<String> {
    step.run_after.iter().find_map(|(p, allowed)| {
        let status = records[*p].as_ref().map_or(RunStatus::Skipped, |r| r.status);
        (!allowed.contains(&status)).then(|| {
            let expected: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
            format!(
                "the execution of template action '{}' is skipped: the 'runAfter' condition for action '{}' is not satisfied. Expected status values '{}' and actual value '{}'.",
                step.name,
                c.steps[*p].name,
                expected.join(", "),
                status
            )
        })
    })
}

fn skipped(step: &Step, reason: &str) -> ActionRecord {
    let mut record = step.record(RunStatus::Skipped, Utc::now());
    record.code = Some("ActionSkipped".into());
    record.error = Failure::new("ActionConditionFailed", reason).to_value();
    record
}

pub(super) fn fail(record: &mut ActionRecord, failure: &Failure) {
    record.status = if failure.code == "ActionTimedOut" {
        RunStatus::TimedOut
    } else {
        RunStatus::Failed
    };
    record.code = Some(failure.code.clone());
    record.error = failure.to_value();
}

fn status_code(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Succeeded => "OK",
        RunStatus::Failed => "ActionFailed",
        RunStatus::Skipped => "ActionSkipped",
        RunStatus::TimedOut => "ActionTimedOut",
        RunStatus::Cancelled | RunStatus::Aborted => "Cancelled",
    }
}

/// How bad a status is, for combining the ends of branches.
fn severity(status: RunStatus) -> u8 {
    match status {
        RunStatus::Skipped => 0,
        RunStatus::Succeeded => 1,
        RunStatus::Cancelled | RunStatus::Aborted => 2,
        RunStatus::TimedOut => 3,
        RunStatus::Failed => 4,
    }
}

/// The status of a container from the last action of each branch: a branch that ends in a
/// Skipped action takes the status of what ran before it.
pub fn container_status(c: &Container, records: &Records) -> RunStatus {
    fn effective(c: &Container, records: &Records, i: usize, depth: usize) -> RunStatus {
        match records[i].as_ref().map(|r| r.status) {
            Some(RunStatus::Skipped) if depth < c.steps.len() => c.steps[i]
                .run_after
                .iter()
                .map(|(p, _)| effective(c, records, *p, depth + 1))
                .max_by_key(|s| severity(*s))
                .unwrap_or(RunStatus::Skipped),
            Some(status) => status,
            None => RunStatus::Skipped,
        }
    }
    let worst = (0..c.steps.len())
        .filter(|&i| c.dependents[i].is_empty())
        .map(|i| effective(c, records, i, 0))
        .max_by_key(|s| severity(*s))
        .unwrap_or(RunStatus::Succeeded);
    match worst {
        RunStatus::Skipped => RunStatus::Succeeded,
        RunStatus::Aborted => RunStatus::Failed,
        other => other,
    }
}

/// A retried attempt for the run record.
pub(super) fn retry_record(start: chrono::DateTime<Utc>, failure: &Failure) -> RetryRecord {
    RetryRecord {
        start_time: start,
        end_time: Utc::now(),
        code: failure.code.clone(),
        error: failure.to_value(),
    }
}

/// The time a Wait interval stands for.
pub(super) fn interval(count: i64, unit: crate::definition::names::Frequency) -> Duration {
    use crate::definition::names::Frequency as F;
    let seconds = match unit {
        F::Second => 1,
        F::Minute => 60,
        F::Hour => 3600,
        F::Day => 86_400,
        F::Week => 604_800,
        F::Month => 2_592_000,
    };
    Duration::from_secs((count.max(0) as u64).saturating_mul(seconds))
}

/// Builds the call a handler gets.
pub(super) fn call<'a>(
    run: &'a RunState,
    step: &'a Step,
    inputs: Value,
    key: &'a str,
) -> ActionCall<'a> {
    ActionCall {
        workflow: &run.plan.workflow,
        run_id: &run.id,
        action: &step.name,
        action_type: step.action_type,
        inputs,
        idempotency_key: key,
        options: &step.operation_options,
    }
}

impl Step {
    /// A new record of this step with `status`, starting at `start`.
    fn record(&self, status: RunStatus, start: chrono::DateTime<Utc>) -> ActionRecord {
        ActionRecord::new(self.name.clone(), self.action_type, status, start)
    }
}
