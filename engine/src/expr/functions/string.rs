//! String functions. Searches (`indexOf`, `startsWith` …) ignore case, as Logic Apps does;
//! `contains` and `replace` do not. Indexes count characters.

use super::{f, fail, number_format, to_text, Args, FnError, FnResult, Function, MANY};
use crate::expr::value::Value;

pub(super) const FUNCTIONS: &[Function] = &[
    f!("concat", 1, MANY, concat),
    f!("endsWith", 2, 2, ends_with),
    f!("startsWith", 2, 2, starts_with),
    f!("formatNumber", 2, 3, number_format::format_number),
    f!("guid", 0, 1, nondeterministic guid),
    f!("indexOf", 2, 2, index_of),
    f!("lastIndexOf", 2, 2, last_index_of),
    f!("nthIndexOf", 3, 3, nth_index_of),
    f!("replace", 3, 3, replace),
    f!("split", 2, 2, split),
    f!("substring", 2, 3, substring),
    f!("slice", 2, 3, slice),
    f!("toLower", 1, 1, to_lower),
    f!("toUpper", 1, 1, to_upper),
    f!("trim", 1, 1, trim),
    f!("trimByteOrderMark", 1, 1, trim_byte_order_mark),
];

fn concat(args: &mut Args<'_>) -> FnResult {
    let mut out = String::new();
    for v in &args.values {
        out.push_str(&to_text(v));
    }
    Ok(Value::from(out))
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

fn ends_with(args: &mut Args<'_>) -> FnResult {
    Ok(Value::Bool(
        lower(args.str(0)?).ends_with(&lower(args.str(1)?)),
    ))
}

fn starts_with(args: &mut Args<'_>) -> FnResult {
    Ok(Value::Bool(
        lower(args.str(0)?).starts_with(&lower(args.str(1)?)),
    ))
}

fn guid(args: &mut Args<'_>) -> FnResult {
    let id = uuid::Uuid::new_v4();
    let text = match args.opt_str(0)?.unwrap_or("D") {
        "N" | "n" => id.simple().to_string(),
        "D" | "d" => id.hyphenated().to_string(),
        "B" | "b" => format!("{{{}}}", id.hyphenated()),
        "P" | "p" => format!("({})", id.hyphenated()),
        "X" | "x" => {
            let b = id.as_bytes();
            let hex = |r: &[u8]| r.iter().map(|x| format!("{x:02x}")).collect::<String>();
            let tail: Vec<String> = b[8..].iter().map(|x| format!("0x{x:02x}")).collect();
            format!(
                "{{0x{},0x{},0x{},{{{}}}}}",
                hex(&b[0..4]),
                hex(&b[4..6]),
                hex(&b[6..8]),
                tail.join(",")
            )
        }
        other => {
            return fail(format!(
                "'{other}' is not a GUID format; use N, D, B, P or X"
            ))
        }
    };
    Ok(Value::from(text))
}

/// Character offsets of every match of `needle` in `haystack`, ignoring case.
fn match_offsets(haystack: &str, needle: &str) -> Vec<i64> {
    let h: Vec<char> = haystack.chars().flat_map(char::to_lowercase).collect();
    let n: Vec<char> = needle.chars().flat_map(char::to_lowercase).collect();
    if n.is_empty() {
        return vec![0];
    }
    (0..h.len().saturating_sub(n.len() - 1))
        .filter(|&i| h[i..i + n.len()] == n[..])
        .map(|i| i as i64)
        .collect()
}

fn index_of(args: &mut Args<'_>) -> FnResult {
    let found = match_offsets(args.str(0)?, args.str(1)?);
    Ok(Value::Integer(found.first().copied().unwrap_or(-1)))
}

fn last_index_of(args: &mut Args<'_>) -> FnResult {
    let (text, search) = (args.str(0)?, args.str(1)?);
    if search.is_empty() {
        return Ok(Value::Integer(text.chars().count() as i64 - 1));
    }
    let found = match_offsets(text, search);
    Ok(Value::Integer(found.last().copied().unwrap_or(-1)))
}

fn nth_index_of(args: &mut Args<'_>) -> FnResult {
    let n = args.int(2)?;
    if n == 0 {
        return fail("the occurrence number must not be 0");
    }
    let found = match_offsets(args.str(0)?, args.str(1)?);
    let index = if n > 0 {
        found.get(n as usize - 1)
    } else {
        found
            .len()
            .checked_sub(n.unsigned_abs() as usize)
            .and_then(|i| found.get(i))
    };
    Ok(Value::Integer(index.copied().unwrap_or(-1)))
}

fn replace(args: &mut Args<'_>) -> FnResult {
    let (text, old, new) = (args.str(0)?, args.str(1)?, args.str(2)?);
    if old.is_empty() {
        return fail("the text to replace must not be empty");
    }
    Ok(Value::from(text.replace(old, new)))
}

fn split(args: &mut Args<'_>) -> FnResult {
    let (text, delimiter) = (args.str(0)?, args.str(1)?);
    let parts: Vec<Value> = if delimiter.is_empty() {
        vec![Value::from(text)]
    } else {
        text.split(delimiter).map(Value::from).collect()
    };
    Ok(Value::array(parts))
}

fn substring(args: &mut Args<'_>) -> FnResult {
    let chars: Vec<char> = args.str(0)?.chars().collect();
    let start = args.int(1)?;
    let length = match args.opt(2) {
        Some(_) => args.int(2)?,
        None => chars.len() as i64 - start,
    };
    let end = start.checked_add(length).unwrap_or(i64::MAX);
    if start < 0 || length < 0 || end > chars.len() as i64 {
        return fail(format!(
            "start {start} and length {length} are outside the text, which has {} characters",
            chars.len()
        ));
    }
    Ok(Value::from(
        chars[start as usize..end as usize]
            .iter()
            .collect::<String>(),
    ))
}

fn slice(args: &mut Args<'_>) -> FnResult {
    let chars: Vec<char> = args.str(0)?.chars().collect();
    let len = chars.len() as i64;
    let clamp = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
    let start = clamp(args.int(1)?);
    let end = match args.opt(2) {
        Some(_) => clamp(args.int(2)?),
        None => len,
    };
    let text: String = if start < end {
        chars[start as usize..end as usize].iter().collect()
    } else {
        String::new()
    };
    Ok(Value::from(text))
}

fn to_lower(args: &mut Args<'_>) -> FnResult {
    Ok(Value::from(args.str(0)?.to_lowercase()))
}

fn to_upper(args: &mut Args<'_>) -> FnResult {
    Ok(Value::from(args.str(0)?.to_uppercase()))
}

fn trim(args: &mut Args<'_>) -> FnResult {
    Ok(Value::from(args.str(0)?.trim()))
}

fn trim_byte_order_mark(args: &mut Args<'_>) -> FnResult {
    match args.get(0) {
        Value::String(s) => Ok(Value::from(s.trim_start_matches('\u{feff}'))),
        other => match super::binary_bytes(other) {
            Some(bytes) => {
                let trimmed = bytes
                    .strip_prefix(&[0xEF, 0xBB, 0xBF][..])
                    .unwrap_or(&bytes);
                Ok(super::binary_value(trimmed, "application/octet-stream"))
            }
            None => Err(FnError::Arg {
                index: 0,
                expected: "a string or binary content",
            }),
        },
    }
}
