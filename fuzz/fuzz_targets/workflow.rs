//! Any bytes as a workflow.json: reading, validating, locating problems and, for a valid
//! workflow, reading it again to run and compiling its plan must report problems, never panic
//! or exhaust the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_engine::definition::check_workflow_text;
use sluice_engine::runtime::Plan;
use std::collections::HashMap;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let report = check_workflow_text(text, Path::new("fuzz/workflow.json"), "fuzz");
    // Validation skips payloads; reading to run keeps them. Both must agree on a valid file.
    assert_eq!(report.is_valid(), report.workflow.is_some());
    if let Some(workflow) = report.workflow {
        let _ = Plan::compile(&workflow, &HashMap::new());
    }
});
