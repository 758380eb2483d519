//! Hosting an app: one admission gate per workflow in front of a shared [`Engine`], the entry
//! point every trigger (Recurrence here; HTTP, Kafka and AMQP in their connectors) submits
//! events through, and the Recurrence triggers themselves.

use crate::definition::model::Recurrence;
use crate::definition::names::{Frequency, TriggerType};
use crate::definition::App;
use crate::error::Error;
use crate::expr::value::Map;
use crate::expr::Value;
use crate::runtime::hosting::admission::{Admission, QueueFull, Ticket};
use crate::runtime::{Claim, Engine, Mocks, Plan, RunRecord};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// "Unlimited" concurrent runs, when a trigger sets no concurrency.
const UNLIMITED: usize = 1 << 24;

/// One hosted workflow.
pub struct HostedWorkflow {
    pub plan: Arc<Plan>,
    pub admission: Arc<Admission>,
    pub trigger_type: Option<TriggerType>,
    pub recurrence: Option<Recurrence>,
}

/// An app's workflows, ready to take events.
pub struct Host {
    pub engine: Engine,
    pub workflows: HashMap<String, HostedWorkflow>,
    mocks: Arc<Mocks>,
    parameters: HashMap<String, Value>,
}

/// An admitted run: its place in the queue and its trigger outputs.
type Admitted = (Ticket, Value);

/// Runs started for an accepted event.
pub struct Accepted {
    pub run_ids: Vec<Arc<str>>,
    /// Resolves once the runs' admission is durable (at once for stateless workflows): a
    /// trigger that answers before the runs end (HTTP 202) waits for it, so a crash after
    /// the answer resumes the runs instead of losing them. `Err` names a store failure.
    pub durable: tokio::sync::oneshot::Receiver<Result<(), String>>,
    pub done: tokio::task::JoinHandle<Vec<RunRecord>>,
}

impl Accepted {
    /// Waits until the runs' admission is durable.
    pub async fn durable(&mut self) -> Result<(), String> {
        (&mut self.durable)
            .await
            .unwrap_or_else(|_| Err("the runs ended before their admission was recorded".into()))
    }
}

/// Why an event was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// No workflow of that name.
    Unknown,
    /// The workflow's waiting queue is full: apply backpressure.
    QueueFull,
    /// `splitOn` failed on the event.
    SplitOn(String),
}

impl Host {
    /// Compiles every workflow of `app`; `max_in_flight` caps runs across workflows.
    pub fn new(app: &App, engine: Engine, max_in_flight: usize) -> Result<Host, Error> {
        let parameters = crate::runtime::app_parameters(app)?;
        let cap = Arc::new(Semaphore::new(max_in_flight));
        let mut workflows = HashMap::new();
        for (name, workflow) in &app.workflows {
            let plan = Arc::new(Plan::compile(workflow, &parameters)?.with_settings(&app.settings));
            let trigger = workflow.definition.triggers.values().next();
            let limits = plan.trigger.as_ref();
            let runs = limits.and_then(|t| t.runs).unwrap_or(UNLIMITED);
            let waiting = limits
                .and_then(|t| t.maximum_waiting_runs)
                .unwrap_or(runs.saturating_add(10));
            workflows.insert(
                name.clone(),
                HostedWorkflow {
                    admission: Arc::new(Admission::new(runs, waiting, cap.clone())),
                    trigger_type: trigger.map(|t| t.trigger_type),
                    recurrence: trigger.and_then(|t| t.recurrence.clone()),
                    plan,
                },
            );
        }
        Ok(Host {
            engine,
            workflows,
            mocks: Arc::new(Mocks::new()),
            parameters,
        })
    }

    /// Gives every run canned results for the named actions (`sluice run --mocks`): for
    /// actions whose connector is not at hand.
    pub fn with_mocks(mut self, mocks: Mocks) -> Host {
        self.mocks = Arc::new(mocks);
        self
    }

    /// The plan a recorded run resumes with: the current one when the definition is unchanged,
    /// else the version recorded when the run started.
    pub fn plan_for(&self, header: &crate::store::RunHeader) -> Result<Arc<Plan>, String> {
        let current = self.workflows.get(&header.workflow).map(|h| h.plan.clone());
        if let Some(plan) = current.as_ref().filter(|p| p.version == header.version) {
            return Ok(plan.clone());
        }
        let store = self.engine.store().ok_or("no run store")?;
        let text = store
            .definition(&header.version)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "definition version {} of '{}' is not recorded",
                    header.version, header.workflow
                )
            })?;
        let report = crate::definition::check_workflow_text(
            &text,
            std::path::Path::new(&header.workflow),
            &header.workflow,
        );
        let workflow = report.workflow.ok_or_else(|| {
            format!(
                "the recorded definition of '{}' no longer loads",
                header.workflow
            )
        })?;
        Plan::compile(&workflow, &self.parameters)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    }

    /// Resumes every unfinished stateful run in the store; returns how many were started.
    pub fn recover(self: &Arc<Self>) -> Result<usize, crate::store::StoreError> {
        let Some(store) = self.engine.store() else {
            return Ok(0);
        };
        let filter = crate::store::RunFilter {
            running: true,
            ..Default::default()
        };
        // Only runs of earlier processes: requests may arrive while this one starts, and their
        // runs, recorded at admission, are unfinished too but already executing here.
        let unfinished: Vec<_> = store
            .list(&filter)?
            .into_iter()
            .filter(|h| self.engine.is_from_earlier_process(&h.id))
            .collect();
        let count = unfinished.len();
        for header in unfinished.into_iter().rev() {
            // Oldest first, each through its workflow's admission, so a backlog of recovered
            // runs keeps the trigger's concurrency (and makes the triggers push back).
            let ticket = self
                .workflows
                .get(&header.workflow)
                .map(|h| h.admission.enter_recovered());
            let host = self.clone();
            tokio::spawn(async move {
                let _slot = match ticket {
                    Some(ticket) => Some(ticket.start().await),
                    None => None,
                };
                let journal = match host.engine.store().map(|s| s.run(&header.id)) {
                    Some(Ok(Some(stored))) => stored.journal,
                    _ => Vec::new(),
                };
                match host.plan_for(&header) {
                    Ok(plan) => {
                        host.engine
                            .replay(plan, &header, journal, true, host.mocks.clone())
                            .await;
                    }
                    Err(e) => {
                        // Never left Running: it would be retried, and fail, on every start.
                        tracing::error!("cannot resume run {}: {e}; marking it Failed", header.id);
                        let _ = host.engine.fail_unresumable(&header, &e).await;
                    }
                }
            });
        }
        Ok(count)
    }

    /// Resubmits recorded run `id` (from `action`, keeping the results of the actions that
    /// ran before it): the new run's id at once, and a task that ends with the run.
    pub fn resubmit(
        self: &Arc<Self>,
        id: &str,
        action: Option<&str>,
    ) -> Result<(Arc<str>, tokio::task::JoinHandle<RunRecord>), String> {
        let store = self.engine.store().ok_or("no run store")?;
        let run = store
            .run(id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no run {id} in the history"))?;
        let replay = match action {
            Some(action) => crate::store::history::replay_before(&run, action)?,
            None => Vec::new(),
        };
        let plan = self.plan_for(&run.header)?;
        let new_id = Engine::new_run_id();
        let (host, id) = (self.clone(), new_id.clone());
        let done = tokio::spawn(async move {
            let mocks = host.mocks.clone();
            host.engine
                .resubmit_as(plan, &run.header, replay, id, mocks)
                .await
        });
        Ok((new_id, done))
    }

    /// Admission for one trigger event (`{headers, body}`): the workflow, and a ticket with the
    /// trigger outputs of each run its `splitOn` makes; refused at once when the queue is full.
    fn admit(
        &self,
        workflow: &str,
        event: Value,
        nested: bool,
    ) -> Result<(&HostedWorkflow, Vec<Admitted>), Rejected> {
        let hosted = self.workflows.get(workflow).ok_or(Rejected::Unknown)?;
        let outputs = self
            .engine
            .split(&hosted.plan, event)
            .map_err(|e| Rejected::SplitOn(e.message))?;
        let admitted = outputs
            .into_iter()
            .map(|o| {
                let ticket = match nested {
                    true => hosted.admission.enter_nested(),
                    false => hosted.admission.enter(),
                };
                ticket.map(|ticket| (ticket, o))
            })
            .collect::<Result<Vec<_>, QueueFull>>()
            .map_err(|_| Rejected::QueueFull)?;
        Ok((hosted, admitted))
    }

    /// Submits one trigger event to `workflow` and returns when its runs finish.
    pub async fn submit(&self, workflow: &str, event: Value) -> Result<Vec<RunRecord>, Rejected> {
        let (hosted, admitted) = self.admit(workflow, event, false)?;
        let runs = admitted.into_iter().map(|(ticket, outputs)| async move {
            let _slot = ticket.start().await;
            self.engine
                .run(hosted.plan.clone(), outputs, self.mocks.clone())
                .await
        });
        Ok(futures_util::future::join_all(runs).await)
    }

    /// Admits an event and starts its runs without waiting for them: the run ids at once, and a
    /// task that ends with the runs. For triggers that answer before the runs end. With an
    /// `event_id` (a client tracking id), a stateful workflow does not run the same event twice:
    /// a redelivery gets the id of the run it already started (`splitOn` item *i* is
    /// `event_id/i`).
    pub fn accept(
        self: &Arc<Self>,
        workflow: &str,
        event: Value,
        event_id: Option<&str>,
    ) -> Result<Accepted, Rejected> {
        self.accept_as(workflow, event, event_id, false)
    }

    /// [`Host::accept`] for a child workflow called by a Workflow action: the child's trigger
    /// limits apply, the engine-wide cap does not (its parent holds a slot; see admission).
    pub fn accept_nested(
        self: &Arc<Self>,
        workflow: &str,
        event: Value,
    ) -> Result<Accepted, Rejected> {
        self.accept_as(workflow, event, None, true)
    }

    fn accept_as(
        self: &Arc<Self>,
        workflow: &str,
        event: Value,
        event_id: Option<&str>,
        nested: bool,
    ) -> Result<Accepted, Rejected> {
        let (hosted, admitted) = self.admit(workflow, event, nested)?;
        let split = admitted.len() > 1;
        let mut run_ids = Vec::with_capacity(admitted.len());
        let mut fresh = Vec::with_capacity(admitted.len());
        for (i, (ticket, outputs)) in admitted.into_iter().enumerate() {
            let id = Engine::new_run_id();
            let event = event_id.map(|e| {
                if split {
                    format!("{e}/{i}")
                } else {
                    e.to_string()
                }
            });
            let claim = match event.as_deref() {
                Some(e) => self.engine.claim(&hosted.plan, e, &id),
                None => Claim::Fresh,
            };
            let id = match claim {
                Claim::Duplicate(existing) => {
                    run_ids.push(Arc::from(existing.as_str()));
                    continue;
                }
                Claim::Orphaned(claimed) => Arc::from(claimed.as_str()),
                Claim::Fresh => id,
            };
            self.engine.reserve(&id);
            run_ids.push(id.clone());
            let recorded =
                self.engine
                    .record_admission(&hosted.plan, &id, &outputs, event.as_deref());
            fresh.push((ticket, outputs, id, event, recorded));
        }
        let (host, plan) = (self.clone(), hosted.plan.clone());
        let (durable_tx, durable) = tokio::sync::oneshot::channel();
        let done = tokio::spawn(async move {
            // The event must be on disk before a run acts on it: a side effect of a run the
            // store could lose would be repeated, under another run id, when the event comes
            // again. The headers of one event ride in one group commit.
            let mut runs = Vec::with_capacity(fresh.len());
            let mut durable = Ok(());
            for (ticket, outputs, id, event, recorded) in fresh {
                let start = match recorded {
                    Some(recorded) => {
                        // A run whose admission could not be made durable is not acknowledged,
                        // so it must not act either.
                        if let Err(e) = recorded.commit.await {
                            durable = Err(e.to_string());
                            host.engine.unreserve(&id);
                            continue;
                        }
                        Some(recorded.start)
                    }
                    None => None,
                };
                runs.push((ticket, outputs, id, event, start));
            }
            let _ = durable_tx.send(durable);
            let runs = runs.into_iter().map(|(ticket, outputs, id, event, start)| {
                let (host, plan) = (&host, plan.clone());
                async move {
                    let _slot = ticket.start().await;
                    let mocks = host.mocks.clone();
                    match start {
                        Some(start) => {
                            host.engine
                                .run_admitted(plan, id, start, outputs, event, mocks)
                                .await
                        }
                        None => host.engine.run_as(plan, id, outputs, event, mocks).await,
                    }
                }
            });
            futures_util::future::join_all(runs).await
        });
        Ok(Accepted {
            run_ids,
            durable,
            done,
        })
    }

    /// Runs every Recurrence trigger of the app until the returned tasks are aborted. A
    /// recurrence whose queue is full skips that occurrence, as Logic Apps does.
    pub fn start_recurrences(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        for (name, hosted) in &self.workflows {
            let Some(recurrence) = hosted.recurrence.clone() else {
                continue;
            };
            let host = self.clone();
            let name = name.clone();
            tasks.push(tokio::spawn(async move {
                let period = period(&recurrence);
                let first = first_delay(&recurrence, period, Utc::now());
                let mut ticks =
                    tokio::time::interval_at(tokio::time::Instant::now() + first, period);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    ticks.tick().await;
                    let host = host.clone();
                    let name = name.clone();
                    tokio::spawn(async move {
                        let _ = host.submit(&name, recurrence_event()).await;
                    });
                }
            }));
        }
        tasks
    }
}

/// What a Recurrence trigger outputs.
fn recurrence_event() -> Value {
    let mut outputs = Map::default();
    outputs.insert("headers".into(), Value::object(Map::default()));
    outputs.insert("body".into(), Value::Null);
    Value::object(outputs)
}

/// The time between occurrences (a month counts as 30 days).
pub fn period(r: &Recurrence) -> Duration {
    let unit: u64 = match r.frequency {
        Frequency::Second => 1,
        Frequency::Minute => 60,
        Frequency::Hour => 3600,
        Frequency::Day => 86_400,
        Frequency::Week => 604_800,
        Frequency::Month => 2_592_000,
    };
    Duration::from_secs(unit.saturating_mul(r.interval.max(1) as u64))
}

/// The wait before the first occurrence: now, or aligned to `startTime` and its multiples.
pub fn first_delay(r: &Recurrence, period: Duration, now: DateTime<Utc>) -> Duration {
    let Some(start) = r
        .start_time
        .as_deref()
        .and_then(|s| crate::expr::functions::datetime_format::parse(s).ok())
        .map(|t| t.instant())
    else {
        return Duration::ZERO;
    };
    if start >= now {
        return (start - now).to_std().unwrap_or_default();
    }
    let elapsed = (now - start).to_std().unwrap_or_default().as_nanos();
    let period_ns = period.as_nanos().max(1);
    let into = elapsed % period_ns;
    if into == 0 {
        Duration::ZERO
    } else {
        Duration::from_nanos((period_ns - into) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recurrence(frequency: Frequency, interval: i64, start: Option<&str>) -> Recurrence {
        Recurrence {
            frequency,
            interval,
            start_time: start.map(str::to_string),
            end_time: None,
            time_zone: None,
            schedule: None,
        }
    }

    #[test]
    fn occurrences_align_to_start_time() {
        let now: DateTime<Utc> = "2026-01-01T10:00:07Z".parse().unwrap();
        let r = recurrence(Frequency::Second, 10, Some("2026-01-01T10:00:00Z"));
        assert_eq!(period(&r), Duration::from_secs(10));
        assert_eq!(first_delay(&r, period(&r), now), Duration::from_secs(3));
        let later = recurrence(Frequency::Minute, 1, Some("2026-01-01T10:05:00Z"));
        assert_eq!(
            first_delay(&later, period(&later), now),
            Duration::from_secs(293)
        );
        let none = recurrence(Frequency::Hour, 2, None);
        assert_eq!(
            (period(&none), first_delay(&none, period(&none), now)),
            (Duration::from_secs(7200), Duration::ZERO)
        );
    }
}
