//! A Logic Apps Standard app folder: `host.json`, `connections.json`, `parameters.json`,
//! `local.settings.json` and one folder per workflow holding `workflow.json`.
//!
//! App settings come from `local.settings.json` `Values`, and the environment overrides them, as
//! the Functions host does when it runs locally.

use super::action::ActionBody;
use super::model::{Actions, Workflow};
use super::names::ParameterType;
use super::node::Node;
use super::payload::Skipped;
use super::problem::{Problem, Problems};
use super::reader::Reader;
use super::source::Locator;
use super::workflow_file::{check_workflow_file, Purpose, WorkflowReport};
use crate::error::Error;
use crate::pointer::Pointer;
use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A loaded, valid app.
#[derive(Debug, Clone)]
pub struct App {
    pub root: PathBuf,
    pub host: HostConfig,
    pub connections: Connections,
    pub parameters: IndexMap<String, AppParameter>,
    pub settings: AppSettings,
    /// Workflows by name (the folder name), in folder-name order.
    pub workflows: IndexMap<String, Workflow>,
}

/// `host.json`. Only the workflow extension's settings are read; the rest is kept as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostConfig {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub extension_bundle: Option<Value>,
    #[serde(default)]
    pub extensions: HostExtensions,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct HostExtensions {
    #[serde(default)]
    pub workflow: Option<WorkflowExtension>,
    #[serde(flatten)]
    pub others: IndexMap<String, Value>,
}

/// `extensions.workflow` of host.json: flat runtime settings such as
/// `Runtime.Backend.ForeachDefaultDegreeOfParallelism`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct WorkflowExtension {
    #[serde(default)]
    pub settings: IndexMap<String, Value>,
}

/// `connections.json`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connections {
    #[serde(default)]
    pub service_provider_connections: IndexMap<String, ServiceProviderConnection>,
    #[serde(default)]
    pub managed_api_connections: IndexMap<String, Value>,
    #[serde(default)]
    pub function_connections: IndexMap<String, Value>,
    #[serde(default)]
    pub agent_connections: IndexMap<String, Value>,
}

/// One built-in connection: which service provider, and its parameters (endpoints, secrets,
/// usually `@appsetting('…')` references).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProviderConnection {
    #[serde(default)]
    pub parameter_values: Value,
    pub service_provider: ServiceProviderId,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub parameter_set_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ServiceProviderId {
    pub id: String,
}

/// One entry of `parameters.json`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AppParameter {
    #[serde(rename = "type")]
    pub parameter_type: ParameterType,
    pub value: Value,
}

/// `local.settings.json`.
#[derive(Debug, Clone, Default, Deserialize)]
struct LocalSettings {
    #[serde(default, rename = "Values")]
    values: IndexMap<String, Value>,
}

/// App settings: `local.settings.json` `Values`, overridden by environment variables.
#[derive(Debug, Clone, Default)]
pub struct AppSettings {
    file: IndexMap<String, String>,
}

impl AppSettings {
    /// Settings from a file's `Values` only, before the environment is consulted.
    pub fn from_values(values: IndexMap<String, String>) -> AppSettings {
        AppSettings { file: values }
    }

    /// The settings of the file, by name (before the environment is consulted).
    pub fn file_values(&self) -> impl Iterator<Item = (&String, &String)> {
        self.file.iter()
    }

    /// The setting `name`: the environment variable of that name if set, else the file's value.
    pub fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.file.get(name).cloned())
    }
}

/// Everything `sluice validate` reports for an app folder.
#[derive(Debug, Serialize)]
pub struct AppReport {
    pub root: PathBuf,
    /// Problems of host.json, connections.json, parameters.json and local.settings.json, and
    /// references from workflows to connections and other workflows.
    pub problems: Vec<Problem>,
    pub workflows: Vec<WorkflowReport>,
}

impl AppReport {
    pub fn is_valid(&self) -> bool {
        !self.problems.iter().any(Problem::is_error)
            && self.workflows.iter().all(WorkflowReport::is_valid)
    }
}

/// The parsed app-level files, before the workflows.
struct AppFiles {
    host: HostConfig,
    connections: Connections,
    parameters: IndexMap<String, AppParameter>,
    settings: AppSettings,
}

/// Checks every file of the app folder `root`.
pub fn check_app(root: &Path, purpose: Purpose) -> AppReport {
    let mut problems = Vec::new();
    let files = read_app_files(root, &mut problems);
    let mut workflows = Vec::new();
    match workflow_folders(root) {
        Ok(folders) if folders.is_empty() => problems.push(app_problem(
            root,
            "this folder holds no workflow: expected subfolders each with a workflow.json",
        )),
        Ok(folders) => {
            for (name, file) in folders {
                workflows.push(check_workflow_file(&file, &name, purpose));
            }
        }
        Err(e) => problems.push(app_problem(root, &format!("cannot list the folder: {e}"))),
    }
    check_references(&files, &mut workflows);
    AppReport {
        root: root.to_path_buf(),
        problems,
        workflows,
    }
}

impl App {
    /// Loads the app in `root`; any error in any file fails the load with all problems.
    pub fn load(root: &Path) -> Result<App, Error> {
        let mut report = check_app(root, Purpose::Run);
        if !report.is_valid() {
            let mut problems = report.problems;
            for w in report.workflows {
                problems.extend(w.problems);
            }
            problems.retain(Problem::is_error);
            return Err(Error::Invalid(problems));
        }
        let mut ignored = Vec::new();
        let files = read_app_files(root, &mut ignored);
        let workflows = report
            .workflows
            .iter_mut()
            .filter_map(|w| w.workflow.take().map(|wf| (w.name.clone(), wf)))
            .collect();
        Ok(App {
            root: root.to_path_buf(),
            host: files.host,
            connections: files.connections,
            parameters: files.parameters,
            settings: files.settings,
            workflows,
        })
    }
}

fn read_app_files(root: &Path, problems: &mut Vec<Problem>) -> AppFiles {
    let local: LocalSettings =
        read_optional(&root.join("local.settings.json"), problems).unwrap_or_default();
    let values = local
        .values
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect();
    AppFiles {
        host: read_optional(&root.join("host.json"), problems).unwrap_or_default(),
        connections: read_optional(&root.join("connections.json"), problems).unwrap_or_default(),
        parameters: read_optional(&root.join("parameters.json"), problems).unwrap_or_default(),
        settings: AppSettings::from_values(values),
    }
}

/// Reads an optional app file; a missing file is `None`, a broken one is reported.
fn read_optional<T: DeserializeOwned>(file: &Path, problems: &mut Vec<Problem>) -> Option<T> {
    let text = std::fs::read_to_string(file).ok()?;
    let mut found = Problems::new(file);
    let root = match Node::parse(&text) {
        Ok(root) => root,
        Err(e) => {
            let at = super::source::Position {
                line: e.line() as u32,
                column: e.column() as u32,
            };
            found.error_at(at, format!("invalid JSON: {e}"));
            problems.extend(found.finish(&Locator::default()));
            return None;
        }
    };
    let result = Reader::<Skipped>::new(&mut found).leaf(root, &Pointer::root());
    problems.extend(found.finish(&Locator::new(&text)));
    result
}

/// Subfolders holding a `workflow.json`, sorted by name. Hidden folders (such as the data
/// directory `.sluice`) are skipped.
fn workflow_folders(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let file = entry.path().join("workflow.json");
        if !name.starts_with('.') && file.is_file() {
            found.push((name, file));
        }
    }
    found.sort();
    Ok(found)
}

fn app_problem(root: &Path, message: &str) -> Problem {
    let mut problems = Problems::new(root);
    problems.error(&Pointer::root(), message);
    problems.finish(&Locator::default()).remove(0)
}

/// Workflow actions must name connections and workflows that the app defines. The problems
/// belong to the workflow whose file holds the reference.
fn check_references(files: &AppFiles, workflows: &mut [WorkflowReport]) {
    let names: Vec<String> = workflows.iter().map(|w| w.name.clone()).collect();
    for report in workflows {
        let Some(workflow) = &report.skeleton else {
            continue;
        };
        let mut found = Problems::new(&workflow.file);
        check_actions(&workflow.definition.actions, files, &names, &mut found);
        if found.has_errors() {
            let text = std::fs::read_to_string(&workflow.file).unwrap_or_default();
            report.problems.extend(found.finish(&Locator::new(&text)));
            report.workflow = None;
            report.skeleton = None;
        }
    }
}

fn check_actions<P>(
    actions: &Actions<P>,
    files: &AppFiles,
    workflows: &[String],
    found: &mut Problems,
) {
    for action in actions.values() {
        let inputs = action.pointer.join("inputs");
        match &action.body {
            ActionBody::ServiceProvider(sp) => {
                let name = &sp.service_provider_configuration.connection_name;
                if !files
                    .connections
                    .service_provider_connections
                    .contains_key(name)
                {
                    found.error(
                        &inputs.join("serviceProviderConfiguration").join("connectionName"),
                        format!("connection '{name}' is not defined in connections.json serviceProviderConnections"),
                    );
                }
            }
            ActionBody::Workflow(w) => {
                let id = &w.host.workflow.id;
                let name = id.rsplit('/').next().unwrap_or(id);
                let remote = files
                    .settings
                    .get(&format!("Sluice.Workflows.{name}.BaseUrl"))
                    .or_else(|| files.settings.get("Sluice.Workflows.BaseUrl"))
                    .is_some();
                if !remote && !workflows.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    found.error(
                        &inputs.join("host").join("workflow").join("id"),
                        format!(
                            "workflow '{id}' is not a workflow of this app (for one on another instance, \
                             set the app setting Sluice.Workflows.{name}.BaseUrl)"
                        ),
                    );
                }
            }
            _ => {}
        }
        for branch in action.branches() {
            check_actions(branch.actions, files, workflows, found);
        }
    }
}
