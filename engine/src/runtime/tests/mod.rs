//! Runtime tests: each workflow is real WDL JSON, loaded and validated like a user's file,
//! compiled, and run on a Tokio runtime whose clock is paused, so waits and retry delays
//! advance virtual time instead of sleeping.

mod actions;
mod control;
mod durable;
mod host;
mod retries;

use super::execution::handler::{ActionCall, ActionFailure, ActionHandler, BoxFuture, Handlers};
use super::{ActionRecord, Engine, Mocks, Plan, RunRecord};
use crate::definition::check_workflow_text;
use crate::expr::Value;
use chrono::Utc;
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Compiles `actions` (and optional extra definition members) into a plan with a Request
/// trigger.
pub fn plan(actions: serde_json::Value) -> Arc<Plan> {
    plan_with(json!({"actions": actions}))
}

pub fn plan_with(definition: serde_json::Value) -> Arc<Plan> {
    let mut definition = definition.as_object().unwrap().clone();
    definition
        .entry("triggers")
        .or_insert(json!({"manual": {"type": "Request", "kind": "Http", "inputs": {}}}));
    let doc = json!({"definition": definition, "kind": "Stateful"});
    let report = check_workflow_text(&doc.to_string(), Path::new("test.json"), "test");
    let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    let workflow = report
        .workflow
        .unwrap_or_else(|| panic!("invalid test workflow:\n{}", problems.join("\n")));
    Arc::new(Plan::compile(&workflow, &HashMap::new()).unwrap())
}

pub fn engine(handlers: Handlers) -> Engine {
    Engine::new(
        handlers,
        Arc::new(|name| (name == "Greeting").then(|| "Hello".to_string())),
    )
}

/// Runs `plan` with trigger body `body` and canned results `mocks`.
pub async fn run_with(
    engine: &Engine,
    plan: Arc<Plan>,
    body: serde_json::Value,
    mocks: serde_json::Value,
) -> RunRecord {
    let outputs = json!({"headers": {}, "body": body});
    let mocks: Mocks = serde_json::from_value(mocks).unwrap();
    engine
        .run(plan, Value::from_json(outputs), Arc::new(mocks))
        .await
}

pub async fn run(plan: Arc<Plan>, body: serde_json::Value) -> RunRecord {
    run_with(&engine(Handlers::default()), plan, body, json!({})).await
}

/// The record of action `name` anywhere in the run (the last one, for loop iterations).
pub fn find<'a>(run: &'a RunRecord, name: &str) -> &'a ActionRecord {
    fn search<'a>(records: &'a [Arc<ActionRecord>], name: &str) -> Option<&'a ActionRecord> {
        records.iter().rev().find_map(|r| {
            if &*r.name == name {
                Some(&**r)
            } else {
                search(&r.actions, name)
            }
        })
    }
    search(&run.actions, name).unwrap_or_else(|| panic!("no action {name} in the run"))
}

/// The outputs of action `name` as JSON.
pub fn outputs(run: &RunRecord, name: &str) -> serde_json::Value {
    find(run, name).outputs.to_json()
}

/// A handler that answers from a script of results, one per call, and counts calls.
pub struct Scripted {
    pub answers: std::sync::Mutex<Vec<Result<serde_json::Value, ActionFailure>>>,
    pub calls: std::sync::Mutex<Vec<(String, serde_json::Value, tokio::time::Instant)>>,
}

impl Scripted {
    pub fn new(answers: Vec<Result<serde_json::Value, ActionFailure>>) -> Arc<Scripted> {
        Arc::new(Scripted {
            answers: std::sync::Mutex::new(answers.into_iter().rev().collect()),
            calls: std::sync::Mutex::new(Vec::new()),
        })
    }
}

impl ActionHandler for Scripted {
    fn execute<'a>(&'a self, call: ActionCall<'a>) -> BoxFuture<'a, Result<Value, ActionFailure>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push((
                call.idempotency_key.to_string(),
                call.inputs.to_json(),
                tokio::time::Instant::now(),
            ));
            let answer = self
                .answers
                .lock()
                .unwrap()
                .pop()
                .unwrap_or_else(|| Ok(json!({"statusCode": 200})));
            answer.map(Value::from_json)
        })
    }
}
