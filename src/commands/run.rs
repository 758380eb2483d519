//! `sluice run [APP_DIR]`: hosts an app — its triggers start runs — and shows live rates.
//!
//! The hosting itself is [`crate::app_host`]: Recurrence and SlidingWindow triggers run in
//! the engine's host, Request, Event Hubs / Kafka and Service Bus / AMQP triggers in their
//! connectors. This file adds the banner, the live status line and the way out.

use crate::app_host::{Hosted, Setup};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sluice_connectors::kafka::connector::KafkaConnector;
use sluice_engine::definition::App;
use sluice_engine::runtime::observation::stats::{Snapshot, Stats, StatsRecorder};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub fn run(
    app_dir: &Path,
    data: Option<&Path>,
    port: u16,
    mocks: Option<&Path>,
    demo: Option<f64>,
    store: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let demo_function = demo
        .map(|_| crate::commands::demo::bind_function())
        .transpose()?;
    let mocks: sluice_engine::runtime::Mocks = match mocks {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        None => Default::default(),
    };
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics_handle = prometheus.handle();
    let recorder = StatsRecorder::new(prometheus);
    let stats = recorder.stats.clone();
    metrics::set_global_recorder(recorder).map_err(|e| anyhow::anyhow!("{e}"))?;
    sluice_connectors::metric_definitions::describe();
    let app = match App::load(app_dir) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let dir = crate::commands::runs::data_dir(app_dir, data);
    std::fs::create_dir_all(&dir)?;
    let store = crate::commands::runs::open_for(&app, &dir, store)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        let mut hosted = Hosted::start(Setup {
            app: &app,
            data_dir: &dir,
            store,
            listener,
            mocks,
            metrics: Some(metrics_handle),
        })
        .await?;
        if let Some(listener) = demo_function {
            crate::commands::demo::serve_function(listener)?;
        }
        let kafka = hosted.connectors.find::<KafkaConnector>();
        if let (Some(rate), Some(kafka)) = (demo, kafka) {
            if let Some(bootstrap) = kafka.embedded_bootstrap() {
                let task = crate::commands::demo::produce(bootstrap, kafka.topics(), rate)?;
                hosted.adopt(task);
            }
        }
        // `sluice runs` reads history through the management API while this process holds
        // the store.
        let url_file = dir.join(crate::commands::runs::HOST_URL_FILE);
        std::fs::write(&url_file, &hosted.base_url)?;
        if hosted.hosted == 0 && hosted.resumed == 0 {
            eprintln!(
                "sluice: nothing to host yet in {}; stopping",
                app_dir.display()
            );
            return Ok(ExitCode::FAILURE);
        }
        status_line(&stats).await;
        hosted.stop().await;
        let _ = std::fs::remove_file(&url_file);
        Ok(ExitCode::SUCCESS)
    })
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, the two ways a host is asked to stop.
async fn stop_requested() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated => {}
    }
}

/// Prints rates every second until asked to stop: a live line on a terminal, plain lines otherwise.
async fn status_line(stats: &Stats) {
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Some(bar)
    } else {
        None
    };
    let mut previous = (stats.snapshot(), Instant::now());
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.tick().await;
    let stop = stop_requested();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticks.tick() => {
                let now = (stats.snapshot(), Instant::now());
                let line = describe(&now.0, &previous.0, now.1 - previous.1);
                match &bar {
                    Some(bar) => {
                        bar.set_message(line);
                        bar.tick();
                    }
                    None => eprintln!("{line}"),
                }
                previous = now;
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish();
    }
}

/// `events 0/s | actions 1.2K/s | jobs 1.3K/s | runs 50/s (1200 done) | delay p50 1.0ms p95 3.2ms p99 9.1ms | in flight 4`
pub fn describe(now: &Snapshot, before: &Snapshot, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let rate = |a: u64, b: u64| human((a - b) as f64 / seconds);
    let delay = |q| {
        now.delay_quantile(before, q)
            .map_or("-".to_string(), millis)
    };
    // Loss is never silent: once any event was skipped, every line says how many.
    let lost = match now.lost {
        0 => String::new(),
        n => format!(" | LOST {n} events (see the log)"),
    };
    format!(
        "events {}/s | actions {}/s | jobs {}/s | runs {}/s ({} done) | delay p50 {} p95 {} p99 {} | in flight {}{lost}",
        rate(now.events, before.events),
        rate(now.actions, before.actions),
        rate(now.jobs, before.jobs),
        rate(now.runs, before.runs),
        now.runs,
        delay(0.5),
        delay(0.95),
        delay(0.99),
        now.in_flight
    )
}

/// 1234567 → "1.2M", 4500 → "4.5K", 42 → "42".
pub fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}K", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn millis(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.1}s")
    } else if seconds >= 1e-3 {
        format!("{:.1}ms", seconds * 1e3)
    } else {
        format!("{:.0}µs", seconds * 1e6)
    }
}
