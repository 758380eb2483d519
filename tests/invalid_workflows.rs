//! Deliberately broken workflows in `tests/data/invalid/`: each is reported with the exact
//! pointer, line, column and message, and nothing else.

use sluice_engine::definition::{check_workflow_file, Purpose};
use std::path::Path;

/// (file stem, JSON pointer, line, column, message)
const CASES: &[(&str, &str, u32, u32, &str)] = &[
    ("unknown_action_type", "/definition/actions/Say_hello/type", 14, 9,
     "unknown action type 'Compse'; did you mean 'Compose'?"),
    ("unknown_trigger_type", "/definition/triggers/timer/type", 7, 9,
     "unknown trigger type 'Timer', expected one of: Request, Recurrence, SlidingWindow, ServiceProvider, ApiConnection, HttpWebhook"),
    ("unsupported_action_type", "/definition/actions/Decode/type", 14, 9,
     "action type 'X12Decode' is not supported: the X12 B2B connector needs an integration account"),
    ("run_after_missing", "/definition/actions/B/runAfter/Nope", 22, 11,
     "runAfter names 'Nope', which is not an action of this workflow"),
    ("run_after_other_container", "/definition/actions/Scope/actions/Inner/runAfter/A", 25, 15,
     "runAfter names 'A', which is in another container (/definition/actions/A); an action can only run after actions of its own container"),
    ("run_after_cycle", "/definition/actions/Step_B/runAfter/Step_A", 31, 11,
     "runAfter cycle: Step_A → Step_B → Step_A (each action runs after the next)"),
    ("run_after_self", "/definition/actions/Loop/runAfter/Loop", 17, 11, "'Loop' runs after itself"),
    ("bad_run_after_status", "/definition/actions/B/runAfter/A/0", 23, 13,
     "unknown run status 'Done', expected one of: Succeeded, Failed, Skipped, TimedOut, Cancelled, Aborted"),
    ("duplicate_names", "/definition/actions/Scope/actions/compose", 21, 11,
     "duplicate action name 'compose': names must be unique across the workflow, ignoring case (first defined at /definition/actions/Compose)"),
    ("duplicate_key", "/definition/actions/A", 6, 7,
     "this key appears twice in the same object; JSON readers keep only the last one"),
    ("initialize_variable_nested", "/definition/actions/Scope/actions/Init", 16, 11,
     "InitializeVariable must be at the top level of the workflow, not inside 'Scope'"),
    ("sequential_with_repetitions", "/definition/actions/Loop/runtimeConfiguration/concurrency/repetitions", 21, 13,
     "`repetitions` cannot be set together with the `Sequential` operation option; use one or the other"),
    ("bad_retry_interval", "/definition/actions/Call/inputs/retryPolicy/interval", 21, 13,
     "'5 seconds' is not an ISO 8601 duration (it must start with P); write it like PT30S, PT5M, PT1H or P1D"),
    ("bad_timeout", "/definition/actions/Call/limit/timeout", 20, 11,
     "'PT1X' is not an ISO 8601 duration (unexpected 'X'); write it like PT30S, PT5M, PT1H or P1D"),
    ("bad_recurrence", "/definition/triggers/every/recurrence/frequency", 9, 11,
     "unknown frequency 'Fortnight', expected one of: Second, Minute, Hour, Day, Week, Month"),
    ("zero_recurrence_interval", "/definition/triggers/every/recurrence/interval", 10, 11,
     "recurrence interval must be at least 1, found 0"),
    ("response_in_foreach", "/definition/actions/Loop/actions/Reply", 17, 11,
     "a Response action cannot be inside a loop; 'Reply' is inside the Foreach 'Loop'"),
    ("terminate_in_until", "/definition/actions/Retry/actions/Stop", 21, 11,
     "a Terminate action cannot be inside a loop; 'Stop' is inside the Until 'Retry'"),
    ("two_triggers", "/definition/triggers/every", 11, 7,
     "a workflow has exactly one trigger; 'every' is a second one besides 'manual'"),
    ("retry_count_too_high", "/definition/actions/Call/inputs/retryPolicy/count", 20, 13,
     "retry count must be between 1 and 90, found 91"),
    ("foreach_repetitions_too_high", "/definition/actions/Loop/runtimeConfiguration/concurrency/repetitions", 20, 13,
     "Foreach repetitions must be between 1 and 50, found 51"),
    ("too_many_switch_cases", "/definition/actions/Route/cases", 16, 9,
     "the Switch has 26 cases; Logic Apps allows at most 25"),
    ("switch_duplicate_case", "/definition/actions/Route/cases/Uno/case", 22, 13, "duplicate Switch case value 1"),
    ("nested_too_deep",
     "/definition/actions/Level_1/actions/Level_2/actions/Level_3/actions/Level_4/actions/Level_5/actions/Level_6/actions/Level_7/actions/Level_8/actions/Level_9/actions/Leaf",
     40, 43, "'Leaf' is nested in 9 containers; Logic Apps allows at most 8"),
    ("too_many_actions", "/definition/actions", 12, 5, "the workflow has 501 actions; Logic Apps allows at most 500"),
    ("missing_variable_name", "/definition/actions/Set/inputs", 28, 9, "missing field `name`"),
    ("if_without_expression", "/definition/actions/Check", 13, 7, "If needs `expression`"),
    ("invalid_json", "", 5, 44, "invalid JSON: trailing comma"),
    ("expression_syntax_error", "/definition/actions/Compose/inputs/total", 14, 11,
     "invalid expression: expected a value or a function call, found ')' at character 26 of the expression\n    add(triggerBody()?['a'], )\n                             ^"),
    ("expression_unknown_function", "/definition/actions/Compose/inputs", 13, 9,
     "invalid expression: unknown function 'toUpperCase'; did you mean 'toUpper'? at character 9 of the expression\n    Hello @{toUpperCase(triggerBody()?['name'])}\n            ^"),
    ("condition_wrong_arity", "/definition/actions/Check/expression/and/0/equals", 16, 15,
     "invalid expression: equals() takes exactly 2 arguments but got 1 at character 1 of the expression\n    {\"equals\":[\"@triggerBody()?['a']\"]}\n    ^"),
];

#[test]
fn each_broken_workflow_reports_exactly_its_problem() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/invalid");
    for (stem, pointer, line, column, message) in CASES {
        let file = dir.join(format!("{stem}.json"));
        let report = check_workflow_file(&file, stem, Purpose::Validate);
        let got: Vec<_> = report
            .problems
            .iter()
            .map(|p| (p.pointer.as_str(), p.line, p.column, p.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [(*pointer, Some(*line), Some(*column), *message)],
            "{stem}.json"
        );
        assert!(
            !report.is_valid() && report.workflow.is_none(),
            "{stem} must be invalid"
        );
    }
}

#[test]
fn every_broken_file_has_a_case() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/invalid");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            CASES.iter().any(|c| c.0 == stem),
            "{stem}.json has no expectation"
        );
    }
}
