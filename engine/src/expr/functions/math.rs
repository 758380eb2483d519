//! Math functions. Integers stay integers (checked: overflow is an error), a float on either
//! side makes a float, a decimal makes a decimal.

use super::logical::compare;
use super::{f, fail, Args, FnError, FnResult, Function, Num, MANY};
use crate::expr::value::Value;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::Decimal;

pub(super) const FUNCTIONS: &[Function] = &[
    f!("add", 2, 2, add),
    f!("sub", 2, 2, sub),
    f!("mul", 2, 2, mul),
    f!("div", 2, 2, div),
    f!("mod", 2, 2, mod_),
    f!("min", 1, MANY, min),
    f!("max", 1, MANY, max),
    f!("rand", 2, 2, nondeterministic rand),
    f!("range", 2, 2, range),
    f!("pow", 2, 2, pow),
];

/// The largest `range()` count Logic Apps allows.
const MAX_RANGE: i64 = 100_000;

struct Op {
    name: &'static str,
    int: fn(i64, i64) -> Option<i64>,
    float: fn(f64, f64) -> f64,
    decimal: fn(Decimal, Decimal) -> Option<Decimal>,
}

fn to_decimal(n: Num) -> Option<Decimal> {
    match n {
        Num::Int(i) => Some(Decimal::from(i)),
        Num::Float(f) => Decimal::from_f64(f),
        Num::Decimal(d) => Some(d),
    }
}

fn to_float(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
        Num::Decimal(d) => d.to_f64().unwrap_or(f64::NAN),
    }
}

fn apply(args: &Args<'_>, op: Op) -> FnResult {
    let (a, b) = (args.num(0)?, args.num(1)?);
    let overflow = || FnError::Message(format!("the result of {} overflows", op.name));
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => (op.int)(x, y).map(Value::Integer).ok_or_else(overflow),
        (Num::Decimal(_), _) | (_, Num::Decimal(_)) => {
            let (x, y) = (
                to_decimal(a).ok_or_else(overflow)?,
                to_decimal(b).ok_or_else(overflow)?,
            );
            (op.decimal)(x, y).map(Value::Decimal).ok_or_else(overflow)
        }
        _ => {
            let result = (op.float)(to_float(a), to_float(b));
            if result.is_finite() {
                Ok(Value::Float(result))
            } else {
                Err(overflow())
            }
        }
    }
}

fn add(args: &mut Args<'_>) -> FnResult {
    apply(
        args,
        Op {
            name: "add",
            int: i64::checked_add,
            float: |a, b| a + b,
            decimal: Decimal::checked_add,
        },
    )
}

fn sub(args: &mut Args<'_>) -> FnResult {
    apply(
        args,
        Op {
            name: "sub",
            int: i64::checked_sub,
            float: |a, b| a - b,
            decimal: Decimal::checked_sub,
        },
    )
}

fn mul(args: &mut Args<'_>) -> FnResult {
    apply(
        args,
        Op {
            name: "mul",
            int: i64::checked_mul,
            float: |a, b| a * b,
            decimal: Decimal::checked_mul,
        },
    )
}

fn check_divisor(args: &Args<'_>) -> Result<(), FnError> {
    if args.get(1).as_f64() == Some(0.0) {
        return fail("cannot divide by zero");
    }
    Ok(())
}

fn div(args: &mut Args<'_>) -> FnResult {
    check_divisor(args)?;
    apply(
        args,
        Op {
            name: "div",
            int: i64::checked_div,
            float: |a, b| a / b,
            decimal: Decimal::checked_div,
        },
    )
}

fn mod_(args: &mut Args<'_>) -> FnResult {
    check_divisor(args)?;
    apply(
        args,
        Op {
            name: "mod",
            int: i64::checked_rem,
            float: |a, b| a % b,
            decimal: Decimal::checked_rem,
        },
    )
}

/// The numbers of a `min`/`max` call: the arguments, or the items of one array argument.
fn candidates<'v>(args: &'v Args<'_>) -> Result<&'v [Value], FnError> {
    match (args.len(), args.get(0)) {
        (1, Value::Array(items)) if items.is_empty() => fail("the array is empty"),
        (1, Value::Array(items)) => Ok(items),
        _ => Ok(&args.values),
    }
}

fn extreme(args: &Args<'_>, want: std::cmp::Ordering) -> FnResult {
    let values = candidates(args)?;
    let mut best = &values[0];
    for (i, v) in values.iter().enumerate() {
        if !v.is_number() {
            return Err(FnError::Arg {
                index: if args.len() == 1 { 0 } else { i },
                expected: "numbers",
            });
        }
        if compare(v, best).map_err(FnError::Message)? == want {
            best = v;
        }
    }
    Ok(best.clone())
}

fn min(args: &mut Args<'_>) -> FnResult {
    extreme(args, std::cmp::Ordering::Less)
}

fn max(args: &mut Args<'_>) -> FnResult {
    extreme(args, std::cmp::Ordering::Greater)
}

fn rand(args: &mut Args<'_>) -> FnResult {
    let (low, high) = (args.int(0)?, args.int(1)?);
    if low >= high {
        return fail(format!(
            "the minimum {low} must be less than the maximum {high}"
        ));
    }
    Ok(Value::Integer(fastrand::i64(low..high)))
}

fn range(args: &mut Args<'_>) -> FnResult {
    let (start, count) = (args.int(0)?, args.int(1)?);
    if !(0..=MAX_RANGE).contains(&count) {
        return fail(format!(
            "the count must be between 0 and {MAX_RANGE}, got {count}"
        ));
    }
    if start.checked_add(count).is_none() {
        return fail("the range overflows");
    }
    Ok(Value::array(
        (start..start + count).map(Value::Integer).collect(),
    ))
}

fn pow(args: &mut Args<'_>) -> FnResult {
    match (args.num(0)?, args.num(1)?) {
        (Num::Int(b), Num::Int(e)) if e >= 0 => u32::try_from(e)
            .ok()
            .and_then(|e| b.checked_pow(e))
            .map(Value::Integer)
            .ok_or_else(|| FnError::Message("the result of pow overflows".into())),
        (b, e) => Ok(Value::Float(to_float(b).powf(to_float(e)))),
    }
}
