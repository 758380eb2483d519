//! The runtime: runs of compiled workflows.
//!
//! - [`plan`]: a workflow compiled once: steps indexed per container, runAfter edges
//!   resolved, every expression a template, retry policies resolved.
//! - [`Engine`]: starts runs (after `splitOn`) and returns their [`RunRecord`]s.
//! - `executor` and `loops`: the job scheduler of one run — runAfter, skip propagation,
//!   container status, Foreach/Until/Wait, handler actions with retries and timeouts.
//! - `builtin` and `table`: the inline actions (variables, Compose, ParseJson, Query,
//!   Select, Join, Table, Terminate, Response); `schema`: ParseJson's schema check.
//! - [`handler`]: the seam connectors implement ([`ActionHandler`]).
//! - [`run`]: the state of a run and what its expressions see; [`record`]: what it leaves.
//! - [`admission`]: trigger concurrency, waiting runs and backpressure.
//! - [`metrics`]: metric names, descriptions and cached handles.
//! - `retry`: retry delays as documented.

pub mod admission;
mod builtin;
mod engine;
mod executor;
pub mod handler;
pub mod host;
pub mod javascript;
mod loops;
pub mod metrics;
pub mod plan;
pub mod record;
mod retry;
pub mod run;
pub mod schema;
pub mod stats;
mod table;

pub use engine::{Cancelled, Claim, Duplicate, Engine, Recorded};
pub use executor::Environment;
pub use handler::{ActionCall, ActionFailure, ActionHandler, BoxFuture, Handlers};
pub use plan::Plan;
pub use record::{ActionRecord, RunRecord};
pub use run::{Mock, Mocks, Settings};

use crate::expr::value::Map;
use crate::expr::{JsonContext, Value};
use std::sync::Arc;

/// The app's parameters.json values, with `@appsetting('…')` references resolved.
pub fn app_parameters(
    app: &crate::definition::App,
) -> Result<std::collections::HashMap<String, Value>, crate::Error> {
    let ctx = settings_context(app, Map::default());
    app.parameters
        .iter()
        .map(|(name, p)| Ok((name.clone(), evaluate_literal(&p.value, &ctx)?)))
        .collect()
}

/// A part of connections.json with its `@appsetting('…')` and `@parameters('…')` references
/// resolved, as the runtime resolves it before a connector uses it.
pub fn resolve_app_value(
    app: &crate::definition::App,
    value: &serde_json::Value,
) -> Result<Value, crate::Error> {
    let parameters = app_parameters(app)?.into_iter().collect();
    evaluate_literal(value, &settings_context(app, parameters))
}

fn settings_context(app: &crate::definition::App, parameters: Map) -> JsonContext {
    let mut settings = Map::default();
    for (k, v) in app.settings.file_values() {
        let value = std::env::var(k).unwrap_or_else(|_| v.clone());
        settings.insert(k.clone(), Value::from(value));
    }
    let mut document = Map::default();
    document.insert("appsettings".into(), Value::object(settings));
    document.insert("parameters".into(), Value::object(parameters));
    JsonContext::new(Value::object(document))
}

fn evaluate_literal(value: &serde_json::Value, ctx: &JsonContext) -> Result<Value, crate::Error> {
    let template = crate::expr::Template::compile(value)
        .map_err(|mut e| crate::Error::Syntax(e.remove(0).error))?;
    Ok(template.evaluate(ctx)?)
}

/// App settings as the runtime reads them: the environment first, then local.settings.json.
pub fn app_settings(app: &crate::definition::App) -> Settings {
    let settings = app.settings.clone();
    Arc::new(move |name| settings.get(name))
}

#[cfg(test)]
mod tests;
