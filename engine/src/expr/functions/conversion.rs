//! Conversion functions: between types, and to and from base64, data URIs, URI components,
//! binary content and XML.

use super::{
    binary_bytes, binary_value, bytes_of, culture, f, fail, to_text, xml, Args, FnError, FnResult,
    Function, MANY,
};
use crate::expr::value::Value;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rust_decimal::Decimal;
use std::str::FromStr;

pub(super) const FUNCTIONS: &[Function] = &[
    f!("array", 1, 1, array),
    f!("createArray", 1, MANY, create_array),
    f!("base64", 1, 1, base64),
    f!("base64ToBinary", 1, 1, base64_to_binary),
    f!("base64ToString", 1, 1, base64_to_string),
    f!("decodeBase64", 1, 1, base64_to_string),
    f!("binary", 1, 1, binary),
    f!("bool", 1, 1, bool_),
    f!("dataUri", 1, 1, data_uri),
    f!("dataUriToBinary", 1, 1, data_uri_to_binary),
    f!("decodeDataUri", 1, 1, data_uri_to_binary),
    f!("dataUriToString", 1, 1, data_uri_to_string),
    f!("decimal", 1, 1, decimal),
    f!("decodeUriComponent", 1, 1, uri_component_to_string),
    f!("uriComponentToString", 1, 1, uri_component_to_string),
    f!("encodeUriComponent", 1, 1, uri_component),
    f!("uriComponent", 1, 1, uri_component),
    f!("uriComponentToBinary", 1, 1, uri_component_to_binary),
    f!("float", 1, 2, float),
    f!("int", 1, 1, int),
    f!("isInt", 1, 2, is_int),
    f!("isFloat", 1, 2, is_float),
    f!("json", 1, 1, json),
    f!("string", 1, 1, string),
    f!("xml", 1, 1, xml::to_xml),
];

/// Characters `encodeUriComponent` leaves alone: the RFC 3986 unreserved set.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn array(args: &mut Args<'_>) -> FnResult {
    Ok(Value::array(vec![args.take(0)]))
}

fn create_array(args: &mut Args<'_>) -> FnResult {
    Ok(Value::array(std::mem::take(&mut args.values)))
}

fn base64(args: &mut Args<'_>) -> FnResult {
    Ok(Value::from(STANDARD.encode(bytes_of(args, 0)?)))
}

fn decode_base64(args: &Args<'_>) -> Result<Vec<u8>, FnError> {
    let text = args.str(0)?;
    STANDARD
        .decode(text.trim())
        .or_else(|e| fail(format!("'{text}' is not valid base64: {e}")))
}

fn utf8(bytes: Vec<u8>) -> FnResult {
    String::from_utf8(bytes)
        .map(Value::from)
        .or_else(|_| fail("the content is not UTF-8 text"))
}

fn base64_to_binary(args: &mut Args<'_>) -> FnResult {
    Ok(binary_value(
        &decode_base64(args)?,
        "application/octet-stream",
    ))
}

fn base64_to_string(args: &mut Args<'_>) -> FnResult {
    utf8(decode_base64(args)?)
}

fn binary(args: &mut Args<'_>) -> FnResult {
    Ok(binary_value(
        &bytes_of(args, 0)?,
        "application/octet-stream",
    ))
}

fn bool_(args: &mut Args<'_>) -> FnResult {
    match args.get(0) {
        Value::Bool(b) => Ok(Value::Bool(*b)),
        Value::Integer(i) => Ok(Value::Bool(*i != 0)),
        Value::Float(x) => Ok(Value::Bool(*x != 0.0)),
        Value::Decimal(d) => Ok(Value::Bool(!d.is_zero())),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
        _ => Err(FnError::Arg {
            index: 0,
            expected: "a boolean, a number, or the string 'true' or 'false'",
        }),
    }
}

fn data_uri(args: &mut Args<'_>) -> FnResult {
    let (bytes, media) = match args.get(0) {
        Value::String(s) => (
            s.as_bytes().to_vec(),
            "text/plain;charset=utf-8".to_string(),
        ),
        other => match binary_bytes(other) {
            Some(b) => (
                b,
                other
                    .get("$content-type")
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            ),
            None => {
                return Err(FnError::Arg {
                    index: 0,
                    expected: "a string or binary content",
                })
            }
        },
    };
    Ok(Value::from(format!(
        "data:{media};base64,{}",
        STANDARD.encode(bytes)
    )))
}

/// The media type and bytes of a `data:` URI.
fn parse_data_uri(args: &Args<'_>) -> Result<(String, Vec<u8>), FnError> {
    let text = args.str(0)?;
    let bad = || {
        FnError::Message(format!(
            "'{text}' is not a data URI (data:[<media type>][;base64],<data>)"
        ))
    };
    let rest = text.strip_prefix("data:").ok_or_else(bad)?;
    let (meta, data) = rest.split_once(',').ok_or_else(bad)?;
    let (media, is_base64) = match meta.strip_suffix(";base64") {
        Some(m) => (m, true),
        None => (meta, false),
    };
    let bytes = if is_base64 {
        STANDARD.decode(data).map_err(|_| bad())?
    } else {
        percent_decode_str(data).collect()
    };
    let media = if media.is_empty() {
        "text/plain;charset=US-ASCII"
    } else {
        media
    };
    Ok((media.to_string(), bytes))
}

fn data_uri_to_binary(args: &mut Args<'_>) -> FnResult {
    let (_, bytes) = parse_data_uri(args)?;
    Ok(binary_value(&bytes, "application/octet-stream"))
}

fn data_uri_to_string(args: &mut Args<'_>) -> FnResult {
    utf8(parse_data_uri(args)?.1)
}

fn decimal(args: &mut Args<'_>) -> FnResult {
    match args.get(0) {
        Value::String(s) => Decimal::from_str(s.trim())
            .or_else(|_| Decimal::from_scientific(s.trim()))
            .map(Value::Decimal)
            .or_else(|_| fail(format!("'{s}' is not a decimal number"))),
        Value::Integer(i) => Ok(Value::Decimal(Decimal::from(*i))),
        Value::Float(x) => Decimal::try_from(*x)
            .map(Value::Decimal)
            .or_else(|_| fail(format!("{x} cannot be a decimal"))),
        Value::Decimal(d) => Ok(Value::Decimal(*d)),
        _ => Err(FnError::Arg {
            index: 0,
            expected: "a string or a number",
        }),
    }
}

fn uri_component(args: &mut Args<'_>) -> FnResult {
    let text = to_text(args.get(0));
    Ok(Value::from(
        utf8_percent_encode(&text, COMPONENT).to_string(),
    ))
}

fn decode_component(args: &Args<'_>) -> Result<Vec<u8>, FnError> {
    Ok(percent_decode_str(args.str(0)?).collect())
}

fn uri_component_to_string(args: &mut Args<'_>) -> FnResult {
    utf8(decode_component(args)?)
}

fn uri_component_to_binary(args: &mut Args<'_>) -> FnResult {
    Ok(binary_value(
        &decode_component(args)?,
        "application/octet-stream",
    ))
}

fn locale<'c>(args: &Args<'_>, i: usize) -> Result<&'c culture::Culture, FnError> {
    culture::find(args.opt_str(i)?).map_err(FnError::Message)
}

fn float(args: &mut Args<'_>) -> FnResult {
    match args.get(0) {
        Value::String(s) => {
            let c = locale(args, 1)?;
            match culture::parse_number(s, c) {
                Some(x) => Ok(Value::Float(x)),
                None => fail(format!("'{s}' is not a number in {}", c.name)),
            }
        }
        other => match other.as_f64() {
            Some(x) => Ok(Value::Float(x)),
            None => Err(FnError::Arg {
                index: 0,
                expected: "a string or a number",
            }),
        },
    }
}

fn int(args: &mut Args<'_>) -> FnResult {
    match args.get(0) {
        Value::String(s) => {
            let t = s.trim();
            t.parse::<i64>()
                .map(Value::Integer)
                .or_else(|_| fail(format!("'{s}' is not an integer")))
        }
        Value::Integer(i) => Ok(Value::Integer(*i)),
        Value::Float(_) | Value::Decimal(_) => {
            let x = args.get(0).as_f64().unwrap_or_default().round_ties_even();
            if x.abs() < 9.2e18 {
                Ok(Value::Integer(x as i64))
            } else {
                fail("the number is too large for an integer")
            }
        }
        Value::Bool(b) => Ok(Value::Integer(i64::from(*b))),
        _ => Err(FnError::Arg {
            index: 0,
            expected: "a string or a number",
        }),
    }
}

fn is_int(args: &mut Args<'_>) -> FnResult {
    let c = locale(args, 1)?;
    Ok(Value::Bool(match args.get(0) {
        Value::String(s) => {
            let t = s.trim();
            let grouped = t.replace(c.group, "");
            let digits = grouped.strip_prefix(['-', '+']).unwrap_or(&grouped);
            !digits.is_empty()
                && digits.chars().all(|ch| ch.is_ascii_digit())
                && grouped.parse::<i64>().is_ok()
        }
        Value::Integer(_) => true,
        _ => false,
    }))
}

fn is_float(args: &mut Args<'_>) -> FnResult {
    let c = locale(args, 1)?;
    Ok(Value::Bool(match args.get(0) {
        Value::String(s) => culture::parse_number(s, c).is_some(),
        other => other.is_number(),
    }))
}

fn json(args: &mut Args<'_>) -> FnResult {
    match args.get(0) {
        Value::String(s) => {
            serde_json::from_str::<Value>(s).or_else(|e| fail(format!("the text is not JSON: {e}")))
        }
        other if xml::is_xml(other) => xml::to_json(other),
        Value::Null => Ok(Value::Null),
        _ => Err(FnError::Arg {
            index: 0,
            expected: "a JSON string or XML",
        }),
    }
}

fn string(args: &mut Args<'_>) -> FnResult {
    Ok(Value::from(to_text(args.get(0))))
}
