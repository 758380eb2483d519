//! `sluice runs list|show|resubmit|cancel|purge`: run history in the data directory. While
//! `sluice run` holds the store, the same commands go through its management API
//! ([`remote`]).

mod remote;

pub use remote::HOST_URL_FILE;

use crate::Format;
use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Utc};
use sluice_connectors::{Connectors, Wiring};
use sluice_engine::definition::duration::IsoDuration;
use sluice_engine::definition::{App, RunStatus};
use sluice_engine::runtime::hosting::host::Host;
use sluice_engine::runtime::{app_settings, Engine, Mocks};
use sluice_engine::store::history::{self, header_json};
use sluice_engine::store::{
    DiskStore, PgStore, RunFilter, RunStore, SharedStore, StoreError, StoreSettings, StoredRun,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// What `sluice runs` was asked.
pub enum Request {
    List {
        filter: RunFilter,
        format: Format,
    },
    Show {
        id: String,
        format: Format,
    },
    Resubmit {
        id: String,
        from: Option<String>,
        mocks: Option<PathBuf>,
    },
    Cancel {
        id: String,
    },
    Purge {
        older_than: IsoDuration,
    },
}

/// The data directory of an app: `--data`, or `.sluice` in the app folder.
pub fn data_dir(app: &Path, data: Option<&Path>) -> PathBuf {
    data.map_or_else(|| app.join(".sluice"), Path::to_path_buf)
}

pub fn open(dir: &Path) -> anyhow::Result<SharedStore> {
    open_with(dir, &StoreSettings::default())
}

/// Opens the store for an app: PostgreSQL when `url` (`--store`) or the app setting
/// `Sluice.Store` names a `postgres://` database, else the embedded store in `dir`, with the
/// settings its app settings give:
/// - `Sluice.History.LargeValueBytes`: the size above which run history keeps a value once, by
///   content (default 64 KiB; 0 turns it off);
/// - `Sluice.Store.CacheBytes`: the most memory the history store's cache takes (16 MiB);
/// - `Sluice.Store.SegmentBytes`: the journal log's segment size (32 MiB).
pub fn open_for(app: &App, dir: &Path, url: Option<&str>) -> anyhow::Result<SharedStore> {
    if let Some(url) = url
        .map(str::to_string)
        .or_else(|| app.settings.get("Sluice.Store"))
    {
        return open_postgres(&url);
    }
    let setting = |name: &str| -> anyhow::Result<Option<u64>> {
        match app.settings.get(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .with_context(|| format!("app setting {name} is not a number of bytes: {v}")),
        }
    };
    let mut settings = StoreSettings::default();
    if let Some(bytes) = setting("Sluice.History.LargeValueBytes")? {
        settings.large_value_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    if let Some(bytes) = setting("Sluice.Store.CacheBytes")? {
        settings.cache_bytes = bytes;
    }
    if let Some(bytes) = setting("Sluice.Store.SegmentBytes")? {
        settings.segment_bytes = bytes.max(1 << 20);
    }
    open_with(dir, &settings)
}

/// The app setting `Sluice.Store` (the environment, then `local.settings.json`), without
/// loading the whole app: history stays readable while a workflow file is being fixed.
fn store_url(app: &Path) -> Option<String> {
    const NAME: &str = "Sluice.Store";
    std::env::var(NAME).ok().or_else(|| {
        let text = std::fs::read_to_string(app.join("local.settings.json")).ok()?;
        let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
        doc.get("Values")?.get(NAME)?.as_str().map(str::to_string)
    })
}

/// The PostgreSQL store at `url`, for writing.
fn open_postgres(url: &str) -> anyhow::Result<SharedStore> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        bail!(
            "the run store must be a postgres:// URL, found '{}'",
            redacted(url)
        );
    }
    let store = PgStore::open(url, false)
        .with_context(|| format!("cannot open the run store at {}", redacted(url)))?;
    Ok(Arc::new(store))
}

/// A database URL without its password, for messages.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(an unreadable URL)".to_string(),
    }
}

fn open_with(dir: &Path, settings: &StoreSettings) -> anyhow::Result<SharedStore> {
    let store = DiskStore::open_with(dir, settings).with_context(|| {
        format!(
            "cannot open the run store in {} (is `sluice run` using it?)",
            dir.display()
        )
    })?;
    Ok(Arc::new(store))
}

pub fn run(app: &Path, data: Option<&Path>, request: Request) -> anyhow::Result<ExitCode> {
    let dir = data_dir(app, data);
    if !dir.exists() {
        bail!(
            "no run history in {}: stateful runs are recorded there by `sluice run`",
            dir.display()
        );
    }
    let opened = match store_url(app) {
        // History is read from PostgreSQL directly, whichever instance writes to it.
        Some(url) if matches!(request, Request::List { .. } | Request::Show { .. }) => {
            PgStore::open(&url, true)
                .map(|s| Arc::new(s) as SharedStore)
                .map_err(anyhow::Error::from)
        }
        Some(url) => open_postgres(&url),
        None => open(&dir),
    };
    let store = match opened {
        Ok(store) => store,
        Err(e)
            if e.chain()
                .any(|c| c.downcast_ref().is_some_and(StoreError::is_locked)) =>
        {
            return remote::run(app, &dir, request)
        }
        Err(e) => return Err(e),
    };
    match request {
        Request::List { filter, format } => list(&*store, &filter, format),
        Request::Show { id, format } => show(&*store, &id, format),
        Request::Resubmit { id, from, mocks } => {
            resubmit(app, store, &id, from.as_deref(), mocks.as_deref())
        }
        Request::Cancel { id } => cancel(store, &id),
        Request::Purge { older_than } => {
            let before = Utc::now() - chrono::Duration::from_std(older_than.as_duration())?;
            let purged = store.purge(before)?;
            println!(
                "purged {purged} run{} older than {older_than}",
                if purged == 1 { "" } else { "s" }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn list(store: &dyn RunStore, filter: &RunFilter, format: Format) -> anyhow::Result<ExitCode> {
    let rows: Vec<_> = store.list(filter)?.iter().map(header_json).collect();
    print_list(&rows, format)
}

/// Prints run headers (as [`header_json`] shapes them), newest first.
fn print_list(rows: &[serde_json::Value], format: Format) -> anyhow::Result<ExitCode> {
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<32}  {:<20}  {:<10}  {:<24}  duration",
        "id", "workflow", "status", "start"
    );
    for h in rows {
        let start = time(&h["startTime"]);
        let duration = match (start, time(&h["endTime"])) {
            (Some(s), Some(e)) => format!("{} ms", (e - s).num_milliseconds()),
            _ => "-".to_string(),
        };
        println!(
            "{:<32}  {:<20}  {:<10}  {:<24}  {duration}",
            h["id"].as_str().unwrap_or("?"),
            h["workflow"].as_str().unwrap_or("?"),
            h["status"].as_str().unwrap_or("?"),
            start.map_or("-".to_string(), |s| s
                .format("%Y-%m-%d %H:%M:%S%.3f")
                .to_string())
        );
    }
    println!(
        "{} run{}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}

fn time(value: &serde_json::Value) -> Option<DateTime<Utc>> {
    value.as_str()?.parse().ok()
}

fn fetch(store: &dyn RunStore, id: &str) -> anyhow::Result<StoredRun> {
    store
        .run(id)?
        .ok_or_else(|| anyhow!("no run {id} in the history"))
}

fn show(store: &dyn RunStore, id: &str, format: Format) -> anyhow::Result<ExitCode> {
    print_run(&history::run_json(&fetch(store, id)?), format)
}

/// Prints a run as [`history::run_json`] shapes it.
fn print_run(run: &serde_json::Value, format: Format) -> anyhow::Result<ExitCode> {
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(run)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "run {} of {} — {} (started {})",
        run["id"].as_str().unwrap_or("?"),
        run["workflow"].as_str().unwrap_or("?"),
        run["status"].as_str().unwrap_or("?"),
        time(&run["startTime"]).map_or("-".to_string(), |s| s.to_string())
    );
    if !run["error"].is_null() {
        println!("error: {}", run["error"]);
    }
    print_actions(&run["actions"], 1);
    Ok(ExitCode::SUCCESS)
}

fn print_actions(actions: &serde_json::Value, depth: usize) {
    for a in actions.as_array().into_iter().flatten() {
        let ms = match (a["startTime"].as_str(), a["endTime"].as_str()) {
            (Some(s), Some(e)) => match (s.parse::<DateTime<Utc>>(), e.parse::<DateTime<Utc>>()) {
                (Ok(s), Ok(e)) => format!("{} ms", (e - s).num_milliseconds()),
                _ => "-".into(),
            },
            _ => "-".into(),
        };
        let iteration = a["iteration"]
            .as_i64()
            .map(|i| format!(" [{i}]"))
            .unwrap_or_default();
        let retries = a["retries"].as_array().map_or(0, Vec::len);
        let retries = if retries > 0 {
            format!(", {retries} retries")
        } else {
            String::new()
        };
        println!(
            "{}{}{iteration}: {} ({ms}{retries})",
            "  ".repeat(depth),
            a["name"].as_str().unwrap_or("?"),
            a["status"].as_str().unwrap_or("?")
        );
        if let Some(message) = a["error"]["message"].as_str() {
            println!("{}  error: {message}", "  ".repeat(depth));
        }
        print_actions(&a["actions"], depth + 1);
    }
}

fn resubmit(
    app_dir: &Path,
    store: SharedStore,
    id: &str,
    from: Option<&str>,
    mocks: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let run = fetch(&*store, id)?;
    let app = App::load(app_dir).map_err(|e| anyhow!("{e}"))?;
    let mocks: Mocks = match mocks {
        Some(p) => serde_json::from_str(&std::fs::read_to_string(p)?)?,
        None => Mocks::new(),
    };
    let replay = match from {
        Some(action) => history::replay_before(&run, action).map_err(|e| anyhow!(e))?,
        None => Vec::new(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let record = runtime.block_on(async {
        let connectors = Connectors::build(&Wiring::new(&app, false, None)?)?;
        let engine = Engine::new(connectors.handlers(), app_settings(&app)).with_store(store);
        let host = Arc::new(Host::new(&app, engine, usize::MAX >> 8).map_err(|e| anyhow!("{e}"))?);
        connectors.attach(&host);
        let plan = host.plan_for(&run.header).map_err(|e| anyhow!(e))?;
        anyhow::Ok(
            host.engine
                .replay(plan, &run.header, replay, false, Arc::new(mocks))
                .await,
        )
    })?;
    println!("{}", serde_json::to_string_pretty(&record)?);
    Ok(if record.status == RunStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn cancel(store: SharedStore, id: &str) -> anyhow::Result<ExitCode> {
    let engine = Engine::new(Default::default(), Arc::new(|_: &str| None)).with_store(store);
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime
        .block_on(engine.cancel(id))
        .map_err(|e| anyhow!(e))?;
    println!("cancelled run {id}; it will not be resumed");
    Ok(ExitCode::SUCCESS)
}
