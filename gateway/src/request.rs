//! Checks on what a client sends the gateway, before anything reads it: the body is a JSON
//! object whose fields have the shapes the policies read, token counts are within bounds,
//! and names that become part of a backend's path are one safe path segment. Each failure
//! is a 400 naming the field, never a panic or a request to some other path on the backend
//! (which would carry the backend's key).

use serde_json::Value;

/// The largest `max_tokens` (or `max_completion_tokens`) accepted: above every model's
/// context window, far below what could overflow the token arithmetic.
pub const MAX_TOKENS_LIMIT: u64 = 1 << 24;

/// What the gateway reads of every model request body, and the shapes it checks without
/// building the body: the token budget, the stream options and the messages (a sequence of
/// ignored items allocates nothing).
#[derive(serde::Deserialize)]
pub struct Peek<'a> {
    #[serde(borrow, default)]
    pub model: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    stream_options: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    messages: Option<Vec<serde::de::IgnoredAny>>,
}

/// The body's `model` and `stream`, from a body that must be a JSON object of the documented
/// shapes.
pub fn peek(body: &[u8]) -> Result<Peek<'_>, String> {
    // serde would also read a struct from an array (`[null, true]`): only objects are bodies.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err("the request body is not a JSON object".into());
    }
    let peek = serde_json::from_slice::<Peek<'_>>(body)
        .map_err(|e| format!("the request body is not a valid request: {e}"))?;
    for (name, n) in [
        ("max_tokens", peek.max_tokens),
        ("max_completion_tokens", peek.max_completion_tokens),
    ] {
        if n.is_some_and(|n| n > MAX_TOKENS_LIMIT) {
            return Err(format!(
                "'{name}' must be an integer from 0 to {MAX_TOKENS_LIMIT}"
            ));
        }
    }
    let _ = (&peek.stream_options, &peek.messages);
    Ok(peek)
}

/// The whole body, checked: an object whose token budget and stream options have their
/// documented types.
pub fn parse(body: &[u8]) -> Result<Value, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the request body is not JSON: {e}"))?;
    let Value::Object(fields) = &value else {
        return Err("the request body is not a JSON object".into());
    };
    for name in ["max_tokens", "max_completion_tokens"] {
        match fields.get(name) {
            None | Some(Value::Null) => {}
            Some(n) => match n.as_u64() {
                Some(n) if n <= MAX_TOKENS_LIMIT => {}
                _ => {
                    return Err(format!(
                        "'{name}' must be an integer from 0 to {MAX_TOKENS_LIMIT}, got {n}"
                    ))
                }
            },
        }
    }
    match fields.get("stream_options") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(other) => return Err(format!("'stream_options' must be an object, got {other}")),
    }
    if let Some(messages) = fields.get("messages") {
        if !messages.is_array() {
            return Err("'messages' must be an array".into());
        }
    }
    Ok(value)
}

/// Asks the backend to end a stream with its usage (`stream_options.include_usage`).
pub fn ask_for_usage(body: &mut Value) -> Result<(), String> {
    let Value::Object(fields) = body else {
        return Err("the request body is not a JSON object".into());
    };
    let options = fields
        .entry("stream_options")
        .or_insert_with(|| Value::Object(Default::default()));
    if options.is_null() {
        *options = Value::Object(Default::default());
    }
    match options {
        Value::Object(o) => {
            o.insert("include_usage".into(), Value::Bool(true));
            Ok(())
        }
        other => Err(format!("'stream_options' must be an object, got {other}")),
    }
}

/// A deployment or model name that may go into a backend path (Azure OpenAI's
/// `/openai/deployments/{name}/…`): the URL builder percent-encodes it as one segment
/// ([`segment`]), so a slash stays inside it (`meta-llama/Llama-3` is a model name); what no
/// encoding makes one segment is refused: `.`, `..`, control characters, and names past 256
/// bytes.
pub fn check_deployment(name: &str) -> Result<(), String> {
    let bad = name == "." || name == ".." || name.len() > 256 || name.chars().any(char::is_control);
    if bad {
        return Err(format!(
            "'{}' is not a valid deployment or model name",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// A function path under its API: no `.` or `..` segment, which would climb out of the
/// backend's base path.
pub fn check_function_path(path: &str) -> Result<(), String> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    if path
        .split(['/', '\\'])
        .any(|segment| segment == "." || segment == ".." || segment.chars().any(char::is_control))
    {
        return Err(format!(
            "'{}' is not a valid function path",
            path.escape_debug()
        ));
    }
    Ok(())
}

/// `name` encoded as one path segment.
pub fn segment(name: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    /// Everything but the unreserved characters of RFC 3986.
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(name, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_must_be_objects_of_the_documented_shapes() {
        assert!(peek(b"[null, true]").is_err());
        assert!(peek(b"  {\"model\": \"m\", \"stream\": true}").is_ok());
        assert!(peek(b"{\"stream\": 5}").is_err());
        assert!(parse(b"{\"stream_options\": 5}").is_err());
        assert!(parse(b"{\"max_tokens\": 18446744073709551615}").is_err());
        assert!(parse(b"{\"max_tokens\": -1}").is_err());
        assert!(parse(b"{\"max_tokens\": 1.5}").is_err());
        assert!(parse(b"{\"messages\": {}}").is_err());
        assert!(parse(b"{\"max_tokens\": 4096, \"messages\": []}").is_ok());
        let mut body = parse(b"{\"stream_options\": null}").unwrap();
        ask_for_usage(&mut body).unwrap();
        assert_eq!(body["stream_options"]["include_usage"], true);
    }

    #[test]
    fn names_in_paths_are_one_segment() {
        for bad in ["..", ".", "x\ny"] {
            assert!(check_deployment(bad).is_err(), "{bad:?}");
        }
        for good in ["gpt-4o.mini_2024", "meta-llama/Llama-3-8b", "../admin"] {
            assert!(check_deployment(good).is_ok(), "{good:?}");
        }
        assert_eq!(segment("../admin"), "..%2Fadmin");
        assert_eq!(segment("a b%2F?"), "a%20b%252F%3F");
        assert!(check_function_path("../../secret?x=1").is_err());
        assert!(check_function_path("api/./x").is_err());
        assert!(check_function_path("api/score?a=..").is_ok());
    }
}
