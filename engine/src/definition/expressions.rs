//! Expression checks at load time: every place Logic Apps evaluates expressions is compiled,
//! so syntax errors, unknown functions and wrong argument counts are reported with the
//! pointer, line and column of the string, and the offset inside the expression.
//!
//! The check walks the file's text through [`Node`]s, before it is read into the model, one
//! string at a time: an expression is compiled, checked and dropped, so a file of a million
//! expressions costs the memory of one. It covers trigger
//! `inputs`, `splitOn` and `conditions`; action `inputs` (but not JavaScriptCode's `code`),
//! `expression` (condition objects included), `foreach`, `limit` and `trackedProperties`; and
//! the definition's `outputs`.

use super::fields::{for_each_branch, Fields, ACTION};
use super::node::{Kind, Node};
use super::problem::Problems;
use super::validate::limits;
use crate::expr::functions::{self, Function};
use crate::expr::{SyntaxError, Template};
use crate::pointer::Pointer;
use std::collections::HashSet;

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

/// How much of a condition object an error message quotes.
const QUOTED_CHARS: usize = 200;

/// Checks every expression of the workflow document `root`.
pub(crate) fn check(root: Node<'_>, problems: &mut Problems) {
    let (definition, at) = match root.get("definition") {
        Some(d) => (d, Pointer::root().join("definition")),
        None => (root, Pointer::root()),
    };
    let mut names = HashSet::new();
    collect_names(definition.get("actions"), &mut names);
    // Past Logic Apps' limit the workflow is refused anyway; a reference is then not checked
    // against names that would take memory for every action of a hostile file.
    let names = (names.len() <= limits::MAX_ACTIONS).then_some(names);
    let mut checker = Checker { names, problems };
    checker.definition(definition, &at);
}

fn collect_names(actions: Option<Node<'_>>, names: &mut HashSet<String>) {
    let Some(actions) = actions else { return };
    actions.members(|name, action| {
        if names.len() > limits::MAX_ACTIONS {
            return;
        }
        names.insert(name.to_lowercase());
        let fields = Fields::new(action, ACTION);
        for_each_branch(&fields, |_, children| collect_names(Some(children), names));
    });
}

/// Walks a definition with the set of action names, to flag references to undefined actions.
struct Checker<'p> {
    /// Lower-case action names; `None` when there are too many to check references against.
    names: Option<HashSet<String>>,
    problems: &'p mut Problems,
}

impl Checker<'_> {
    fn definition(&mut self, definition: Node<'_>, at: &Pointer) {
        if let Some(triggers) = definition.get("triggers") {
            triggers.members(|name, t| self.trigger(t, &at.join("triggers").join(name)));
        }
        self.actions(definition.get("actions"), &at.join("actions"));
        if let Some(outputs) = definition.get("outputs") {
            outputs.members(|name, output| {
                let at = at.join("outputs").join(name).join("value");
                self.optional(output.get("value"), &at);
            });
        }
    }

    fn trigger(&mut self, trigger: Node<'_>, at: &Pointer) {
        self.optional(trigger.get("inputs"), &at.join("inputs"));
        self.optional(trigger.get("splitOn"), &at.join("splitOn"));
        if let Some(conditions) = trigger.get("conditions") {
            conditions.items(|i, c| {
                let at = at.join("conditions").join(i).join("expression");
                self.optional(c.get("expression"), &at);
            });
        }
    }

    fn actions(&mut self, actions: Option<Node<'_>>, at: &Pointer) {
        if let Some(actions) = actions {
            actions.members(|name, action| self.action(action, &at.join(name)));
        }
    }

    fn action(&mut self, action: Node<'_>, at: &Pointer) {
        let fields = Fields::new(action, ACTION);
        let is_code = fields
            .peek("type")
            .and_then(Node::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("JavaScriptCode"));
        match fields.peek("inputs") {
            Some(inputs) if is_code && inputs.kind() == Kind::Object => {
                inputs.members(|key, value| {
                    if key != "code" {
                        self.template(value, &at.join("inputs").join(key));
                    }
                });
            }
            inputs => self.optional(inputs, &at.join("inputs")),
        }
        if let Some(expression) = fields.peek("expression") {
            self.condition(expression, &at.join("expression"));
        }
        for key in ["foreach", "limit", "trackedProperties"] {
            self.optional(fields.peek(key), &at.join(key));
        }
        for_each_branch(&fields, |branch, actions| {
            self.actions(Some(actions), &at.append(&branch))
        });
    }

    fn optional(&mut self, node: Option<Node<'_>>, at: &Pointer) {
        if let Some(node) = node {
            self.template(node, at);
        }
    }

    /// Checks every string inside `node`, one at a time.
    fn template(&mut self, node: Node<'_>, at: &Pointer) {
        match node.kind() {
            Kind::String => {
                if let Some(text) = node.as_str() {
                    self.string(&text, at);
                }
            }
            Kind::Array => {
                node.items(|i, item| {
                    if may_hold_expressions(item) {
                        self.template(item, &at.join(i))
                    }
                });
            }
            Kind::Object => {
                node.members(|key, value| {
                    if may_hold_expressions(value) {
                        self.template(value, &at.join(key))
                    }
                });
            }
            Kind::Null | Kind::Bool | Kind::Number => {}
        }
    }

    fn string(&mut self, text: &str, at: &Pointer) {
        if self.problems.settled() || !text.starts_with('@') && !text.contains("@{") {
            return;
        }
        match Template::compile_str(text) {
            Err(e) => self.invalid(at, e),
            Ok(template) => self.references(&template, at),
        }
    }

    /// A condition: an object of one member naming a function, or any template.
    fn condition(&mut self, node: Node<'_>, at: &Pointer) {
        let Some((name, args)) = single_member(node) else {
            return self.template(node, at);
        };
        let Some(function) = functions::lookup(&name) else {
            let message = format!("unknown function '{name}' in a condition");
            return self.invalid(&at.join(&name), quoted(node, message));
        };
        let inner = at.join(&name);
        let mut count = 0;
        if args.kind() == Kind::Array {
            args.items(|i, arg| {
                count += 1;
                self.condition_argument(function, arg, &inner.join(i));
            });
        } else {
            count = 1;
            self.condition_argument(function, args, &inner);
        }
        if count < function.min_args || count > function.max_args {
            let message = format!("{} but got {count}", function.arity_text());
            self.invalid(&inner, quoted(node, message));
        }
    }

    /// The operands of `and`, `or` and `not` are conditions; elsewhere a one-member object
    /// naming a function is one, and any other value is a template.
    fn condition_argument(&mut self, parent: &Function, node: Node<'_>, at: &Pointer) {
        let logical = matches!(parent.name, "and" | "or" | "not");
        match single_member(node) {
            Some((name, _)) if logical || functions::lookup(&name).is_some() => {
                self.condition(node, at)
            }
            _ => self.template(node, at),
        }
    }

    fn invalid(&mut self, at: &Pointer, error: SyntaxError) {
        self.problems
            .error(at, format!("invalid expression: {error}"));
    }

    /// Warns about references to actions the workflow does not define.
    fn references(&mut self, template: &Template, at: &Pointer) {
        let Some(names) = &self.names else { return };
        let mut missing: Vec<String> = Vec::new();
        template.visit_calls(&mut |function, first| {
            if let Some(name) = first.filter(|_| ACTION_REFERENCES.contains(&function)) {
                if !names.contains(&name.to_lowercase()) && !missing.iter().any(|m| m == name) {
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

/// Whether `node` may hold an expression: a plain number or string is passed over without
/// building its pointer. (An escaped string may hide an `@`, so it is looked at.)
fn may_hold_expressions(node: Node<'_>) -> bool {
    match node.kind() {
        Kind::Null | Kind::Bool | Kind::Number => false,
        Kind::String => node.text().contains(['@', '\\']),
        Kind::Array | Kind::Object => true,
    }
}

/// The only member of a one-member object.
fn single_member<'a>(node: Node<'a>) -> Option<(String, Node<'a>)> {
    let mut count = 0;
    let mut first = None;
    node.members(|key, value| {
        count += 1;
        if count == 1 {
            first = Some((key.to_string(), value));
        }
    });
    first.filter(|_| count == 1)
}

/// An error about a whole condition object, quoting it compactly (and at most
/// [`QUOTED_CHARS`] characters of it).
fn quoted(node: Node<'_>, message: String) -> SyntaxError {
    SyntaxError {
        expression: compact(node.text()),
        offset: 0,
        message,
    }
}

/// JSON text without the whitespace between tokens, cut at [`QUOTED_CHARS`] characters.
fn compact(text: &str) -> String {
    let mut out = String::new();
    let (mut quoted, mut escaped, mut kept) = (false, false, 0);
    for c in text.chars() {
        if kept == QUOTED_CHARS {
            out.push('…');
            break;
        }
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => continue,
            _ => {}
        }
        out.push(c);
        kept += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_keeps_strings_and_cuts_long_text() {
        assert_eq!(
            compact("{ \"a b\" : [1, \"x \\\" y\"] }"),
            "{\"a b\":[1,\"x \\\" y\"]}"
        );
        let long = format!("[{}]", "1, ".repeat(500));
        assert_eq!(compact(&long).chars().count(), QUOTED_CHARS + 1);
    }
}
