//! Durable run state and run history.
//!
//! Stateful runs are recorded through a [`RunStore`]: the run header (workflow, definition
//! version, trigger outputs, status) when it starts, a journal entry per action as it finishes,
//! and the whole action tree when the run ends (the journal is then dropped). Recovery replays a
//! run from its journal: recorded actions are not executed again, in-flight ones are, with the
//! same idempotency key.
//!
//! [`DiskStore`] makes a run's path durable in an append-only journal log (`log`: CRC-framed
//! binary records, `codec`), written by one group-commit writer (`writer`: one `fdatasync` per
//! batch of writes). A finished run's tree stays in its log record; sled (`trees`), never
//! flushed on a run's path, holds run headers pointing there and the indexes. Unfinished runs
//! are held in memory (`live`) for history queries; when the log rolls, the unfinished runs of
//! older segments move into sled, and opening the store folds the segments since the last roll
//! into sled (`recovery`). Segments are deleted by purging the runs they hold.
//!
//! [`PgStore`] keeps the same records in PostgreSQL (`postgres`), so that several instances can
//! share one history; its writes are grouped in one transaction per batch.

mod codec;
mod disk;
pub mod history;
mod live;
mod log;
pub mod postgres;
mod recovery;
mod trees;
mod writer;

pub use self::postgres::PgStore;
pub use disk::{DiskStore, LARGE_VALUE_BYTES};

use crate::definition::RunStatus;
use crate::expr::Value;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the run store failed: {0}")]
    Sled(#[from] sled::Error),
    #[error("a stored record is not readable: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("a stored record is not readable: {0}")]
    Undecodable(String),
    #[error("the run store's journal log failed: {0}")]
    Log(#[from] std::io::Error),
    #[error("the run store's writer has stopped")]
    Closed,
    #[error("the PostgreSQL run store failed: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("{0}")]
    Unavailable(String),
    /// Another instance holds the store for writing.
    #[error("{0}")]
    Busy(String),
}

impl StoreError {
    /// Whether another process holds the store: sled takes an exclusive lock on its file and
    /// reports a lock it cannot take as an I/O error of kind `Other` naming the lock.
    pub fn is_locked(&self) -> bool {
        matches!(self, StoreError::Busy(_))
            || matches!(self, StoreError::Sled(sled::Error::Io(e))
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.to_string().starts_with("could not acquire lock"))
    }
}

/// How the store keeps its data (`DiskStore::open_with`). `sluice run` reads them from the
/// app settings `Sluice.History.LargeValueBytes`, `Sluice.Store.CacheBytes` and
/// `Sluice.Store.SegmentBytes`.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// History values whose stored (binary) form is longer than this are stored once, by content hash
    /// (0: never). Default 64 KiB.
    pub large_value_bytes: usize,
    /// The most memory sled's page cache may take. Default 16 MiB: sled holds only run
    /// headers and indexes (trees are in the journal log), written once and read rarely, so a
    /// large cache buys little. (`sluice bench sustained --rate 8000 --events 240000`,
    /// stateful: peak RSS 438 MiB with 64 MiB, 356 MiB with 16 MiB, at the same throughput.)
    pub cache_bytes: u64,
    /// The journal log starts a new segment past this size. Default 32 MiB: recovery reads
    /// at most about twice this (older segments are folded into sled, and kept for history
    /// until a purge deletes them).
    pub segment_bytes: u64,
}

impl Default for StoreSettings {
    fn default() -> StoreSettings {
        StoreSettings {
            large_value_bytes: LARGE_VALUE_BYTES,
            cache_bytes: 16 << 20,
            segment_bytes: 32 << 20,
        }
    }
}

/// The summary of a run, as stored and listed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunHeader {
    pub id: String,
    pub workflow: String,
    /// The hash of the definition the run started with; recovery resumes with that version.
    pub version: String,
    pub status: RunStatus,
    /// `Running` is not a final status; it is stored as `None` in `status` terms.
    pub running: bool,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    /// `{headers, body}` of the trigger event: what recovery and resubmission start from.
    pub trigger: Value,
    pub error: Value,
    /// The trigger event's id (topic/partition/offset, message id, client tracking id), if any.
    pub event_id: Option<String>,
    /// The trigger's `secureData`: `trigger` is kept for recovery and resubmission but never
    /// shown.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secure_trigger: bool,
}

/// One recorded action of a running run, keyed by its path (`Scope/Loop[3]/Call`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    pub path: String,
    pub record: std::sync::Arc<crate::record::ActionRecord>,
}

/// What `runs list` asks for; every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub workflow: Option<String>,
    /// A final status, or `None`; `running` selects unfinished runs.
    pub status: Option<RunStatus>,
    pub running: bool,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Unfinished runs whose last recorded progress is older than this.
    pub stuck_for: Option<std::time::Duration>,
    pub limit: usize,
}

/// A run as stored: its header and its action tree (final runs) or journal (running ones).
#[derive(Debug, Clone)]
pub struct StoredRun {
    pub header: RunHeader,
    /// The final action tree, as `sluice invoke` prints it, with secure data redacted.
    pub actions: Option<serde_json::Value>,
    pub journal: Vec<JournalEntry>,
}

/// Resolves when the write it was returned for is on disk.
pub struct Commit(Option<tokio::sync::oneshot::Receiver<Result<(), String>>>);

impl Commit {
    /// A commit that is already durable (nothing to write).
    pub fn done() -> Commit {
        Commit(None)
    }
}

impl Future for Commit {
    type Output = Result<(), StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.0.as_mut() {
            None => Poll::Ready(Ok(())),
            Some(rx) => Pin::new(rx).poll(cx).map(|r| match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) | Err(_) => Err(StoreError::Closed),
            }),
        }
    }
}

/// Where stateful runs are recorded. Writes return a [`Commit`] to await when durability is
/// needed before going on; dropping it does not cancel the write.
pub trait RunStore: Send + Sync {
    /// Records a definition version's text, once per version.
    fn save_definition(&self, version: &str, text: &str) -> Commit;
    fn definition(&self, version: &str) -> Result<Option<String>, StoreError>;
    /// Records a run's header (new, or updated).
    fn put_run(&self, header: &RunHeader) -> Commit;
    /// Records one finished action of a running run.
    fn journal(&self, run_id: &str, entry: JournalEntry) -> Commit;
    /// Records the end of a run: its final header and action tree; drops its journal.
    fn finish_run(
        &self,
        header: &RunHeader,
        actions: Vec<std::sync::Arc<crate::record::ActionRecord>>,
    ) -> Commit;
    /// Associates a trigger event id with a run, unless the event already has one: returns
    /// the run that already claimed it.
    fn claim_event(&self, event_id: &str, run_id: &str) -> Result<Option<String>, StoreError>;
    /// A whole run: its header (with the trigger outputs), and its action tree or journal.
    fn run(&self, id: &str) -> Result<Option<StoredRun>, StoreError>;
    /// Runs matching `filter`, newest first. A finished run's header may come without its
    /// trigger outputs (`Null`: the disk store keeps them with the action tree, in the log);
    /// [`RunStore::run`] has them.
    fn list(&self, filter: &RunFilter) -> Result<Vec<RunHeader>, StoreError>;
    /// Deletes finished runs that started before `before`; returns how many.
    fn purge(&self, before: DateTime<Utc>) -> Result<usize, StoreError>;
    /// The store's size on disk, in bytes.
    fn size_on_disk(&self) -> Result<u64, StoreError>;
}

/// A store shared by the engine and the history commands.
pub type SharedStore = Arc<dyn RunStore>;

/// A stable 64-bit FNV-1a hash, hex: definition versions.
pub fn version_of(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests;
