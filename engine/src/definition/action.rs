//! Actions: the common envelope (name, runAfter, options) and the typed body of each type.

use super::inputs::*;
use super::model::{Actions, CommonOptions, RetryPolicy, RunAfter};
use super::names::ActionType;
use crate::pointer::Pointer;
use indexmap::IndexMap;
use serde_json::Value;

/// One action of a workflow, at any depth.
#[derive(Debug, Clone)]
pub struct Action {
    pub name: String,
    /// Where the action is in its file, e.g. `/definition/actions/Scope/actions/Http`.
    pub pointer: Pointer,
    pub action_type: ActionType,
    /// The `kind` some types carry (`Http` on Request, `ServiceProvider` …).
    pub kind: Option<String>,
    pub body: ActionBody,
    pub run_after: RunAfter,
    /// The `inputs` as written (without `retryPolicy`), for handlers and run history.
    pub inputs: Value,
    /// `inputs.retryPolicy`, lifted out of the inputs because it is not sent anywhere.
    pub retry_policy: Option<RetryPolicy>,
    pub options: CommonOptions,
}

/// The type-specific part of an action.
#[derive(Debug, Clone)]
pub enum ActionBody {
    Scope {
        actions: Actions,
    },
    If {
        expression: Value,
        actions: Actions,
        else_actions: Actions,
    },
    Switch {
        expression: Value,
        cases: IndexMap<String, SwitchCase>,
        default_actions: Actions,
    },
    Foreach {
        foreach: Value,
        actions: Actions,
    },
    Until {
        expression: Value,
        actions: Actions,
    },
    InitializeVariable(InitializeVariableInputs),
    SetVariable(VariableInputs),
    IncrementVariable(VariableInputs),
    DecrementVariable(VariableInputs),
    AppendToArrayVariable(VariableInputs),
    AppendToStringVariable(VariableInputs),
    Compose(Value),
    ParseJson(ParseJsonInputs),
    Query(QueryInputs),
    Select(SelectInputs),
    Join(JoinInputs),
    Table(TableInputs),
    Http(HttpInputs),
    HttpWebhook(HttpWebhookInputs),
    Function(FunctionInputs),
    InvokeFunction(InvokeFunctionInputs),
    Workflow(WorkflowInputs),
    Response(ResponseInputs),
    Terminate(TerminateInputs),
    Wait(WaitInputs),
    JavaScriptCode(JavaScriptCodeInputs),
    ServiceProvider(ServiceProviderInputs),
    ApiConnection(ApiConnectionInputs),
    ApiConnectionWebhook(ApiConnectionInputs),
    Xslt(TransformInputs),
    Liquid(TransformInputs),
}

/// One case of a Switch.
#[derive(Debug, Clone)]
pub struct SwitchCase {
    pub pointer: Pointer,
    /// The value compared with the Switch expression: a literal string or integer.
    pub case: Value,
    pub actions: Actions,
}

/// One list of child actions of a container, with where it is in the file.
pub struct Branch<'a> {
    /// The pointer of the `actions` object holding the children.
    pub pointer: Pointer,
    pub actions: &'a Actions,
}

impl Action {
    /// Every child action list of this action (none for non-containers): a Scope's or loop's
    /// `actions`, both branches of an If, every case and the default of a Switch.
    pub fn branches(&self) -> Vec<Branch<'_>> {
        let p = &self.pointer;
        let at = |pointer: Pointer, actions| Branch { pointer, actions };
        match &self.body {
            ActionBody::Scope { actions }
            | ActionBody::Foreach { actions, .. }
            | ActionBody::Until { actions, .. } => vec![at(p.join("actions"), actions)],
            ActionBody::If {
                actions,
                else_actions,
                ..
            } => vec![
                at(p.join("actions"), actions),
                at(p.join("else").join("actions"), else_actions),
            ],
            ActionBody::Switch {
                cases,
                default_actions,
                ..
            } => cases
                .values()
                .map(|c| at(c.pointer.join("actions"), &c.actions))
                .chain(std::iter::once(at(
                    p.join("default").join("actions"),
                    default_actions,
                )))
                .collect(),
            _ => Vec::new(),
        }
    }
}
