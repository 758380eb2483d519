//! JavaScript values crossing into the workflow: the input bytes are a small program that
//! builds a value (numbers, strings, arrays, objects, deep nesting, shared parts, cycles),
//! which the script returns; with the rest of the input as `workflowContext` JSON going the
//! other way. Converting must give a value or fail the action, never overflow the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_engine::expr::Value;
use sluice_engine::runtime::builtin::javascript::{execute, Limits};
use sluice_engine::runtime::plan::script::Script;
use std::time::Duration;

/// The script for `ops`: a stack machine over JavaScript values.
fn program(ops: &[u8]) -> String {
    let mut code = String::from("var s = [workflowContext];\n");
    for op in ops {
        let line = match op % 12 {
            0 => "s.push(1.5);".to_string(),
            1 => format!("s.push('t{op}');"),
            2 => "s.push([s.pop()]);".to_string(),
            3 => "s.push({k: s.pop()});".to_string(),
            4 => "var x = s.pop(); s.push([x, x]);".to_string(),
            5 => "var o = {}; o.self = o; s.push(o);".to_string(),
            6 => "var a = [1]; for (var i = 0; i < 300; i++) a = [a]; s.push(a);".to_string(),
            7 => "var b = s.pop(); if (b && typeof b === 'object') b.back = s[s.length - 1]; s.push(b);".to_string(),
            8 => "s.push(null, undefined, NaN, Infinity, -0, 2**60);".to_string(),
            9 => "s.push(new Date(0), /x/, function () {}, Symbol('q'));".to_string(),
            10 => "var z = s.pop(); s.push(Object.assign([], {length: 3, 7: z}));".to_string(),
            _ => "s.push(s.slice());".to_string(),
        };
        code.push_str(&line);
        code.push('\n');
    }
    code.push_str("return s;");
    code
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0xff).unwrap_or(data.len());
    let (ops, context) = data.split_at(split);
    if ops.len() > 64 {
        return;
    }
    let context = serde_json::from_slice::<serde_json::Value>(context.get(1..).unwrap_or_default())
        .map(Value::from_json)
        .unwrap_or(Value::Null);
    let limits = Limits {
        timeout: Duration::from_millis(500),
        memory_mb: 32,
    };
    let _ = execute(&Script::new(&program(ops), &[]), &context, &limits);
});
