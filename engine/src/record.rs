//! What a run leaves behind: the record of each action (nested by container, with iterations
//! and retries) and of the run. The same shape is printed by `sluice invoke`, stored in run
//! history and served by `sluice runs` and the management API.

use crate::definition::{ActionType, RunStatus};
use crate::expr::value::Map;
use crate::expr::Value;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One retried attempt of an action.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryRecord {
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub code: String,
    pub error: Value,
}

/// The result of one action.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecord {
    pub name: Arc<str>,
    #[serde(rename = "type")]
    pub action_type: ActionType,
    pub status: RunStatus,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub inputs: Value,
    pub outputs: Value,
    pub error: Value,
    /// A Logic Apps status code: `OK`, `ActionFailed`, `ActionSkipped`, `ActionTimedOut` …
    pub code: Option<String>,
    #[serde(default)]
    pub retries: Vec<RetryRecord>,
    /// The loop iteration (from 0) this record belongs to, inside a Foreach or Until.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<i64>,
    /// Children of a container: for a Scope, If or Switch the branch that ran, in file order;
    /// for a Foreach or Until every iteration's, in iteration order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Arc<ActionRecord>>,
    /// Hide inputs / outputs on every surface that shows the run
    /// (`runtimeConfiguration.secureData`). Kept in the journal, which holds the real values
    /// for replay and is never shown as it is.
    #[serde(default, skip_serializing_if = "is_open")]
    pub secure: (bool, bool),
}

fn is_open(secure: &(bool, bool)) -> bool {
    !secure.0 && !secure.1
}

impl ActionRecord {
    pub fn new(
        name: Arc<str>,
        action_type: ActionType,
        status: RunStatus,
        start: DateTime<Utc>,
    ) -> ActionRecord {
        ActionRecord {
            name,
            action_type,
            status,
            start_time: start,
            end_time: start,
            inputs: Value::Null,
            outputs: Value::Null,
            error: Value::Null,
            code: None,
            retries: Vec::new(),
            iteration: None,
            actions: Vec::new(),
            secure: (false, false),
        }
    }

    /// The record as expressions see it through `actions('name')` and `result('Scope')`.
    pub fn to_value(&self) -> Value {
        let mut map = Map::default();
        map.insert("name".into(), Value::from(&*self.name));
        map.insert("startTime".into(), Value::from(timestamp(self.start_time)));
        map.insert("endTime".into(), Value::from(timestamp(self.end_time)));
        map.insert("inputs".into(), self.inputs.clone());
        map.insert("outputs".into(), self.outputs.clone());
        map.insert("status".into(), Value::from(self.status.as_str()));
        map.insert(
            "code".into(),
            self.code.as_deref().map_or(Value::Null, Value::from),
        );
        map.insert("error".into(), self.error.clone());
        Value::object(map)
    }
}

/// Timestamps in run records: ISO 8601 with 7 fractional digits and `Z`, as Logic Apps writes.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The result of one run. It serializes as every surface shows a run (`sluice invoke`, the
/// management API): secured inputs, outputs and trigger outputs redacted.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: Arc<str>,
    pub workflow: Arc<str>,
    pub status: RunStatus,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub trigger: Value,
    /// The run's error: from Terminate's `runError`, or the first failed action.
    pub error: Value,
    /// What a Response action answered, for the HTTP layer.
    pub response: Value,
    pub actions: Vec<Arc<ActionRecord>>,
    /// The trigger's `secureData`: `trigger` is not shown.
    pub secure_trigger: bool,
}

impl Serialize for RunRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("workflow", &self.workflow)?;
        map.serialize_entry("status", &self.status)?;
        map.serialize_entry("startTime", &self.start_time)?;
        map.serialize_entry("endTime", &self.end_time)?;
        match self.secure_trigger {
            true => map.serialize_entry("trigger", &secured_trigger(&self.trigger))?,
            false => map.serialize_entry("trigger", &self.trigger)?,
        }
        map.serialize_entry("error", &self.error)?;
        map.serialize_entry("response", &self.response)?;
        map.serialize_entry(
            "actions",
            &HistoryTree {
                records: &self.actions,
            },
        )?;
        map.end()
    }
}

/// A trigger record (`{name, inputs, outputs, …}`) or trigger outputs with what the trigger's
/// `secureData` hides replaced by [`SECURED`].
pub fn secured_trigger(trigger: &Value) -> Value {
    match trigger {
        Value::Object(fields) if fields.contains_key("outputs") => {
            let mut shown = (**fields).clone();
            shown.insert("inputs".into(), Value::from(SECURED));
            shown.insert("outputs".into(), Value::from(SECURED));
            Value::object(shown)
        }
        _ => Value::from(SECURED),
    }
}

/// One record as history shows it (secured values redacted), for a running run's journal.
pub fn shown(record: &ActionRecord) -> serde_json::Value {
    serde_json::to_value(Redacted(record)).unwrap_or_default()
}

/// What run history shows instead of secured inputs or outputs.
pub const SECURED: &str = "Content not shown due to security configuration.";

/// Values in run history larger than a threshold, collected while the tree is encoded so
/// that the store keeps each distinct one once (by content hash) and the tree references it.
#[derive(Debug, Default)]
pub struct LargeValues {
    pub threshold: usize,
    /// (hex SHA-256, JSON bytes) of every large value met.
    pub found: Vec<(String, Vec<u8>)>,
}

impl LargeValues {
    /// How a large value appears in a stored tree.
    pub const KEY: &'static str = "$blob";

    /// The reference a stored tree holds in place of `value` (the caller found it large).
    pub fn reference(&mut self, value: &Value) -> Option<serde_json::Value> {
        use sha2::Digest;
        let bytes = serde_json::to_vec(value).ok()?;
        let hash: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let reference = serde_json::json!({ Self::KEY: hash, "bytes": bytes.len() });
        if !self.found.iter().any(|(h, _)| *h == hash) {
            self.found.push((hash, bytes));
        }
        Some(reference)
    }
}

/// The action tree for run history, serialized straight from the records: secured inputs and
/// outputs are replaced by [`SECURED`].
pub struct HistoryTree<'a> {
    pub records: &'a [Arc<ActionRecord>],
}

struct Redacted<'a>(&'a ActionRecord);

impl Serialize for HistoryTree<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.records.iter().map(|r| Redacted(r)))
    }
}

impl Redacted<'_> {
    fn value<M: serde::ser::SerializeMap>(
        &self,
        map: &mut M,
        key: &str,
        value: &Value,
        secure: bool,
    ) -> Result<(), M::Error> {
        match secure {
            true => map.serialize_entry(key, SECURED),
            false => map.serialize_entry(key, value),
        }
    }
}

impl Serialize for Redacted<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let r = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("name", &r.name)?;
        map.serialize_entry("type", &r.action_type)?;
        map.serialize_entry("status", &r.status)?;
        map.serialize_entry("startTime", &r.start_time)?;
        map.serialize_entry("endTime", &r.end_time)?;
        self.value(&mut map, "inputs", &r.inputs, r.secure.0)?;
        self.value(&mut map, "outputs", &r.outputs, r.secure.1)?;
        map.serialize_entry("error", &r.error)?;
        map.serialize_entry("code", &r.code)?;
        map.serialize_entry("retries", &r.retries)?;
        if let Some(i) = r.iteration {
            map.serialize_entry("iteration", &i)?;
        }
        if !r.actions.is_empty() {
            map.serialize_entry(
                "actions",
                &HistoryTree {
                    records: &r.actions,
                },
            )?;
        }
        map.end()
    }
}
