//! HTTP bodies ↔ workflow values, the same way in both directions of every HTTP connector:
//! JSON bodies are parsed, text stays text, anything else is `{"$content-type", "$content"}`
//! with base64 content, as Logic Apps represents binary.

use base64::Engine as _;
use sluice_engine::expr::functions::{binary_value, to_text};
use sluice_engine::expr::Value;

/// A received body as a value: parsed JSON, text, or binary.
pub fn decode(bytes: &[u8], content_type: &str) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    let json_type = content_type.is_empty() || content_type.contains("json");
    if json_type {
        if let Ok(json) = serde_json::from_slice::<Value>(bytes) {
            return json;
        }
    }
    let texty = content_type.is_empty()
        || content_type.starts_with("text/")
        || content_type.contains("json")
        || content_type.contains("xml")
        || content_type.contains("x-www-form-urlencoded");
    match std::str::from_utf8(bytes) {
        Ok(text) if texty => Value::from(text),
        _ => binary_value(bytes, content_type),
    }
}

/// A body to send: its bytes and the content type it implies (when the caller set none).
pub fn encode(body: &Value) -> Result<(Vec<u8>, &'static str), String> {
    Ok(match body {
        Value::Null => (Vec::new(), ""),
        Value::String(s) => (s.as_bytes().to_vec(), "text/plain; charset=utf-8"),
        Value::Object(map) if map.contains_key("$content") => {
            let content = map.get("$content").map(to_text).unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(content.as_bytes())
                .map_err(|e| format!("the body's '$content' is not base64: {e}"))?;
            (bytes, "application/octet-stream")
        }
        other => (other.to_json_string().into_bytes(), "application/json"),
    })
}

/// The content type a binary body names for itself (`$content-type`).
pub fn own_content_type(body: &Value) -> Option<String> {
    body.get("$content-type").map(to_text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_by_kind() {
        assert_eq!(
            decode(br#"{"a":1}"#, "application/json").get("a"),
            Some(&Value::from(1))
        );
        assert_eq!(decode(b"hello", "text/plain"), Value::from("hello"));
        assert_eq!(decode(b"", "application/json"), Value::Null);
        let binary = decode(&[0xff, 0x00], "image/png");
        assert_eq!(own_content_type(&binary).as_deref(), Some("image/png"));
        assert_eq!(encode(&binary).unwrap().0, vec![0xff, 0x00]);
        assert_eq!(
            encode(&Value::from("x")).unwrap().1,
            "text/plain; charset=utf-8"
        );
        let (bytes, kind) = encode(&decode(br#"[1,2]"#, "")).unwrap();
        assert_eq!(
            (bytes.as_slice(), kind),
            (&b"[1,2]"[..], "application/json")
        );
    }
}
