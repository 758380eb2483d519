//! Reading a parsed JSON document into the typed model, collecting every problem on the way.
//!
//! The walk over the document's structure (definition, triggers, actions, containers) is done
//! here by hand so that one bad action does not hide the problems of the others; the leaves
//! (`retryPolicy`, typed `inputs`, `runtimeConfiguration` …) are read with serde, and
//! serde_path_to_error turns the first error inside a leaf into an exact pointer.

use super::action::{Action, ActionBody, SwitchCase};
use super::model::*;
use super::names::{unsupported_type, ActionType, OperationOption, TriggerType, WorkflowKind};
use super::problem::Problems;
use crate::pointer::Pointer;
use crate::spelling::closest;
use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::path::Path;

/// Reads one document, reporting into `problems`.
pub(crate) struct Reader<'a> {
    pub problems: &'a mut Problems,
    /// Actions that exist in the file but could not be read, as (pointer of the enclosing
    /// `actions` object, lower-case name), so that a `runAfter` naming them is not reported
    /// as naming a missing action on top of the real problem.
    pub unreadable: HashSet<(Pointer, String)>,
}

impl<'a> Reader<'a> {
    pub fn new(problems: &'a mut Problems) -> Self {
        Reader {
            problems,
            unreadable: HashSet::new(),
        }
    }

    /// Reads a Standard `workflow.json` (`{"definition", "kind"}`) or a bare definition.
    pub fn workflow(&mut self, root: Value, name: &str, file: &Path) -> Option<Workflow> {
        let at = Pointer::root();
        let mut map = self.object(root, &at, "a workflow")?;
        if let Some(definition) = map.remove("definition") {
            let kind = self.workflow_kind(map.remove("kind"), &at.join("kind"));
            let definition_pointer = at.join("definition");
            let definition = self.definition(definition, &definition_pointer)?;
            Some(Workflow {
                name: name.to_string(),
                file: file.to_path_buf(),
                kind,
                definition_pointer,
                definition,
                source: std::sync::Arc::from(""),
            })
        } else if map.contains_key("triggers") || map.contains_key("actions") {
            let definition = self.definition(Value::Object(map), &at)?;
            Some(Workflow {
                name: name.to_string(),
                file: file.to_path_buf(),
                kind: WorkflowKind::Stateful,
                definition_pointer: at,
                definition,
                source: std::sync::Arc::from(""),
            })
        } else {
            self.problems.error(
                &at,
                "not a workflow: expected a `definition` object (workflow.json) or `triggers` and `actions` (a bare definition)",
            );
            None
        }
    }

    fn workflow_kind(&mut self, kind: Option<Value>, at: &Pointer) -> WorkflowKind {
        let Some(kind) = kind else {
            return WorkflowKind::Stateful;
        };
        match kind.as_str() {
            Some(text) => match WorkflowKind::parse(text) {
                Some(kind) => kind,
                None if text.eq_ignore_ascii_case("Agentic")
                    || text.eq_ignore_ascii_case("Agent") =>
                {
                    self.problems.error(
                        at,
                        format!("workflow kind '{text}' is not supported: AI agent loops (agentic workflows) are not supported"),
                    );
                    WorkflowKind::Stateful
                }
                None => {
                    self.problems.error(
                        at,
                        format!(
                            "unknown workflow kind '{text}', expected one of: {}",
                            WorkflowKind::expected()
                        ),
                    );
                    WorkflowKind::Stateful
                }
            },
            None => {
                self.problems.error(
                    at,
                    format!("`kind` must be a string, found {}", type_name(&kind)),
                );
                WorkflowKind::Stateful
            }
        }
    }

    fn definition(&mut self, value: Value, at: &Pointer) -> Option<Definition> {
        let mut map = self.object(value, at, "`definition`")?;
        let mut definition = Definition {
            schema: self.optional(&mut map, "$schema", at),
            content_version: self.optional(&mut map, "contentVersion", at),
            parameters: self
                .optional(&mut map, "parameters", at)
                .unwrap_or_default(),
            outputs: self.optional(&mut map, "outputs", at).unwrap_or_default(),
            static_results: self
                .optional(&mut map, "staticResults", at)
                .unwrap_or_default(),
            ..Definition::default()
        };
        if let Some(triggers) = map.remove("triggers") {
            definition.triggers = self.triggers(triggers, &at.join("triggers"));
        }
        if let Some(actions) = map.remove("actions") {
            definition.actions = self.actions(actions, &at.join("actions"));
        }
        self.leftovers(map, at, "definition");
        Some(definition)
    }

    fn triggers(&mut self, value: Value, at: &Pointer) -> IndexMap<String, Trigger> {
        let Some(map) = self.object(value, at, "`triggers`") else {
            return IndexMap::new();
        };
        map.into_iter()
            .filter_map(|(name, v)| {
                let pointer = at.join(&name);
                self.trigger(name, v, pointer)
            })
            .map(|t| (t.name.clone(), t))
            .collect()
    }

    fn trigger(&mut self, name: String, value: Value, pointer: Pointer) -> Option<Trigger> {
        let mut map = self.object(value, &pointer, "a trigger")?;
        let trigger_type = self.type_name(
            &mut map,
            &pointer,
            "trigger",
            TriggerType::parse,
            TriggerType::expected,
        )?;
        let inputs = map.remove("inputs").unwrap_or(Value::Null);
        if trigger_type == TriggerType::ServiceProvider {
            self.check::<super::inputs::ServiceProviderInputs>(&inputs, &pointer.join("inputs"));
        }
        let kind = self.optional(&mut map, "kind", &pointer);
        if matches!(
            trigger_type,
            TriggerType::Recurrence | TriggerType::SlidingWindow
        ) && !map.contains_key("recurrence")
        {
            self.problems.error(
                &pointer,
                format!("a {trigger_type} trigger needs `recurrence`"),
            );
        }
        let recurrence = self.optional(&mut map, "recurrence", &pointer);
        let conditions = self
            .optional(&mut map, "conditions", &pointer)
            .unwrap_or_default();
        let options = self.common(&mut map, &pointer);
        let split_on = map.remove("splitOn");
        let correlation = map.remove("correlation");
        self.leftovers(map, &pointer, "trigger");
        Some(Trigger {
            name,
            pointer,
            trigger_type,
            kind,
            inputs,
            recurrence,
            split_on,
            conditions,
            options,
            correlation,
        })
    }

    /// Reads an `actions` object; `at` points at that object.
    pub fn actions(&mut self, value: Value, at: &Pointer) -> Actions {
        let Some(map) = self.object(value, at, "`actions`") else {
            return Actions::new();
        };
        let mut actions = Actions::with_capacity(map.len());
        for (name, v) in map {
            let pointer = at.join(&name);
            match self.action(name.clone(), v, pointer) {
                Some(action) => {
                    actions.insert(name, action);
                }
                None => {
                    self.unreadable.insert((at.clone(), name.to_lowercase()));
                }
            }
        }
        actions
    }

    fn action(&mut self, name: String, value: Value, pointer: Pointer) -> Option<Action> {
        let mut map = self.object(value, &pointer, "an action")?;
        let action_type = self.type_name(
            &mut map,
            &pointer,
            "action",
            ActionType::parse,
            ActionType::expected,
        )?;
        let run_after = self
            .optional(&mut map, "runAfter", &pointer)
            .unwrap_or_default();
        let kind = self.optional(&mut map, "kind", &pointer);
        let options = self.common(&mut map, &pointer);
        let mut inputs = map.remove("inputs");
        let retry_policy = match inputs.as_mut().and_then(Value::as_object_mut) {
            Some(inputs) => inputs
                .remove("retryPolicy")
                .and_then(|v| self.leaf(v, &pointer.join("inputs").join("retryPolicy"))),
            None => None,
        };
        let raw_inputs = inputs.clone().unwrap_or(Value::Null);
        let body = self.body(action_type, &mut map, inputs, &pointer);
        self.leftovers(map, &pointer, "action");
        Some(Action {
            name,
            pointer,
            action_type,
            kind,
            body: body?,
            inputs: raw_inputs,
            run_after,
            retry_policy,
            options,
        })
    }

    fn body(
        &mut self,
        action_type: ActionType,
        map: &mut Map<String, Value>,
        inputs: Option<Value>,
        at: &Pointer,
    ) -> Option<ActionBody> {
        use ActionType as T;
        let inputs_at = at.join("inputs");
        let typed = inputs.unwrap_or_else(|| Value::Object(Map::new()));
        Some(match action_type {
            T::Scope => ActionBody::Scope {
                actions: self.children(map, at),
            },
            T::If => ActionBody::If {
                expression: self.required(map, "expression", at, "If"),
                actions: self.children(map, at),
                else_actions: self.else_actions(map, at),
            },
            T::Switch => ActionBody::Switch {
                expression: self.required(map, "expression", at, "Switch"),
                cases: self.cases(map, at),
                default_actions: self.nested_actions(map.remove("default"), &at.join("default")),
            },
            T::Foreach => ActionBody::Foreach {
                foreach: self.required(map, "foreach", at, "Foreach"),
                actions: self.children(map, at),
            },
            T::Until => ActionBody::Until {
                expression: self.required(map, "expression", at, "Until"),
                actions: self.children(map, at),
            },
            T::Compose => ActionBody::Compose(if typed.as_object().is_some_and(Map::is_empty) {
                self.problems.error(at, "Compose needs `inputs`");
                Value::Null
            } else {
                typed
            }),
            T::InitializeVariable => ActionBody::InitializeVariable(self.leaf(typed, &inputs_at)?),
            T::SetVariable => ActionBody::SetVariable(self.leaf(typed, &inputs_at)?),
            T::IncrementVariable => ActionBody::IncrementVariable(self.leaf(typed, &inputs_at)?),
            T::DecrementVariable => ActionBody::DecrementVariable(self.leaf(typed, &inputs_at)?),
            T::AppendToArrayVariable => {
                ActionBody::AppendToArrayVariable(self.leaf(typed, &inputs_at)?)
            }
            T::AppendToStringVariable => {
                ActionBody::AppendToStringVariable(self.leaf(typed, &inputs_at)?)
            }
            T::ParseJson => ActionBody::ParseJson(self.leaf(typed, &inputs_at)?),
            T::Query => ActionBody::Query(self.leaf(typed, &inputs_at)?),
            T::Select => ActionBody::Select(self.leaf(typed, &inputs_at)?),
            T::Join => ActionBody::Join(self.leaf(typed, &inputs_at)?),
            T::Table => ActionBody::Table(self.leaf(typed, &inputs_at)?),
            T::Http => ActionBody::Http(self.leaf(typed, &inputs_at)?),
            T::HttpWebhook => ActionBody::HttpWebhook(self.leaf(typed, &inputs_at)?),
            T::Function => ActionBody::Function(self.leaf(typed, &inputs_at)?),
            T::InvokeFunction => ActionBody::InvokeFunction(self.leaf(typed, &inputs_at)?),
            T::Workflow => ActionBody::Workflow(self.leaf(typed, &inputs_at)?),
            T::Response => ActionBody::Response(self.leaf(typed, &inputs_at)?),
            T::Terminate => ActionBody::Terminate(self.leaf(typed, &inputs_at)?),
            T::Wait => ActionBody::Wait(self.leaf(typed, &inputs_at)?),
            T::JavaScriptCode => ActionBody::JavaScriptCode(self.leaf(typed, &inputs_at)?),
            T::ServiceProvider => ActionBody::ServiceProvider(self.leaf(typed, &inputs_at)?),
            T::ApiConnection => ActionBody::ApiConnection(self.leaf(typed, &inputs_at)?),
            T::ApiConnectionWebhook => {
                ActionBody::ApiConnectionWebhook(self.leaf(typed, &inputs_at)?)
            }
            T::Xslt => ActionBody::Xslt(self.leaf(typed, &inputs_at)?),
            T::Liquid => ActionBody::Liquid(self.leaf(typed, &inputs_at)?),
        })
    }

    fn children(&mut self, map: &mut Map<String, Value>, at: &Pointer) -> Actions {
        match map.remove("actions") {
            Some(actions) => self.actions(actions, &at.join("actions")),
            None => Actions::new(),
        }
    }

    fn else_actions(&mut self, map: &mut Map<String, Value>, at: &Pointer) -> Actions {
        self.nested_actions(map.remove("else"), &at.join("else"))
    }

    /// Reads `{"actions": {…}}` as found under `else`, `default` and each Switch case.
    fn nested_actions(&mut self, value: Option<Value>, at: &Pointer) -> Actions {
        let Some(value) = value else {
            return Actions::new();
        };
        let Some(mut map) = self.object(value, at, "a branch") else {
            return Actions::new();
        };
        let actions = self.children(&mut map, at);
        self.leftovers(map, at, "branch");
        actions
    }

    fn cases(
        &mut self,
        map: &mut Map<String, Value>,
        at: &Pointer,
    ) -> IndexMap<String, SwitchCase> {
        let at = at.join("cases");
        let Some(cases) = map
            .remove("cases")
            .and_then(|v| self.object(v, &at, "`cases`"))
        else {
            return IndexMap::new();
        };
        let mut out = IndexMap::new();
        for (name, value) in cases {
            let pointer = at.join(&name);
            let Some(mut case) = self.object(value, &pointer, "a Switch case") else {
                continue;
            };
            let value = self.required(&mut case, "case", &pointer, "A Switch case");
            let actions = self.children(&mut case, &pointer);
            self.leftovers(case, &pointer, "Switch case");
            out.insert(
                name,
                SwitchCase {
                    pointer,
                    case: value,
                    actions,
                },
            );
        }
        out
    }

    /// Removes and reads the fields every action and trigger may carry.
    fn common(&mut self, map: &mut Map<String, Value>, at: &Pointer) -> CommonOptions {
        CommonOptions {
            description: self.optional(map, "description", at),
            metadata: map.remove("metadata"),
            tracked_properties: map.remove("trackedProperties"),
            runtime_configuration: self
                .optional(map, "runtimeConfiguration", at)
                .unwrap_or_default(),
            operation_options: self
                .operation_options(map.remove("operationOptions"), &at.join("operationOptions")),
            limit: self.optional(map, "limit", at).unwrap_or_default(),
        }
    }

    fn operation_options(&mut self, value: Option<Value>, at: &Pointer) -> Vec<OperationOption> {
        let Some(value) = value else {
            return Vec::new();
        };
        let Some(text) = value.as_str() else {
            self.problems.error(
                at,
                format!(
                    "`operationOptions` must be a comma-separated string, found {}",
                    type_name(&value)
                ),
            );
            return Vec::new();
        };
        let mut options = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match OperationOption::parse(item) {
                Some(option) => options.push(option),
                None => self
                    .problems
                    .warning(at, format!("unknown operation option '{item}' is ignored")),
            }
        }
        options
    }

    /// Reads `type` and resolves it with `parse`; reports unknown and unsupported types.
    fn type_name<T>(
        &mut self,
        map: &mut Map<String, Value>,
        at: &Pointer,
        what: &str,
        parse: fn(&str) -> Option<T>,
        expected: fn() -> String,
    ) -> Option<T> {
        let type_at = at.join("type");
        let Some(value) = map.remove("type") else {
            self.problems.error(at, format!("the {what} has no `type`"));
            return None;
        };
        let Some(text) = value.as_str() else {
            self.problems.error(
                &type_at,
                format!("`type` must be a string, found {}", type_name(&value)),
            );
            return None;
        };
        if let Some(t) = parse(text) {
            return Some(t);
        }
        let known = expected();
        let message = match (unsupported_type(text), closest(text, known.split(", "))) {
            (Some(why), _) => format!("{what} type '{text}' is not supported: {why}"),
            (None, Some(near)) => format!("unknown {what} type '{text}'; did you mean '{near}'?"),
            (None, None) => format!("unknown {what} type '{text}', expected one of: {known}"),
        };
        self.problems.error(&type_at, message);
        None
    }

    fn required(
        &mut self,
        map: &mut Map<String, Value>,
        key: &str,
        at: &Pointer,
        what: &str,
    ) -> Value {
        map.remove(key).unwrap_or_else(|| {
            self.problems.error(at, format!("{what} needs `{key}`"));
            Value::Null
        })
    }

    /// Removes `key` and reads it as `T`; absent is `None`, unreadable is reported and `None`.
    fn optional<T: DeserializeOwned>(
        &mut self,
        map: &mut Map<String, Value>,
        key: &str,
        at: &Pointer,
    ) -> Option<T> {
        let value = map.remove(key)?;
        self.leaf(value, &at.join(key))
    }

    /// Reads a leaf with serde, reporting the first error at its exact pointer.
    pub fn leaf<T: DeserializeOwned>(&mut self, value: Value, at: &Pointer) -> Option<T> {
        serde_path_to_error::deserialize(value)
            .map_err(|e| self.report(e, at))
            .ok()
    }

    /// Checks that `value` reads as `T` without keeping the result.
    fn check<T: DeserializeOwned>(&mut self, value: &Value, at: &Pointer) {
        if let Err(e) = serde_path_to_error::deserialize::<_, T>(value) {
            self.report(e, at);
        }
    }

    fn report(&mut self, error: serde_path_to_error::Error<serde_json::Error>, at: &Pointer) {
        let mut pointer = at.clone();
        for segment in error.path().iter() {
            pointer = match segment {
                serde_path_to_error::Segment::Seq { index } => pointer.join(index),
                serde_path_to_error::Segment::Map { key } => pointer.join(key),
                serde_path_to_error::Segment::Enum { .. }
                | serde_path_to_error::Segment::Unknown => pointer,
            };
        }
        self.problems
            .error(&pointer, error.into_inner().to_string());
    }

    fn object(&mut self, value: Value, at: &Pointer, what: &str) -> Option<Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                self.problems.error(
                    at,
                    format!("{what} must be a JSON object, found {}", type_name(&other)),
                );
                None
            }
        }
    }

    /// Fields left after reading are unknown to WDL: reported as warnings, not silently lost.
    fn leftovers(&mut self, map: Map<String, Value>, at: &Pointer, what: &str) {
        for key in map.keys() {
            self.problems.warning(
                &at.join(key),
                format!("unknown {what} field `{key}` is ignored"),
            );
        }
    }
}

/// The JSON type of a value, for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
