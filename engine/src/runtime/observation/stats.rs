//! Live statistics for the status line of `sluice run`: a metrics recorder that keeps, in
//! atomics, the few series the status line shows (trigger events, actions, jobs, completed runs,
//! in-flight runs, execution delay) and forwards everything to an inner recorder (the
//! Prometheus exporter, once `/metrics` is served). The hot path still increments one handle.

use crate::runtime::observation::metrics::{
    ACTIONS_COMPLETED, ACTION_RETRIES, JOBS_EXECUTED, JOB_EXECUTION_DELAY, RUNS_COMPLETED,
    RUNS_IN_FLIGHT, TRIGGER_EVENTS, TRIGGER_EVENTS_LOST,
};
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// Sub-buckets per power of two in the delay histogram (about 19% resolution).
const SUB_BUCKETS: usize = 4;
/// Powers of two covered, from 1 µs: up to about 36 minutes.
const OCTAVES: usize = 31;

/// Totals since start; rates come from the difference of two snapshots.
#[derive(Debug, Default)]
pub struct Stats {
    pub events: AtomicU64,
    pub actions: AtomicU64,
    pub jobs: AtomicU64,
    pub runs: AtomicU64,
    /// Action retries (after a failure the retry policy retries).
    pub retries: AtomicU64,
    /// Events a trigger skipped without running them (see `TRIGGER_EVENTS_LOST`).
    pub lost: AtomicU64,
    pub in_flight: AtomicI64,
    delay: DelayHistogram,
}

/// A point-in-time copy of [`Stats`].
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub events: u64,
    pub actions: u64,
    pub jobs: u64,
    pub runs: u64,
    pub retries: u64,
    pub lost: u64,
    pub in_flight: i64,
    delay: Vec<u64>,
}

impl Stats {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            events: self.events.load(Ordering::Relaxed),
            actions: self.actions.load(Ordering::Relaxed),
            jobs: self.jobs.load(Ordering::Relaxed),
            runs: self.runs.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            delay: self.delay.counts(),
        }
    }
}

impl Snapshot {
    /// The execution delay quantile `q` (0–1) of the jobs between `earlier` and this snapshot,
    /// in seconds, or `None` when no job ran.
    pub fn delay_quantile(&self, earlier: &Snapshot, q: f64) -> Option<f64> {
        let counts: Vec<u64> = self
            .delay
            .iter()
            .enumerate()
            .map(|(i, c)| c - earlier.delay.get(i).copied().unwrap_or(0))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Some(DelayHistogram::upper_bound(i));
            }
        }
        None
    }
}

/// A lock-free log-linear histogram of seconds.
#[derive(Debug)]
struct DelayHistogram {
    buckets: Vec<AtomicU64>,
}

impl Default for DelayHistogram {
    fn default() -> Self {
        DelayHistogram {
            buckets: (0..OCTAVES * SUB_BUCKETS + 1)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }
}

impl DelayHistogram {
    fn index(seconds: f64) -> usize {
        let micros = (seconds * 1e6).max(1.0);
        let position = micros.log2() * SUB_BUCKETS as f64;
        (position.ceil() as usize).min(OCTAVES * SUB_BUCKETS)
    }

    fn upper_bound(index: usize) -> f64 {
        2f64.powf(index as f64 / SUB_BUCKETS as f64) / 1e6
    }

    fn record(&self, seconds: f64) {
        self.buckets[Self::index(seconds)].fetch_add(1, Ordering::Relaxed);
    }

    fn counts(&self) -> Vec<u64> {
        self.buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }
}

/// The recorder: series the status line needs are counted into [`Stats`] as well.
pub struct StatsRecorder<R> {
    pub stats: Arc<Stats>,
    inner: R,
}

impl<R: Recorder> StatsRecorder<R> {
    pub fn new(inner: R) -> Self {
        StatsRecorder {
            stats: Arc::new(Stats::default()),
            inner,
        }
    }
}

enum Target {
    Events,
    Actions,
    Jobs,
    Runs,
    Retries,
    Lost,
}

struct Tee<H> {
    inner: H,
    stats: Arc<Stats>,
    target: Target,
}

impl Tee<Counter> {
    fn stat(&self) -> &AtomicU64 {
        match self.target {
            Target::Events => &self.stats.events,
            Target::Actions => &self.stats.actions,
            Target::Jobs => &self.stats.jobs,
            Target::Runs => &self.stats.runs,
            Target::Retries => &self.stats.retries,
            Target::Lost => &self.stats.lost,
        }
    }
}

impl CounterFn for Tee<Counter> {
    fn increment(&self, value: u64) {
        self.stat().fetch_add(value, Ordering::Relaxed);
        self.inner.increment(value);
    }

    fn absolute(&self, value: u64) {
        self.stat().store(value, Ordering::Relaxed);
        self.inner.absolute(value);
    }
}

impl GaugeFn for Tee<Gauge> {
    fn increment(&self, value: f64) {
        self.stats
            .in_flight
            .fetch_add(value as i64, Ordering::Relaxed);
        self.inner.increment(value);
    }

    fn decrement(&self, value: f64) {
        self.stats
            .in_flight
            .fetch_sub(value as i64, Ordering::Relaxed);
        self.inner.decrement(value);
    }

    fn set(&self, value: f64) {
        self.stats.in_flight.store(value as i64, Ordering::Relaxed);
        self.inner.set(value);
    }
}

impl HistogramFn for Tee<Histogram> {
    fn record(&self, value: f64) {
        self.stats.delay.record(value);
        self.inner.record(value);
    }
}

impl<R: Recorder> Recorder for StatsRecorder<R> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description)
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description)
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description)
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        let inner = self.inner.register_counter(key, metadata);
        let target = match key.name() {
            TRIGGER_EVENTS => Target::Events,
            ACTIONS_COMPLETED => Target::Actions,
            JOBS_EXECUTED => Target::Jobs,
            RUNS_COMPLETED => Target::Runs,
            ACTION_RETRIES => Target::Retries,
            TRIGGER_EVENTS_LOST => Target::Lost,
            _ => return inner,
        };
        Counter::from_arc(Arc::new(Tee {
            inner,
            stats: self.stats.clone(),
            target,
        }))
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        let inner = self.inner.register_gauge(key, metadata);
        if key.name() != RUNS_IN_FLIGHT {
            return inner;
        }
        Gauge::from_arc(Arc::new(Tee {
            inner,
            stats: self.stats.clone(),
            target: Target::Runs,
        }))
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        let inner = self.inner.register_histogram(key, metadata);
        if key.name() != JOB_EXECUTION_DELAY {
            return inner;
        }
        Histogram::from_arc(Arc::new(Tee {
            inner,
            stats: self.stats.clone(),
            target: Target::Jobs,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_status_line_series_and_forwards_the_rest() {
        let recorder = StatsRecorder::new(metrics::NoopRecorder);
        let stats = recorder.stats.clone();
        let before = stats.snapshot();
        metrics::with_local_recorder(&recorder, || {
            let m = crate::runtime::metrics::Metrics::new();
            m.trigger_events.increment(2);
            m.runs_in_flight.increment(1.0);
            for i in 0..100 {
                m.delay.record(if i < 90 { 0.001 } else { 0.5 });
            }
            m.action_completed(
                crate::definition::ActionType::Compose,
                crate::definition::RunStatus::Succeeded,
                0.0,
            );
            m.run_completed(crate::definition::RunStatus::Succeeded);
            m.retries.increment(3);
        });
        let after = stats.snapshot();
        assert_eq!(
            (after.events, after.actions, after.runs, after.in_flight),
            (2, 1, 1, 0)
        );
        assert_eq!(after.jobs, 2, "an action execution and a run completion");
        assert_eq!(after.retries, 3);
        let p50 = after.delay_quantile(&before, 0.5).unwrap();
        let p99 = after.delay_quantile(&before, 0.99).unwrap();
        assert!((0.001..0.0013).contains(&p50), "{p50}");
        assert!((0.5..0.6).contains(&p99), "{p99}");
        assert_eq!(after.delay_quantile(&after, 0.5), None);
    }
}
