//! Loading one workflow file: parse, read into the model, validate, locate every problem.

use super::model::Workflow;
use super::names::WorkflowKind;
use super::problem::{Problem, Problems};
use super::reader::Reader;
use super::source::{Locator, Position};
use super::validate::validate;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The outcome of checking one workflow file.
#[derive(Debug, Serialize)]
pub struct WorkflowReport {
    pub name: String,
    pub file: PathBuf,
    /// Known when the file could be read far enough.
    pub kind: Option<WorkflowKind>,
    /// Actions at any depth, when the file could be read.
    pub actions: usize,
    pub problems: Vec<Problem>,
    /// The workflow, present only when there is no error.
    #[serde(skip)]
    pub workflow: Option<Workflow>,
}

impl WorkflowReport {
    pub fn is_valid(&self) -> bool {
        !self.problems.iter().any(Problem::is_error)
    }
}

/// The largest workflow file read, in bytes. Real definitions are tens of kilobytes (Logic
/// Apps allows 500 actions); a larger file is refused before it is parsed, since a JSON
/// document in memory takes up to tens of times its size.
pub const MAX_WORKFLOW_BYTES: u64 = 4 << 20;

/// Reads and checks the workflow in `file`, named `name`.
pub fn check_workflow_file(file: &Path, name: &str) -> WorkflowReport {
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    if size > MAX_WORKFLOW_BYTES {
        let mut problems = Problems::new(file);
        problems.error(
            &super::Pointer::root(),
            format!(
                "the file is {size} bytes, more than the {MAX_WORKFLOW_BYTES} a workflow definition may have"
            ),
        );
        return report(name, file, None, problems.finish(&Locator::default()));
    }
    match std::fs::read_to_string(file) {
        Ok(text) => check_workflow_text(&text, file, name),
        Err(e) => {
            let mut problems = Problems::new(file);
            problems.error(
                &super::Pointer::root(),
                format!("cannot read the file: {e}"),
            );
            report(name, file, None, problems.finish(&Locator::default()))
        }
    }
}

/// Reads and checks workflow JSON already in memory; `file` is used in messages.
pub fn check_workflow_text(text: &str, file: &Path, name: &str) -> WorkflowReport {
    let mut problems = Problems::new(file);
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let position = Position {
                line: e.line() as u32,
                column: e.column() as u32,
            };
            problems.error_at(position, format!("invalid JSON: {}", strip_position(&e)));
            return report(name, file, None, problems.finish(&Locator::default()));
        }
    };
    let locator = Locator::new(text);
    for duplicate in locator.duplicate_keys() {
        problems.error(
            duplicate,
            "this key appears twice in the same object; JSON readers keep only the last one",
        );
    }
    super::expressions::check(&value, &mut problems);
    let mut reader = Reader::new(&mut problems);
    let workflow = reader.workflow(value, name, file).map(|mut w| {
        w.source = std::sync::Arc::from(text);
        w
    });
    let unreadable = std::mem::take(&mut reader.unreadable);
    if let Some(w) = &workflow {
        validate(w, &unreadable, &mut problems);
    }
    let valid = !problems.has_errors();
    let mut report = report(name, file, workflow.as_ref(), problems.finish(&locator));
    report.workflow = workflow.filter(|_| valid);
    report
}

fn report(
    name: &str,
    file: &Path,
    workflow: Option<&Workflow>,
    problems: Vec<Problem>,
) -> WorkflowReport {
    WorkflowReport {
        name: name.to_string(),
        file: file.to_path_buf(),
        kind: workflow.map(|w| w.kind),
        actions: workflow.map_or(0, Workflow::action_count),
        problems,
        workflow: None,
    }
}

/// serde_json appends " at line L column C"; the position is reported separately.
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

impl Workflow {
    /// Actions at any depth.
    pub fn action_count(&self) -> usize {
        fn count(actions: &super::model::Actions) -> usize {
            actions
                .values()
                .map(|a| 1 + a.branches().iter().map(|b| count(b.actions)).sum::<usize>())
                .sum()
        }
        count(&self.definition.actions)
    }
}
