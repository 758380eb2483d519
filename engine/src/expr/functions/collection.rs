//! Collection functions over arrays, strings (as sequences of characters) and objects.

use super::logical::{compare, loose_equals};
use super::{f, fail, to_text, Args, FnError, FnResult, Function, MANY};
use crate::expr::value::{Map, Value};

pub(super) const FUNCTIONS: &[Function] = &[
    f!("contains", 2, 2, contains),
    f!("empty", 1, 1, empty),
    f!("first", 1, 1, first),
    f!("last", 1, 1, last),
    f!("intersection", 2, MANY, intersection),
    f!("union", 2, MANY, union),
    f!("join", 2, 2, join),
    f!("length", 1, 1, length),
    f!("skip", 2, 2, skip),
    f!("take", 2, 2, take),
    f!("sort", 1, 2, sort),
    f!("reverse", 1, 1, reverse),
    f!("chunk", 2, 2, chunk),
];

fn contains(args: &mut Args<'_>) -> FnResult {
    let found = match args.get(0) {
        Value::String(s) => s.contains(args.str(1)?),
        Value::Array(items) => items.iter().any(|v| loose_equals(v, args.get(1))),
        Value::Object(map) => map.contains_key(args.str(1)?),
        _ => {
            return Err(FnError::Arg {
                index: 0,
                expected: "a string, an array or an object",
            })
        }
    };
    Ok(Value::Bool(found))
}

fn empty(args: &mut Args<'_>) -> FnResult {
    Ok(Value::Bool(match args.get(0) {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => {
            return Err(FnError::Arg {
                index: 0,
                expected: "a string, an array or an object",
            })
        }
    }))
}

fn first(args: &mut Args<'_>) -> FnResult {
    end(args, false)
}

fn last(args: &mut Args<'_>) -> FnResult {
    end(args, true)
}

/// The first or last character of a string or item of an array; null when empty.
fn end(args: &Args<'_>, last: bool) -> FnResult {
    match args.get(0) {
        Value::String(s) => {
            let c = if last {
                s.chars().last()
            } else {
                s.chars().next()
            };
            Ok(c.map_or(Value::Null, |c| Value::from(c.to_string())))
        }
        Value::Array(a) => Ok(if last { a.last() } else { a.first() }
            .cloned()
            .unwrap_or_default()),
        _ => Err(FnError::Arg {
            index: 0,
            expected: "a string or an array",
        }),
    }
}

/// Every argument must be an array, or every argument an object.
fn all_of<'v, T>(
    args: &'v Args<'_>,
    pick: fn(&'v Value) -> Option<T>,
    expected: &'static str,
) -> Result<Vec<T>, FnError> {
    (0..args.len())
        .map(|i| pick(args.get(i)).ok_or(FnError::Arg { index: i, expected }))
        .collect()
}

fn intersection(args: &mut Args<'_>) -> FnResult {
    if args.get(0).as_object().is_some() {
        let maps = all_of(args, Value::as_object, "an object like the first argument")?;
        let common: Map = maps[0]
            .iter()
            .filter(|(k, v)| {
                maps[1..]
                    .iter()
                    .all(|m| m.get(*k).is_some_and(|w| loose_equals(v, w)))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        return Ok(Value::object(common));
    }
    let arrays = all_of(args, Value::as_array, "an array")?;
    let mut out: Vec<Value> = Vec::new();
    for v in arrays[0] {
        let everywhere = arrays[1..]
            .iter()
            .all(|a| a.iter().any(|w| loose_equals(v, w)));
        if everywhere && !out.iter().any(|w| loose_equals(v, w)) {
            out.push(v.clone());
        }
    }
    Ok(Value::array(out))
}

fn union(args: &mut Args<'_>) -> FnResult {
    if args.get(0).as_object().is_some() {
        let maps = all_of(args, Value::as_object, "an object like the first argument")?;
        let mut out = Map::default();
        for m in maps {
            for (k, v) in m {
                out.insert(k.clone(), v.clone());
            }
        }
        return Ok(Value::object(out));
    }
    let arrays = all_of(args, Value::as_array, "an array")?;
    let mut out: Vec<Value> = Vec::new();
    for v in arrays.into_iter().flatten() {
        if !out.iter().any(|w| loose_equals(v, w)) {
            out.push(v.clone());
        }
    }
    Ok(Value::array(out))
}

fn join(args: &mut Args<'_>) -> FnResult {
    let items = args.array(0)?;
    let delimiter = args.str(1)?;
    let texts: Vec<String> = items.iter().map(to_text).collect();
    Ok(Value::from(texts.join(delimiter)))
}

fn length(args: &mut Args<'_>) -> FnResult {
    let n = match args.get(0) {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => {
            return Err(FnError::Arg {
                index: 0,
                expected: "a string or an array",
            })
        }
    };
    Ok(Value::Integer(n as i64))
}

fn count(args: &Args<'_>, index: usize) -> Result<usize, FnError> {
    let n = args.int(index)?;
    usize::try_from(n).or_else(|_| fail(format!("the count must not be negative, got {n}")))
}

fn skip(args: &mut Args<'_>) -> FnResult {
    let n = count(args, 1)?;
    match args.get(0) {
        Value::Array(a) => Ok(Value::array(a.iter().skip(n).cloned().collect())),
        Value::String(s) => Ok(Value::from(s.chars().skip(n).collect::<String>())),
        _ => Err(FnError::Arg {
            index: 0,
            expected: "an array or a string",
        }),
    }
}

fn take(args: &mut Args<'_>) -> FnResult {
    let n = count(args, 1)?;
    match args.get(0) {
        Value::Array(a) => Ok(Value::array(a.iter().take(n).cloned().collect())),
        Value::String(s) => Ok(Value::from(s.chars().take(n).collect::<String>())),
        _ => Err(FnError::Arg {
            index: 0,
            expected: "an array or a string",
        }),
    }
}

fn sort(args: &mut Args<'_>) -> FnResult {
    let key = args.opt_str(1)?.map(str::to_string);
    let items = args.array(0)?.to_vec();
    let pick = |v: &Value| -> Value {
        match &key {
            Some(k) => v.get(k).cloned().unwrap_or_default(),
            None => v.clone(),
        }
    };
    // The keys must be mutually comparable before sorting: a comparator that errs on some
    // pairs is not a total order, and the standard sort may panic on one.
    let keys: Vec<Value> = items.iter().map(pick).collect();
    if let Some(first) = keys.first() {
        for key in &keys {
            compare(first, key).or_else(fail)?;
        }
    }
    let mut keyed: Vec<(Value, Value)> = keys.into_iter().zip(items).collect();
    keyed.sort_by(|(a, _), (b, _)| compare(a, b).unwrap_or(std::cmp::Ordering::Equal));
    Ok(Value::array(keyed.into_iter().map(|(_, v)| v).collect()))
}

fn reverse(args: &mut Args<'_>) -> FnResult {
    let mut items = args.array(0)?.to_vec();
    items.reverse();
    Ok(Value::array(items))
}

fn chunk(args: &mut Args<'_>) -> FnResult {
    let size = count(args, 1)?;
    if size == 0 {
        return fail("the chunk length must be at least 1");
    }
    match args.get(0) {
        Value::Array(a) => Ok(Value::array(
            a.chunks(size).map(|c| Value::array(c.to_vec())).collect(),
        )),
        Value::String(s) => {
            let chars: Vec<char> = s.chars().collect();
            Ok(Value::array(
                chars
                    .chunks(size)
                    .map(|c| Value::from(c.iter().collect::<String>()))
                    .collect(),
            ))
        }
        _ => Err(FnError::Arg {
            index: 0,
            expected: "an array or a string",
        }),
    }
}
