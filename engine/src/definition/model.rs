//! The Workflow Definition Language as Sluice holds it after loading: one typed struct per WDL
//! object. Anything that may hold an expression stays a [`serde_json::Value`] until the
//! expression compiler turns it into a template.

use super::action::Action;
use super::duration::IsoDuration;
use super::names::{
    Frequency, OperationOption, ParameterType, RunStatus, TriggerType, WorkflowKind,
};
use crate::pointer::Pointer;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;

/// Actions of one container, in file order, by name.
pub type Actions = IndexMap<String, Action>;

/// One workflow: a `workflow.json` (or a bare definition) with its name and kind.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// The folder name in an app, or the file stem of a bare definition.
    pub name: String,
    pub file: PathBuf,
    /// `Stateful` when the file does not say (bare definitions).
    pub kind: WorkflowKind,
    /// Where `definition` starts inside the file: `/definition`, or the root for a bare one.
    pub definition_pointer: Pointer,
    pub definition: Definition,
    /// The file's text, kept so a run can be resumed with the version it started with.
    pub source: std::sync::Arc<str>,
}

/// The `definition` object.
#[derive(Debug, Clone, Default)]
pub struct Definition {
    pub schema: Option<String>,
    pub content_version: Option<String>,
    pub parameters: IndexMap<String, ParameterDeclaration>,
    pub triggers: IndexMap<String, Trigger>,
    pub actions: Actions,
    pub outputs: IndexMap<String, OutputDeclaration>,
    pub static_results: IndexMap<String, StaticResult>,
}

/// `definition.parameters.<name>`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParameterDeclaration {
    #[serde(rename = "type")]
    pub parameter_type: ParameterType,
    #[serde(default)]
    pub default_value: Option<Value>,
    #[serde(default)]
    pub allowed_values: Option<Vec<Value>>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// `definition.outputs.<name>`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OutputDeclaration {
    #[serde(rename = "type")]
    pub output_type: ParameterType,
    pub value: Value,
}

/// `definition.staticResults.<name>`: a canned result an action may use instead of running.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StaticResult {
    #[serde(default)]
    pub outputs: Value,
    pub status: RunStatus,
}

/// One trigger of `definition.triggers`.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub name: String,
    pub pointer: Pointer,
    pub trigger_type: TriggerType,
    pub kind: Option<String>,
    pub inputs: Value,
    pub recurrence: Option<Recurrence>,
    pub split_on: Option<Value>,
    pub conditions: Vec<TriggerCondition>,
    pub options: CommonOptions,
    pub correlation: Option<Value>,
}

/// `recurrence` of a Recurrence, SlidingWindow or polling trigger.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recurrence {
    pub frequency: Frequency,
    pub interval: i64,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub schedule: Option<Value>,
}

/// One entry of a trigger's `conditions`: the run starts only when every expression is true.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TriggerCondition {
    pub expression: Value,
}

/// Settings every action and trigger may carry besides its type-specific fields.
#[derive(Debug, Clone, Default)]
pub struct CommonOptions {
    pub description: Option<String>,
    pub metadata: Option<Value>,
    pub tracked_properties: Option<Value>,
    pub runtime_configuration: RuntimeConfiguration,
    pub operation_options: Vec<OperationOption>,
    pub limit: Limit,
}

impl CommonOptions {
    pub fn has_option(&self, option: OperationOption) -> bool {
        self.operation_options.contains(&option)
    }
}

/// `runtimeConfiguration`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfiguration {
    #[serde(default)]
    pub concurrency: Option<Concurrency>,
    #[serde(default)]
    pub secure_data: Option<SecureData>,
    #[serde(default)]
    pub static_result: Option<StaticResultReference>,
    #[serde(default)]
    pub content_transfer: Option<ContentTransfer>,
    #[serde(default)]
    pub pagination_policy: Option<PaginationPolicy>,
    #[serde(default)]
    pub request_options: Option<Value>,
}

/// `runtimeConfiguration.concurrency`: `runs`/`maximumWaitingRuns` on triggers, `repetitions`
/// on Foreach.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Concurrency {
    #[serde(default)]
    pub runs: Option<i64>,
    #[serde(default)]
    pub maximum_waiting_runs: Option<i64>,
    #[serde(default)]
    pub repetitions: Option<i64>,
}

/// `runtimeConfiguration.secureData`: which of `inputs`/`outputs` are hidden from run history.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SecureData {
    #[serde(default)]
    pub properties: Vec<String>,
}

/// `runtimeConfiguration.staticResult`: use `definition.staticResults.<name>` when enabled.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StaticResultReference {
    pub name: String,
    #[serde(default)]
    pub static_result_options: Option<String>,
}

/// `runtimeConfiguration.contentTransfer`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentTransfer {
    pub transfer_mode: String,
}

/// `runtimeConfiguration.paginationPolicy`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaginationPolicy {
    pub minimum_item_count: i64,
}

/// `limit`: a timeout for any action, and the iteration count for Until.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Limit {
    #[serde(default)]
    pub timeout: Option<Dynamic<IsoDuration>>,
    #[serde(default)]
    pub count: Option<Dynamic<i64>>,
}

/// A setting written either as a literal or as an expression evaluated at run time
/// (`"count": "@parameters('loopLimit')"`). Only literals can be checked at load time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Dynamic<T> {
    Literal(T),
    Expression(String),
}

impl<T> Dynamic<T> {
    /// The literal value, if it is one.
    pub fn literal(&self) -> Option<&T> {
        match self {
            Dynamic::Literal(v) => Some(v),
            Dynamic::Expression(_) => None,
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Dynamic<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        match value {
            Value::String(s) if s.starts_with('@') && !s.starts_with("@@") => {
                Ok(Dynamic::Expression(s))
            }
            other => T::deserialize(other)
                .map(Dynamic::Literal)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// `inputs.retryPolicy`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    #[serde(rename = "type")]
    pub retry_type: super::names::RetryType,
    #[serde(default)]
    pub count: Option<Dynamic<i64>>,
    #[serde(default)]
    pub interval: Option<Dynamic<IsoDuration>>,
    #[serde(default)]
    pub minimum_interval: Option<Dynamic<IsoDuration>>,
    #[serde(default)]
    pub maximum_interval: Option<Dynamic<IsoDuration>>,
}

/// The conditions of one `runAfter` entry: the predecessor must end in one of these statuses.
pub type RunAfter = IndexMap<String, Vec<RunStatus>>;
