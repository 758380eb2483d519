//! [`RunStore`] on sled. Keys are chosen so that history queries are range scans: run ids are
//! time-ordered (UUIDv7, upper-case hex, the first 12 digits the start in milliseconds), and a
//! per-workflow index is the workflow name followed by the run id.

use super::live::{LiveRuns, LogRecord};
use super::log::{self, Location};
use super::trees::{key, Trees};
use super::writer::{Finish, Op, State, Writer};
use super::{
    Commit, JournalEntry, RunFilter, RunHeader, RunStore, StoreError, StoreSettings, StoredRun,
};
use crate::expr::Value;
use crate::record::{ActionRecord, LargeValues};
use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Run state and history: a journal log for what is durable on a run's path, sled for history.
pub struct DiskStore {
    dir: std::path::PathBuf,
    pub(super) trees: Trees,
    /// Unfinished runs (the log's content, and what sled holds unfinished).
    live: Arc<Mutex<LiveRuns>>,
    /// Inputs and outputs whose stored form is longer than this are stored once, by content hash.
    large_value_bytes: usize,
    writer: Writer,
}

/// The default size above which a value in run history is stored once and referenced.
pub const LARGE_VALUE_BYTES: usize = 64 * 1024;

/// The smallest run id that starts at or after `t`.
fn id_bound(t: DateTime<Utc>) -> Vec<u8> {
    format!("{:012X}", t.timestamp_millis().max(0)).into_bytes()
}

impl DiskStore {
    /// Opens (or creates) the store in `dir` with the default settings.
    pub fn open(dir: &Path) -> Result<DiskStore, StoreError> {
        DiskStore::open_with(dir, &StoreSettings::default())
    }

    /// Opens (or creates) the store in `dir`: recovers what the journal log holds, and
    /// starts the writer.
    pub fn open_with(dir: &Path, settings: &StoreSettings) -> Result<DiskStore, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(settings.cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        let trees = Trees::open(db)?;
        let (live, log) = super::recovery::recover(dir, &trees, settings.large_value_bytes)?;
        let live = Arc::new(Mutex::new(live));
        let writer = Writer::start(State {
            trees: trees.clone(),
            log,
            live: live.clone(),
            segment_bytes: settings.segment_bytes,
        });
        Ok(DiskStore {
            dir: dir.to_path_buf(),
            trees,
            live,
            large_value_bytes: settings.large_value_bytes,
            writer,
        })
    }

    /// Sets the size above which history values are stored once and referenced (0: never).
    pub fn with_large_value_bytes(mut self, bytes: usize) -> DiskStore {
        self.large_value_bytes = bytes;
        self
    }

    /// How many distinct large values the history holds.
    pub fn large_value_count(&self) -> usize {
        self.trees.blobs.len()
    }

    fn live(&self) -> MutexGuard<'_, LiveRuns> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces large-value references in a stored tree with the values.
    fn resolve(&self, tree: &mut serde_json::Value) -> Result<(), StoreError> {
        match tree {
            serde_json::Value::Object(map) => {
                if let Some(hash) = map.get(LargeValues::KEY).and_then(|h| h.as_str()) {
                    if let Some(bytes) = self.trees.blobs.get(hash)? {
                        *tree = serde_json::from_slice(&bytes)?;
                    }
                    return Ok(());
                }
                map.values_mut().try_for_each(|v| self.resolve(v))
            }
            serde_json::Value::Array(items) => items.iter_mut().try_for_each(|v| self.resolve(v)),
            _ => Ok(()),
        }
    }

    /// The trigger outputs and stored action tree of run `id` from its `Finished` record.
    fn finished_at(&self, id: &str, at: Location) -> Result<(Value, Vec<u8>), StoreError> {
        let payload = log::read_at(&self.dir.join(log::FOLDER), at)?;
        let unreadable = |why: String| StoreError::Undecodable(format!("run {id}: {why}"));
        match LogRecord::decode(&payload).map_err(|e| unreadable(e.to_string()))? {
            LogRecord::Finished(f) if f.header.id == id => Ok((f.header.trigger, f.tree)),
            _ => Err(unreadable(
                "its history record is not where its header says".into(),
            )),
        }
    }

    fn commit(&self, ops: Vec<Op>) -> Commit {
        Commit(Some(self.writer.submit(ops)))
    }

    /// Unfinished runs matching `f` (newest first, at most `limit`), from memory.
    fn live_matching(
        &self,
        f: &RunFilter,
        low: &[u8],
        high: &[u8],
        limit: usize,
    ) -> Vec<RunHeader> {
        let threshold = f
            .stuck_for
            .map(|stuck| Utc::now() - chrono::Duration::from_std(stuck).unwrap_or_default());
        let mut found: Vec<RunHeader> = self
            .live()
            .values()
            .filter(|r| {
                let h = &r.header;
                let id = h.id.as_bytes();
                id >= low
                    && id < high
                    && f.status.is_none()
                    && f.workflow
                        .as_ref()
                        .is_none_or(|w| w.eq_ignore_ascii_case(&h.workflow))
                    && threshold.is_none_or(|t| {
                        let progress = r.journal.values().map(|r| r.end_time);
                        progress.fold(h.start_time, DateTime::max) <= t
                    })
            })
            .map(|r| r.header.clone())
            .collect();
        found.sort_unstable_by(|a, b| b.id.cmp(&a.id));
        found.truncate(limit);
        found
    }
}

impl DiskStore {
    /// Deletes the journal log segments that hold nothing history keeps: those recovery no
    /// longer reads (their unfinished runs are in sled) whose finished runs all started before
    /// `before` (and so are purged).
    fn delete_segments(&self, before: DateTime<Utc>) -> Result<(), StoreError> {
        let bound = id_bound(before);
        let folded = self.trees.log_read_from()?;
        let keep = |segment: u64| match self.trees.segment_newest(segment) {
            Ok(newest) => newest.is_some_and(|id| id >= bound),
            Err(_) => true,
        };
        let dir = self.dir.join(log::FOLDER);
        for segment in log::delete_before(&dir, folded, keep)? {
            self.trees.forget_segment(segment)?;
        }
        Ok(())
    }
}

impl RunStore for DiskStore {
    fn save_definition(&self, version: &str, text: &str) -> Commit {
        if self
            .trees
            .definitions
            .contains_key(version)
            .unwrap_or(false)
        {
            return Commit::done();
        }
        self.commit(vec![Op::Log(LogRecord::Definition {
            version: version.to_string(),
            text: text.to_string(),
        })])
    }

    fn definition(&self, version: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .trees
            .definitions
            .get(version)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn put_run(&self, header: &RunHeader) -> Commit {
        self.commit(vec![Op::Log(LogRecord::Admitted(header.clone()))])
    }

    fn journal(&self, run_id: &str, entry: JournalEntry) -> Commit {
        self.commit(vec![Op::Log(LogRecord::Journaled {
            run: run_id.to_string(),
            entry,
        })])
    }

    fn finish_run(&self, header: &RunHeader, actions: Vec<Arc<ActionRecord>>) -> Commit {
        self.commit(vec![Op::Finish(Box::new(Finish {
            header: header.clone(),
            actions,
            threshold: self.large_value_bytes,
        }))])
    }

    fn claim_event(&self, event_id: &str, run_id: &str) -> Result<Option<String>, StoreError> {
        match self.trees.events.compare_and_swap(
            event_id,
            None as Option<&[u8]>,
            Some(run_id.as_bytes()),
        )? {
            Ok(()) => Ok(None),
            Err(e) => Ok(e.current.map(|v| String::from_utf8_lossy(&v).into_owned())),
        }
    }

    fn run(&self, id: &str) -> Result<Option<StoredRun>, StoreError> {
        if let Some(live) = self.live().get(id) {
            return Ok(Some(StoredRun {
                header: live.header.clone(),
                actions: None,
                journal: live.entries(),
            }));
        }
        let Some((mut header, at)) = self.trees.located(id.as_bytes())? else {
            return Ok(None);
        };
        let tree = match at {
            Some(at) => {
                let (trigger, tree) = self.finished_at(id, at)?;
                header.trigger = trigger;
                Some(tree)
            }
            None => self.trees.trees.get(id)?.map(|bytes| bytes.to_vec()),
        };
        let actions = match tree {
            Some(bytes) => {
                let mut tree = super::trees::decode_tree(&bytes)?;
                self.resolve(&mut tree)?;
                Some(tree)
            }
            None => None,
        };
        let journal = match header.running {
            true => self.trees.journal_of(id)?,
            false => Vec::new(),
        };
        Ok(Some(StoredRun {
            header,
            actions,
            journal,
        }))
    }

    /// Unfinished runs come from memory, finished ones from sled's indexes; the two lists,
    /// each newest first, are merged.
    fn list(&self, f: &RunFilter) -> Result<Vec<RunHeader>, StoreError> {
        let low = f.since.map(id_bound).unwrap_or_default();
        let high = f
            .until
            .map(|t| id_bound(t + chrono::Duration::milliseconds(1)))
            .unwrap_or_else(|| vec![0xFF]);
        let limit = if f.limit == 0 { usize::MAX } else { f.limit };
        let live = self.live_matching(f, &low, &high, limit);
        if f.running || f.stuck_for.is_some() {
            return Ok(live);
        }
        let mut stored = Vec::new();
        let mut consider = |id: &[u8]| -> Result<bool, StoreError> {
            if let Some(h) = self.trees.header(id)? {
                let wanted = f.status.is_none_or(|s| s == h.status);
                if !h.running && wanted {
                    stored.push(h);
                }
            }
            Ok(stored.len() < limit)
        };
        match &f.workflow {
            Some(w) => {
                let prefix = key(&[w.to_lowercase().as_bytes(), b""]);
                let range = [prefix.clone(), low].concat()..[prefix.clone(), high].concat();
                for item in self.trees.by_workflow.range(range).rev() {
                    let (k, _) = item?;
                    if !consider(&k[prefix.len()..])? {
                        break;
                    }
                }
            }
            None => {
                for item in self.trees.runs.range(low..high).rev() {
                    let (k, _) = item?;
                    if !consider(&k)? {
                        break;
                    }
                }
            }
        }
        let mut merged: Vec<RunHeader> = live.into_iter().chain(stored).collect();
        merged.sort_by(|a, b| b.id.cmp(&a.id));
        merged.dedup_by(|a, b| a.id == b.id);
        merged.truncate(limit);
        Ok(merged)
    }

    fn purge(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let t = &self.trees;
        let mut purged = std::collections::HashSet::new();
        let mut released = Vec::new();
        for item in t.runs.range(..id_bound(before)) {
            let (id, bytes) = item?;
            let header = super::trees::decode_header(&bytes)?;
            if header.running {
                continue;
            }
            t.runs.remove(&id)?;
            t.trees.remove(&id)?;
            t.by_workflow
                .remove(key(&[header.workflow.to_lowercase().as_bytes(), &id]))?;
            if let Some(hashes) = t.blobs_by_run.remove(&id)? {
                released.extend(
                    String::from_utf8_lossy(&hashes)
                        .split(',')
                        .map(str::to_string),
                );
            }
            purged.insert(id.to_vec());
        }
        if !released.is_empty() {
            // Reference counts change on the writer thread only, so a value a new run is storing
            // right now is never deleted under it.
            let done = self.writer.submit(vec![Op::Release(released)]);
            done.blocking_recv()
                .map_err(|_| StoreError::Closed)?
                .map_err(|_| StoreError::Closed)?;
        }
        for item in t.events.iter() {
            let (event, run) = item?;
            if purged.contains(run.as_ref()) {
                t.events.remove(event)?;
            }
        }
        t.db.flush()?;
        self.delete_segments(before)?;
        Ok(purged.len())
    }

    /// sled's files and the journal log's segments.
    fn size_on_disk(&self) -> Result<u64, StoreError> {
        let log: u64 = std::fs::read_dir(self.dir.join(super::log::FOLDER))?
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
        Ok(self.trees.db.size_on_disk()? + log)
    }
}
