//! What a benchmark reports: the JSON result (documented in docs/benchmarks.md), a table with
//! the study's own figures beside ours, and the same as Markdown with the chart.

use super::measure::Sample;
use super::Scenario;
use serde::Serialize;
use std::fmt::Write as _;

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_gib: f64,
    pub cpu: String,
}

/// A benchmark's result. Rates are over `elapsed_s`, from the first event sent to the last
/// event's run finished.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub scenario: &'static str,
    pub command: String,
    pub started_at: String,
    pub machine: Machine,
    pub stateless: bool,
    /// Events (burst: messages) the generator sent.
    pub events_in: u64,
    /// Trigger events the engine received (burst: HTTP requests; every scenario's child runs
    /// are counted here too when their trigger is a Request).
    pub trigger_events: u64,
    pub runs_started: u64,
    pub runs_completed: u64,
    /// Sent events that never came out, and outputs beyond the first per event.
    pub lost: u64,
    pub duplicated: u64,
    pub events_per_min: f64,
    pub actions_per_min: f64,
    pub jobs_per_min: f64,
    /// The highest one-second job rate seen.
    pub jobs_per_min_peak: f64,
    pub actions_total: u64,
    pub jobs_total: u64,
    /// Action retries by retry policies (throttled: parents refused by a full child, 429).
    pub retries: u64,
    pub delay_p50_ms: Option<f64>,
    pub delay_p95_ms: Option<f64>,
    pub delay_p99_ms: Option<f64>,
    pub delay_max_ms: Option<f64>,
    /// From an event's send to its output (status event, or its run's end).
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    pub elapsed_s: f64,
    /// How long the input took to send (the ideal drain time at its rate).
    pub input_s: f64,
    pub drain_over_ideal: f64,
    /// Average CPU of the whole process (engine, broker, generator, downstream), percent of one core.
    pub cpu_percent: f64,
    pub peak_rss_mb: f64,
    /// The downstream function's counters (`sluice mock function`'s /_stats).
    pub downstream: serde_json::Value,
    /// Settings of the run (rate, batch, latency, capacity, …).
    pub settings: serde_json::Value,
    pub samples: Vec<Sample>,
}

/// `(figure, the study, sluice)` rows for the scenario.
pub fn study_rows(r: &BenchResult) -> Vec<(&'static str, &'static str, String)> {
    let ms = |v: Option<f64>| v.map_or("-".into(), duration_ms);
    let per_min = |v: f64| format!("{}/min", super::chart::human(v));
    let machine = format!(
        "1 machine, {} cores, {:.0} GiB",
        r.machine.cores, r.machine.memory_gib
    );
    let events = format!(
        "{} in {:.0} s",
        super::chart::human(r.events_in as f64),
        r.elapsed_s
    );
    let jobs = format!(
        "{} (peak {})",
        per_min(r.jobs_per_min),
        per_min(r.jobs_per_min_peak)
    );
    match Scenario::from_name(r.scenario) {
        Scenario::Sustained => vec![
            ("events", "4.8M in 8 h", events),
            ("events/min", "10K", per_min(r.events_per_min)),
            ("actions/min", "250K sustained", per_min(r.actions_per_min)),
            ("jobs/min", "400K sustained, 600K peak", jobs),
            (
                "execution delay p95",
                "< 170 ms (4 s in scale-out)",
                ms(r.delay_p95_ms),
            ),
            ("machines", "20 WS3 (4 vCPU) scaling to 40–52", machine),
        ],
        Scenario::Throttled => vec![
            ("events", "1,538,200 in 4 h", events),
            ("actions/min", "150K", per_min(r.actions_per_min)),
            ("jobs/min", "400K sustained, 490K peak", jobs),
            (
                "execution delay p95",
                "< 300 ms (600 ms in scale-out)",
                ms(r.delay_p95_ms),
            ),
            (
                "drain time / input time",
                "≈ 1.25 (4 h of input in 5 h)",
                format!("{:.2}", r.drain_over_ideal),
            ),
            (
                "parent retries (429 from a full child)",
                "-",
                r.retries.to_string(),
            ),
            ("machines", "32 WS3 (4 vCPU)", machine),
        ],
        Scenario::Burst => vec![
            ("messages", "1M", events),
            (
                "messages/s",
                "163 (1M in 102 min), 126 (132 min)",
                format!("{:.0}", r.events_per_min / 60.0),
            ),
            (
                "1M messages",
                "102 min target-based, 132 min incremental",
                projected(r),
            ),
            ("machines", "up to 100", machine),
        ],
    }
}

/// The time 1M messages would take at the measured rate.
fn projected(r: &BenchResult) -> String {
    if r.events_per_min <= 0.0 {
        return "-".into();
    }
    format!("{:.1} min (projected)", 1e6 / r.events_per_min)
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), duration_ms)
}

/// "p50 / p95 / p99 / max" of durations in milliseconds.
fn quantiles(q: [Option<f64>; 4]) -> String {
    q.map(opt).join(" / ")
}

/// Milliseconds for people: "3 µs", "1.25 ms", "2.4 s".
pub fn duration_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.0} µs", ms * 1e3)
    } else if ms < 1000.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{:.1} s", ms / 1e3)
    }
}

/// The summary printed at the end and kept as Markdown.
pub fn markdown(r: &BenchResult, chart: Option<&str>) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# sluice bench {}\n", r.scenario);
    let _ = writeln!(md, "`{}` — {}\n", r.command, r.started_at);
    let _ = writeln!(
        md,
        "Machine: {} cores, {:.1} GiB, {}\n",
        r.machine.cores, r.machine.memory_gib, r.machine.cpu
    );
    let _ = writeln!(md, "| figure | the study | sluice |\n|---|---|---|");
    for (figure, study, ours) in study_rows(r) {
        let _ = writeln!(md, "| {figure} | {study} | {ours} |");
    }
    let _ = writeln!(md, "\n| measured | value |\n|---|---|");
    let rows = [
        (
            "events in / runs started / runs completed",
            format!(
                "{} / {} / {}",
                r.events_in, r.runs_started, r.runs_completed
            ),
        ),
        (
            "lost / duplicated",
            format!("{} / {}", r.lost, r.duplicated),
        ),
        ("action retries", r.retries.to_string()),
        ("events/min", format!("{:.0}", r.events_per_min)),
        (
            "actions/min (total)",
            format!("{:.0} ({})", r.actions_per_min, r.actions_total),
        ),
        (
            "jobs/min (peak; total)",
            format!(
                "{:.0} ({:.0}; {})",
                r.jobs_per_min, r.jobs_per_min_peak, r.jobs_total
            ),
        ),
        (
            "execution delay p50 / p95 / p99 / max",
            quantiles([
                r.delay_p50_ms,
                r.delay_p95_ms,
                r.delay_p99_ms,
                r.delay_max_ms,
            ]),
        ),
        (
            "end-to-end latency p50 / p95 / p99 / max",
            quantiles([
                r.latency_p50_ms,
                r.latency_p95_ms,
                r.latency_p99_ms,
                r.latency_max_ms,
            ]),
        ),
        (
            "elapsed / input (s)",
            format!(
                "{:.1} / {:.1} (×{:.2})",
                r.elapsed_s, r.input_s, r.drain_over_ideal
            ),
        ),
        (
            "CPU (whole process, % of one core) / peak RSS",
            format!("{:.0}% / {:.0} MiB", r.cpu_percent, r.peak_rss_mb),
        ),
        ("downstream", r.downstream.to_string()),
        ("settings", r.settings.to_string()),
    ];
    for (k, v) in rows {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    if let Some(chart) = chart {
        let _ = writeln!(md, "\n![{} over time]({chart})", r.scenario);
    }
    md
}
