//! The JSON Schema subset ParseJson validates against, as the Logic Apps designer generates
//! it: `type` (one or a list), `properties`, `required`, `items`, `enum`. A failure names the
//! property path that failed.

use crate::expr::eval::describe;
use crate::expr::Value;

/// Checks `value` against `schema`; the error names where it failed.
pub fn validate(value: &Value, schema: &Value) -> Result<(), String> {
    check(value, schema, "$")
}

fn type_matches(value: &Value, name: &str) -> bool {
    match name {
        "string" => matches!(value, Value::String(_)),
        "integer" => {
            matches!(value, Value::Integer(_))
                || matches!(value, Value::Float(f) if f.fract() == 0.0)
        }
        "number" => value.is_number(),
        "boolean" => matches!(value, Value::Bool(_)),
        "object" => matches!(value, Value::Object(_)),
        "array" => matches!(value, Value::Array(_)),
        "null" => value.is_null(),
        _ => true,
    }
}

fn check(value: &Value, schema: &Value, path: &str) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        return Ok(());
    };
    if let Some(types) = schema.get("type") {
        let names: Vec<&str> = match types {
            Value::String(s) => vec![s],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.is_empty() && !names.iter().any(|t| type_matches(value, t)) {
            return Err(format!(
                "{path} must be of type {} but is {}",
                names.join(" or "),
                describe(value)
            ));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            return Err(format!(
                "{path} must be one of {} but is {}",
                Value::array(allowed.to_vec()),
                describe(value)
            ));
        }
    }
    if let Value::Object(members) = value {
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !members.contains_key(name) {
                    return Err(format!("{path}.{name} is required but missing"));
                }
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, sub) in properties.iter() {
                if let Some(member) = members.get(name) {
                    check(member, sub, &format!("{path}.{name}"))?;
                }
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(item, item_schema, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn names_the_failing_property() {
        let schema = v(r#"{"type": "object", "required": ["id"], "properties": {
            "id": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"type": ["string", "null"], "enum": ["a", "b", null]}}}"#);
        assert_eq!(
            validate(&v(r#"{"id": 1, "tags": ["x"], "kind": null}"#), &schema),
            Ok(())
        );
        assert_eq!(
            validate(&v(r#"{"tags": []}"#), &schema),
            Err("$.id is required but missing".into())
        );
        assert_eq!(
            validate(&v(r#"{"id": "1"}"#), &schema),
            Err("$.id must be of type integer but is the string '1'".into())
        );
        assert_eq!(
            validate(&v(r#"{"id": 1, "tags": ["x", 2]}"#), &schema),
            Err("$.tags[1] must be of type string but is the integer 2".into())
        );
        assert!(validate(&v(r#"{"id": 1, "kind": "c"}"#), &schema)
            .unwrap_err()
            .starts_with("$.kind must be one of"));
    }
}
