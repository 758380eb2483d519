//! Shared by the conformance tests: the cases of `tests/data/conformance/expressions.json` and
//! how an outcome is judged.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

pub struct Case {
    pub id: String,
    pub expr: String,
    pub context: Option<Value>,
    pub raw: Value,
}

pub fn data(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/conformance")
        .join(file)
}

pub fn cases() -> Vec<Case> {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(data("expressions.json")).unwrap()).unwrap();
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            id: c["id"].as_str().unwrap().to_string(),
            expr: c["expr"].as_str().unwrap().to_string(),
            context: c.get("context").cloned(),
            raw: c.clone(),
        })
        .collect()
}

/// Case id → reason, for the cases allowed to fail.
pub fn known_failures() -> BTreeMap<String, String> {
    serde_json::from_str(&std::fs::read_to_string(data("known-failures.json")).unwrap()).unwrap()
}

/// Whether an outcome (a JSON result, or an error message) is what the case expects.
pub fn judge(case: &Case, outcome: Result<Value, String>) -> Result<(), String> {
    let raw = &case.raw;
    if raw.get("expect_error").is_some() {
        return match outcome {
            Err(_) => Ok(()),
            Ok(v) => Err(format!("expected an error, got {v}")),
        };
    }
    let value = outcome?;
    if let Some(expected) = raw.get("expect") {
        return if &value == expected {
            Ok(())
        } else {
            Err(format!("expected {expected}, got {value}"))
        };
    }
    let kind = match &value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if raw["expect_type"] != kind {
        return Err(format!("expected a {}, got {value}", raw["expect_type"]));
    }
    if let Some(pattern) = raw.get("expect_regex").and_then(Value::as_str) {
        let text = match &value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let re = regex::Regex::new(pattern).unwrap();
        if !re.is_match(&text) {
            return Err(format!("{text:?} does not match {pattern}"));
        }
    }
    Ok(())
}

/// Checks a run: the failing cases are exactly the known failures, and at least 97% pass.
pub fn check(results: Vec<(String, Result<(), String>)>) {
    let known = known_failures();
    let total = results.len();
    let mut unexpected = Vec::new();
    let mut failed = 0;
    for (id, result) in &results {
        match (result, known.contains_key(id)) {
            (Err(why), false) => unexpected.push(format!("{id}: {why}")),
            (Ok(()), true) => unexpected.push(format!(
                "{id} passes now; remove it from known-failures.json"
            )),
            _ => {}
        }
        failed += usize::from(result.is_err());
    }
    assert!(
        unexpected.is_empty(),
        "{} unexpected outcomes:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    let passed = total - failed;
    assert!(
        passed * 100 >= total * 97,
        "only {passed} of {total} cases pass"
    );
    println!("{passed} of {total} conformance cases pass; {failed} known failures");
}
