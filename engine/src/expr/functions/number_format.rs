//! `formatNumber()`: .NET standard numeric formats (C, D, E, F, G, N, P, R, X with an optional
//! precision) and the common custom patterns (`0`, `#`, `,`, `.`, `%`, quoted literals), in a
//! culture. Midpoints round away from zero, as .NET formatting does.

use super::culture::{self, Culture};
use super::{float_text, Args, FnError, FnResult, Num};
use crate::expr::value::Value;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use std::str::FromStr;

pub(super) fn format_number(args: &mut Args<'_>) -> FnResult {
    let number = args.num(0)?;
    let pattern = args.str(1)?;
    let c = culture::find(args.opt_str(2)?).map_err(FnError::Message)?;
    format(number, pattern, c)
        .map(Value::from)
        .map_err(FnError::Message)
}

fn decimal_of(n: Num) -> Result<Decimal, String> {
    match n {
        Num::Int(i) => Ok(Decimal::from(i)),
        Num::Decimal(d) => Ok(d),
        Num::Float(f) => Decimal::from_str(&format!("{f}"))
            .or_else(|_| Decimal::from_scientific(&format!("{f:e}")))
            .map_err(|_| format!("{f} is too large to format")),
    }
}

pub fn format(n: Num, format: &str, c: &Culture) -> Result<String, String> {
    let mut chars = format.chars();
    let letter = chars.next().unwrap_or('G');
    let rest: String = chars.collect();
    let standard =
        letter.is_ascii_alphabetic() && rest.chars().all(|d| d.is_ascii_digit()) && rest.len() <= 2;
    if !standard {
        return custom(decimal_of(n)?, format, c);
    }
    let precision: Option<u32> = rest.parse().ok();
    let value = decimal_of(n)?;
    let negative = value.is_sign_negative() && !value.is_zero();
    let sign = if negative { "-" } else { "" };
    Ok(match letter.to_ascii_uppercase() {
        'C' => {
            let body = grouped(value.abs(), precision.unwrap_or(2), c);
            let positive = match c.currency_pattern {
                0 => format!("{}{body}", c.currency),
                1 => format!("{body}{}", c.currency),
                2 => format!("{} {body}", c.currency),
                _ => format!("{body} {}", c.currency),
            };
            format!("{sign}{positive}")
        }
        'D' => {
            let Num::Int(i) = n else {
                return Err("the D format needs an integer".into());
            };
            format!("{sign}{:0width$}", i.unsigned_abs(), width = precision.unwrap_or(1) as usize)
        }
        'E' => {
            let f = value.to_f64().unwrap_or_default();
            let text = format!("{:.*e}", precision.unwrap_or(6) as usize, f.abs());
            let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
            let exp: i32 = exp.parse().unwrap_or(0);
            let e = if letter == 'e' { 'e' } else { 'E' };
            let exp_sign = if exp < 0 { '-' } else { '+' };
            format!("{sign}{}{e}{exp_sign}{:03}", mantissa.replace('.', c.decimal), exp.abs())
        }
        'F' => format!("{sign}{}", fixed(value.abs(), precision.unwrap_or(2), c)),
        'N' => format!("{sign}{}", grouped(value.abs(), precision.unwrap_or(2), c)),
        'P' => {
            let body = grouped(percent(value)?.abs(), precision.unwrap_or(2), c);
            let space = if c.name == "en-US" { "" } else { "\u{a0}" };
            format!("{sign}{body}{space}%")
        }
        'G' | 'R' => match (n, precision) {
            (Num::Int(i), _) => i.to_string(),
            (Num::Float(f), None) => float_text(f).replace('.', c.decimal),
            _ => value.normalize().to_string().replace('.', c.decimal),
        },
        'X' => {
            let Num::Int(i) = n else {
                return Err("the X format needs an integer".into());
            };
            let hex = format!("{:0width$x}", i, width = precision.unwrap_or(1) as usize);
            if letter == 'X' { hex.to_uppercase() } else { hex }
        }
        other => return Err(format!("'{other}' is not a number format; use C, D, E, F, G, N, P, R, X or a custom pattern such as #,##0.00")),
    })
}

/// `value` × 100 for a percentage; a value that large has no percentage to show.
fn percent(value: Decimal) -> Result<Decimal, String> {
    value
        .checked_mul(Decimal::from(100))
        .ok_or_else(|| format!("{value} is too large to format as a percentage"))
}

fn rounded(value: Decimal, decimals: u32) -> Decimal {
    value.round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero)
}

/// Integer and fraction digits of a non-negative value with exactly `decimals` decimals. The
/// value is rounded and shown with its own digits (a decimal has at most 29), then padded with
/// zeros: rust_decimal's display with a precision panics when digits and padding pass 32.
fn digits(value: Decimal, decimals: u32) -> (String, String) {
    let text = rounded(value, decimals).to_string();
    let (int, mut frac) = match text.split_once('.') {
        Some((i, f)) => (i.to_string(), f.to_string()),
        None => (text, String::new()),
    };
    let missing = (decimals as usize).saturating_sub(frac.len());
    frac.extend(std::iter::repeat_n('0', missing));
    (int, frac)
}

fn group(int: &str, c: &Culture) -> String {
    let mut out = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push_str(c.group);
        }
        out.push(ch);
    }
    out
}

fn join(int: String, frac: String, c: &Culture) -> String {
    if frac.is_empty() {
        int
    } else {
        format!("{int}{}{frac}", c.decimal)
    }
}

fn fixed(value: Decimal, decimals: u32, c: &Culture) -> String {
    let (int, frac) = digits(value, decimals);
    join(int, frac, c)
}

fn grouped(value: Decimal, decimals: u32, c: &Culture) -> String {
    let (int, frac) = digits(value, decimals);
    join(group(&int, c), frac, c)
}

/// A custom pattern: literal prefix, a number part of `0 # , .`, literal suffix.
fn custom(value: Decimal, pattern: &str, c: &Culture) -> Result<String, String> {
    let section = pattern.split(';').next().unwrap_or(pattern);
    let is_placeholder = |ch: char| matches!(ch, '0' | '#' | ',' | '.');
    let (prefix, rest) = literal_run(section, is_placeholder);
    let body_len = rest.chars().take_while(|&ch| is_placeholder(ch)).count();
    let body: String = rest.chars().take(body_len).collect();
    let suffix_raw: String = rest.chars().skip(body_len).collect();
    if body.is_empty() {
        return fail_text(pattern);
    }
    let percent = section.contains('%');
    let value = if percent {
        self::percent(value)?
    } else {
        value
    };
    let (int_pattern, frac_pattern) = body.split_once('.').unwrap_or((&body, ""));
    let min_int = int_pattern.chars().filter(|&ch| ch == '0').count();
    let min_frac = frac_pattern.chars().filter(|&ch| ch == '0').count();
    let max_frac = frac_pattern
        .chars()
        .filter(|&ch| ch == '0' || ch == '#')
        .count();
    let (int, mut frac) = digits(value.abs(), max_frac as u32);
    while frac.len() > min_frac && frac.ends_with('0') {
        frac.pop();
    }
    let int = if int == "0" && min_int == 0 {
        String::new()
    } else {
        format!("{int:0>min_int$}")
    };
    let int = if int_pattern.contains(',') {
        group(&int, c)
    } else {
        int
    };
    let sign = if value.is_sign_negative() && !rounded(value, max_frac as u32).is_zero() {
        "-"
    } else {
        ""
    };
    let (suffix, _) = literal_run(&suffix_raw, |_| false);
    Ok(format!("{sign}{prefix}{}{suffix}", join(int, frac, c)))
}

fn fail_text(pattern: &str) -> Result<String, String> {
    Err(format!(
        "'{pattern}' is not a number format: it has no digit placeholder (0 or #)"
    ))
}

/// The literal text at the start of `s` (quotes and backslashes resolved) up to the first
/// character for which `stop` holds, and the rest.
fn literal_run(s: &str, stop: impl Fn(char) -> bool) -> (String, String) {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() && !stop(chars[i]) {
        match chars[i] {
            q @ ('\'' | '"') => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&x| x == q)
                    .map_or(chars.len(), |p| i + 1 + p);
                out.extend(&chars[i + 1..end]);
                i = end + 1;
                continue;
            }
            '\\' if i + 1 < chars.len() => {
                out.push(chars[i + 1]);
                i += 2;
                continue;
            }
            ch => out.push(ch),
        }
        i += 1;
    }
    (out, chars[i.min(chars.len())..].iter().collect())
}
