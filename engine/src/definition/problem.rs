//! Problems found while loading and validating: what is wrong, and exactly where.
//!
//! Every problem names the file, the JSON Pointer of the offending element and, once the file's
//! [`Locator`] has resolved it, the line and column. Its text form is the one compilers use, so
//! editors and terminals turn it into a link: `file:line:col: pointer: message`.

use super::source::{Locator, Position};
use crate::pointer::Pointer;
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// How serious a problem is. Errors make a workflow invalid; warnings are only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: PathBuf,
    pub pointer: Pointer,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub severity: Severity,
    pub message: String,
}

impl Problem {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}: ", self.pointer)?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)
    }
}

impl Serialize for Pointer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Collects the problems of one file; positions are filled in by [`Problems::finish`].
#[derive(Debug)]
pub struct Problems {
    file: PathBuf,
    list: Vec<Problem>,
    /// Problems past [`MAX_PROBLEMS`], counted but not kept.
    dropped: usize,
    dropped_errors: bool,
}

/// The most problems kept for one file. A hostile file can have one per element; past this
/// many, the rest are counted and summed up in a last problem, as compilers stop listing.
pub const MAX_PROBLEMS: usize = 1000;

impl Problems {
    pub fn new(file: &Path) -> Problems {
        Problems {
            file: file.to_path_buf(),
            list: Vec::new(),
            dropped: 0,
            dropped_errors: false,
        }
    }

    pub fn error(&mut self, pointer: &Pointer, message: impl Into<String>) {
        self.push(pointer, Severity::Error, message.into());
    }

    pub fn warning(&mut self, pointer: &Pointer, message: impl Into<String>) {
        self.push(pointer, Severity::Warning, message.into());
    }

    /// A problem whose position is already known (a JSON syntax error).
    pub fn error_at(&mut self, position: Position, message: impl Into<String>) {
        self.list.push(Problem {
            file: self.file.clone(),
            pointer: Pointer::root(),
            line: Some(position.line),
            column: Some(position.column),
            severity: Severity::Error,
            message: message.into(),
        });
    }

    fn push(&mut self, pointer: &Pointer, severity: Severity, message: String) {
        if self.list.len() >= MAX_PROBLEMS {
            self.dropped += 1;
            self.dropped_errors |= severity == Severity::Error;
            return;
        }
        self.list.push(Problem {
            file: self.file.clone(),
            pointer: pointer.clone(),
            line: None,
            column: None,
            severity,
            message,
        });
    }

    /// Whether the outcome can no longer change: no more problems are kept, and the file is
    /// already known to be invalid. Costly checks may stop then.
    pub fn settled(&self) -> bool {
        self.dropped_errors
    }

    pub fn has_errors(&self) -> bool {
        self.dropped_errors || self.list.iter().any(Problem::is_error)
    }

    /// Resolves positions and returns the problems in file order.
    pub fn finish(mut self, locator: &Locator<'_>) -> Vec<Problem> {
        let unplaced: Vec<usize> = (0..self.list.len())
            .filter(|&i| self.list[i].line.is_none())
            .collect();
        let pointers: Vec<_> = unplaced
            .iter()
            .map(|&i| self.list[i].pointer.clone())
            .collect();
        for (i, position) in unplaced.into_iter().zip(locator.locate_all(&pointers)) {
            if let Some(pos) = position {
                self.list[i].line = Some(pos.line);
                self.list[i].column = Some(pos.column);
            }
        }
        self.list.sort_by_key(|p| (p.line, p.column));
        if self.dropped > 0 {
            let severity = if self.dropped_errors {
                Severity::Error
            } else {
                Severity::Warning
            };
            self.list.push(Problem {
                file: self.file,
                pointer: Pointer::root(),
                line: None,
                column: None,
                severity,
                message: format!(
                    "more problems are not listed ({} at least); the first {MAX_PROBLEMS} are above",
                    self.dropped
                ),
            });
        }
        self.list
    }
}
