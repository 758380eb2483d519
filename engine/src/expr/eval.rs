//! Evaluating a parsed expression against a context.

use super::context::EvalContext;
use super::functions::{Args, FnError, Imp};
use super::syntax::{Expr, ExprKind};
use super::value::Value;
use std::fmt;

/// An expression that failed at run time, with a message that names the function, the
/// argument and what it actually got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    pub message: String,
}

impl EvalError {
    pub fn new(message: impl Into<String>) -> EvalError {
        EvalError {
            message: message.into(),
        }
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EvalError {}

/// Evaluates expressions parsed from `source` against `ctx`.
pub struct Evaluator<'a> {
    pub ctx: &'a dyn EvalContext,
    /// The text the expressions were parsed from, to quote arguments in errors.
    pub source: &'a str,
}

impl Evaluator<'_> {
    pub fn eval(&self, expr: &Expr) -> Result<Value, EvalError> {
        match &expr.kind {
            ExprKind::Literal(v) => Ok(v.clone()),
            ExprKind::Call { function, args } => match function.imp {
                Imp::Lazy(f) => f(args, self),
                Imp::Eager(f) => {
                    let values = args
                        .iter()
                        .map(|a| self.eval(a))
                        .collect::<Result<Vec<_>, _>>()?;
                    let mut call = Args {
                        values,
                        ctx: self.ctx,
                    };
                    f(&mut call).map_err(|e| self.call_error(function.name, args, &call.values, e))
                }
            },
            ExprKind::Member {
                target,
                name,
                null_safe,
            } => {
                let value = self.eval(target)?;
                self.member(value, name, *null_safe, target)
            }
            ExprKind::Index {
                target,
                index,
                null_safe,
            } => {
                let value = self.eval(target)?;
                match self.eval(index)? {
                    Value::String(key) => self.member(value, &key, *null_safe, target),
                    Value::Integer(i) => self.element(value, i, *null_safe, target),
                    other => Err(EvalError::new(format!(
                        "an index must be a string or an integer, but `{}` is {}",
                        self.text(index),
                        describe(&other)
                    ))),
                }
            }
        }
    }

    /// The source text of a node.
    pub fn text(&self, expr: &Expr) -> &str {
        self.source.get(expr.start..expr.end).unwrap_or("")
    }

    /// Evaluates a condition: the value must be a boolean.
    pub fn eval_bool(&self, expr: &Expr, function: &str) -> Result<bool, EvalError> {
        match self.eval(expr)? {
            Value::Bool(b) => Ok(b),
            other => Err(EvalError::new(format!(
                "`{function}()` expects a boolean but got {} from `{}`",
                describe(&other),
                self.text(expr)
            ))),
        }
    }

    fn member(
        &self,
        target: Value,
        name: &str,
        null_safe: bool,
        source: &Expr,
    ) -> Result<Value, EvalError> {
        match &target {
            Value::Object(map) => {
                let found = map.get(name).or_else(|| {
                    map.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v)
                });
                match found {
                    Some(v) => Ok(v.clone()),
                    None if null_safe => Ok(Value::Null),
                    None => {
                        let available: Vec<&str> =
                            map.keys().map(String::as_str).take(20).collect();
                        Err(EvalError::new(format!(
                            "property '{name}' doesn't exist in `{}`; available properties: {}. Use ?['{name}'] to get null instead",
                            self.text(source),
                            if available.is_empty() { "none".to_string() } else { available.join(", ") }
                        )))
                    }
                }
            }
            Value::Null if null_safe => Ok(Value::Null),
            other => Err(EvalError::new(format!(
                "cannot select property '{name}' from `{}`, which is {}{}",
                self.text(source),
                describe(other),
                if other.is_null() {
                    "; use ?['name'] or ?.name to get null instead"
                } else {
                    ""
                }
            ))),
        }
    }

    fn element(
        &self,
        target: Value,
        index: i64,
        null_safe: bool,
        source: &Expr,
    ) -> Result<Value, EvalError> {
        match &target {
            Value::Array(items) => match usize::try_from(index).ok().and_then(|i| items.get(i)) {
                Some(v) => Ok(v.clone()),
                None if null_safe => Ok(Value::Null),
                None => Err(EvalError::new(format!(
                    "index {index} is outside `{}`, which has {} item{}",
                    self.text(source),
                    items.len(),
                    if items.len() == 1 { "" } else { "s" }
                ))),
            },
            Value::Object(_) => self.member(target, &index.to_string(), null_safe, source),
            Value::Null if null_safe => Ok(Value::Null),
            other => Err(EvalError::new(format!(
                "cannot index `{}`, which is {}",
                self.text(source),
                describe(other)
            ))),
        }
    }

    fn call_error(
        &self,
        function: &str,
        args: &[Expr],
        values: &[Value],
        error: FnError,
    ) -> EvalError {
        match error {
            FnError::Arg { index, expected } => {
                let got = values
                    .get(index)
                    .map_or_else(|| "nothing".to_string(), describe);
                let from = args.get(index).map(|a| self.text(a)).unwrap_or("");
                EvalError::new(format!(
                    "`{function}()` expects {expected} but got {got} from `{from}`"
                ))
            }
            FnError::Message(message) => EvalError::new(format!("`{function}()`: {message}")),
        }
    }
}

/// A short description of a value for messages: `null`, `the string 'abc'`, `an object`.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Integer(i) => format!("the integer {i}"),
        Value::Float(f) => format!("the float {f}"),
        Value::Decimal(d) => format!("the decimal {d}"),
        Value::String(s) => {
            let mut shown: String = s.chars().take(40).collect();
            if shown.len() < s.len() {
                shown.push('…');
            }
            format!("the string '{shown}'")
        }
        Value::Array(a) => format!(
            "an array of {} item{}",
            a.len(),
            if a.len() == 1 { "" } else { "s" }
        ),
        Value::Object(_) => "an object".to_string(),
    }
}
