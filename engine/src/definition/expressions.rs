//! Expression checks at load time: every place Logic Apps evaluates expressions is compiled,
//! so syntax errors, unknown functions and wrong argument counts are reported with the
//! pointer, line and column of the string, and the offset inside the expression.
//!
//! The check walks the raw JSON (before it is read into the model) and covers trigger
//! `inputs`, `splitOn` and `conditions`; action `inputs` (but not JavaScriptCode's `code`),
//! `expression` (condition objects included), `foreach`, `limit` and `trackedProperties`; and
//! the definition's `outputs`.

use super::pointer::Pointer;
use super::problem::Problems;
use crate::expr::{Template, TemplateError};
use serde_json::Value;

/// Checks every expression of the workflow document `root`.
pub(crate) fn check(root: &Value, problems: &mut Problems) {
    let (definition, at) = match root.get("definition") {
        Some(d) => (d, Pointer::root().join("definition")),
        None => (root, Pointer::root()),
    };
    for (name, trigger) in members(definition.get("triggers")) {
        check_trigger(trigger, &at.join("triggers").join(name), problems);
    }
    check_actions(definition.get("actions"), &at.join("actions"), problems);
    for (name, output) in members(definition.get("outputs")) {
        let at = at.join("outputs").join(name).join("value");
        compiled(output.get("value"), &at, problems, Template::compile);
    }
}

fn members(value: Option<&Value>) -> impl Iterator<Item = (&String, &Value)> {
    value.and_then(Value::as_object).into_iter().flatten()
}

fn check_trigger(trigger: &Value, at: &Pointer, problems: &mut Problems) {
    compiled(
        trigger.get("inputs"),
        &at.join("inputs"),
        problems,
        Template::compile,
    );
    compiled(
        trigger.get("splitOn"),
        &at.join("splitOn"),
        problems,
        Template::compile,
    );
    if let Some(conditions) = trigger.get("conditions").and_then(Value::as_array) {
        for (i, c) in conditions.iter().enumerate() {
            let at = at.join("conditions").join(i).join("expression");
            compiled(c.get("expression"), &at, problems, Template::compile);
        }
    }
}

fn check_actions(actions: Option<&Value>, at: &Pointer, problems: &mut Problems) {
    for (name, action) in members(actions) {
        check_action(action, &at.join(name), problems);
    }
}

fn check_action(action: &Value, at: &Pointer, problems: &mut Problems) {
    let is_code = action
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("JavaScriptCode"));
    match action.get("inputs") {
        Some(Value::Object(inputs)) if is_code => {
            for (key, value) in inputs.iter().filter(|(k, _)| *k != "code") {
                compiled(
                    Some(value),
                    &at.join("inputs").join(key),
                    problems,
                    Template::compile,
                );
            }
        }
        inputs => compiled(inputs, &at.join("inputs"), problems, Template::compile),
    }
    compiled(
        action.get("expression"),
        &at.join("expression"),
        problems,
        Template::compile_condition,
    );
    for key in ["foreach", "limit", "trackedProperties"] {
        compiled(action.get(key), &at.join(key), problems, Template::compile);
    }
    check_actions(action.get("actions"), &at.join("actions"), problems);
    check_actions(
        action.get("else").and_then(|e| e.get("actions")),
        &at.join("else").join("actions"),
        problems,
    );
    check_actions(
        action.get("default").and_then(|e| e.get("actions")),
        &at.join("default").join("actions"),
        problems,
    );
    for (name, case) in members(action.get("cases")) {
        let at = at.join("cases").join(name).join("actions");
        check_actions(case.get("actions"), &at, problems);
    }
}

fn compiled(
    value: Option<&Value>,
    at: &Pointer,
    problems: &mut Problems,
    compile: fn(&Value) -> Result<Template, Vec<TemplateError>>,
) {
    let Some(value) = value else {
        return;
    };
    if let Err(errors) = compile(value) {
        for e in errors {
            problems.error(
                &at.append(&e.pointer),
                format!("invalid expression: {}", e.error),
            );
        }
    }
}
