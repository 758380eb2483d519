//! The error type of the engine crate.

use crate::definition::Problem;
use std::path::PathBuf;

/// Errors at the engine's boundary.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A workflow or app file failed validation; every error-severity problem is listed.
    #[error("{}", list(.0))]
    Invalid(Vec<Problem>),
    /// An expression failed to parse.
    #[error("invalid expression: {0}")]
    Syntax(#[from] crate::expr::SyntaxError),
    /// An expression failed while evaluating.
    #[error("{0}")]
    Eval(#[from] crate::expr::EvalError),
    /// A file or folder could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn list(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    lines.join("\n")
}
