//! What an expression can see of its run: the seam the runtime implements.

use super::value::{Map, Value};
use chrono::{DateTime, Utc};

/// The run state that workflow functions (`triggerBody()`, `variables()`, `items()` …) read.
///
/// Values are returned as [`Value`]s, whose strings, arrays and objects are shared, so
/// answering is cheap. `None` means "does not exist", which the functions turn into an error
/// naming what was asked for.
pub trait EvalContext {
    /// A workflow parameter (`parameters('name')`), with app parameters already applied.
    fn parameter(&self, name: &str) -> Option<Value>;
    /// A variable's current value.
    fn variable(&self, name: &str) -> Option<Value>;
    /// An app setting (`appsetting('name')`).
    fn app_setting(&self, name: &str) -> Option<Value>;
    /// The trigger's record: `{name, inputs, outputs: {headers, body}, startTime, endTime, status, …}`.
    fn trigger(&self) -> Option<Value>;
    /// An action's record: `{name, inputs, outputs, status, code, startTime, endTime, error, …}`.
    fn action(&self, name: &str) -> Option<Value>;
    /// An action's `outputs`; a runtime can answer without building the whole record.
    fn action_outputs(&self, name: &str) -> Option<Value> {
        self.action(name)
            .map(|record| record.get("outputs").cloned().unwrap_or_default())
    }
    /// The current item of the innermost Foreach, or of a Query/Select/sort being evaluated.
    fn item(&self) -> Option<Value>;
    /// The current item of the named Foreach.
    fn items(&self, loop_name: &str) -> Option<Value>;
    /// The current iteration index of the named Until or Foreach.
    fn iteration_index(&self, loop_name: &str) -> Option<i64>;
    /// The first-level action records of a Scope, Foreach or Until (`result('Scope')`).
    fn result(&self, scope: &str) -> Option<Value>;
    /// `workflow()`: `{id, name, type, run: {id, name, type}, tags}`.
    fn workflow(&self) -> Value;
    /// The record of the action being evaluated, for `action()` in `trackedProperties`.
    fn current_action(&self) -> Option<Value> {
        None
    }
    /// The callback URL of the workflow's Request trigger (`listCallbackUrl()`).
    fn callback_url(&self) -> Option<Value> {
        None
    }
    /// The current time; a runtime replaying a run can answer with the recorded one.
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A context built from one JSON document, in the shape of the conformance cases and of
/// `sluice expr --context FILE`: any of `variables`, `parameters`, `appsettings`,
/// `triggerBody`, `triggerOutputs`, `actions` (`{"Name": {"outputs": …, "status": …}}`),
/// `items` (`{"LoopName": value}`), `iterationIndexes` and `workflow`.
#[derive(Debug, Clone, Default)]
pub struct JsonContext {
    document: Map,
    /// The trigger record, built once from `triggerBody`/`triggerOutputs`.
    trigger: Value,
    /// Action records with their `name`, built once.
    actions: Map,
}

impl JsonContext {
    /// Reads the context from a JSON object; anything else is an empty context.
    pub fn new(document: Value) -> JsonContext {
        let document = document.as_object().cloned().unwrap_or_default();
        let mut outputs = match document.get("triggerOutputs") {
            Some(Value::Object(o)) => (**o).clone(),
            _ => Map::default(),
        };
        if let Some(body) = document.get("triggerBody") {
            outputs.insert("body".into(), body.clone());
        }
        let mut trigger = Map::default();
        trigger.insert("name".into(), Value::from("manual"));
        trigger.insert("outputs".into(), Value::object(outputs));
        trigger.insert("status".into(), Value::from("Succeeded"));
        let actions = document
            .get("actions")
            .and_then(Value::as_object)
            .map(|all| {
                all.iter()
                    .map(|(name, record)| {
                        let mut record = record.as_object().cloned().unwrap_or_default();
                        record
                            .entry("name".into())
                            .or_insert_with(|| Value::from(name.as_str()));
                        (name.clone(), Value::object(record))
                    })
                    .collect()
            })
            .unwrap_or_default();
        JsonContext {
            document,
            trigger: Value::object(trigger),
            actions,
        }
    }

    fn section(&self, key: &str, name: &str) -> Option<Value> {
        self.document.get(key)?.get(name).cloned()
    }
}

impl EvalContext for JsonContext {
    fn parameter(&self, name: &str) -> Option<Value> {
        self.section("parameters", name)
    }

    fn variable(&self, name: &str) -> Option<Value> {
        self.section("variables", name)
    }

    fn app_setting(&self, name: &str) -> Option<Value> {
        self.section("appsettings", name)
            .or_else(|| std::env::var(name).ok().map(Value::from))
    }

    fn trigger(&self) -> Option<Value> {
        Some(self.trigger.clone())
    }

    fn action(&self, name: &str) -> Option<Value> {
        self.actions.get(name).cloned()
    }

    fn item(&self) -> Option<Value> {
        let items = self.document.get("items")?.as_object()?;
        items.values().last().cloned()
    }

    fn items(&self, loop_name: &str) -> Option<Value> {
        self.section("items", loop_name)
    }

    fn iteration_index(&self, loop_name: &str) -> Option<i64> {
        match self.section("iterationIndexes", loop_name)? {
            Value::Integer(i) => Some(i),
            _ => None,
        }
    }

    fn result(&self, scope: &str) -> Option<Value> {
        self.section("results", scope)
    }

    fn workflow(&self) -> Value {
        self.document.get("workflow").cloned().unwrap_or_else(|| {
            let mut run = Map::default();
            run.insert("name".into(), Value::from("local"));
            let mut w = Map::default();
            w.insert("name".into(), Value::from("expression"));
            w.insert("run".into(), Value::object(run));
            Value::object(w)
        })
    }
}
