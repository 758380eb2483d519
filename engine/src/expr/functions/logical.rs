//! Logical and comparison functions. `and`, `or` and `if` are lazy. Comparisons treat null as
//! the empty string, compare numbers by value whatever their type, strings ordinally, and
//! refuse to order booleans, arrays and objects.

use super::{f, Args, FnError, FnResult, Function, MANY};
use crate::expr::eval::{describe, EvalError, Evaluator};
use crate::expr::syntax::Expr;
use crate::expr::value::Value;
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;
use std::cmp::Ordering;

pub(super) const FUNCTIONS: &[Function] = &[
    f!("and", 1, MANY, lazy and),
    f!("or", 1, MANY, lazy or),
    f!("if", 3, 3, lazy if_),
    f!("not", 1, 1, not),
    f!("equals", 2, 2, equals),
    f!("greater", 2, 2, greater),
    f!("greaterOrEquals", 2, 2, greater_or_equals),
    f!("less", 2, 2, less),
    f!("lessOrEquals", 2, 2, less_or_equals),
];

fn and(args: &[Expr], ev: &Evaluator<'_>) -> Result<Value, EvalError> {
    for arg in args {
        if !ev.eval_bool(arg, "and")? {
            return Ok(Value::Bool(false));
        }
    }
    Ok(Value::Bool(true))
}

fn or(args: &[Expr], ev: &Evaluator<'_>) -> Result<Value, EvalError> {
    for arg in args {
        if ev.eval_bool(arg, "or")? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn if_(args: &[Expr], ev: &Evaluator<'_>) -> Result<Value, EvalError> {
    if ev.eval_bool(&args[0], "if")? {
        ev.eval(&args[1])
    } else {
        ev.eval(&args[2])
    }
}

fn not(args: &mut Args<'_>) -> FnResult {
    Ok(Value::Bool(!args.bool(0)?))
}

fn equals(args: &mut Args<'_>) -> FnResult {
    Ok(Value::Bool(loose_equals(args.get(0), args.get(1))))
}

fn ordered(args: &Args<'_>, accept: fn(Ordering) -> bool) -> FnResult {
    compare(args.get(0), args.get(1))
        .map(|o| Value::Bool(accept(o)))
        .map_err(FnError::Message)
}

fn greater(args: &mut Args<'_>) -> FnResult {
    ordered(args, Ordering::is_gt)
}

fn greater_or_equals(args: &mut Args<'_>) -> FnResult {
    ordered(args, Ordering::is_ge)
}

fn less(args: &mut Args<'_>) -> FnResult {
    ordered(args, Ordering::is_lt)
}

fn less_or_equals(args: &mut Args<'_>) -> FnResult {
    ordered(args, Ordering::is_le)
}

/// Null compares as the empty string.
fn null_as_empty(v: &Value) -> &Value {
    static EMPTY: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    if v.is_null() {
        EMPTY.get_or_init(|| Value::from(""))
    } else {
        v
    }
}

/// Numeric comparison across integer, float and decimal.
fn compare_numbers(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => Some(x.cmp(y)),
        (Value::Decimal(x), other) | (other, Value::Decimal(x)) if other.is_number() => {
            let y = match other {
                Value::Decimal(d) => *d,
                Value::Integer(i) => Decimal::from(*i),
                _ => Decimal::from_f64(other.as_f64()?)?,
            };
            let ordering = x.cmp(&y);
            Some(if matches!(a, Value::Decimal(_)) {
                ordering
            } else {
                ordering.reverse()
            })
        }
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Orders two values for `greater`, `less`, `max`, `sort` …
pub fn compare(a: &Value, b: &Value) -> Result<Ordering, String> {
    let (a, b) = (null_as_empty(a), null_as_empty(b));
    if a.is_number() && b.is_number() {
        return compare_numbers(a, b).ok_or_else(|| "cannot compare NaN".to_string());
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x.as_bytes().cmp(y.as_bytes())),
        _ => Err(format!(
            "cannot order {} and {}; only numbers with numbers and strings with strings",
            describe(a),
            describe(b)
        )),
    }
}

/// `equals()`: numbers by value, null as the empty string, arrays and objects deeply.
pub fn loose_equals(a: &Value, b: &Value) -> bool {
    let (a, b) = (null_as_empty(a), null_as_empty(b));
    match (a, b) {
        (x, y) if x.is_number() && y.is_number() => compare_numbers(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| loose_equals(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| loose_equals(v, w)))
        }
        (x, y) => x == y,
    }
}
