//! The built-in actions.

use super::*;
use crate::definition::RunStatus;

fn init(name: &str, t: &str, value: serde_json::Value) -> serde_json::Value {
    json!({"type": "InitializeVariable", "inputs": {"variables": [{"name": name, "type": t, "value": value}]}, "runAfter": {}})
}

#[tokio::test(start_paused = true)]
async fn variables_are_typed_and_updated() {
    let p = plan(json!({
        "Init_n": init("n", "integer", json!(1)),
        "Init_f": {"type": "InitializeVariable", "inputs": {"variables": [{"name": "f", "type": "float", "value": 1}]}, "runAfter": {"Init_n": ["Succeeded"]}},
        "Init_list": {"type": "InitializeVariable", "inputs": {"variables": [{"name": "list", "type": "array", "value": []}, {"name": "s", "type": "string", "value": "a"}]}, "runAfter": {"Init_f": ["Succeeded"]}},
        "Inc": {"type": "IncrementVariable", "inputs": {"name": "n", "value": 4}, "runAfter": {"Init_list": ["Succeeded"]}},
        "Dec": {"type": "DecrementVariable", "inputs": {"name": "n"}, "runAfter": {"Inc": ["Succeeded"]}},
        "Inc_f": {"type": "IncrementVariable", "inputs": {"name": "f", "value": 0.5}, "runAfter": {"Dec": ["Succeeded"]}},
        "Push": {"type": "AppendToArrayVariable", "inputs": {"name": "list", "value": "@variables('n')"}, "runAfter": {"Inc_f": ["Succeeded"]}},
        "Append": {"type": "AppendToStringVariable", "inputs": {"name": "s", "value": "bc"}, "runAfter": {"Push": ["Succeeded"]}},
        "Set": {"type": "SetVariable", "inputs": {"name": "s", "value": "@concat(variables('s'), '!')"}, "runAfter": {"Append": ["Succeeded"]}},
        "Result": {"type": "Compose", "inputs": {"n": "@variables('n')", "f": "@variables('f')", "list": "@variables('list')", "s": "@variables('s')"}, "runAfter": {"Set": ["Succeeded"]}}
    }));
    let r = run(p, json!(null)).await;
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!(
        outputs(&r, "Result"),
        json!({"n": 4, "f": 1.5, "list": [4], "s": "abc!"})
    );
    assert_eq!(outputs(&r, "Dec"), json!({"body": 4}));
}

#[tokio::test(start_paused = true)]
async fn variable_type_mismatch_fails_the_action() {
    let p = plan(json!({
        "Init": init("n", "integer", json!(1)),
        "Set": {"type": "SetVariable", "inputs": {"name": "n", "value": "text"}, "runAfter": {"Init": ["Succeeded"]}}
    }));
    let r = run(p, json!(null)).await;
    assert_eq!(r.status, RunStatus::Failed);
    let set = find(&r, "Set");
    assert_eq!(set.status, RunStatus::Failed);
    assert_eq!(
        set.error.to_json(),
        json!({"code": "InvalidVariableType", "message": "the variable 'n' of type Integer cannot hold the string 'text'"})
    );
    assert_eq!(r.error, set.error);
}

#[tokio::test(start_paused = true)]
async fn data_operations() {
    let p = plan(json!({
        "Parse": {"type": "ParseJson", "inputs": {"content": "@triggerBody()", "schema": {"type": "object", "properties": {"items": {"type": "array"}}}}, "runAfter": {}},
        "Cheap": {"type": "Query", "inputs": {"from": "@body('Parse')?['items']", "where": "@less(item()?['price'], 10)"}, "runAfter": {"Parse": ["Succeeded"]}},
        "Names": {"type": "Select", "inputs": {"from": "@body('Parse')?['items']", "select": {"label": "@toUpper(item()?['name'])"}}, "runAfter": {"Parse": ["Succeeded"]}},
        "Joined": {"type": "Join", "inputs": {"from": "@createArray('a', 'b')", "joinWith": ";"}, "runAfter": {}},
        "Csv": {"type": "Table", "inputs": {"format": "CSV", "from": "@body('Parse')?['items']"}, "runAfter": {"Parse": ["Succeeded"]}},
        "Html": {"type": "Table", "inputs": {"format": "HTML", "from": "@body('Parse')?['items']", "columns": [{"header": "Item", "value": "@item()?['name']"}]}, "runAfter": {"Parse": ["Succeeded"]}}
    }));
    let body = json!({"items": [{"name": "pen", "price": 2}, {"name": "ink, blue", "price": 12}]});
    let r = run(p, body).await;
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!(
        outputs(&r, "Cheap"),
        json!({"body": [{"name": "pen", "price": 2}]})
    );
    assert_eq!(
        outputs(&r, "Names"),
        json!({"body": [{"label": "PEN"}, {"label": "INK, BLUE"}]})
    );
    assert_eq!(outputs(&r, "Joined"), json!({"body": "a;b"}));
    assert_eq!(
        outputs(&r, "Csv"),
        json!({"body": "name,price\r\npen,2\r\n\"ink, blue\",12"})
    );
    assert_eq!(
        outputs(&r, "Html"),
        json!({"body": "<table><thead><tr><th>Item</th></tr></thead><tbody><tr><td>pen</td></tr><tr><td>ink, blue</td></tr></tbody></table>"})
    );
}

#[tokio::test(start_paused = true)]
async fn parse_json_reports_the_failed_property() {
    let p = plan(json!({
        "Parse": {"type": "ParseJson", "inputs": {"content": "{\"id\": \"x\"}", "schema": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}}, "runAfter": {}}
    }));
    let r = run(p, json!(null)).await;
    assert_eq!(
        find(&r, "Parse").error.to_json()["message"],
        json!("the content does not match the schema: $.id must be of type integer but is the string 'x'")
    );
}

#[tokio::test(start_paused = true)]
async fn response_and_terminate() {
    let p = plan(json!({
        "Reply": {"type": "Response", "kind": "Http", "inputs": {"statusCode": 201, "body": {"id": "@triggerBody()?['id']"}}, "runAfter": {}},
        "Scope": {"type": "Scope", "runAfter": {"Reply": ["Succeeded"]}, "actions": {
            "Stop": {"type": "Terminate", "inputs": {"runStatus": "Failed", "runError": {"code": "Bad", "message": "@concat('no ', triggerBody()?['id'])"}}, "runAfter": {}}
        }},
        "After": {"type": "Compose", "inputs": "never", "runAfter": {"Scope": ["Succeeded", "Failed"]}}
    }));
    let r = run(p, json!({"id": "7"})).await;
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.error.to_json(), json!({"code": "Bad", "message": "no 7"}));
    assert_eq!(
        r.response.to_json(),
        json!({"statusCode": 201, "headers": null, "body": {"id": "7"}})
    );
    assert!(
        r.actions.iter().all(|a| &*a.name != "After"),
        "nothing runs after Terminate"
    );
    assert_eq!(find(&r, "Stop").status, RunStatus::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn wait_advances_the_clock() {
    let p = plan(json!({
        "Pause": {"type": "Wait", "inputs": {"interval": {"count": 90, "unit": "Second"}}, "runAfter": {}}
    }));
    let before = tokio::time::Instant::now();
    let r = run(p, json!(null)).await;
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!(before.elapsed().as_secs(), 90);
}

#[tokio::test(start_paused = true)]
async fn connector_actions_without_a_handler_fail_clearly_unless_mocked() {
    let actions = json!({
        "Call": {"type": "Http", "inputs": {"method": "GET", "uri": "http://localhost/x"}, "runAfter": {}},
        "Use": {"type": "Compose", "inputs": "@body('Call')?['n']", "runAfter": {"Call": ["Succeeded"]}}
    });
    let r = run(plan(actions.clone()), json!(null)).await;
    assert_eq!(find(&r, "Call").code.as_deref(), Some("NoHandler"));
    assert_eq!(
        find(&r, "Call").error.to_json()["message"],
        json!("no handler for action type 'Http': its connector is not available in this build; mock 'Call' to run this workflow")
    );
    assert_eq!(find(&r, "Use").status, RunStatus::Skipped);

    let mocks = json!({"Call": {"outputs": {"statusCode": 200, "body": {"n": 5}}}});
    let r = run_with(
        &engine(Handlers::default()),
        plan(actions),
        json!(null),
        mocks,
    )
    .await;
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!(outputs(&r, "Use"), json!(5));
}

#[tokio::test(start_paused = true)]
async fn static_results_replace_execution_when_enabled() {
    let p = plan_with(json!({
        "staticResults": {"Call0": {"status": "Failed", "outputs": {"statusCode": 500}}},
        "actions": {
            "Call": {"type": "Http", "inputs": {"method": "GET", "uri": "http://localhost/"}, "runAfter": {},
                     "runtimeConfiguration": {"staticResult": {"name": "Call0", "staticResultOptions": "Enabled"}}},
            "Handle": {"type": "Compose", "inputs": "@outputs('Call')?['statusCode']", "runAfter": {"Call": ["Failed"]}}
        }
    }));
    let r = run(p, json!(null)).await;
    assert_eq!(find(&r, "Call").status, RunStatus::Failed);
    assert_eq!(outputs(&r, "Handle"), json!(500));
}
