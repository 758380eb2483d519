//! `sluice expr 'EXPRESSION' [--context FILE]`: evaluates one expression, as written in a
//! workflow string, and prints the JSON result.

use anyhow::Context;
use sluice_engine::expr::{JsonContext, Template, Value};
use std::path::Path;
use std::process::ExitCode;

pub fn run(expression: &str, context: Option<&Path>) -> anyhow::Result<ExitCode> {
    let ctx = match context {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let value: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            JsonContext::new(value)
        }
        None => JsonContext::default(),
    };
    let template = match Template::compile_str(expression) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("sluice: syntax error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match template.evaluate(&ctx) {
        Ok(value) => {
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("sluice: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
