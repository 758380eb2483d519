//! Templates: a JSON value from a definition compiled once, at load time, into literal parts
//! (shared, never rebuilt) and pre-parsed expressions. Evaluation never parses.
//!
//! A string starting with `@` is one expression with a typed result; `@@` escapes a leading
//! `@`; a string containing `@{…}` is interpolated and always yields a string; any other
//! string is literal. Condition objects (`{"and": [{"equals": [a, b]}]}`) compile to calls.

use super::context::EvalContext;
use super::eval::{describe, EvalError, Evaluator};
use super::functions::{self, to_text, Args, Function, Imp};
use super::syntax::{self, Expr, SyntaxError};
use super::value::{Map, Value};
use crate::pointer::Pointer;
use std::sync::Arc;

/// One expression with the text it was parsed from.
#[derive(Debug, Clone)]
pub struct Expression {
    source: Arc<str>,
    root: Expr,
}

impl Expression {
    /// Parses expression text (without the leading `@`).
    pub fn parse(source: &str) -> Result<Expression, SyntaxError> {
        let root = syntax::parse(source)?;
        Ok(Expression {
            source: Arc::from(source),
            root,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Calls `f` with every function call in the expression and its first argument when that
    /// is a string literal (`body('Get_user')` gives `("body", Some("Get_user"))`).
    pub fn visit_calls(&self, f: &mut dyn FnMut(&'static str, Option<&str>)) {
        visit(&self.root, f);
    }

    pub fn evaluate(&self, ctx: &dyn EvalContext) -> Result<Value, EvalError> {
        Evaluator {
            ctx,
            source: &self.source,
        }
        .eval(&self.root)
    }
}

fn visit(expr: &Expr, f: &mut dyn FnMut(&'static str, Option<&str>)) {
    use super::syntax::ExprKind;
    match &expr.kind {
        ExprKind::Literal(_) => {}
        ExprKind::Call { function, args } => {
            let first = args.first().and_then(|a| match &a.kind {
                ExprKind::Literal(Value::String(s)) => Some(&**s),
                _ => None,
            });
            f(function.name, first);
            args.iter().for_each(|a| visit(a, f));
        }
        ExprKind::Member { target, .. } => visit(target, f),
        ExprKind::Index { target, index, .. } => {
            visit(target, f);
            visit(index, f);
        }
    }
}

/// A compiled JSON value.
#[derive(Debug, Clone)]
pub enum Template {
    /// No expression anywhere inside: the value itself, shared.
    Literal(Value),
    /// `"@expr"`: the expression's typed value.
    Expression(Expression),
    /// `"text @{expr} text"`: always a string.
    Interpolated(Vec<Part>),
    Array(Vec<Template>),
    Object(Vec<(String, Template)>),
    /// A condition object, or a call built from one.
    Call {
        function: &'static Function,
        args: Vec<Template>,
    },
}

/// A piece of an interpolated string.
#[derive(Debug, Clone)]
pub enum Part {
    Text(String),
    Expression(Expression),
}

/// A syntax error at a pointer relative to the compiled value.
#[derive(Debug, Clone)]
pub struct TemplateError {
    pub pointer: Pointer,
    pub error: SyntaxError,
}

impl Template {
    /// Compiles a JSON value; every syntax error inside is reported with its pointer.
    pub fn compile(value: &serde_json::Value) -> Result<Template, Vec<TemplateError>> {
        let mut errors = Vec::new();
        let template = compile_value(value, &Pointer::root(), &mut errors);
        if errors.is_empty() {
            Ok(template)
        } else {
            Err(errors)
        }
    }

    /// Compiles one string as it would appear in a workflow.
    pub fn compile_str(text: &str) -> Result<Template, SyntaxError> {
        let mut errors = Vec::new();
        let template = compile_string(text, &Pointer::root(), &mut errors);
        match errors.into_iter().next() {
            Some(e) => Err(e.error),
            None => Ok(template),
        }
    }

    /// Compiles a condition: a condition object, or a boolean expression string.
    pub fn compile_condition(value: &serde_json::Value) -> Result<Template, Vec<TemplateError>> {
        let mut errors = Vec::new();
        let template = match value {
            serde_json::Value::Object(_) => compile_condition(value, &Pointer::root(), &mut errors),
            other => compile_value(other, &Pointer::root(), &mut errors),
        };
        if errors.is_empty() {
            Ok(template)
        } else {
            Err(errors)
        }
    }

    /// Calls `f` with every function call inside the template (see [`Expression::visit_calls`]).
    pub fn visit_calls(&self, f: &mut dyn FnMut(&'static str, Option<&str>)) {
        match self {
            Template::Literal(_) => {}
            Template::Expression(e) => e.visit_calls(f),
            Template::Interpolated(parts) => parts.iter().for_each(|p| {
                if let Part::Expression(e) = p {
                    e.visit_calls(f)
                }
            }),
            Template::Array(items) => items.iter().for_each(|t| t.visit_calls(f)),
            Template::Object(members) => members.iter().for_each(|(_, t)| t.visit_calls(f)),
            Template::Call { function, args } => {
                f(function.name, None);
                args.iter().for_each(|t| t.visit_calls(f));
            }
        }
    }

    /// Whether evaluating gives the same value every time without reading the context.
    pub fn is_literal(&self) -> bool {
        matches!(self, Template::Literal(_))
    }

    pub fn evaluate(&self, ctx: &dyn EvalContext) -> Result<Value, EvalError> {
        match self {
            Template::Literal(v) => Ok(v.clone()),
            Template::Expression(e) => e.evaluate(ctx),
            Template::Interpolated(parts) => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => out.push_str(t),
                        Part::Expression(e) => out.push_str(&to_text(&e.evaluate(ctx)?)),
                    }
                }
                Ok(Value::from(out))
            }
            Template::Array(items) => items
                .iter()
                .map(|t| t.evaluate(ctx))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::array),
            Template::Object(members) => {
                let mut map = Map::with_capacity_and_hasher(members.len(), Default::default());
                for (k, t) in members {
                    map.insert(k.clone(), t.evaluate(ctx)?);
                }
                Ok(Value::object(map))
            }
            Template::Call { function, args } => evaluate_call(function, args, ctx),
        }
    }
}

fn evaluate_call(
    function: &'static Function,
    args: &[Template],
    ctx: &dyn EvalContext,
) -> Result<Value, EvalError> {
    let name = function.name;
    let truth = |t: &Template| match t.evaluate(ctx)? {
        Value::Bool(b) => Ok(b),
        other => Err(EvalError::new(format!(
            "the condition `{name}` expects booleans but got {}",
            describe(&other)
        ))),
    };
    match (name, function.imp) {
        ("and", _) => {
            for a in args {
                if !truth(a)? {
                    return Ok(Value::Bool(false));
                }
            }
            Ok(Value::Bool(true))
        }
        ("or", _) => {
            for a in args {
                if truth(a)? {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        (_, Imp::Eager(f)) => {
            let values = args
                .iter()
                .map(|a| a.evaluate(ctx))
                .collect::<Result<Vec<_>, _>>()?;
            let mut call = Args { values, ctx };
            f(&mut call).map_err(|e| match e {
                functions::FnError::Arg { index, expected } => EvalError::new(format!(
                    "the condition `{name}` expects {expected} as argument {} but got {}",
                    index + 1,
                    describe(call.get(index))
                )),
                functions::FnError::Message(m) => {
                    EvalError::new(format!("the condition `{name}`: {m}"))
                }
            })
        }
        (_, Imp::Lazy(_)) => Err(EvalError::new(format!(
            "`{name}` cannot be used as a condition object; write it as an expression"
        ))),
    }
}

/// Whether `value` holds no expression: no string that starts with `@` or holds `@{`. Such a
/// subtree is one literal, converted once, without a template (or a pointer) per element.
fn is_plain(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => !s.starts_with('@') && !s.contains("@{"),
        serde_json::Value::Array(items) => items.iter().all(is_plain),
        serde_json::Value::Object(map) => map.values().all(is_plain),
        _ => true,
    }
}

fn compile_value(
    value: &serde_json::Value,
    at: &Pointer,
    errors: &mut Vec<TemplateError>,
) -> Template {
    if is_plain(value) {
        return Template::Literal(Value::from_json_ref(value));
    }
    match value {
        serde_json::Value::String(s) => compile_string(s, at, errors),
        serde_json::Value::Array(items) => {
            let parts: Vec<Template> = items
                .iter()
                .enumerate()
                .map(|(i, v)| compile_value(v, &at.join(i), errors))
                .collect();
            if parts.iter().all(Template::is_literal) {
                Template::Literal(Value::from_json(value.clone()))
            } else {
                Template::Array(parts)
            }
        }
        serde_json::Value::Object(map) => {
            let members: Vec<(String, Template)> = map
                .iter()
                .map(|(k, v)| (k.clone(), compile_value(v, &at.join(k), errors)))
                .collect();
            if members.iter().all(|(_, t)| t.is_literal()) {
                Template::Literal(Value::from_json(value.clone()))
            } else {
                Template::Object(members)
            }
        }
        other => Template::Literal(Value::from_json(other.clone())),
    }
}

fn compile_string(s: &str, at: &Pointer, errors: &mut Vec<TemplateError>) -> Template {
    let mut report = |error: SyntaxError| {
        errors.push(TemplateError {
            pointer: at.clone(),
            error,
        })
    };
    if let Some(rest) = s.strip_prefix("@@") {
        return Template::Literal(Value::from(format!("@{rest}")));
    }
    if let Some(rest) = s.strip_prefix('@').filter(|r| !r.starts_with('{')) {
        return match Expression::parse(rest) {
            Ok(e) => Template::Expression(e),
            Err(e) => {
                report(e);
                Template::Literal(Value::Null)
            }
        };
    }
    if !s.contains("@{") {
        return Template::Literal(Value::from(s));
    }
    match interpolation(s) {
        Ok(parts) => Template::Interpolated(parts),
        Err(e) => {
            report(e);
            Template::Literal(Value::Null)
        }
    }
}

/// Splits `text @{expr} text` into parts; `@@{` is a literal `@{`.
fn interpolation(s: &str) -> Result<Vec<Part>, SyntaxError> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("@{") {
        if rest[..i].ends_with('@') {
            text.push_str(&rest[..i]);
            text.push('{');
            rest = &rest[i + 2..];
            continue;
        }
        text.push_str(&rest[..i]);
        let body = &rest[i + 2..];
        let end = closing_brace(body).ok_or_else(|| SyntaxError {
            expression: s.to_string(),
            offset: s[..s.len() - rest.len() + i].chars().count(),
            message: "this @{ is not closed by a }".to_string(),
        })?;
        if !text.is_empty() {
            parts.push(Part::Text(std::mem::take(&mut text)));
        }
        let expression = Expression::parse(&body[..end]).map_err(|mut e| {
            // Point into the whole string, which is what the user sees in the file.
            e.offset += s[..s.len() - body.len()].chars().count();
            e.expression = s.to_string();
            e
        })?;
        parts.push(Part::Expression(expression));
        rest = &body[end + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

/// The byte index of the `}` closing an interpolation, skipping quoted strings.
fn closing_brace(body: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in body.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// A condition object: one key naming a function, its value an argument array or one nested
/// condition object.
fn compile_condition(
    value: &serde_json::Value,
    at: &Pointer,
    errors: &mut Vec<TemplateError>,
) -> Template {
    let error = |message: String| SyntaxError {
        expression: value.to_string(),
        offset: 0,
        message,
    };
    let Some(map) = value.as_object().filter(|m| m.len() == 1) else {
        return compile_value(value, at, errors);
    };
    let (name, args) = map.iter().next().expect("one member");
    let Some(function) = functions::lookup(name) else {
        errors.push(TemplateError {
            pointer: at.join(name),
            error: error(format!("unknown function '{name}' in a condition")),
        });
        return Template::Literal(Value::Null);
    };
    let inner = at.join(name);
    let args: Vec<Template> = match args {
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| condition_argument(function, v, &inner.join(i), errors))
            .collect(),
        single => vec![condition_argument(function, single, &inner, errors)],
    };
    if args.len() < function.min_args || args.len() > function.max_args {
        errors.push(TemplateError {
            pointer: inner,
            error: error(format!("{} but got {}", function.arity_text(), args.len())),
        });
    }
    Template::Call { function, args }
}

/// An argument of a condition: the operands of `and`, `or` and `not` are always conditions;
/// elsewhere a one-member object naming a function is one, and any other value is a template.
fn condition_argument(
    parent: &Function,
    value: &serde_json::Value,
    at: &Pointer,
    errors: &mut Vec<TemplateError>,
) -> Template {
    let logical = matches!(parent.name, "and" | "or" | "not");
    match value {
        serde_json::Value::Object(m)
            if m.len() == 1
                && (logical
                    || functions::lookup(m.keys().next().expect("one member")).is_some()) =>
        {
            compile_condition(value, at, errors)
        }
        other => compile_value(other, at, errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::JsonContext;
    use serde_json::json;

    fn eval(value: serde_json::Value, ctx: serde_json::Value) -> Value {
        let template = Template::compile(&value).unwrap();
        template
            .evaluate(&JsonContext::new(Value::from_json(ctx)))
            .unwrap()
    }

    fn text(s: &str) -> Value {
        eval(json!(s), json!({"triggerBody": {"a": {"b": null}, "n": 5}}))
    }

    #[test]
    fn strings_literal_escaped_typed_and_interpolated() {
        assert_eq!(text("plain"), Value::from("plain"));
        assert_eq!(text(" @add(1, 2)"), Value::from(" @add(1, 2)"));
        assert_eq!(text("@@add(1, 2)"), Value::from("@add(1, 2)"));
        assert_eq!(text("@add(1, 2)"), Value::Integer(3));
        assert_eq!(text("@{add(1, 2)}"), Value::from("3"));
        assert_eq!(
            text("n=@{triggerBody()?['n']}, twice=@{mul(triggerBody()?['n'], 2)}!"),
            Value::from("n=5, twice=10!")
        );
        assert_eq!(text("email: a@@{b}"), Value::from("email: a@{b}"));
    }

    #[test]
    fn quotes_and_braces_inside_interpolation() {
        assert_eq!(
            text("@{concat('it''s', ' {here}')}"),
            Value::from("it's {here}")
        );
        assert_eq!(text("x@{concat('@{', '}')}y"), Value::from("x@{}y"));
        assert_eq!(
            text("@{if(equals(1, 1), concat('a', '}'), 'b')}"),
            Value::from("a}")
        );
    }

    #[test]
    fn null_safe_chains() {
        assert_eq!(text("@triggerBody()?['a']?['b']?['c']"), Value::Null);
        assert_eq!(text("@triggerBody()?.missing?.deeper"), Value::Null);
        assert_eq!(text("@{triggerBody()?['missing']}"), Value::from(""));
        let err = Template::compile_str("@triggerBody()['a']['b']['c']")
            .unwrap()
            .evaluate(&JsonContext::new(Value::from_json(
                json!({"triggerBody": {"a": {"b": null}}}),
            )))
            .unwrap_err();
        assert_eq!(
            err.message,
            "cannot select property 'c' from `triggerBody()['a']['b']`, which is null; use ?['name'] or ?.name to get null instead"
        );
    }

    #[test]
    fn literal_trees_are_shared_and_objects_evaluate_members() {
        let literal = Template::compile(&json!({"a": [1, 2, {"b": "x"}]})).unwrap();
        assert!(literal.is_literal());
        let v = eval(
            json!({"fixed": [1, 2], "sum": "@add(1, 1)", "list": ["@{1}", 2]}),
            json!({}),
        );
        assert_eq!(
            v.to_json(),
            json!({"fixed": [1, 2], "sum": 2, "list": ["1", 2]})
        );
    }

    #[test]
    fn condition_objects_compile_to_calls() {
        let condition = json!({"and": [
            {"greater": ["@triggerBody()?['n']", 3]},
            {"not": {"equals": ["@triggerBody()?['missing']", "x"]}},
            {"or": [{"contains": ["abc", "b"]}, {"startsWith": ["abc", "z"]}]}
        ]});
        let template = Template::compile_condition(&condition).unwrap();
        let ctx = JsonContext::new(Value::from_json(json!({"triggerBody": {"n": 5}})));
        assert_eq!(template.evaluate(&ctx).unwrap(), Value::Bool(true));
        let bad = Template::compile_condition(&json!({"and": [{"equals": [1]}, {"nope": [1]}]}))
            .unwrap_err();
        let found: Vec<_> = bad
            .iter()
            .map(|e| (e.pointer.as_str().to_string(), e.error.message.clone()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "/and/0/equals".to_string(),
                    "equals() takes exactly 2 arguments but got 1".to_string()
                ),
                (
                    "/and/1/nope".to_string(),
                    "unknown function 'nope' in a condition".to_string()
                ),
            ]
        );
    }

    #[test]
    fn errors_carry_the_pointer_inside_the_value() {
        let errors =
            Template::compile(&json!({"headers": {"x": "@concat('a'"}, "ok": "@{1}"})).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].pointer.as_str(), "/headers/x");
        assert_eq!(errors[0].error.offset, 10);
        let unclosed = Template::compile_str("a @{concat('x')").unwrap_err();
        assert_eq!(
            (unclosed.offset, unclosed.message.as_str()),
            (2, "this @{ is not closed by a }")
        );
    }
}
