//! `sluice runs list|show|resubmit|cancel|purge`: run history in the data directory.

use crate::Format;
use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Utc};
use sluice_engine::definition::duration::IsoDuration;
use sluice_engine::definition::{App, RunStatus};
use sluice_engine::runtime::host::Host;
use sluice_engine::runtime::{app_settings, ActionRecord, Engine, Handlers, Mocks};
use sluice_engine::store::{
    DiskStore, JournalEntry, RunFilter, RunHeader, RunStore, SharedStore, StoredRun,
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
    open_with(dir, None)
}

/// Opens the store for an app: the app setting `Sluice.History.LargeValueBytes` sets the size
/// above which run history keeps a value once, by content (default 64 KiB; 0 turns it off).
pub fn open_for(app: &App, dir: &Path) -> anyhow::Result<SharedStore> {
    let large = app
        .settings
        .get("Sluice.History.LargeValueBytes")
        .and_then(|v| v.parse().ok());
    open_with(dir, large)
}

fn open_with(dir: &Path, large: Option<usize>) -> anyhow::Result<SharedStore> {
    let store = DiskStore::open(dir).with_context(|| {
        format!(
            "cannot open the run store in {} (is `sluice run` using it?)",
            dir.display()
        )
    })?;
    Ok(Arc::new(match large {
        Some(bytes) => store.with_large_value_bytes(bytes),
        None => store,
    }))
}

pub fn run(app: &Path, data: Option<&Path>, request: Request) -> anyhow::Result<ExitCode> {
    let dir = data_dir(app, data);
    if !dir.exists() {
        bail!(
            "no run history in {}: stateful runs are recorded there by `sluice run`",
            dir.display()
        );
    }
    let store = open(&dir)?;
    match request {
        Request::List { filter, format } => list(&*store, &filter, format),
        Request::Show { id, format } => show(&*store, &id, format),
        Request::Resubmit { id, from, mocks } => {
            resubmit(app, store, &id, from.as_deref(), mocks.as_deref())
        }
        Request::Cancel { id } => cancel(&*store, &id),
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

fn status_text(h: &RunHeader) -> &'static str {
    if h.running {
        "Running"
    } else {
        h.status.as_str()
    }
}

/// A run header as `runs list --format json` prints it.
fn header_json(h: &RunHeader) -> serde_json::Value {
    serde_json::json!({
        "id": h.id, "workflow": h.workflow, "status": status_text(h), "startTime": h.start_time,
        "endTime": h.end_time, "version": h.version, "eventId": h.event_id, "error": h.error,
    })
}

fn list(store: &dyn RunStore, filter: &RunFilter, format: Format) -> anyhow::Result<ExitCode> {
    let runs = store.list(filter)?;
    if format == Format::Json {
        let rows: Vec<_> = runs.iter().map(header_json).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<32}  {:<20}  {:<10}  {:<24}  duration",
        "id", "workflow", "status", "start"
    );
    for h in &runs {
        let duration = h.end_time.map_or("-".to_string(), |e| {
            format!("{} ms", (e - h.start_time).num_milliseconds())
        });
        println!(
            "{:<32}  {:<20}  {:<10}  {:<24}  {duration}",
            h.id,
            h.workflow,
            status_text(h),
            h.start_time.format("%Y-%m-%d %H:%M:%S%.3f")
        );
    }
    println!(
        "{} run{}",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}

fn fetch(store: &dyn RunStore, id: &str) -> anyhow::Result<StoredRun> {
    store
        .run(id)?
        .ok_or_else(|| anyhow!("no run {id} in the history"))
}

/// The action tree of a stored run: final, or the journal so far for a running one.
fn tree(run: &StoredRun) -> serde_json::Value {
    match &run.actions {
        Some(actions) => actions.clone(),
        None => serde_json::Value::Array(
            run.journal
                .iter()
                .map(|e| {
                    let mut record = serde_json::to_value(&e.record).unwrap_or_default();
                    record["path"] = serde_json::Value::from(e.path.as_str());
                    record
                })
                .collect(),
        ),
    }
}

fn show(store: &dyn RunStore, id: &str, format: Format) -> anyhow::Result<ExitCode> {
    let run = fetch(store, id)?;
    let actions = tree(&run);
    if format == Format::Json {
        let mut doc = header_json(&run.header);
        doc["trigger"] = run.header.trigger.to_json();
        doc["actions"] = actions;
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    let h = &run.header;
    println!(
        "run {} of {} — {} (started {})",
        h.id,
        h.workflow,
        status_text(h),
        h.start_time
    );
    if !h.error.is_null() {
        println!("error: {}", h.error.to_json());
    }
    print_actions(&actions, 1);
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

/// Leaf records of a stored tree with their action paths (`Loop[2]/Call`).
fn leaves(actions: &serde_json::Value, prefix: &str, out: &mut Vec<JournalEntry>) {
    for a in actions.as_array().into_iter().flatten() {
        let name = a["name"].as_str().unwrap_or_default();
        let looped = matches!(a["type"].as_str(), Some("Foreach" | "Until"));
        let children = a["actions"].as_array().filter(|c| !c.is_empty());
        match children {
            Some(children) => {
                for child in children {
                    let inner = match (looped, child["iteration"].as_i64()) {
                        (true, Some(i)) => format!("{prefix}{name}[{i}]/"),
                        _ => prefix.to_string(),
                    };
                    leaves(&serde_json::Value::Array(vec![child.clone()]), &inner, out);
                }
            }
            None if !matches!(
                a["type"].as_str(),
                Some("Scope" | "If" | "Switch" | "Foreach" | "Until")
            ) =>
            {
                if let Ok(record) = serde_json::from_value::<ActionRecord>(a.clone()) {
                    out.push(JournalEntry {
                        path: format!("{prefix}{name}"),
                        record: Arc::new(record),
                    });
                }
            }
            None => {}
        }
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
    let mut replay = Vec::new();
    if let Some(action) = from {
        let mut all = Vec::new();
        leaves(&tree(&run), "", &mut all);
        let chosen = all
            .iter()
            .find(|e| &*e.record.name == action)
            .ok_or_else(|| anyhow!("run {id} has no action '{action}' that ran"))?
            .record
            .start_time;
        replay = all
            .into_iter()
            .filter(|e| e.record.start_time < chosen)
            .collect();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let record = runtime.block_on(async {
        let engine = Engine::new(Handlers::default(), app_settings(&app)).with_store(store);
        let host = Host::new(&app, engine, 1).map_err(|e| anyhow!("{e}"))?;
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

fn cancel(store: &dyn RunStore, id: &str) -> anyhow::Result<ExitCode> {
    let run = fetch(store, id)?;
    if !run.header.running {
        bail!("run {id} already ended ({})", run.header.status);
    }
    let mut header = run.header.clone();
    header.running = false;
    header.status = RunStatus::Cancelled;
    header.end_time = Some(Utc::now());
    let actions = run.journal.iter().map(|e| e.record.clone()).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(store.finish_run(&header, actions))?;
    println!("cancelled run {id}; it will not be resumed");
    Ok(ExitCode::SUCCESS)
}
