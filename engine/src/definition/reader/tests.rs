//! Reading bounded by Logic Apps' limits, and a validating read that matches a running one.

use crate::definition::problem::MAX_PROBLEMS;
use crate::definition::workflow_file::{check, Purpose};
use crate::definition::{Problem, WorkflowReport};
use serde_json::{json, Value};
use std::path::Path;

fn checked(doc: &Value, purpose: Purpose) -> WorkflowReport {
    check(&doc.to_string(), Path::new("test.json"), "test", purpose)
}

fn messages(report: &WorkflowReport) -> Vec<(String, String)> {
    report
        .problems
        .iter()
        .map(|p: &Problem| (p.pointer.to_string(), p.message.clone()))
        .collect()
}

fn workflow(actions: Value) -> Value {
    json!({"definition": {
        "triggers": {"manual": {"type": "Request", "kind": "Http"}},
        "actions": actions
    }})
}

#[test]
fn actions_past_the_limit_are_counted_not_read() {
    let mut actions = serde_json::Map::new();
    for i in 0..600 {
        actions.insert(format!("a{i}"), json!({"type": "Compose", "inputs": i}));
    }
    // The last action runs after one past the limit: no second error for that.
    actions.insert(
        "Last".into(),
        json!({"type": "Compose", "inputs": 1, "runAfter": {"a599": ["Succeeded"]},
               "actions": {}}),
    );
    let report = checked(&workflow(Value::Object(actions)), Purpose::Validate);
    assert_eq!(
        messages(&report),
        [(
            "/definition/actions".to_string(),
            "the workflow has 601 actions; Logic Apps allows at most 500".to_string()
        )]
    );
}

#[test]
fn switch_cases_past_the_limit_and_non_scalar_cases_are_refused() {
    let cases: serde_json::Map<String, Value> = (0..30)
        .map(|i| (format!("c{i}"), json!({"case": i, "actions": {}})))
        .collect();
    let many = workflow(json!({"S": {"type": "Switch", "expression": "@1", "cases": cases}}));
    assert_eq!(
        messages(&checked(&many, Purpose::Validate)),
        [(
            "/definition/actions/S/cases".to_string(),
            "the Switch has 30 cases; Logic Apps allows at most 25".to_string()
        )]
    );
    let array = workflow(json!({"S": {"type": "Switch", "expression": "@1",
        "cases": {"c": {"case": [1], "actions": {}}}}}));
    assert_eq!(
        messages(&checked(&array, Purpose::Validate)),
        [(
            "/definition/actions/S/cases/c/case".to_string(),
            "a Switch case value must be a string or a number, found an array".to_string()
        )]
    );
}

#[test]
fn a_second_trigger_is_reported_and_not_read() {
    let doc = json!({"definition": {
        "triggers": {
            "manual": {"type": "Request", "kind": "Http"},
            "other": {"type": "NoSuchType"}
        },
        "actions": {}
    }});
    assert_eq!(
        messages(&checked(&doc, Purpose::Validate)),
        [(
            "/definition/triggers/other".to_string(),
            "a workflow has exactly one trigger; 'other' is a second one besides 'manual'"
                .to_string()
        )]
    );
}

#[test]
fn huge_run_after_and_dependency_lists_are_refused_before_they_are_read() {
    let run_after: serde_json::Map<String, Value> =
        (0..501).map(|i| (format!("n{i}"), json!([]))).collect();
    let names: Vec<String> = (0..501).map(|i| format!("n{i}")).collect();
    let doc = workflow(json!({
        "A": {"type": "Compose", "inputs": 1, "runAfter": run_after},
        "Code": {"type": "JavaScriptCode", "inputs": {"code": "1",
            "explicitDependencies": {"actions": names}}}
    }));
    assert_eq!(
        messages(&checked(&doc, Purpose::Validate)),
        [
            (
                "/definition/actions/A/runAfter".to_string(),
                "runAfter names 501 actions; a workflow has at most 500".to_string()
            ),
            (
                "/definition/actions/Code/inputs/explicitDependencies/actions".to_string(),
                "more than 500 action names; a workflow has at most 500 actions".to_string()
            ),
        ]
    );
}

#[test]
fn problems_past_the_limit_are_counted_in_a_last_line() {
    let bad: Vec<Value> = (0..MAX_PROBLEMS + 500).map(|_| json!("@f(")).collect();
    let report = checked(
        &workflow(json!({"C": {"type": "Compose", "inputs": bad}})),
        Purpose::Validate,
    );
    assert_eq!(report.problems.len(), MAX_PROBLEMS + 1);
    let last = report.problems.last().unwrap();
    assert!(last.is_error());
    assert!(
        last.message.starts_with("more problems are not listed"),
        "{}",
        last.message
    );
}

#[test]
fn validating_finds_what_loading_to_run_finds_and_keeps_no_workflow() {
    let valid = workflow(json!({
        "Init": {"type": "InitializeVariable", "inputs": {"variables": [
            {"name": "n", "type": "integer", "value": "@triggerBody()?['n']"}]}},
        "Loop": {"type": "Foreach", "foreach": "@range(0, 3)", "runAfter": {"Init": ["Succeeded"]},
            "actions": {"Add": {"type": "IncrementVariable", "inputs": {"name": "n", "value": 1}}}},
        "Reply": {"type": "Response", "runAfter": {"Loop": ["Succeeded"]},
            "inputs": {"body": {"n": "@variables('n')", "at": "@{utcNow()}"}}}
    }));
    let validated = checked(&valid, Purpose::Validate);
    let loaded = checked(&valid, Purpose::Run);
    assert!(validated.is_valid() && loaded.is_valid());
    assert!(validated.workflow.is_none());
    let kept = loaded.workflow.expect("a valid workflow is kept to run");
    assert_eq!(kept.action_count(), 4);
    assert_eq!(
        kept.definition.actions["Reply"].inputs["body"]["n"],
        json!("@variables('n')")
    );
    let broken = workflow(json!({"A": {"type": "Compose", "inputs": "@nope(",
        "runAfter": {"Missing": ["Succeeded"]}, "extra": 1}}));
    assert_eq!(
        messages(&checked(&broken, Purpose::Validate)),
        messages(&checked(&broken, Purpose::Run))
    );
}
