//! Hosting an app in this process: the engine, its HTTP server (Request triggers, the
//! management API, /metrics, the AI gateway), its Kafka and RabbitMQ triggers, recurrences and
//! housekeeping. `sluice run` and `sluice bench` host apps the same way through [`Hosted`].

use sluice_connectors::{Connectors, Trigger, Wiring};
use sluice_engine::definition::{App, TriggerType};
use sluice_engine::runtime::hosting::host::{period, Host};
use sluice_engine::runtime::{app_settings, Engine, Mocks};
use sluice_engine::store::SharedStore;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Runs in flight across all workflows, at most.
pub const MAX_IN_FLIGHT: usize = 10_000;
/// Run history retention when `Workflows.RuntimeConfiguration.RetentionInDays` is not set.
const DEFAULT_RETENTION_DAYS: i64 = 90;

/// What hosting needs besides the app.
pub struct Setup<'a> {
    pub app: &'a App,
    /// Where the store lives (for messages).
    pub data_dir: &'a Path,
    pub store: SharedStore,
    pub listener: tokio::net::TcpListener,
    pub mocks: Mocks,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

/// An app being hosted; [`Hosted::stop`] drains and closes its triggers.
pub struct Hosted {
    pub base_url: String,
    /// Triggers and recurrences hosted, and unfinished runs resumed.
    pub hosted: usize,
    pub resumed: usize,
    pub connectors: Connectors,
    triggers: Vec<Trigger>,
    tasks: Vec<JoinHandle<()>>,
}

impl Hosted {
    /// Starts serving `setup.app`: HTTP first, then the triggers, then resumes unfinished runs.
    pub async fn start(setup: Setup<'_>) -> anyhow::Result<Hosted> {
        let Setup {
            app,
            data_dir,
            store,
            listener,
            mocks,
            metrics,
        } = setup;
        let base_url = format!("http://{}", listener.local_addr()?);
        let connectors = Connectors::build(&Wiring::new(app, true, Some(data_dir))?)?;
        let settings = app_settings(app);
        let engine = Engine::new(connectors.handlers(), settings.clone())
            .with_store(store.clone())
            .with_base_url(&base_url);
        let host = Arc::new(Host::new(app, engine, MAX_IN_FLIGHT)?.with_mocks(mocks));
        connectors.attach(&host);
        let key = management_key(&*settings, data_dir)?;
        let server = sluice_connectors::http::Server::new(host.clone(), base_url.clone(), metrics)
            .with_access_keys(|name| settings(name))
            .with_management_key(&key);
        let router = sluice_connectors::http::router(server).merge(connectors.routes());
        let limits = sluice_http::serve::ServerLimits::from_settings(|name| settings(name));
        let mut tasks = vec![tokio::spawn(sluice_http::serve::serve(
            listener, router, limits,
        ))];
        tracing::info!("listening on {base_url} (/health, /metrics, /runtime/webhooks/workflow/api/management/workflows)");
        let triggers = connectors.start(&host)?;
        for trigger in &triggers {
            tracing::info!("{}: {}", trigger.workflow, trigger.source);
        }
        let served: Vec<&str> = triggers.iter().map(|t| t.workflow.as_str()).collect();
        let hosted = announce(&host, &base_url, &served) + triggers.len();
        let resumed = host.recover()?;
        if resumed > 0 {
            tracing::info!(
                "resuming {resumed} unfinished run(s) from {}",
                data_dir.display()
            );
        }
        tasks.append(&mut host.start_recurrences());
        tasks.push(tokio::spawn(housekeeping(store, retention_days(app))));
        Ok(Hosted {
            base_url,
            hosted,
            resumed,
            connectors,
            triggers,
            tasks,
        })
    }

    /// Keeps a task of the caller's running until the app stops (aborted by [`Hosted::stop`]).
    pub fn adopt(&mut self, task: JoinHandle<()>) {
        self.tasks.push(task);
    }

    /// Stops taking events: aborts the server and the recurrences, then drains every trigger
    /// (the runs it started finish, bounded) and closes it (a Kafka consumer leaves its group
    /// at once).
    pub async fn stop(self) {
        self.tasks.iter().for_each(|t| t.abort());
        for mut trigger in self.triggers {
            let drained = trigger.drain().await;
            if let Err(e) = drained.and(trigger.close().await) {
                tracing::warn!("stopping a trigger: {e}");
            }
        }
    }
}

/// The app setting that gives the management API's key.
pub const MANAGEMENT_KEY_SETTING: &str = "Sluice.Management.Key";

/// The management API's key: the app setting [`MANAGEMENT_KEY_SETTING`], or else the key in
/// `DATA_DIR/management.key`, created (random, readable by the owner only) on first start.
/// The key itself is never printed: the banner says where it is.
pub fn management_key(
    setting: &dyn Fn(&str) -> Option<String>,
    data_dir: &Path,
) -> anyhow::Result<String> {
    if let Some(key) = setting(MANAGEMENT_KEY_SETTING).filter(|k| !k.trim().is_empty()) {
        eprintln!(
            "sluice: the management API takes the key of the app setting {MANAGEMENT_KEY_SETTING}"
        );
        return Ok(key.trim().to_string());
    }
    let path = data_dir.join("management.key");
    if let Ok(key) = std::fs::read_to_string(&path) {
        if !key.trim().is_empty() {
            eprintln!(
                "sluice: the management API takes the key in {}",
                path.display()
            );
            return Ok(key.trim().to_string());
        }
    }
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    std::fs::create_dir_all(data_dir)?;
    write_private(&path, &key)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    eprintln!(
        "sluice: created the management API key in {} (send it as x-functions-key)",
        path.display()
    );
    Ok(key)
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

fn retention_days(app: &App) -> i64 {
    app.settings
        .get("Workflows.RuntimeConfiguration.RetentionInDays")
        .and_then(|d| d.parse().ok())
        .unwrap_or(DEFAULT_RETENTION_DAYS)
}

/// Applies retention every hour and reports the store's size every ten seconds.
async fn housekeeping(store: SharedStore, retention_days: i64) {
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
                tracing::info!("{name}: recurrence every {:?}", period(r));
            }
            (Some(TriggerType::Request), _) => {
                hosted += 1;
                let trigger = w
                    .plan
                    .trigger
                    .as_ref()
                    .map_or("manual".to_string(), |t| t.name.to_string());
                tracing::info!("{name}: POST {base_url}/api/{name}/triggers/{trigger}/invoke");
            }
            (Some(TriggerType::ServiceProvider), _) if served.contains(&name.as_str()) => {}
            (Some(t), _) => tracing::warn!(
                "{name}: not hosted: no connector of this build serves its {t} trigger; \
                 run it with `sluice invoke`"
            ),
            (None, _) => tracing::warn!("{name}: not hosted: it has no trigger"),
        }
    }
    hosted
}
