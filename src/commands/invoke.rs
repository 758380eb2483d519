//! `sluice invoke APP_DIR WORKFLOW [--body FILE|-] [--mocks FILE] [--virtual-time]`: runs one
//! workflow once, in-process, and prints the run as JSON.

use anyhow::{anyhow, Context};
use sluice_connectors::{Connectors, Wiring};
use sluice_engine::definition::{App, RunStatus};
use sluice_engine::expr::value::Map;
use sluice_engine::expr::Value;
use sluice_engine::runtime::{app_parameters, app_settings, Engine, Mocks, Plan};
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub fn run(
    app_dir: &Path,
    workflow: &str,
    body: Option<&Path>,
    mocks: Option<&Path>,
    virtual_time: bool,
    data: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let app = match App::load(app_dir) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let definition = app
        .workflows
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(workflow))
        .map(|(_, w)| w)
        .ok_or_else(|| {
            let names: Vec<&str> = app.workflows.keys().map(String::as_str).collect();
            anyhow!(
                "'{workflow}' is not a workflow of {}; it has: {}",
                app_dir.display(),
                names.join(", ")
            )
        })?;
    let plan =
        Arc::new(Plan::compile(definition, &app_parameters(&app)?)?.with_settings(&app.settings));
    let mocks: Mocks = match mocks {
        Some(path) => serde_json::from_str(&read(path)?)
            .with_context(|| format!("{} is not a mocks file", path.display()))?,
        None => Mocks::new(),
    };
    let body = match body {
        Some(path) => {
            let text = read(path)?;
            serde_json::from_str::<Value>(&text).unwrap_or_else(|_| Value::from(text))
        }
        None => Value::Null,
    };
    let mut headers = Map::default();
    headers.insert("Content-Type".into(), Value::from("application/json"));
    let mut outputs = Map::default();
    outputs.insert("headers".into(), Value::object(headers));
    outputs.insert("queries".into(), Value::object(Map::default()));
    outputs.insert(
        "relativePathParameters".into(),
        Value::object(Map::default()),
    );
    outputs.insert("body".into(), body);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if virtual_time {
        // A paused clock jumps ahead whenever every task waits: waits take no real time.
        runtime.block_on(async { tokio::time::pause() });
    }
    let connectors = Connectors::build(&Wiring::new(&app, false, None)?)?;
    let mut engine = Engine::new(connectors.handlers(), app_settings(&app));
    if let Some(dir) = data {
        std::fs::create_dir_all(dir)?;
        engine = engine.with_store(crate::commands::runs::open_for(&app, dir, None)?);
    }
    // A host, so that Workflow actions run their child in-process.
    let host = Arc::new(
        sluice_engine::runtime::hosting::host::Host::new(&app, engine, usize::MAX >> 8)?
            .with_mocks(mocks.clone()),
    );
    connectors.attach(&host);
    let engine = &host.engine;
    let split_on = plan.trigger.as_ref().is_some_and(|t| t.split_on.is_some());
    let events = engine
        .split(&plan, Value::object(outputs))
        .map_err(|e| anyhow!("splitOn: {e}"))?;
    let mocks = Arc::new(mocks);
    let runs: Vec<_> = events
        .into_iter()
        .map(|event| runtime.block_on(engine.run(plan.clone(), event, mocks.clone())))
        .collect();
    let all_succeeded = runs.iter().all(|r| r.status == RunStatus::Succeeded);
    let text = if split_on {
        serde_json::to_string_pretty(&runs)?
    } else {
        serde_json::to_string_pretty(&runs[0])?
    };
    println!("{text}");
    Ok(if all_succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn read(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}
