//! Loading one workflow file: parse, read into the model, validate, locate every problem.

use super::model::Workflow;
use super::names::WorkflowKind;
use super::node::Node;
use super::payload::Skipped;
use super::problem::{Problem, Problems};
use super::reader::Reader;
use super::source::{Locator, Position};
use super::validate::validate;
use serde::Serialize;
use serde_json::Value;
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
    /// The workflow, present only when there is no error and it was read to run.
    #[serde(skip)]
    pub workflow: Option<Workflow>,
    /// The workflow's structure without its payloads, present when there is no error; for the
    /// checks across an app's files.
    #[serde(skip)]
    pub(crate) skeleton: Option<Workflow<Skipped>>,
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

/// What a workflow file is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Problems only (`sluice validate`): payloads are never parsed into memory, so checking
    /// costs memory in proportion to the file's size, whatever it holds.
    Validate,
    /// Problems, and the workflow to run when there is no error.
    Run,
}

/// Reads and checks the workflow in `file`, named `name`.
pub fn check_workflow_file(file: &Path, name: &str, purpose: Purpose) -> WorkflowReport {
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    if size > MAX_WORKFLOW_BYTES {
        let mut problems = Problems::new(file);
        problems.error(
            &super::Pointer::root(),
            format!(
                "the file is {size} bytes, more than the {MAX_WORKFLOW_BYTES} a workflow definition may have"
            ),
        );
        return report::<Skipped>(name, file, None, problems.finish(&Locator::default()));
    }
    match std::fs::read_to_string(file) {
        Ok(text) => check(&text, file, name, purpose),
        Err(e) => {
            let mut problems = Problems::new(file);
            problems.error(
                &super::Pointer::root(),
                format!("cannot read the file: {e}"),
            );
            report::<Skipped>(name, file, None, problems.finish(&Locator::default()))
        }
    }
}

/// Reads and checks workflow JSON already in memory, for running; `file` is used in messages.
pub fn check_workflow_text(text: &str, file: &Path, name: &str) -> WorkflowReport {
    check(text, file, name, Purpose::Run)
}

/// Validates `text` with its payloads skipped; then, to run a valid workflow, reads it again
/// with its payloads kept.
pub(crate) fn check(text: &str, file: &Path, name: &str, purpose: Purpose) -> WorkflowReport {
    let mut problems = Problems::new(file);
    let root = match Node::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let position = Position {
                line: e.line() as u32,
                column: e.column() as u32,
            };
            problems.error_at(position, format!("invalid JSON: {}", strip_position(&e)));
            return report::<Skipped>(name, file, None, problems.finish(&Locator::default()));
        }
    };
    let locator = Locator::new(text);
    for duplicate in locator.duplicate_keys() {
        problems.error(
            duplicate,
            "this key appears twice in the same object; JSON readers keep only the last one",
        );
    }
    super::expressions::check(root, &mut problems);
    let mut reader = Reader::<Skipped>::new(&mut problems);
    let skeleton = reader.workflow(root, name, file);
    let unreadable = std::mem::take(&mut reader.unreadable);
    if let Some(w) = &skeleton {
        validate(w, &unreadable, &mut problems);
    }
    let valid = !problems.has_errors();
    let mut report = report(name, file, skeleton.as_ref(), problems.finish(&locator));
    report.skeleton = skeleton.filter(|_| valid);
    if valid && purpose == Purpose::Run {
        let mut ignored = Problems::new(file);
        report.workflow = Reader::<Value>::new(&mut ignored)
            .workflow(root, name, file)
            .map(|mut w| {
                w.source = std::sync::Arc::from(text);
                w
            });
    }
    report
}

fn report<P>(
    name: &str,
    file: &Path,
    workflow: Option<&Workflow<P>>,
    problems: Vec<Problem>,
) -> WorkflowReport {
    WorkflowReport {
        name: name.to_string(),
        file: file.to_path_buf(),
        kind: workflow.map(|w| w.kind),
        actions: workflow.map_or(0, Workflow::action_count),
        problems,
        workflow: None,
        skeleton: None,
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

impl<P> Workflow<P> {
    /// Actions at any depth.
    pub fn action_count(&self) -> usize {
        fn count<P>(actions: &super::model::Actions<P>) -> usize {
            actions
                .values()
                .map(|a| 1 + a.branches().iter().map(|b| count(b.actions)).sum::<usize>())
                .sum()
        }
        count(&self.definition.actions)
    }
}
