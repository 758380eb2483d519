//! The Workflow action: a nested child workflow called through its Request trigger.
//!
//! In-process when the child is a workflow of this app (no HTTP hop): the event goes through
//! the child's admission gate, so its trigger concurrency applies, and a full waiting queue
//! fails the call with 429 + `Retry-After`, which the parent's retry policy backs off from,
//! as it would over HTTP. A child elsewhere is called at its callback URL on the instance
//! named by the app setting `Sluice.Workflows.{name}.BaseUrl` (or `Sluice.Workflows.BaseUrl`),
//! with the asynchronous polling pattern.
//!
//! What the parent waits for follows Logic Apps' nested-workflow rules:
//! - a child with a Response action: that response is the action's output (status ≥ 400
//!   fails the action, retried per policy on 408/429/5xx);
//! - a stateful child called by a stateful parent with `DisableAsyncPattern` and no
//!   Response: 202 once the run is admitted (fire and forget);
//! - otherwise ("trigger and wait"): the run's end; a failed child run fails the action.

use crate::http::action::call_with_pattern;
use crate::http::outbound::{Outbound, Request};
use sluice_engine::definition::names::OperationOption;
use sluice_engine::definition::{RunStatus, WorkflowKind};
use sluice_engine::expr::functions::to_text;
use sluice_engine::expr::value::Map;
use sluice_engine::expr::Value;
use sluice_engine::runtime::hosting::host::{Host, Rejected};
use sluice_engine::runtime::{ActionCall, ActionFailure, ActionHandler, BoxFuture, Settings};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

/// Builds the Workflow connector: the in-app Workflow action, which starts child runs in this
/// host once it is attached, or calls a child on another instance over HTTP.
pub fn build(
    wiring: &crate::connector::Wiring<'_>,
) -> Result<Box<dyn crate::connector::Connector>, crate::connector::ConnectorError> {
    Ok(Box::new(WorkflowConnector(WorkflowAction::new(
        wiring.outbound.clone(),
        wiring.settings.clone(),
    ))))
}

struct WorkflowConnector(Arc<WorkflowAction>);

impl crate::connector::Connector for WorkflowConnector {
    fn name(&self) -> &'static str {
        "workflow"
    }

    fn actions(&self, actions: &mut crate::connector::Actions) {
        actions.register(
            sluice_engine::definition::ActionType::Workflow,
            self.0.clone(),
        );
    }

    fn attach(&self, host: &Arc<Host>) {
        self.0.attach(host);
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// How long a parent refused by a full child queue is told to wait: about a second, spread
/// over ±0.5 s so that refused parents do not all come back in the same instant.
fn throttled_retry_after() -> Duration {
    Duration::from_millis(500 + fastrand::u64(0..=1000))
}

/// Runs Workflow actions. Attach the host once it exists (the host holds the engine that
/// holds this handler).
pub struct WorkflowAction {
    host: OnceLock<Weak<Host>>,
    outbound: Outbound,
    settings: Settings,
}

impl WorkflowAction {
    pub fn new(outbound: Outbound, settings: Settings) -> Arc<WorkflowAction> {
        Arc::new(WorkflowAction {
            host: OnceLock::new(),
            outbound,
            settings,
        })
    }

    pub fn attach(&self, host: &Arc<Host>) {
        let _ = self.host.set(Arc::downgrade(host));
    }

    async fn in_process(
        &self,
        host: Arc<Host>,
        name: &str,
        call: &ActionCall<'_>,
    ) -> Result<Value, ActionFailure> {
        let hosted = &host.workflows[name];
        let (child_kind, responds) = (hosted.plan.kind, hosted.plan.responds());
        let parent_kind = host.workflows.get(call.workflow).map(|h| h.plan.kind);
        let mut event = Map::default();
        let mut headers = call
            .inputs
            .get("headers")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        headers.insert("x-ms-workflow-name".into(), Value::from(call.workflow));
        headers.insert("x-ms-workflow-run-id".into(), Value::from(call.run_id));
        event.insert("headers".into(), Value::object(headers));
        event.insert("queries".into(), Value::object(Map::default()));
        event.insert(
            "body".into(),
            call.inputs.get("body").cloned().unwrap_or_default(),
        );
        let accepted = match host.accept_nested(name, Value::object(event)) {
            Ok(accepted) => accepted,
            Err(Rejected::QueueFull) => {
                return Err(ActionFailure {
                    retry_after: Some(throttled_retry_after()),
                    ..ActionFailure::from_status(
                        429,
                        format!(
                        "workflow '{name}' has reached its limit of concurrent and waiting runs"
                    ),
                        None,
                    )
                })
            }
            Err(Rejected::SplitOn(m)) => return Err(ActionFailure::permanent("InvalidSplitOn", m)),
            Err(Rejected::Unknown) => unreachable!("the child was looked up"),
        };
        let run_id = accepted
            .run_ids
            .first()
            .map(|id| id.to_string())
            .unwrap_or_default();
        let fire_and_forget = !responds
            && child_kind == WorkflowKind::Stateful
            && parent_kind == Some(WorkflowKind::Stateful)
            && call.has_option(OperationOption::DisableAsyncPattern);
        if fire_and_forget {
            return Ok(outputs(202, &run_id, Value::Null));
        }
        let runs = accepted
            .done
            .await
            .map_err(|e| ActionFailure::permanent("ChildWorkflowLost", e.to_string()))?;
        let Some(run) = runs.into_iter().next() else {
            return Err(ActionFailure::permanent(
                "ChildWorkflowLost",
                "the child run did not end",
            ));
        };
        if !run.response.is_null() {
            let status = run
                .response
                .get("statusCode")
                .and_then(|s| to_text(s).parse::<u16>().ok())
                .unwrap_or(200);
            let mut result = run.response.as_object().cloned().unwrap_or_default();
            result.insert("statusCode".into(), Value::from(i64::from(status)));
            let result = Value::object(result);
            return if (200..300).contains(&status) {
                Ok(result)
            } else {
                Err(ActionFailure::from_status(
                    status,
                    format!("the child workflow '{name}' answered {status}"),
                    Some(result),
                ))
            };
        }
        match run.status {
            RunStatus::Succeeded => Ok(outputs(200, &run_id, Value::Null)),
            status => Err(ActionFailure {
                outputs: Some(outputs(500, &run_id, run.error.clone())),
                ..ActionFailure::permanent(
                    "ChildWorkflowFailed",
                    format!(
                        "the child workflow '{name}' run {run_id} ended {status}: {}",
                        run.error
                    ),
                )
            }),
        }
    }

    async fn remote(&self, name: &str, call: &ActionCall<'_>) -> Result<Value, ActionFailure> {
        let trigger = call
            .inputs
            .get("host")
            .and_then(|h| h.get("triggerName"))
            .map(to_text)
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "manual".into());
        let base = (self.settings)(&format!("Sluice.Workflows.{name}.BaseUrl"))
            .or_else(|| (self.settings)("Sluice.Workflows.BaseUrl"))
            .ok_or_else(|| {
                ActionFailure::permanent(
                    "WorkflowNotFound",
                    format!(
                        "no workflow '{name}' in this app, and no app setting \
                         Sluice.Workflows.{name}.BaseUrl saying where it runs"
                    ),
                )
            })?;
        let mut inputs = Map::default();
        inputs.insert("method".into(), Value::from("POST"));
        inputs.insert(
            "uri".into(),
            Value::from(format!(
                "{}/api/{name}/triggers/{trigger}/invoke",
                base.trim_end_matches('/')
            )),
        );
        for field in ["headers", "body"] {
            if let Some(v) = call.inputs.get(field) {
                inputs.insert(field.into(), v.clone());
            }
        }
        let request = Request::from_inputs(&Value::object(inputs))?;
        call_with_pattern(&self.outbound, &request, call).await
    }
}

fn outputs(status: i64, run_id: &str, body: Value) -> Value {
    let mut headers = Map::default();
    headers.insert("x-ms-workflow-run-id".into(), Value::from(run_id));
    let mut map = Map::default();
    map.insert("statusCode".into(), Value::from(status));
    map.insert("headers".into(), Value::object(headers));
    map.insert("body".into(), body);
    Value::object(map)
}

/// `host.workflow.id`: a workflow name, or a resource id ending in `/workflows/{name}`.
fn child_name(inputs: &Value) -> String {
    let id = inputs
        .get("host")
        .and_then(|h| h.get("workflow"))
        .and_then(|w| w.get("id"))
        .map(to_text)
        .unwrap_or_default();
    id.rsplit('/').next().unwrap_or_default().to_string()
}

impl ActionHandler for WorkflowAction {
    fn execute<'a>(&'a self, call: ActionCall<'a>) -> BoxFuture<'a, Result<Value, ActionFailure>> {
        Box::pin(async move {
            let name = child_name(&call.inputs);
            let host = self.host.get().and_then(Weak::upgrade);
            let local = host.as_ref().and_then(|h| {
                h.workflows
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case(&name))
                    .cloned()
            });
            match (host, local) {
                (Some(host), Some(local)) => self.in_process(host, &local, &call).await,
                _ => self.remote(&name, &call).await,
            }
        })
    }
}
