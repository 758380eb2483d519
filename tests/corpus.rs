//! Every real workflow in `tests/data/corpus/` (see its SOURCES.md) loads as its checked-in
//! expectation says: valid; rejected only for a feature Sluice does not support
//! (`{"unsupported": [...]}`); or rejected for a genuine mistake in the file, named with the
//! reason (`{"error": "...", "why": "..."}`).

use serde_json::Value;
use sluice_engine::definition::{check_workflow_file, Purpose};
use std::path::Path;

#[test]
fn corpus_matches_expectations() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
    let expected: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("expected.json"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        expected.len(),
        "every corpus file has an expectation"
    );

    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let report = check_workflow_file(&file, &name, Purpose::Validate);
        let listing: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        match &expected[&name] {
            Value::String(s) if s == "valid" => {
                assert!(
                    report.is_valid(),
                    "{name} should be valid:\n{}",
                    listing.join("\n")
                );
                assert!(
                    report.problems.is_empty(),
                    "{name} has warnings:\n{}",
                    listing.join("\n")
                );
                assert!(report.actions > 0, "{name} has actions");
            }
            Value::Object(o) if o.contains_key("error") => {
                let errors: Vec<_> = report.problems.iter().filter(|p| p.is_error()).collect();
                let expected = o["error"].as_str().unwrap();
                assert!(
                    errors.len() == 1 && errors[0].message.contains(expected),
                    "{name} should be rejected only for: {expected}\n{}",
                    listing.join("\n")
                );
            }
            Value::Object(o) => {
                assert!(!report.is_valid(), "{name} should be rejected");
                for problem in report.problems.iter().filter(|p| p.is_error()) {
                    assert!(
                        problem.message.contains("is not supported"),
                        "{name} is rejected for something other than an unsupported feature: {problem}"
                    );
                }
                for feature in o["unsupported"].as_array().unwrap() {
                    let feature = format!("'{}' is not supported", feature.as_str().unwrap());
                    assert!(
                        report.problems.iter().any(|p| p.message.contains(&feature)),
                        "{name}: no problem says {feature}:\n{}",
                        listing.join("\n")
                    );
                }
            }
            other => panic!("bad expectation for {name}: {other}"),
        }
    }
}
