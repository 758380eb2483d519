//! `sluice validate PATH...`: checks apps and workflow files and prints every problem.

use crate::Format;
use serde::Serialize;
use sluice_engine::definition::{
    check_app, check_workflow_file, Problem, Purpose, WorkflowKind, WorkflowReport,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `--format json` document: stable, documented in README.md.
#[derive(Serialize)]
struct Output<'a> {
    valid: bool,
    errors: usize,
    warnings: usize,
    workflows: Vec<WorkflowSummary<'a>>,
    /// Every problem, app-level and per workflow, in path order.
    problems: Vec<&'a Problem>,
}

#[derive(Serialize)]
struct WorkflowSummary<'a> {
    name: &'a str,
    file: &'a Path,
    kind: Option<WorkflowKind>,
    actions: usize,
    valid: bool,
}

pub fn run(paths: &[PathBuf], format: Format) -> anyhow::Result<ExitCode> {
    let mut app_problems = Vec::new();
    let mut workflows = Vec::new();
    for path in paths {
        check_path(path, &mut app_problems, &mut workflows)?;
    }
    let problems: Vec<&Problem> = app_problems
        .iter()
        .chain(workflows.iter().flat_map(|w| w.problems.iter()))
        .collect();
    let errors = problems.iter().filter(|p| p.is_error()).count();
    let output = Output {
        valid: errors == 0,
        errors,
        warnings: problems.len() - errors,
        workflows: workflows.iter().map(summary).collect(),
        problems,
    };
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&output)?),
        Format::Text => print_text(&output),
    }
    Ok(if output.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A path is an app folder, a workflow folder (holding workflow.json) or a workflow file.
fn check_path(
    path: &Path,
    app_problems: &mut Vec<Problem>,
    workflows: &mut Vec<WorkflowReport>,
) -> anyhow::Result<()> {
    let metadata = std::fs::metadata(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    if metadata.is_dir() && path.join("workflow.json").is_file() {
        workflows.push(check_workflow_file(
            &path.join("workflow.json"),
            &folder_name(path),
            Purpose::Validate,
        ));
    } else if metadata.is_dir() {
        let report = check_app(path, Purpose::Validate);
        app_problems.extend(report.problems);
        workflows.extend(report.workflows);
    } else {
        workflows.push(check_workflow_file(
            path,
            &workflow_name(path),
            Purpose::Validate,
        ));
    }
    Ok(())
}

/// A `workflow.json` is named after its folder, any other file after its stem.
fn workflow_name(file: &Path) -> String {
    if file.file_name().is_some_and(|n| n == "workflow.json") {
        if let Some(parent) = file.parent() {
            return folder_name(parent);
        }
    }
    file.file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
}

fn folder_name(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    dir.file_name()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
}

fn summary(w: &WorkflowReport) -> WorkflowSummary<'_> {
    WorkflowSummary {
        name: &w.name,
        file: &w.file,
        kind: w.kind,
        actions: w.actions,
        valid: w.is_valid(),
    }
}

fn print_text(output: &Output<'_>) {
    for problem in &output.problems {
        println!("{problem}");
    }
    let invalid = output.workflows.iter().filter(|w| !w.valid).count();
    println!(
        "{} workflow{} checked: {} valid, {} invalid; {} error{}, {} warning{}",
        output.workflows.len(),
        plural(output.workflows.len()),
        output.workflows.len() - invalid,
        invalid,
        output.errors,
        plural(output.errors),
        output.warnings,
        plural(output.warnings),
    );
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
