//! `sluice run [APP_DIR]`: hosts an app — its triggers start runs — and shows live rates.
//!
//! Recurrence and SlidingWindow triggers are hosted here; Request, Event Hubs / Kafka and
//! Service Bus / AMQP triggers are hosted by their connectors as they land, and until then
//! `run` says so for each workflow.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sluice_connectors::AppHandlers;
use sluice_engine::definition::{App, TriggerType};
use sluice_engine::runtime::host::{period, Host};
use sluice_engine::runtime::stats::{Snapshot, Stats, StatsRecorder};
use sluice_engine::runtime::{app_settings, Engine};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs in flight across all workflows, at most.
const MAX_IN_FLIGHT: usize = 10_000;
/// Run history retention when `Workflows.RuntimeConfiguration.RetentionInDays` is not set.
const DEFAULT_RETENTION_DAYS: i64 = 90;

/// Applies retention every hour and reports the store's size every ten seconds.
async fn housekeeping(store: sluice_engine::store::SharedStore, retention_days: i64) {
    let size = metrics::gauge!(sluice_engine::runtime::metrics::STORE_SIZE);
    let mut every = tokio::time::interval(Duration::from_secs(10));
    for tick in 0u64.. {
        every.tick().await;
        if tick % 360 == 0 {
            let before = chrono::Utc::now() - chrono::Duration::days(retention_days);
            let store = store.clone();
            let _ = tokio::task::spawn_blocking(move || store.purge(before)).await;
        }
        if let Ok(bytes) = store.size_on_disk() {
            size.set(bytes as f64);
        }
    }
}

pub fn run(
    app_dir: &Path,
    data: Option<&Path>,
    port: u16,
    mocks: Option<&Path>,
    demo: Option<f64>,
) -> anyhow::Result<ExitCode> {
    let demo_function = demo.map(|_| crate::demo::bind_function()).transpose()?;
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
    let app = match App::load(app_dir) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let dir = crate::runs::data_dir(app_dir, data);
    std::fs::create_dir_all(&dir)?;
    let store = crate::runs::open_for(&app, &dir)?;
    let retention_days: i64 = app
        .settings
        .get("Workflows.RuntimeConfiguration.RetentionInDays")
        .and_then(|d| d.parse().ok())
        .unwrap_or(DEFAULT_RETENTION_DAYS);
    let kafka = crate::kafka::Kafka::prepare(&app)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut tasks_demo = Vec::new();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let handlers = AppHandlers::new(&app, kafka.bootstrap().as_deref())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let engine = Engine::new(handlers.handlers.clone(), app_settings(&app))
            .with_store(store.clone())
            .with_base_url(&base_url);
        let host = Arc::new(Host::new(&app, engine, MAX_IN_FLIGHT)?.with_mocks(mocks));
        handlers.attach(&host);
        let settings = app_settings(&app);
        let server = sluice_connectors::http::Server::new(host.clone(), base_url.clone(), Some(metrics_handle))
            .with_callbacks(handlers.callbacks.clone())
            .with_access_keys(|name| settings(name));
        let mut router = sluice_connectors::http::router(server);
        if let Some(gateway) = &handlers.gateway {
            router = router.merge(sluice_connectors::gateway::server::router(gateway.clone()));
            eprintln!("sluice: the AI gateway of gateway.json serves {base_url}/v1");
        }
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, service).await {
                eprintln!("sluice: the HTTP server stopped: {e}");
            }
        });
        eprintln!("sluice: listening on {base_url} (/health, /metrics, /runtime/webhooks/workflow/api/management/workflows)");
        let consumers = kafka.start(&host)?;
        let queues = sluice_connectors::amqp::AmqpTrigger::for_app(&app, &app_settings(&app))
            .map_err(|e| anyhow::anyhow!(e))?;
        let mut amqp_tasks = Vec::new();
        for trigger in &queues {
            eprintln!(
                "sluice: {}: RabbitMQ queue '{}' ({}, prefetch {})",
                trigger.workflow,
                trigger.queue,
                if trigger.peek_lock { "peek-lock" } else { "auto-complete" },
                trigger.prefetch
            );
            amqp_tasks.push(trigger.clone().start(host.clone(), handlers.locks.clone()));
        }
        if !queues.is_empty() {
            amqp_tasks.push(sluice_connectors::amqp::trigger::expire_locks(handlers.locks.clone()));
        }
        if let Some(listener) = demo_function {
            crate::demo::serve_function(listener)?;
        }
        if let (Some(rate), Some(bootstrap)) = (demo, kafka.bootstrap()) {
            let topics = kafka.triggers.iter().map(|t| t.topic.clone()).collect();
            tasks_demo.push(crate::demo::produce(bootstrap, topics, rate)?);
        }
        let served: Vec<&str> = kafka
            .triggers
            .iter()
            .map(|t| t.workflow.as_str())
            .chain(queues.iter().map(|t| t.workflow.as_str()))
            .collect();
        let hosted = announce(&host, &base_url, &served) + consumers.len() + queues.len();
        let resumed = host.recover()?;
        if resumed > 0 {
            eprintln!(
                "sluice: resuming {resumed} unfinished run(s) from {}",
                dir.display()
            );
        }
        let mut tasks = host.start_recurrences();
        tasks.append(&mut tasks_demo);
        tasks.append(&mut amqp_tasks);
        tasks.push(tokio::spawn(housekeeping(store, retention_days)));
        if hosted == 0 && resumed == 0 {
            eprintln!(
                "sluice: nothing to host yet in {}; stopping",
                app_dir.display()
            );
            return Ok(ExitCode::FAILURE);
        }
        status_line(&stats).await;
        tasks.iter().for_each(|t| t.abort());
        for consumer in consumers {
            consumer.close().await;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Says which workflows are hosted and why the others are not; returns how many are.
fn announce(host: &Host, base_url: &str, served: &[&str]) -> usize {
    let mut names: Vec<&String> = host.workflows.keys().collect();
    names.sort();
    let mut hosted = 0;
    for name in names {
        let w = &host.workflows[name];
        match (w.trigger_type, &w.recurrence) {
            (Some(TriggerType::Recurrence | TriggerType::SlidingWindow), Some(r)) => {
                hosted += 1;
                eprintln!("sluice: {name}: recurrence every {:?}", period(r));
            }
            (Some(TriggerType::Request), _) => {
                hosted += 1;
                let trigger = w.plan.trigger.as_ref().map_or("manual".to_string(), |t| t.name.to_string());
                eprintln!("sluice: {name}: POST {base_url}/api/{name}/triggers/{trigger}/invoke");
            }
            (Some(TriggerType::ServiceProvider), _) if served.contains(&name.as_str()) => {}
            (Some(t), _) => eprintln!(
                "sluice: {name}: not hosted: its {t} trigger is served by a connector that has not landed yet; \
                 run it with `sluice invoke`"
            ),
            (None, _) => eprintln!("sluice: {name}: not hosted: it has no trigger"),
        }
    }
    hosted
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
    format!(
        "events {}/s | actions {}/s | jobs {}/s | runs {}/s ({} done) | delay p50 {} p95 {} p99 {} | in flight {}",
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

fn human(x: f64) -> String {
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
