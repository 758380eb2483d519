//! `sluice bench sustained|throttled|burst`: Microsoft's Logic Apps Standard scaling studies,
//! reproduced on one machine with the real engine in this process against real components on
//! loopback — the embedded Kafka cluster, the HTTP server, `sluice mock function` as the
//! downstream — and reported with the study's figures beside ours.
//!
//! - `app`: the apps each scenario hosts (the repository's workflow files).
//! - `load`: the open-loop generator and the tally of what came out (lost, duplicated, latency).
//! - `measure`: the time series (rates, delay, in-flight runs, CPU, memory).
//! - `report`: the JSON result, the table beside the study, Markdown.
//! - `chart`: the study's charts as PNG.

mod app;
mod chart;
mod load;
mod measure;
mod report;

use crate::app_host::{Hosted, Setup};
use crate::Format;
use indicatif::{ProgressBar, ProgressStyle};
use load::Tally;
use measure::Sampler;
use report::BenchResult;
use sluice_engine::definition::App;
use sluice_engine::runtime::observation::stats::{Stats, StatsRecorder};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The three studies.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Scenario {
    /// 24 actions per Event Hubs event (3 variables, 3 function calls, 2 compose, 6
    /// conditions, 8 scopes, an Event Hubs send): `workflows/sustained`.
    Sustained,
    /// A parent sends each event to one of 10 child workflows whose concurrency protects a
    /// downstream with a fixed capacity (429 beyond it); the parent retries with backoff.
    Throttled,
    /// Microsoft's dispatcher (stateful, splitOn) and enricher (stateless), unchanged:
    /// `benchmarks/burst`, all messages at once.
    Burst,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Sustained => "sustained",
            Scenario::Throttled => "throttled",
            Scenario::Burst => "burst",
        }
    }

    fn from_name(name: &str) -> Scenario {
        match name {
            "throttled" => Scenario::Throttled,
            "burst" => Scenario::Burst,
            _ => Scenario::Sustained,
        }
    }
}

/// Options common to the scenarios; defaults depend on the scenario (see each).
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// Events to send (burst: messages). Default: rate × duration; burst: 100,000.
    #[arg(long)]
    pub events: Option<u64>,
    /// Input rate in events/s, open loop: input does not slow down when the engine does
    /// (0: all at once). Default: sustained 167 (the study's 10K/min), throttled 500, burst 0.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds of input at --rate, when --events is not given.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// The Kafka trigger's maxEventBatchSize (default 100, the study's); burst: messages per
    /// HTTP request to the dispatcher (default 1,000).
    #[arg(long)]
    pub batch: Option<u64>,
    /// Run the scenario's own workflows stateless (not for burst, whose files run unchanged).
    #[arg(long)]
    pub stateless: bool,
    /// Milliseconds the downstream function takes per call. Default: throttled 50, others 5.
    #[arg(long)]
    pub latency_ms: Option<u64>,
    /// Throttled: the downstream's capacity (concurrent calls; 429 beyond). Each of the 10
    /// children gets a tenth as its trigger concurrency.
    #[arg(long, default_value_t = 20)]
    pub capacity: u64,
    /// Throttled: the study's retry intervals (20 s, minimum 10 s, maximum 1 h) are divided
    /// by this, so the scenario completes in minutes with their ratios kept.
    #[arg(long, default_value_t = 100.0)]
    pub time_scale: f64,
    /// Seconds to wait, after the input ends, for the engine to drain; whatever has not come
    /// out by then counts as lost.
    #[arg(long, default_value_t = 300.0)]
    pub drain_timeout: f64,
    /// Output on stdout: a table (text) or the JSON result.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Results (JSON, Markdown, chart) go under this folder, one subfolder per run.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
}

/// The options with the scenario's defaults applied.
#[derive(Debug, Clone, serde::Serialize)]
struct Settings {
    events: u64,
    rate: f64,
    batch: u64,
    stateless: bool,
    latency_ms: u64,
    capacity: Option<u64>,
    time_scale: Option<f64>,
}

impl Settings {
    fn resolve(scenario: Scenario, o: &Options) -> anyhow::Result<Settings> {
        let rate = o.rate.unwrap_or(match scenario {
            Scenario::Sustained => 10_000.0 / 60.0,
            Scenario::Throttled => 500.0,
            Scenario::Burst => 0.0,
        });
        let events = match (o.events, scenario) {
            (Some(n), _) => n,
            (None, Scenario::Burst) => 100_000,
            (None, _) if rate > 0.0 => (rate * o.duration).round() as u64,
            (None, _) => anyhow::bail!("--rate 0 needs --events"),
        };
        anyhow::ensure!(events > 0, "nothing to send: --events is 0");
        if scenario == Scenario::Burst && o.stateless {
            anyhow::bail!("the burst scenario runs Microsoft's files unchanged (a stateful dispatcher); --stateless does not apply");
        }
        let throttled = scenario == Scenario::Throttled;
        if throttled {
            anyhow::ensure!(
                o.capacity >= app::CHILDREN,
                "--capacity must be at least {} (one call per child)",
                app::CHILDREN
            );
        }
        Ok(Settings {
            events,
            rate,
            batch: o
                .batch
                .unwrap_or(if scenario == Scenario::Burst {
                    1000
                } else {
                    100
                })
                .max(1),
            stateless: o.stateless,
            latency_ms: o.latency_ms.unwrap_or(if throttled { 50 } else { 5 }),
            capacity: throttled.then_some(o.capacity),
            time_scale: throttled.then_some(o.time_scale),
        })
    }
}

pub fn run(scenario: Scenario, options: Options) -> anyhow::Result<ExitCode> {
    let settings = Settings::resolve(scenario, &options)?;
    let recorder = StatsRecorder::new(metrics::NoopRecorder);
    let stats = recorder.stats.clone();
    metrics::set_global_recorder(recorder).map_err(|e| anyhow::anyhow!("{e}"))?;
    sluice_connectors::metric_definitions::describe();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(bench(scenario, &settings, stats, &options))?;
    let folder = options.results.join(format!(
        "{}-{}",
        scenario.name(),
        chrono::Utc::now().format("%Y%m%d-%H%M%S")
    ));
    std::fs::create_dir_all(&folder)?;
    std::fs::write(
        folder.join("result.json"),
        serde_json::to_string_pretty(&result)?,
    )?;
    let pace = match settings.rate {
        r if r > 0.0 => format!("at {r:.0}/s"),
        _ => "all at once".to_string(),
    };
    let title = format!(
        "sluice bench {}: {} events {pace}",
        scenario.name(),
        result.events_in
    );
    let chart = match chart::draw(&folder.join("chart.png"), &title, &result.samples) {
        Ok(()) => Some("chart.png"),
        Err(e) => {
            eprintln!("sluice bench: no chart: {e}");
            None
        }
    };
    let md = report::markdown(&result, chart);
    std::fs::write(folder.join("result.md"), &md)?;
    match options.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&result)?),
        Format::Text => println!("{md}"),
    }
    eprintln!("sluice bench: results in {}", folder.display());
    Ok(if result.lost == 0 && result.duplicated == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Serves the downstream function on a free loopback port; returns its base URL.
async fn downstream(latency_ms: u64, capacity: Option<u64>) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let config = sluice_mocks::function::MockConfig {
        latency: Duration::from_millis(latency_ms),
        capacity,
        fail_rate: 0.0,
        retry_after_seconds: 1,
    };
    let router = sluice_mocks::function::router(config);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(url)
}

/// How events go in.
enum Input {
    /// Produced to the embedded cluster's `events` topic; the runs' status events are checked.
    Kafka(String),
    /// POSTed to the dispatcher's Request trigger; the dispatcher's stored runs are checked.
    Http(String),
}

async fn bench(
    scenario: Scenario,
    s: &Settings,
    stats: Arc<Stats>,
    options: &Options,
) -> anyhow::Result<BenchResult> {
    let downstream = downstream(s.latency_ms, s.capacity).await?;
    let dir = match scenario {
        Scenario::Sustained => app::sustained(&downstream, s.batch, s.stateless)?,
        Scenario::Throttled => {
            let child_runs = (s.capacity.unwrap_or(app::CHILDREN) / app::CHILDREN).max(1);
            app::throttled(&app::Throttled {
                downstream: &downstream,
                batch: s.batch,
                stateless: s.stateless,
                child_runs,
                // Twice the downstream's capacity in parents keeps it busy while half of them
                // queue at their children; each child has room for a fifth of them, so a
                // parent is refused (429, and backs off) only when the ids bunch up on one child.
                child_waiting: 4 * child_runs,
                parent_runs: 2 * app::CHILDREN * child_runs,
                time_scale: s.time_scale.unwrap_or(1.0),
            })?
        }
        Scenario::Burst => app::burst(&downstream)?,
    };
    let app = App::load(&dir.path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let data = dir.data();
    std::fs::create_dir_all(&data)?;
    let store = crate::commands::runs::open_for(&app, &data, None)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hosted = Hosted::start(Setup {
        app: &app,
        data_dir: &data,
        store: store.clone(),
        listener,
        mocks: Default::default(),
        metrics: None,
    })
    .await?;
    let cluster = hosted
        .connectors
        .find::<sluice_connectors::kafka::connector::KafkaConnector>()
        .and_then(|kafka| kafka.embedded());
    if let Some(cluster) = cluster {
        cluster
            .create_topic("status")
            .map_err(|e| anyhow::anyhow!(e))?;
    }
    let input = match cluster.map(|c| c.bootstrap_servers()) {
        Some(bootstrap) => Input::Kafka(bootstrap),
        None => Input::Http(format!(
            "{}/api/dispatcher/triggers/manual/invoke",
            hosted.base_url
        )),
    };
    let tally = Tally::new(s.events);
    let mut tasks = Vec::new();
    if let Input::Kafka(bootstrap) = &input {
        tasks.push(load::check_kafka(bootstrap, "status", tally.clone())?);
    }
    warm_up(&input, s.events, &stats, &tally).await?;

    let started_at = chrono::Utc::now();
    let start = Instant::now();
    let mut sampler = Sampler::new(stats.clone(), start);
    let first_runs = stats.runs.load(Relaxed);
    let cpu_at_start = measure::cpu_seconds();
    match &input {
        Input::Kafka(bootstrap) => tasks.push(load::produce_kafka(
            bootstrap,
            "events",
            s.rate,
            tally.clone(),
        )?),
        Input::Http(url) => tasks.push(load::post_orders(
            url.clone(),
            s.batch,
            s.rate,
            tally.clone(),
        )),
    }
    let runs_per_event = if scenario == Scenario::Sustained {
        1
    } else {
        2
    };
    let done = || match &input {
        Input::Kafka(_) => tally.complete() && stats.in_flight.load(Relaxed) <= 0,
        Input::Http(_) => {
            tally.sent_count.load(Relaxed) == s.events
                && stats.runs.load(Relaxed) - first_runs >= runs_per_event * s.events
                && stats.in_flight.load(Relaxed) <= 0
        }
    };
    let watched = Watch {
        start,
        drain_timeout: options.drain_timeout,
        runs_per_event,
    };
    let (elapsed, input_s) = watch(s, &tally, &mut sampler, &watched, done).await;
    tasks.iter().for_each(|t| t.abort());
    if let Input::Http(_) = input {
        tally_stored_runs(&*store, &tally)?;
    }
    let downstream_stats = fetch_json(&format!("{downstream}/_stats")).await;
    hosted.stop().await;
    let cpu = measure::cpu_seconds() - cpu_at_start;
    Ok(result(
        scenario,
        s,
        &sampler,
        &tally,
        Finish {
            started_at,
            elapsed,
            input_s,
            cpu,
            downstream: downstream_stats,
        },
    ))
}

/// One event (id `events`, which the tally ignores) through the whole path, so the consumer
/// group's join and the first connections are not measured.
async fn warm_up(input: &Input, id: u64, stats: &Stats, tally: &Tally) -> anyhow::Result<()> {
    let before = stats.runs.load(Relaxed);
    match input {
        Input::Kafka(bootstrap) => {
            let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", bootstrap)
                .create()?;
            let payload = crate::commands::produce::event(id);
            let record = rdkafka::producer::FutureRecord::<(), _>::to("events").payload(&payload);
            producer
                .send(record, Duration::from_secs(10))
                .await
                .map_err(|(e, _)| anyhow::anyhow!("warm-up event: {e}"))?;
        }
        Input::Http(url) => {
            let body = serde_json::json!({"orders": [{"order": id}]}).to_string();
            reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?
                .error_for_status()?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let checked = || match input {
        Input::Kafka(_) => tally.other_seen.load(Relaxed) > 0,
        Input::Http(_) => true,
    };
    while stats.runs.load(Relaxed) == before || stats.in_flight.load(Relaxed) > 0 || !checked() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the warm-up event did not finish within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Samples every second and shows progress until `done` or the drain deadline; returns the
/// elapsed time to the end and the time the input took.
struct Watch {
    start: Instant,
    drain_timeout: f64,
    runs_per_event: u64,
}

async fn watch(
    s: &Settings,
    tally: &Tally,
    sampler: &mut Sampler,
    w: &Watch,
    done: impl Fn() -> bool,
) -> (f64, f64) {
    let Watch {
        start,
        drain_timeout,
        runs_per_event,
    } = *w;
    let bar = ProgressBar::new(s.events);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} out, {elapsed} | {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut input_s = None;
    let mut next_sample = start + Duration::from_secs(1);
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = Instant::now();
        if input_s.is_none() && tally.sent_count.load(Relaxed) == s.events {
            input_s = Some((now - start).as_secs_f64());
        }
        if done() {
            break;
        }
        if let Some(sent_at) = input_s {
            if (now - start).as_secs_f64() > sent_at + drain_timeout {
                bar.println(format!(
                    "sluice bench: not drained {drain_timeout} s after the input ended; stopping"
                ));
                break;
            }
        }
        if now >= next_sample {
            next_sample += Duration::from_secs(1);
            let sample = sampler.sample();
            let out = match runs_per_event {
                1 => tally.seen_count.load(Relaxed),
                _ => tally
                    .seen_count
                    .load(Relaxed)
                    .max(sample.runs_completed / runs_per_event),
            };
            bar.set_position(out.min(s.events));
            let line = format!(
                "sent {} | actions {}/min | jobs {}/min | delay p95 {} | in flight {} | cpu {:.0}%",
                tally.sent_count.load(Relaxed),
                chart::human(sample.actions_per_min),
                chart::human(sample.jobs_per_min),
                sample.delay_p95_ms.map_or("-".into(), report::duration_ms),
                sample.in_flight,
                sample.cpu_percent
            );
            if bar.is_hidden() && sample.t as u64 % 10 == 0 {
                eprintln!("[{:>4.0}s] {line}", sample.t);
            }
            bar.set_message(line);
        }
    }
    if Instant::now() + Duration::from_millis(500) >= next_sample {
        // A last sample over half a second or more; a shorter one would show a spike of noise.
        sampler.sample();
    }
    bar.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64();
    (elapsed, input_s.unwrap_or(elapsed))
}

/// Marks each stored dispatcher run's order as seen at its end time.
fn tally_stored_runs(
    store: &dyn sluice_engine::store::RunStore,
    tally: &Tally,
) -> anyhow::Result<()> {
    let filter = sluice_engine::store::RunFilter {
        workflow: Some("dispatcher".into()),
        limit: usize::MAX,
        ..Default::default()
    };
    for header in store.list(&filter)? {
        // The list's headers of finished runs may leave the trigger outputs out.
        let Some(run) = store.run(&header.id)?.map(|r| r.header) else {
            continue;
        };
        let order = run
            .trigger
            .get("body")
            .and_then(|b| b.get("order"))
            .and_then(|o| o.as_f64())
            .map(|o| o as u64);
        let (Some(order), Some(end)) = (order, run.end_time) else {
            continue;
        };
        if run.status == sluice_engine::definition::RunStatus::Succeeded {
            tally.mark_seen_wall(order, end);
        }
    }
    Ok(())
}

async fn fetch_json(url: &str) -> serde_json::Value {
    match reqwest::get(url).await {
        Ok(r) => r
            .text()
            .await
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    }
}

struct Finish {
    started_at: chrono::DateTime<chrono::Utc>,
    elapsed: f64,
    input_s: f64,
    cpu: f64,
    downstream: serde_json::Value,
}

fn result(
    scenario: Scenario,
    s: &Settings,
    sampler: &Sampler,
    tally: &Tally,
    f: Finish,
) -> BenchResult {
    let checked = tally.check();
    let (now, first) = sampler.totals();
    let per_min = |n: u64| n as f64 * 60.0 / f.elapsed.max(1e-9);
    let delay = |q| now.delay_quantile(first, q).map(|d| d * 1e3);
    let latency = |i: usize| checked.latency_ms.map(|l| l[i]);
    let (cores, memory_gib, cpu) = measure::machine();
    BenchResult {
        scenario: scenario.name(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        started_at: f
            .started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        machine: report::Machine {
            cores,
            memory_gib,
            cpu,
        },
        stateless: s.stateless,
        events_in: checked.sent,
        trigger_events: now.events - first.events,
        runs_started: (now.runs + now.in_flight.max(0) as u64)
            .saturating_sub(first.runs + first.in_flight.max(0) as u64),
        runs_completed: now.runs - first.runs,
        lost: checked.lost,
        duplicated: checked.duplicated,
        events_per_min: per_min(checked.distinct),
        actions_per_min: per_min(now.actions - first.actions),
        jobs_per_min: per_min(now.jobs - first.jobs),
        jobs_per_min_peak: sampler
            .samples
            .iter()
            .map(|x| x.jobs_per_min)
            .fold(0.0, f64::max),
        actions_total: now.actions - first.actions,
        jobs_total: now.jobs - first.jobs,
        retries: now.retries - first.retries,
        delay_p50_ms: delay(0.5),
        delay_p95_ms: delay(0.95),
        delay_p99_ms: delay(0.99),
        delay_max_ms: delay(1.0),
        latency_p50_ms: latency(0),
        latency_p95_ms: latency(1),
        latency_p99_ms: latency(2),
        latency_max_ms: latency(3),
        elapsed_s: f.elapsed,
        input_s: f.input_s,
        drain_over_ideal: f.elapsed / f.input_s.max(1e-9),
        cpu_percent: f.cpu * 100.0 / f.elapsed.max(1e-9),
        peak_rss_mb: measure::memory_mb("VmHWM:"),
        downstream: f.downstream,
        settings: serde_json::to_value(s).unwrap_or_default(),
        samples: sampler.samples.clone(),
    }
}
