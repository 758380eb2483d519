//! What can go wrong while the gateway is configured and built, by kind. (A request's
//! failures are HTTP answers: 400, 401, 429, 502 … with an OpenAI-shaped error body.)

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file could not be read.
    #[error("cannot read {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The file is not a gateway.json: where (JSON path, line, column) and why.
    #[error("{path}: at {at} (line {line}, column {column}): {reason}")]
    Parse {
        path: PathBuf,
        at: String,
        line: usize,
        column: usize,
        reason: String,
    },
    /// The configuration does not hold together; the message starts with the JSON path
    /// (`pools.main: a pool has 1 to 30 backends`).
    #[error("{0}")]
    Invalid(String),
    /// The gateway's store (semantic cache, quota usage) could not be opened.
    #[error("gateway store in {dir}: {cause}")]
    Store { dir: PathBuf, cause: sled::Error },
}

impl Error {
    /// The same error, said of `path` (a file whose content was invalid).
    pub fn in_file(self, path: &std::path::Path) -> Error {
        match self {
            Error::Invalid(reason) => Error::Invalid(format!("{}: {reason}", path.display())),
            other => other,
        }
    }
}

/// The reasons the builders give (each starting with its JSON path) are `Invalid`.
impl From<String> for Error {
    fn from(reason: String) -> Error {
        Error::Invalid(reason)
    }
}
