//! The Workflow Definition Language as Sluice holds it after loading: one typed struct per WDL
//! object. Anything that may hold an expression is a payload `P`: a [`serde_json::Value`]
//! until the expression compiler turns it into a template, or [`super::payload::Skipped`] in a
//! workflow only being validated.

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
pub type Actions<P = Value> = IndexMap<String, Action<P>>;

/// One workflow: a `workflow.json` (or a bare definition) with its name and kind.
#[derive(Debug, Clone)]
pub struct Workflow<P = Value> {
    /// The folder name in an app, or the file stem of a bare definition.
    pub name: String,
    pub file: PathBuf,
    /// `Stateful` when the file does not say (bare definitions).
    pub kind: WorkflowKind,
    /// Where `definition` starts inside the file: `/definition`, or the root for a bare one.
    pub definition_pointer: Pointer,
    pub definition: Definition<P>,
    /// The file's text, kept so a run can be resumed with the version it started with.
    pub source: std::sync::Arc<str>,
}

/// The `definition` object.
#[derive(Debug, Clone, Default)]
pub struct Definition<P = Value> {
    pub schema: Option<String>,
    pub content_version: Option<String>,
    pub parameters: IndexMap<String, ParameterDeclaration<P>>,
    pub triggers: IndexMap<String, Trigger<P>>,
    pub actions: Actions<P>,
    pub outputs: IndexMap<String, OutputDeclaration<P>>,
    pub static_results: IndexMap<String, StaticResult<P>>,
}

/// `definition.parameters.<name>`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(
    rename_all = "camelCase",
    bound(deserialize = "P: super::payload::Payload")
)]
pub struct ParameterDeclaration<P = Value> {
    #[serde(rename = "type")]
    pub parameter_type: ParameterType,
    #[serde(default)]
    pub default_value: Option<P>,
    #[serde(default)]
    pub allowed_values: Option<Vec<P>>,
    #[serde(default)]
    pub metadata: Option<P>,
}

/// `definition.outputs.<name>`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: super::payload::Payload"))]
pub struct OutputDeclaration<P = Value> {
    #[serde(rename = "type")]
    pub output_type: ParameterType,
    pub value: P,
}

/// `definition.staticResults.<name>`: a canned result an action may use instead of running.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: super::payload::Payload"))]
pub struct StaticResult<P = Value> {
    #[serde(default)]
    pub outputs: P,
    pub status: RunStatus,
}

/// One trigger of `definition.triggers`.
#[derive(Debug, Clone)]
pub struct Trigger<P = Value> {
    pub name: String,
    pub pointer: Pointer,
    pub trigger_type: TriggerType,
    pub kind: Option<String>,
    pub inputs: P,
    pub recurrence: Option<Recurrence<P>>,
    pub split_on: Option<P>,
    pub conditions: Vec<TriggerCondition<P>>,
    pub options: CommonOptions<P>,
    pub correlation: Option<P>,
}

/// `recurrence` of a Recurrence, SlidingWindow or polling trigger.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(
    rename_all = "camelCase",
    bound(deserialize = "P: super::payload::Payload")
)]
pub struct Recurrence<P = Value> {
    pub frequency: Frequency,
    pub interval: i64,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub schedule: Option<P>,
}

/// One entry of a trigger's `conditions`: the run starts only when every expression is true.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: super::payload::Payload"))]
pub struct TriggerCondition<P = Value> {
    pub expression: P,
}

/// Settings every action and trigger may carry besides its type-specific fields.
#[derive(Debug, Clone, Default)]
pub struct CommonOptions<P = Value> {
    pub description: Option<String>,
    pub metadata: Option<P>,
    pub tracked_properties: Option<P>,
    pub runtime_configuration: RuntimeConfiguration<P>,
    pub operation_options: Vec<OperationOption>,
    pub limit: Limit,
}

impl<P> CommonOptions<P> {
    pub fn has_option(&self, option: OperationOption) -> bool {
        self.operation_options.contains(&option)
    }
}

/// `runtimeConfiguration`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(
    rename_all = "camelCase",
    bound(deserialize = "P: super::payload::Payload")
)]
pub struct RuntimeConfiguration<P = Value> {
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
    pub request_options: Option<P>,
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

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Dynamic<T> {
    /// Reads without buffering the value: a literal is handed to `T` as it is read, so a
    /// hostile setting (an array of millions of elements) is refused, not held.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DynamicVisitor(std::marker::PhantomData))
    }
}

struct DynamicVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for DynamicVisitor<T> {
    type Value = Dynamic<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a literal or an expression")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Dynamic<T>, E> {
        if s.starts_with('@') && !s.starts_with("@@") {
            return Ok(Dynamic::Expression(s.to_string()));
        }
        T::deserialize(serde::de::value::StrDeserializer::<E>::new(s)).map(Dynamic::Literal)
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Dynamic<T>, E> {
        T::deserialize(serde::de::value::BoolDeserializer::<E>::new(v)).map(Dynamic::Literal)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dynamic<T>, E> {
        T::deserialize(serde::de::value::I64Deserializer::<E>::new(v)).map(Dynamic::Literal)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Dynamic<T>, E> {
        T::deserialize(serde::de::value::U64Deserializer::<E>::new(v)).map(Dynamic::Literal)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Dynamic<T>, E> {
        T::deserialize(serde::de::value::F64Deserializer::<E>::new(v)).map(Dynamic::Literal)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Dynamic<T>, E> {
        T::deserialize(serde::de::value::UnitDeserializer::<E>::new()).map(Dynamic::Literal)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Dynamic<T>, A::Error> {
        T::deserialize(serde::de::value::SeqAccessDeserializer::new(seq)).map(Dynamic::Literal)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Dynamic<T>, A::Error> {
        T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Dynamic::Literal)
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
