//! What the message-driven trigger connectors (Kafka, AMQP) read the same way from a trigger:
//! a duration parameter, and how many events may be in flight (the trigger's `runs` and
//! `maximumWaitingRuns`).

use sluice_engine::definition::model::Trigger;
use sluice_engine::expr::functions::to_text;
use sluice_engine::expr::Value;
use std::time::Duration;

/// Runs at a time when the workflow sets no trigger concurrency.
pub const DEFAULT_IN_FLIGHT: usize = 1_000;

/// An ISO 8601 duration parameter, or `default` when absent.
pub fn duration(parameters: &Value, name: &str, default: Duration) -> Result<Duration, String> {
    match parameters.get(name).map(to_text).filter(|s| !s.is_empty()) {
        Some(d) => sluice_engine::definition::duration::IsoDuration::parse(&d)
            .map(|d| d.as_duration())
            .map_err(|e| format!("{name}: {e}")),
        None => Ok(default),
    }
}

/// (runs, waiting runs) the trigger allows; `waiting` gives the default from `runs`.
pub fn in_flight(trigger: &Trigger, waiting: impl Fn(usize) -> usize) -> (usize, usize) {
    let concurrency = trigger.options.runtime_configuration.concurrency.as_ref();
    let runs = concurrency
        .and_then(|c| c.runs)
        .map_or(DEFAULT_IN_FLIGHT, |r| r as usize);
    let waiting = concurrency
        .and_then(|c| c.maximum_waiting_runs)
        .map_or_else(|| waiting(runs), |w| w as usize);
    (runs, waiting)
}
