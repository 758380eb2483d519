//! Expression checks at load time: every place Logic Apps evaluates expressions is compiled,
//! so syntax errors, unknown functions and wrong argument counts are reported with the
//! pointer, line and column of the string, and the offset inside the expression.
//!
//! The check walks the raw JSON (before it is read into the model) and covers trigger
//! `inputs`, `splitOn` and `conditions`; action `inputs` (but not JavaScriptCode's `code`),
//! `expression` (condition objects included), `foreach`, `limit` and `trackedProperties`; and
//! the definition's `outputs`.

use super::problem::Problems;
use crate::expr::{Template, TemplateError};
use crate::pointer::Pointer;
use serde_json::Value;

/// Functions whose first argument names an action.
const ACTION_REFERENCES: &[&str] = &[
    "actions",
    "body",
    "outputs",
    "actionBody",
    "actionOutputs",
    "result",
    "formDataValue",
    "formDataMultiValues",
    "multipartBody",
];

/// Checks every expression of the workflow document `root`.
pub(crate) fn check(root: &Value, problems: &mut Problems) {
    let (definition, at) = match root.get("definition") {
        Some(d) => (d, Pointer::root().join("definition")),
        None => (root, Pointer::root()),
    };
    let mut names = std::collections::HashSet::new();
    collect_names(definition.get("actions"), &mut names);
    let mut checker = Checker { names, problems };
    checker.definition(definition, &at);
}

fn collect_names(actions: Option<&Value>, names: &mut std::collections::HashSet<String>) {
    for (name, action) in members(actions) {
        names.insert(name.to_lowercase());
        collect_names(action.get("actions"), names);
        collect_names(action.get("else").and_then(|e| e.get("actions")), names);
        collect_names(action.get("default").and_then(|e| e.get("actions")), names);
        for (_, case) in members(action.get("cases")) {
            collect_names(case.get("actions"), names);
        }
    }
}

/// Walks a definition with the set of action names, to flag references to undefined actions.
struct Checker<'p> {
    names: std::collections::HashSet<String>,
    problems: &'p mut Problems,
}

impl Checker<'_> {
    fn definition(&mut self, definition: &Value, at: &Pointer) {
        for (name, trigger) in members(definition.get("triggers")) {
            self.trigger(trigger, &at.join("triggers").join(name));
        }
        self.actions(definition.get("actions"), &at.join("actions"));
        for (name, output) in members(definition.get("outputs")) {
            let at = at.join("outputs").join(name).join("value");
            self.compiled(output.get("value"), &at, Template::compile);
        }
    }
}

fn members(value: Option<&Value>) -> impl Iterator<Item = (&String, &Value)> {
    value.and_then(Value::as_object).into_iter().flatten()
}

impl Checker<'_> {
    fn trigger(&mut self, trigger: &Value, at: &Pointer) {
        self.compiled(trigger.get("inputs"), &at.join("inputs"), Template::compile);
        self.compiled(
            trigger.get("splitOn"),
            &at.join("splitOn"),
            Template::compile,
        );
        if let Some(conditions) = trigger.get("conditions").and_then(Value::as_array) {
            for (i, c) in conditions.iter().enumerate() {
                let at = at.join("conditions").join(i).join("expression");
                self.compiled(c.get("expression"), &at, Template::compile);
            }
        }
    }

    fn actions(&mut self, actions: Option<&Value>, at: &Pointer) {
        for (name, action) in members(actions) {
            self.action(action, &at.join(name));
        }
    }

    fn action(&mut self, action: &Value, at: &Pointer) {
        let is_code = action
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("JavaScriptCode"));
        match action.get("inputs") {
            Some(Value::Object(inputs)) if is_code => {
                for (key, value) in inputs.iter().filter(|(k, _)| *k != "code") {
                    self.compiled(Some(value), &at.join("inputs").join(key), Template::compile);
                }
            }
            inputs => self.compiled(inputs, &at.join("inputs"), Template::compile),
        }
        self.compiled(
            action.get("expression"),
            &at.join("expression"),
            Template::compile_condition,
        );
        for key in ["foreach", "limit", "trackedProperties"] {
            self.compiled(action.get(key), &at.join(key), Template::compile);
        }
        self.actions(action.get("actions"), &at.join("actions"));
        let nested = |key: &str| action.get(key).and_then(|e| e.get("actions"));
        self.actions(nested("else"), &at.join("else").join("actions"));
        self.actions(nested("default"), &at.join("default").join("actions"));
        for (name, case) in members(action.get("cases")) {
            let at = at.join("cases").join(name).join("actions");
            self.actions(case.get("actions"), &at);
        }
    }

    fn compiled(
        &mut self,
        value: Option<&Value>,
        at: &Pointer,
        compile: fn(&Value) -> Result<Template, Vec<TemplateError>>,
    ) {
        let Some(value) = value else {
            return;
        };
        match compile(value) {
            Err(errors) => {
                for e in errors {
                    self.problems.error(
                        &at.append(&e.pointer),
                        format!("invalid expression: {}", e.error),
                    );
                }
            }
            Ok(template) => self.references(&template, at),
        }
    }

    /// Warns about references to actions the workflow does not define.
    fn references(&mut self, template: &Template, at: &Pointer) {
        let mut missing: Vec<String> = Vec::new();
        template.visit_calls(&mut |function, first| {
            if let Some(name) = first.filter(|_| ACTION_REFERENCES.contains(&function)) {
                if !self.names.contains(&name.to_lowercase()) && !missing.iter().any(|m| m == name)
                {
                    missing.push(name.to_string());
                }
            }
        });
        for name in missing {
            self.problems.warning(
                at,
                format!("references the action '{name}', which this workflow does not define; it evaluates to null"),
            );
        }
    }
}
