//! Any text as a workflow string (`@expr`, `text @{expr} text`, or plain): compiling and
//! evaluating it against a context with variables, parameters, a trigger body and an action
//! must give a value or an error, never a panic, a stack overflow or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_engine::expr::{JsonContext, Template, Value};

fn context() -> JsonContext {
    JsonContext::new(Value::from_json(serde_json::json!({
        "variables": {"n": 3, "s": "text", "list": [3, 1, 2], "o": {"a": {"b": [1, "x", null]}}},
        "parameters": {"p": "value", "limit": 10},
        "triggerBody": {"id": 7, "items": [{"k": 1}, {"k": "2"}], "xml": "<a><b>1</b></a>"},
        "actions": {"A": {"outputs": {"body": {"x": [1.5, -2, "9"]}}, "status": "Succeeded"}},
        "items": {"Loop": {"k": 1}}
    })))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Logic Apps' limit on the characters of one expression.
    if text.chars().count() > 8_192 {
        return;
    }
    if let Ok(template) = Template::compile_str(text) {
        let _ = template.evaluate(&context());
    }
});
