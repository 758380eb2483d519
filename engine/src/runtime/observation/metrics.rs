//! The runtime's metrics: names and descriptions in one place, handles created once per
//! engine so the hot path never looks a metric up by name.

use crate::definition::{ActionType, RunStatus};
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Counter,
    Gauge, Histogram, Unit,
};
use std::collections::HashMap;

pub const RUNS_STARTED: &str = "sluice_runs_started_total";
pub const RUNS_COMPLETED: &str = "sluice_runs_completed_total";
pub const RUNS_IN_FLIGHT: &str = "sluice_runs_in_flight";
pub const ACTIONS_COMPLETED: &str = "sluice_actions_completed_total";
pub const JOBS_EXECUTED: &str = "sluice_jobs_executed_total";
pub const TRIGGER_EVENTS: &str = "sluice_trigger_events_total";
pub const JOB_EXECUTION_DELAY: &str = "sluice_job_execution_delay_seconds";
pub const ACTION_DURATION: &str = "sluice_action_duration_seconds";
pub const STORE_SIZE: &str = "sluice_store_size_bytes";
pub const ACTION_RETRIES: &str = "sluice_action_retries_total";
pub const TRIGGER_EVENTS_LOST: &str = "sluice_trigger_events_lost_total";

/// Registers the descriptions with the installed recorder.
pub fn describe() {
    describe_counter!(RUNS_STARTED, "Workflow runs started.");
    describe_counter!(RUNS_COMPLETED, "Workflow runs completed, by final status.");
    describe_gauge!(
        RUNS_IN_FLIGHT,
        "Workflow runs started and not yet completed."
    );
    describe_counter!(
        ACTIONS_COMPLETED,
        "Actions completed, by action type and status."
    );
    describe_counter!(
        JOBS_EXECUTED,
        "Jobs executed: run starts, action executions and run completions."
    );
    describe_counter!(
        TRIGGER_EVENTS,
        "Events received by triggers, before splitOn."
    );
    describe_histogram!(
        JOB_EXECUTION_DELAY,
        Unit::Seconds,
        "Time from a job becoming ready to it starting."
    );
    describe_histogram!(
        ACTION_DURATION,
        Unit::Seconds,
        "Time an action took, retries included, by type."
    );
    describe_gauge!(STORE_SIZE, Unit::Bytes, "Size of the run store on disk.");
    describe_counter!(
        ACTION_RETRIES,
        "Retries of failed action attempts under their retry policy."
    );
    describe_counter!(
        TRIGGER_EVENTS_LOST,
        "Events a trigger skipped without running them or dead-lettering them, by trigger and source (for Kafka: offsets the broker no longer held when the consumer reached them)."
    );
}

/// Cached metric handles of one engine.
pub struct Metrics {
    pub runs_started: Counter,
    pub runs_in_flight: Gauge,
    pub jobs: Counter,
    pub trigger_events: Counter,
    pub delay: Histogram,
    pub retries: Counter,
    runs_completed: HashMap<RunStatus, Counter>,
    actions: HashMap<(ActionType, RunStatus), Counter>,
    durations: HashMap<ActionType, Histogram>,
}

impl Metrics {
    /// Creates the handles; call after the metrics recorder is installed.
    pub fn new() -> Metrics {
        describe();
        Metrics {
            runs_started: counter!(RUNS_STARTED),
            runs_in_flight: gauge!(RUNS_IN_FLIGHT),
            jobs: counter!(JOBS_EXECUTED),
            trigger_events: counter!(TRIGGER_EVENTS),
            delay: histogram!(JOB_EXECUTION_DELAY),
            retries: counter!(ACTION_RETRIES),
            runs_completed: RunStatus::ALL
                .iter()
                .map(|s| (*s, counter!(RUNS_COMPLETED, "status" => s.as_str())))
                .collect(),
            actions: ActionType::ALL
                .iter()
                .flat_map(|t| RunStatus::ALL.iter().map(move |s| (*t, *s)))
                .map(|(t, s)| {
                    (
                        (t, s),
                        counter!(ACTIONS_COMPLETED, "type" => t.as_str(), "status" => s.as_str()),
                    )
                })
                .collect(),
            durations: ActionType::ALL
                .iter()
                .map(|t| (*t, histogram!(ACTION_DURATION, "type" => t.as_str())))
                .collect(),
        }
    }

    pub fn action_completed(&self, action_type: ActionType, status: RunStatus, seconds: f64) {
        if let Some(c) = self.actions.get(&(action_type, status)) {
            c.increment(1);
        }
        if let Some(h) = self.durations.get(&action_type) {
            h.record(seconds);
        }
        self.jobs.increment(1);
    }

    pub fn run_completed(&self, status: RunStatus) {
        if let Some(c) = self.runs_completed.get(&status) {
            c.increment(1);
        }
        self.runs_in_flight.decrement(1.0);
        self.jobs.increment(1);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
