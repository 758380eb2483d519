//! Reading a workflow file into the typed model, collecting every problem on the way.
//!
//! The walk over the document's structure (definition, triggers, actions, containers) is done
//! here by hand, over the file's text ([`Node`]), so that one bad action does not hide the
//! problems of the others; the leaves (`retryPolicy`, typed `inputs`, `runtimeConfiguration` …)
//! are read with serde, and serde_path_to_error turns the first error inside a leaf into an
//! exact pointer. Payloads are read as `P` (see [`super::payload`]): kept to run, skipped to
//! validate. Collections a hostile file could make huge are bounded by Logic Apps' limits before
//! they are read: actions, runAfter entries, Switch cases and triggers.

mod body;
mod leaves;

use super::action::Action;
use super::fields::{for_each_branch, Fields, ACTION, DEFINITION, TRIGGER};
use super::model::*;
use super::names::{ActionType, TriggerType, WorkflowKind};
use super::node::{Kind, Node};
use super::payload::Payload;
use super::problem::Problems;
use super::validate::limits;
use crate::pointer::Pointer;
use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashSet;
use std::marker::PhantomData;
use std::path::Path;

/// Reads one document, reporting into `problems`.
pub(crate) struct Reader<'p, P = Value> {
    pub problems: &'p mut Problems,
    /// Actions that exist in the file but were not read.
    pub unreadable: Unreadable,
    /// Actions at any depth met so far; past [`limits::MAX_ACTIONS`] they are counted, not read.
    actions_seen: usize,
    payload: PhantomData<P>,
}

/// Actions that exist in the file but were not read, so that a `runAfter` naming one is not
/// reported as naming a missing action on top of the real problem.
#[derive(Default)]
pub(crate) struct Unreadable {
    /// Actions that could not be read, as (pointer of the enclosing `actions` object,
    /// lower-case name).
    names: HashSet<(Pointer, String)>,
    /// Whether actions past Logic Apps' limit were left unread; then any name may be one.
    past_limit: bool,
}

impl Unreadable {
    /// Whether the action `name` of the container at `branch` may exist unread.
    pub fn contains(&self, branch: &Pointer, name: &str) -> bool {
        self.past_limit || self.names.contains(&(branch.clone(), name.to_string()))
    }
}

impl<'p, P: Payload> Reader<'p, P> {
    pub fn new(problems: &'p mut Problems) -> Self {
        Reader {
            problems,
            unreadable: Unreadable::default(),
            actions_seen: 0,
            payload: PhantomData,
        }
    }

    /// Reads a Standard `workflow.json` (`{"definition", "kind"}`) or a bare definition.
    pub fn workflow(&mut self, root: Node<'_>, name: &str, file: &Path) -> Option<Workflow<P>> {
        let at = Pointer::root();
        if !self.expect_object(root, &at, "a workflow") {
            return None;
        }
        let (definition_pointer, definition, kind) = if let Some(definition) =
            root.get("definition")
        {
            let kind = self.workflow_kind(root.get("kind"), &at.join("kind"));
            (at.join("definition"), definition, kind)
        } else if root.get("triggers").is_some() || root.get("actions").is_some() {
            (at, root, WorkflowKind::Stateful)
        } else {
            self.problems.error(
                &at,
                "not a workflow: expected a `definition` object (workflow.json) or `triggers` and `actions` (a bare definition)",
            );
            return None;
        };
        let definition = self.definition(definition, &definition_pointer)?;
        Some(Workflow {
            name: name.to_string(),
            file: file.to_path_buf(),
            kind,
            definition_pointer,
            definition,
            source: std::sync::Arc::from(""),
        })
    }

    fn workflow_kind(&mut self, kind: Option<Node<'_>>, at: &Pointer) -> WorkflowKind {
        let Some(kind) = kind else {
            return WorkflowKind::Stateful;
        };
        match kind.as_str() {
            Some(text) => match WorkflowKind::parse(&text) {
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
                    format!("`kind` must be a string, found {}", kind.kind().name()),
                );
                WorkflowKind::Stateful
            }
        }
    }

    fn definition(&mut self, node: Node<'_>, at: &Pointer) -> Option<Definition<P>> {
        if !self.expect_object(node, at, "`definition`") {
            return None;
        }
        let mut fields = Fields::new(node, DEFINITION);
        let mut definition = Definition {
            schema: self.optional(&mut fields, "$schema", at),
            content_version: self.optional(&mut fields, "contentVersion", at),
            parameters: self.declarations(&mut fields, "parameters", at),
            outputs: self.declarations(&mut fields, "outputs", at),
            static_results: self.declarations(&mut fields, "staticResults", at),
            ..Definition::default()
        };
        if let Some(triggers) = fields.take("triggers") {
            definition.triggers = self.triggers(triggers, &at.join("triggers"));
        }
        if let Some(actions) = fields.take("actions") {
            let at = at.join("actions");
            definition.actions = self.actions(actions, &at);
            if self.actions_seen > limits::MAX_ACTIONS {
                self.problems.error(
                    &at,
                    format!(
                        "the workflow has {} actions; Logic Apps allows at most {}",
                        self.actions_seen,
                        limits::MAX_ACTIONS
                    ),
                );
            }
        }
        self.leftovers(&fields, at, "definition");
        Some(definition)
    }

    /// Declarations (parameters, outputs, static results), each read and checked. A validating
    /// read keeps none: nothing checked later looks at them.
    fn declarations<T: DeserializeOwned>(
        &mut self,
        fields: &mut Fields<'_>,
        key: &'static str,
        at: &Pointer,
    ) -> IndexMap<String, T> {
        let mut out = IndexMap::new();
        let Some(node) = fields.take(key) else {
            return out;
        };
        let at = at.join(key);
        if node.kind() != Kind::Object {
            self.check::<IndexMap<String, T>>(node, &at);
            return out;
        }
        node.members(|name, value| {
            if let Some(declaration) = self.leaf::<T>(value, &at.join(name)) {
                if P::KEPT {
                    out.insert(name.to_string(), declaration);
                }
            }
        });
        out
    }

    /// Reads the first trigger; a workflow has exactly one, so any other is reported, not read.
    fn triggers(&mut self, node: Node<'_>, at: &Pointer) -> IndexMap<String, Trigger<P>> {
        let mut triggers = IndexMap::new();
        if !self.expect_object(node, at, "`triggers`") {
            return triggers;
        }
        let mut first: Option<String> = None;
        node.members(|name, value| {
            let pointer = at.join(name);
            match &first {
                Some(first) => self.problems.error(
                    &pointer,
                    format!(
                        "a workflow has exactly one trigger; '{name}' is a second one besides '{first}'"
                    ),
                ),
                None => {
                    first = Some(name.to_string());
                    if let Some(trigger) = self.trigger(name.to_string(), value, pointer) {
                        triggers.insert(trigger.name.clone(), trigger);
                    }
                }
            }
        });
        triggers
    }

    fn trigger(&mut self, name: String, node: Node<'_>, pointer: Pointer) -> Option<Trigger<P>> {
        if !self.expect_object(node, &pointer, "a trigger") {
            return None;
        }
        let mut fields = Fields::new(node, TRIGGER);
        let trigger_type = self.type_name(
            &mut fields,
            &pointer,
            "trigger",
            TriggerType::parse,
            TriggerType::expected,
        )?;
        let inputs_node = fields.take("inputs");
        if trigger_type == TriggerType::ServiceProvider {
            let inputs = inputs_node.unwrap_or(Node::NULL);
            self.check::<super::inputs::ServiceProviderInputs<super::payload::Skipped>>(
                inputs,
                &pointer.join("inputs"),
            );
        }
        let kind = self.optional(&mut fields, "kind", &pointer);
        if matches!(
            trigger_type,
            TriggerType::Recurrence | TriggerType::SlidingWindow
        ) && fields.peek("recurrence").is_none()
        {
            self.problems.error(
                &pointer,
                format!("a {trigger_type} trigger needs `recurrence`"),
            );
        }
        let recurrence = self.optional(&mut fields, "recurrence", &pointer);
        let conditions = self
            .optional(&mut fields, "conditions", &pointer)
            .unwrap_or_default();
        let options = self.common(&mut fields, &pointer);
        let split_on = fields.take("splitOn").map(payload);
        let correlation = fields.take("correlation").map(payload);
        self.leftovers(&fields, &pointer, "trigger");
        Some(Trigger {
            name,
            pointer,
            trigger_type,
            kind,
            inputs: inputs_node.map(payload).unwrap_or_default(),
            recurrence,
            split_on,
            conditions,
            options,
            correlation,
        })
    }

    /// Reads an `actions` object; `at` points at that object.
    pub fn actions(&mut self, node: Node<'_>, at: &Pointer) -> Actions<P> {
        let mut actions = Actions::new();
        if !self.expect_object(node, at, "`actions`") {
            return actions;
        }
        node.members(|name, value| {
            if self.actions_seen >= limits::MAX_ACTIONS {
                self.actions_seen += 1 + count_actions(value);
                self.unreadable.past_limit = true;
                return;
            }
            self.actions_seen += 1;
            match self.action(name.to_string(), value, at.join(name)) {
                Some(action) => {
                    actions.insert(name.to_string(), action);
                }
                None => {
                    self.unreadable
                        .names
                        .insert((at.clone(), name.to_lowercase()));
                }
            }
        });
        actions
    }

    fn action(&mut self, name: String, node: Node<'_>, pointer: Pointer) -> Option<Action<P>> {
        if !self.expect_object(node, &pointer, "an action") {
            return None;
        }
        let mut fields = Fields::new(node, ACTION);
        let action_type = self.type_name(
            &mut fields,
            &pointer,
            "action",
            ActionType::parse,
            ActionType::expected,
        )?;
        let run_after = self.run_after(fields.take("runAfter"), &pointer.join("runAfter"));
        let kind = self.optional(&mut fields, "kind", &pointer);
        let options = self.common(&mut fields, &pointer);
        let inputs = fields.take("inputs");
        let retry_policy = inputs
            .and_then(|i| i.get("retryPolicy"))
            .and_then(|v| self.leaf(v, &pointer.join("inputs").join("retryPolicy")));
        let body = self.body(action_type, &mut fields, inputs, &pointer);
        self.leftovers(&fields, &pointer, "action");
        let mut raw_inputs: P = inputs.map(payload).unwrap_or_default();
        raw_inputs.remove("retryPolicy");
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

    /// `runAfter`, whose entries can only name sibling actions, so never more than a workflow
    /// may hold.
    fn run_after(&mut self, node: Option<Node<'_>>, at: &Pointer) -> RunAfter {
        let Some(node) = node else {
            return RunAfter::new();
        };
        let mut count = 0;
        node.members(|_, _| count += 1);
        if count > limits::MAX_ACTIONS {
            self.problems.error(
                at,
                format!(
                    "runAfter names {count} actions; a workflow has at most {}",
                    limits::MAX_ACTIONS
                ),
            );
            return RunAfter::new();
        }
        self.leaf(node, at).unwrap_or_default()
    }
}

/// A payload read as `P`: kept, or skipped while validating.
fn payload<P: Payload>(node: Node<'_>) -> P {
    node.read().unwrap_or_default()
}

/// Actions at any depth inside one action, counted without reading them.
fn count_actions(action: Node<'_>) -> usize {
    let mut count = 0;
    for_each_branch(&Fields::new(action, ACTION), |_, actions| {
        actions.members(|_, child| count += 1 + count_actions(child));
    });
    count
}

#[cfg(test)]
mod tests;
