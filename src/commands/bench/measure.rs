//! Measuring a benchmark over time: once a second, the engine's counters (from the
//! [`Stats`] the metrics recorder keeps), the process's CPU and resident memory.

use sluice_engine::runtime::observation::stats::{Snapshot, Stats};
use std::sync::Arc;
use std::time::Instant;

/// One point of the time series; rates are per minute over the preceding interval.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    /// Seconds since the benchmark started.
    pub t: f64,
    pub events_in: u64,
    pub runs_started: u64,
    pub runs_completed: u64,
    pub in_flight: i64,
    pub events_per_min: f64,
    pub actions_per_min: f64,
    pub jobs_per_min: f64,
    pub delay_p95_ms: Option<f64>,
    /// CPU used by the whole process over the interval, percent of one core.
    pub cpu_percent: f64,
    pub rss_mb: f64,
}

/// Takes samples and keeps the series.
pub struct Sampler {
    stats: Arc<Stats>,
    start: Instant,
    first: Snapshot,
    previous: (Snapshot, Instant, f64),
    pub samples: Vec<Sample>,
}

impl Sampler {
    pub fn new(stats: Arc<Stats>, start: Instant) -> Sampler {
        let first = stats.snapshot();
        Sampler {
            previous: (first.clone(), start, cpu_seconds()),
            first,
            stats,
            start,
            samples: Vec::new(),
        }
    }

    pub fn sample(&mut self) -> &Sample {
        let now = (self.stats.snapshot(), Instant::now(), cpu_seconds());
        let (before, at, cpu) = &self.previous;
        let seconds = (now.1 - *at).as_secs_f64().max(1e-9);
        let per_min = |a: u64, b: u64| (a - b) as f64 * 60.0 / seconds;
        let s = &now.0;
        self.samples.push(Sample {
            t: (now.1 - self.start).as_secs_f64(),
            events_in: s.events - self.first.events,
            runs_started: (s.runs + s.in_flight.max(0) as u64)
                .saturating_sub(self.first.runs + self.first.in_flight.max(0) as u64),
            runs_completed: s.runs - self.first.runs,
            in_flight: s.in_flight,
            events_per_min: per_min(s.events, before.events),
            actions_per_min: per_min(s.actions, before.actions),
            jobs_per_min: per_min(s.jobs, before.jobs),
            delay_p95_ms: s.delay_quantile(before, 0.95).map(|d| d * 1e3),
            cpu_percent: (now.2 - cpu) * 100.0 / seconds,
            rss_mb: memory_mb("VmRSS:"),
        });
        self.previous = now;
        self.samples.last().expect("just pushed")
    }

    /// Totals since the start: (snapshot now, snapshot at start).
    pub fn totals(&self) -> (Snapshot, &Snapshot) {
        (self.stats.snapshot(), &self.first)
    }
}

/// User + system CPU seconds of this process (/proc/self/stat; USER_HZ is 100 on Linux).
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command (which may hold spaces) start at the state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A `/proc/self/status` memory line (`VmRSS:`, `VmHWM:`) in MiB.
pub fn memory_mb(field: &str) -> f64 {
    kib("/proc/self/status", field) / 1024.0
}

/// The value of a `Field:   123 kB` line of a /proc file, in KiB (0 when unreadable).
fn kib(file: &str, field: &str) -> f64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

/// The machine: (logical cores, memory in GiB, CPU model).
pub fn machine() -> (usize, f64, String) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory = kib("/proc/meminfo", "MemTotal:") / 1024.0 / 1024.0;
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    (cores, memory, model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let busy = Instant::now();
        let mut x = 0u64;
        while busy.elapsed().as_millis() < 30 {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        assert!(x != 1);
        assert!(cpu_seconds() > 0.0);
        assert!(memory_mb("VmHWM:") >= memory_mb("VmRSS:") * 0.5);
        assert!(memory_mb("VmRSS:") > 1.0);
        let (cores, memory, _) = machine();
        assert!(cores >= 1 && memory > 0.1);
    }
}
