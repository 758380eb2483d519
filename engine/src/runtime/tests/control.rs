//! Control flow: runAfter, skip propagation, containers, loops and run status.

use super::*;
use crate::definition::RunStatus;

fn compose(value: serde_json::Value, run_after: serde_json::Value) -> serde_json::Value {
    json!({"type": "Compose", "inputs": value, "runAfter": run_after})
}

fn failing(run_after: serde_json::Value) -> serde_json::Value {
    json!({"type": "Compose", "inputs": "@div(1, 0)", "runAfter": run_after})
}

#[tokio::test(start_paused = true)]
async fn run_after_statuses_and_skip_propagation() {
    let p = plan(json!({
        "Boom": failing(json!({})),
        "OnSuccess": compose(json!(1), json!({"Boom": ["Succeeded"]})),
        "AfterSkipped": compose(json!(2), json!({"OnSuccess": ["Succeeded"]})),
        "WhenSkipped": compose(json!(3), json!({"OnSuccess": ["Skipped"]})),
        "OnFailure": compose(json!(4), json!({"Boom": ["Failed", "TimedOut"]})),
        "Either": compose(json!(5), json!({"Boom": ["Succeeded", "Failed"]}))
    }));
    let r = run(p, json!(null)).await;
    let status = |n| find(&r, n).status;
    assert_eq!(status("Boom"), RunStatus::Failed);
    assert_eq!(status("OnSuccess"), RunStatus::Skipped);
    assert_eq!(status("AfterSkipped"), RunStatus::Skipped);
    assert_eq!(status("WhenSkipped"), RunStatus::Succeeded);
    assert_eq!(status("OnFailure"), RunStatus::Succeeded);
    assert_eq!(status("Either"), RunStatus::Succeeded);
    // AfterSkipped ends a branch with Skipped, so that branch takes Boom's Failed.
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(
        find(&r, "OnSuccess").error.to_json()["message"],
        json!("the execution of template action 'OnSuccess' is skipped: the 'runAfter' condition for action 'Boom' is not satisfied. Expected status values 'Succeeded' and actual value 'Failed'.")
    );
}

#[tokio::test(start_paused = true)]
async fn try_catch_reads_result_of_the_scope() {
    let p = plan(json!({
        "Try": {"type": "Scope", "runAfter": {}, "actions": {
            "Step1": compose(json!("ok"), json!({})),
            "Step2": failing(json!({"Step1": ["Succeeded"]}))
        }},
        "Catch": {"type": "Scope", "runAfter": {"Try": ["Failed", "TimedOut"]}, "actions": {
            "Failures": {"type": "Query", "inputs": {"from": "@result('Try')", "where": "@equals(item()['status'], 'Failed')"}, "runAfter": {}},
            "Report": compose(json!({"failed": "@first(body('Failures'))?['name']", "code": "@first(body('Failures'))?['code']"}), json!({"Failures": ["Succeeded"]}))
        }}
    }));
    let r = run(p, json!(null)).await;
    assert_eq!(find(&r, "Try").status, RunStatus::Failed);
    assert_eq!(
        outputs(&r, "Report"),
        json!({"failed": "Step2", "code": "InvalidTemplate"})
    );
    assert_eq!(find(&r, "Catch").status, RunStatus::Succeeded);
    assert_eq!(
        r.status,
        RunStatus::Succeeded,
        "the catch handled the failure"
    );
}

#[tokio::test(start_paused = true)]
async fn if_and_switch_choose_branches() {
    let p = plan(json!({
        "Check": {"type": "If", "expression": {"and": [{"greater": ["@triggerBody()?['n']", 5]}]}, "runAfter": {},
                  "actions": {"Big": compose(json!("big"), json!({}))},
                  "else": {"actions": {"Small": compose(json!("small"), json!({}))}}},
        "Route": {"type": "Switch", "expression": "@triggerBody()?['kind']", "runAfter": {},
                  "cases": {"A": {"case": "a", "actions": {"GotA": compose(json!("A"), json!({}))}},
                            "Two": {"case": 2, "actions": {"GotTwo": compose(json!(2), json!({}))}}},
                  "default": {"actions": {"Other": compose(json!("other"), json!({}))}}}
    }));
    let r = run(p.clone(), json!({"n": 9, "kind": "a"})).await;
    assert_eq!(outputs(&r, "Big"), json!("big"));
    assert!(find(&r, "Check")
        .actions
        .iter()
        .all(|a| &*a.name != "Small"));
    assert_eq!(outputs(&r, "GotA"), json!("A"));
    let r = run(p, json!({"n": 1, "kind": 3})).await;
    assert_eq!(outputs(&r, "Small"), json!("small"));
    assert_eq!(outputs(&r, "Other"), json!("other"));
}

#[tokio::test(start_paused = true)]
async fn foreach_runs_iterations_concurrently_and_sees_items() {
    let p = plan(json!({
        "Init": {"type": "InitializeVariable", "inputs": {"variables": [{"name": "seen", "type": "array", "value": []}]}, "runAfter": {}},
        "Loop": {"type": "Foreach", "foreach": "@triggerBody()", "runAfter": {"Init": ["Succeeded"]},
                 "runtimeConfiguration": {"concurrency": {"repetitions": 3}},
                 "actions": {
                    "Pause": {"type": "Wait", "inputs": {"interval": {"count": "@items('Loop')", "unit": "Second"}}, "runAfter": {}},
                    "Double": compose(json!("@mul(item(), 2)"), json!({"Pause": ["Succeeded"]})),
                    "Remember": {"type": "AppendToArrayVariable", "inputs": {"name": "seen", "value": "@outputs('Double')"}, "runAfter": {"Double": ["Succeeded"]}}
                 }},
        "Seen": compose(json!("@variables('seen')"), json!({"Loop": ["Succeeded"]}))
    }));
    let before = tokio::time::Instant::now();
    let r = run(p, json!([4, 1, 2, 2])).await;
    // Three at a time: items 0-2 start at t=0; item 1 ends at t=1 and item 3 starts, ending at
    // t=3; item 2 ends at t=2 and item 0 at t=4.
    assert_eq!(before.elapsed().as_secs(), 4);
    assert_eq!(outputs(&r, "Seen"), json!([2, 4, 4, 8]));
    let loop_record = find(&r, "Loop");
    assert_eq!(loop_record.actions.len(), 12);
    assert_eq!(
        loop_record.actions.iter().filter_map(|a| a.iteration).max(),
        Some(3)
    );
}

#[tokio::test(start_paused = true)]
async fn sequential_foreach_keeps_order() {
    let p = plan(json!({
        "Init": {"type": "InitializeVariable", "inputs": {"variables": [{"name": "s", "type": "string", "value": ""}]}, "runAfter": {}},
        "Loop": {"type": "Foreach", "foreach": "@triggerBody()", "operationOptions": "Sequential", "runAfter": {"Init": ["Succeeded"]},
                 "actions": {"Add": {"type": "AppendToStringVariable", "inputs": {"name": "s", "value": "@item()"}, "runAfter": {}}}},
        "Out": compose(json!("@variables('s')"), json!({"Loop": ["Succeeded"]}))
    }));
    let r = run(p, json!(["a", "b", "c", "d"])).await;
    assert_eq!(outputs(&r, "Out"), json!("abcd"));
}

#[tokio::test(start_paused = true)]
async fn until_stops_on_condition_count_or_timeout() {
    let until = |limit: serde_json::Value, target: i64| {
        plan(json!({
            "Init": {"type": "InitializeVariable", "inputs": {"variables": [{"name": "i", "type": "integer", "value": 0}]}, "runAfter": {}},
            "Loop": {"type": "Until", "expression": format!("@equals(variables('i'), {target})"), "limit": limit, "runAfter": {"Init": ["Succeeded"]},
                     "actions": {
                        "Tick": {"type": "Wait", "inputs": {"interval": {"count": 10, "unit": "Second"}}, "runAfter": {}},
                        "Inc": {"type": "IncrementVariable", "inputs": {"name": "i"}, "runAfter": {"Tick": ["Succeeded"]}},
                        "Index": compose(json!("@iterationIndexes('Loop')"), json!({"Inc": ["Succeeded"]}))
                     }},
            "Out": compose(json!("@variables('i')"), json!({"Loop": ["Succeeded", "TimedOut"]}))
        }))
    };
    let r = run(
        until(json!({"count": 10, "timeout": "PT1H"}), 3),
        json!(null),
    )
    .await;
    assert_eq!(
        (
            find(&r, "Loop").status,
            outputs(&r, "Out"),
            outputs(&r, "Index")
        ),
        (RunStatus::Succeeded, json!(3), json!(2))
    );
    let r = run(
        until(json!({"count": 4, "timeout": "PT1H"}), 100),
        json!(null),
    )
    .await;
    assert_eq!(
        (find(&r, "Loop").status, outputs(&r, "Out")),
        (RunStatus::Succeeded, json!(4))
    );
    let r = run(
        until(json!({"count": 100, "timeout": "PT35S"}), 100),
        json!(null),
    )
    .await;
    assert_eq!(
        (find(&r, "Loop").status, outputs(&r, "Out")),
        (RunStatus::TimedOut, json!(4))
    );
}
