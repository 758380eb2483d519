//! The type-specific part of an action: containers with their branches and cases, and the
//! typed inputs of every other type.

use super::{payload, Reader};
use crate::definition::action::{ActionBody, SwitchCase};
use crate::definition::fields::{Fields, BRANCH};
use crate::definition::model::Actions;
use crate::definition::names::ActionType;
use crate::definition::node::{Kind, Node};
use crate::definition::payload::Payload;
use crate::definition::validate::limits;
use crate::pointer::Pointer;
use indexmap::IndexMap;
use serde_json::Value;

impl<P: Payload> Reader<'_, P> {
    pub(super) fn body(
        &mut self,
        action_type: ActionType,
        fields: &mut Fields<'_>,
        inputs: Option<Node<'_>>,
        at: &Pointer,
    ) -> Option<ActionBody<P>> {
        use ActionType as T;
        let inputs_at = at.join("inputs");
        let typed = inputs.unwrap_or(Node::EMPTY_OBJECT);
        Some(match action_type {
            T::Scope => ActionBody::Scope {
                actions: self.children(fields, at),
            },
            T::If => ActionBody::If {
                expression: self.required(fields, "expression", at, "If"),
                actions: self.children(fields, at),
                else_actions: self.nested_actions(fields.take("else"), &at.join("else")),
            },
            T::Switch => ActionBody::Switch {
                expression: self.required(fields, "expression", at, "Switch"),
                cases: self.cases(fields.take("cases"), &at.join("cases")),
                default_actions: self.nested_actions(fields.take("default"), &at.join("default")),
            },
            T::Foreach => ActionBody::Foreach {
                foreach: self.required(fields, "foreach", at, "Foreach"),
                actions: self.children(fields, at),
            },
            T::Until => ActionBody::Until {
                expression: self.required(fields, "expression", at, "Until"),
                actions: self.children(fields, at),
            },
            T::Compose => ActionBody::Compose(if is_empty_object(typed) {
                self.problems.error(at, "Compose needs `inputs`");
                P::default()
            } else {
                payload(typed)
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

    pub(super) fn children(&mut self, fields: &mut Fields<'_>, at: &Pointer) -> Actions<P> {
        match fields.take("actions") {
            Some(actions) => self.actions(actions, &at.join("actions")),
            None => Actions::new(),
        }
    }

    /// Reads `{"actions": {…}}` as found under `else`, `default` and each Switch case.
    pub(super) fn nested_actions(&mut self, node: Option<Node<'_>>, at: &Pointer) -> Actions<P> {
        let Some(node) = node else {
            return Actions::new();
        };
        if !self.expect_object(node, at, "a branch") {
            return Actions::new();
        }
        let mut fields = Fields::new(node, BRANCH);
        let actions = self.children(&mut fields, at);
        self.leftovers(&fields, at, "branch");
        actions
    }

    /// A Switch's `cases`; more than Logic Apps allows are reported, not read.
    pub(super) fn cases(
        &mut self,
        node: Option<Node<'_>>,
        at: &Pointer,
    ) -> IndexMap<String, SwitchCase<P>> {
        let mut out = IndexMap::new();
        let Some(node) = node.filter(|n| self.expect_object(*n, at, "`cases`")) else {
            return out;
        };
        let mut count = 0;
        node.members(|_, _| count += 1);
        if count > limits::MAX_SWITCH_CASES {
            self.problems.error(
                at,
                format!(
                    "the Switch has {count} cases; Logic Apps allows at most {}",
                    limits::MAX_SWITCH_CASES
                ),
            );
            return out;
        }
        node.members(|name, value| {
            let pointer = at.join(name);
            if !self.expect_object(value, &pointer, "a Switch case") {
                return;
            }
            let mut case = Fields::new(value, BRANCH);
            let case_value = self.case_value(case.take("case"), &pointer);
            let actions = self.children(&mut case, &pointer);
            self.leftovers(&case, &pointer, "Switch case");
            out.insert(
                name.to_string(),
                SwitchCase {
                    pointer,
                    case: case_value,
                    actions,
                },
            );
        });
        out
    }

    /// The value a Switch case is compared with: a string or a number.
    pub(super) fn case_value(&mut self, node: Option<Node<'_>>, at: &Pointer) -> Value {
        let Some(node) = node else {
            self.problems.error(at, "A Switch case needs `case`");
            return Value::Null;
        };
        match node.kind() {
            Kind::Array | Kind::Object => {
                self.problems.error(
                    &at.join("case"),
                    format!(
                        "a Switch case value must be a string or a number, found {}",
                        node.kind().name()
                    ),
                );
                Value::Null
            }
            _ => node.to_value(),
        }
    }
}

fn is_empty_object(node: Node<'_>) -> bool {
    let mut empty = true;
    node.kind() == Kind::Object && {
        node.members(|_, _| empty = false);
        empty
    }
}
