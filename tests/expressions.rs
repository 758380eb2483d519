//! The expression conformance cases, evaluated through the library.

mod conformance;

use sluice_engine::expr::{JsonContext, Template, Value};

#[test]
fn conformance_cases_through_the_library() {
    let results = conformance::cases()
        .into_iter()
        .map(|case| {
            let ctx = JsonContext::new(
                case.context
                    .clone()
                    .map(Value::from_json)
                    .unwrap_or_default(),
            );
            let outcome = Template::compile_str(&case.expr)
                .map_err(|e| e.to_string())
                .and_then(|t| t.evaluate(&ctx).map_err(|e| e.to_string()))
                .map(|v| v.to_json());
            let verdict = conformance::judge(&case, outcome);
            (case.id, verdict)
        })
        .collect();
    conformance::check(results);
}
