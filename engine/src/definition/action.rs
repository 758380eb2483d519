//! Actions: the common envelope (name, runAfter, options) and the typed body of each type.

use super::inputs::*;
use super::model::{Actions, CommonOptions, RetryPolicy, RunAfter};
use super::names::ActionType;
use crate::pointer::Pointer;
use indexmap::IndexMap;
use serde_json::Value;

/// One action of a workflow, at any depth.
#[derive(Debug, Clone)]
pub struct Action<P = Value> {
    pub name: String,
    /// Where the action is in its file, e.g. `/definition/actions/Scope/actions/Http`.
    pub pointer: Pointer,
    pub action_type: ActionType,
    /// The `kind` some types carry (`Http` on Request, `ServiceProvider` …).
    pub kind: Option<String>,
    pub body: ActionBody<P>,
    pub run_after: RunAfter,
    /// The `inputs` as written (without `retryPolicy`), for handlers and run history.
    pub inputs: P,
    /// `inputs.retryPolicy`, lifted out of the inputs because it is not sent anywhere.
    pub retry_policy: Option<RetryPolicy>,
    pub options: CommonOptions<P>,
}

/// The type-specific part of an action.
#[derive(Debug, Clone)]
pub enum ActionBody<P = Value> {
    Scope {
        actions: Actions<P>,
    },
    If {
        expression: P,
        actions: Actions<P>,
        else_actions: Actions<P>,
    },
    Switch {
        expression: P,
        cases: IndexMap<String, SwitchCase<P>>,
        default_actions: Actions<P>,
    },
    Foreach {
        foreach: P,
        actions: Actions<P>,
    },
    Until {
        expression: P,
        actions: Actions<P>,
    },
    InitializeVariable(InitializeVariableInputs<P>),
    SetVariable(VariableInputs<P>),
    IncrementVariable(VariableInputs<P>),
    DecrementVariable(VariableInputs<P>),
    AppendToArrayVariable(VariableInputs<P>),
    AppendToStringVariable(VariableInputs<P>),
    Compose(P),
    ParseJson(ParseJsonInputs<P>),
    Query(QueryInputs<P>),
    Select(SelectInputs<P>),
    Join(JoinInputs<P>),
    Table(TableInputs<P>),
    Http(HttpInputs<P>),
    HttpWebhook(HttpWebhookInputs<P>),
    Function(FunctionInputs<P>),
    InvokeFunction(InvokeFunctionInputs<P>),
    Workflow(WorkflowInputs<P>),
    Response(ResponseInputs<P>),
    Terminate(TerminateInputs<P>),
    Wait(WaitInputs<P>),
    JavaScriptCode(JavaScriptCodeInputs),
    ServiceProvider(ServiceProviderInputs<P>),
    ApiConnection(ApiConnectionInputs<P>),
    ApiConnectionWebhook(ApiConnectionInputs<P>),
    Xslt(TransformInputs<P>),
    Liquid(TransformInputs<P>),
}

/// One case of a Switch.
#[derive(Debug, Clone)]
pub struct SwitchCase<P = Value> {
    pub pointer: Pointer,
    /// The value compared with the Switch expression: a literal string or integer.
    pub case: Value,
    pub actions: Actions<P>,
}

/// One list of child actions of a container, with where it is in the file.
pub struct Branch<'a, P = Value> {
    /// The pointer of the `actions` object holding the children.
    pub pointer: Pointer,
    pub actions: &'a Actions<P>,
}

impl<P> Action<P> {
    /// Every child action list of this action (none for non-containers): a Scope's or loop's
    /// `actions`, both branches of an If, every case and the default of a Switch.
    pub fn branches(&self) -> Vec<Branch<'_, P>> {
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
