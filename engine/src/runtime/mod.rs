//! The runtime: runs of compiled workflows, in layers that each use only those listed
//! before them.
//!
//! - [`observation`]: metric names and descriptions, and the recorder behind the status line.
//! - [`plan`]: a workflow compiled once — steps indexed per container, runAfter edges resolved,
//!   every expression a template, retry policies and scripts resolved.
//! - [`run`]: the state of one run while it executes, and the [`RunContext`] its expressions
//!   see.
//! - [`builtin`]: the inline actions (variables, Compose, ParseJson, Query, Select, Join,
//!   Table, Terminate, Response, JavaScriptCode).
//! - [`execution`]: the [`Engine`] that starts runs, the job scheduler of one run (runAfter,
//!   skip propagation, container status, loops, retries, timeouts) and the [`ActionHandler`]
//!   seam connectors implement.
//! - [`hosting`]: an app's plans behind their admission gates ([`Host`]), recovery and
//!   recurrences.

pub mod builtin;
pub mod execution;
pub mod hosting;
pub mod observation;
pub mod plan;
pub mod run;

pub use crate::record::{ActionRecord, RunRecord};
pub use execution::engine::{Cancelled, Claim, Duplicate, Engine, Recorded};
pub use execution::executor::Environment;
pub use execution::handler::{ActionCall, ActionFailure, ActionHandler, BoxFuture, Handlers};
pub use hosting::host::Host;
pub use observation::metrics;
pub use plan::Plan;
pub use run::{Mock, Mocks, RunContext, Settings};

use crate::expr::value::Map;
use crate::expr::{JsonContext, Value};
use std::sync::Arc;

/// The app's parameters.json values, with `@appsetting('…')` references resolved.
pub fn app_parameters(
    app: &crate::definition::App,
) -> Result<std::collections::HashMap<String, Value>, crate::error::Error> {
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
) -> Result<Value, crate::error::Error> {
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

fn evaluate_literal(
    value: &serde_json::Value,
    ctx: &JsonContext,
) -> Result<Value, crate::error::Error> {
    let template = crate::expr::Template::compile(value)
        .map_err(|mut e| crate::error::Error::Syntax(e.remove(0).error))?;
    Ok(template.evaluate(ctx)?)
}

/// App settings as the runtime reads them: the environment first, then local.settings.json.
pub fn app_settings(app: &crate::definition::App) -> Settings {
    let settings = app.settings.clone();
    Arc::new(move |name| settings.get(name))
}

#[cfg(test)]
mod tests;
