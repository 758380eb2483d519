//! [`RunStore`] on sled. Keys are chosen so that history queries are range scans: run ids are
//! time-ordered (UUIDv7, upper-case hex, the first 12 digits the start in milliseconds), and a
//! per-workflow index is the workflow name followed by the run id.

use super::writer::{Blobs, History, Op, Writer};
use super::{Commit, JournalEntry, RunFilter, RunHeader, RunStore, StoreError, StoredRun};
use crate::record::{ActionRecord, LargeValues};
use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::Arc;

/// Run state and history in one sled database.
pub struct DiskStore {
    db: sled::Db,
    runs: sled::Tree,
    by_workflow: sled::Tree,
    journal: sled::Tree,
    trees: sled::Tree,
    events: sled::Tree,
    definitions: sled::Tree,
    blobs: Blobs,
    /// Inputs and outputs whose JSON is longer than this are stored once, by content hash.
    large_value_bytes: usize,
    writer: Writer,
}

/// The default size above which a value in run history is stored once and referenced.
pub const LARGE_VALUE_BYTES: usize = 64 * 1024;

const SEP: u8 = 0;

fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(SEP);
        }
        k.extend_from_slice(p);
    }
    k
}

/// The smallest run id that starts at or after `t`.
fn id_bound(t: DateTime<Utc>) -> Vec<u8> {
    format!("{:012X}", t.timestamp_millis().max(0)).into_bytes()
}

impl DiskStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<DiskStore, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        Ok(DiskStore {
            runs: db.open_tree("runs")?,
            by_workflow: db.open_tree("runs_by_workflow")?,
            journal: db.open_tree("journal")?,
            trees: db.open_tree("action_trees")?,
            events: db.open_tree("events")?,
            definitions: db.open_tree("definitions")?,
            blobs: Blobs {
                content: db.open_tree("large_values")?,
                references: db.open_tree("large_value_references")?,
                by_run: db.open_tree("large_values_by_run")?,
            },
            large_value_bytes: LARGE_VALUE_BYTES,
            writer: Writer::start(db.clone()),
            db,
        })
    }

    /// Sets the size above which history values are stored once and referenced (0: never).
    pub fn with_large_value_bytes(mut self, bytes: usize) -> DiskStore {
        self.large_value_bytes = bytes;
        self
    }

    /// How many distinct large values the history holds.
    pub fn large_value_count(&self) -> usize {
        self.blobs.content.len()
    }

    /// Replaces large-value references in a stored tree with the values.
    fn resolve(&self, tree: &mut serde_json::Value) -> Result<(), StoreError> {
        match tree {
            serde_json::Value::Object(map) => {
                if let Some(hash) = map.get(LargeValues::KEY).and_then(|h| h.as_str()) {
                    if let Some(bytes) = self.blobs.content.get(hash)? {
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

    fn commit(&self, ops: Vec<Op>) -> Commit {
        Commit(Some(self.writer.submit(ops)))
    }

    fn header(&self, id: &[u8]) -> Result<Option<RunHeader>, StoreError> {
        match self.runs.get(id)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    fn journal_of(&self, id: &str) -> Result<Vec<JournalEntry>, StoreError> {
        self.journal
            .scan_prefix(key(&[id.as_bytes(), b""]))
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect()
    }

    /// When the run last made progress: its latest journaled action's end, or its start.
    fn last_progress(&self, header: &RunHeader) -> Result<DateTime<Utc>, StoreError> {
        let mut latest = header.start_time;
        for entry in self.journal_of(&header.id)? {
            latest = latest.max(entry.record.end_time);
        }
        Ok(latest)
    }

    fn matches(&self, h: &RunHeader, f: &RunFilter) -> Result<bool, StoreError> {
        if f.running && !h.running {
            return Ok(false);
        }
        if let Some(status) = f.status {
            if h.running || h.status != status {
                return Ok(false);
            }
        }
        if let Some(stuck) = f.stuck_for {
            let threshold = Utc::now() - chrono::Duration::from_std(stuck).unwrap_or_default();
            if !h.running || self.last_progress(h)? > threshold {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl RunStore for DiskStore {
    fn save_definition(&self, version: &str, text: &str) -> Commit {
        if self.definitions.contains_key(version).unwrap_or(false) {
            return Commit::done();
        }
        self.commit(vec![Op::Put(
            self.definitions.clone(),
            version.as_bytes().to_vec(),
            Some(text.as_bytes().to_vec()),
        )])
    }

    fn definition(&self, version: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .definitions
            .get(version)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn put_run(&self, header: &RunHeader) -> Commit {
        let value = serde_json::to_vec(header).unwrap_or_default();
        let index = key(&[
            header.workflow.to_lowercase().as_bytes(),
            header.id.as_bytes(),
        ]);
        self.commit(vec![
            Op::Put(
                self.runs.clone(),
                header.id.as_bytes().to_vec(),
                Some(value),
            ),
            Op::Put(self.by_workflow.clone(), index, Some(Vec::new())),
        ])
    }

    fn journal(&self, run_id: &str, entry: JournalEntry) -> Commit {
        let k = key(&[run_id.as_bytes(), entry.path.as_bytes()]);
        let encode = move || serde_json::to_vec(&entry).unwrap_or_default();
        self.commit(vec![Op::Encode(self.journal.clone(), k, Box::new(encode))])
    }

    fn finish_run(&self, header: &RunHeader, actions: Vec<Arc<ActionRecord>>) -> Commit {
        let id = header.id.as_bytes();
        let index = key(&[header.workflow.to_lowercase().as_bytes(), id]);
        self.commit(vec![
            Op::Put(
                self.runs.clone(),
                id.to_vec(),
                Some(serde_json::to_vec(header).unwrap_or_default()),
            ),
            Op::Put(self.by_workflow.clone(), index, Some(Vec::new())),
            Op::History(Box::new(History {
                trees: self.trees.clone(),
                blobs: self.blobs.clone(),
                run: id.to_vec(),
                actions,
                threshold: self.large_value_bytes,
            })),
            Op::RemovePrefix(self.journal.clone(), key(&[id, b""])),
        ])
    }

    fn claim_event(&self, event_id: &str, run_id: &str) -> Result<Option<String>, StoreError> {
        match self.events.compare_and_swap(
            event_id,
            None as Option<&[u8]>,
            Some(run_id.as_bytes()),
        )? {
            Ok(()) => Ok(None),
            Err(e) => Ok(e.current.map(|v| String::from_utf8_lossy(&v).into_owned())),
        }
    }

    fn run(&self, id: &str) -> Result<Option<StoredRun>, StoreError> {
        let Some(header) = self.header(id.as_bytes())? else {
            return Ok(None);
        };
        let actions = match self.trees.get(id)? {
            Some(bytes) => {
                let mut tree = serde_json::from_slice(&bytes)?;
                self.resolve(&mut tree)?;
                Some(tree)
            }
            None => None,
        };
        let journal = if header.running {
            self.journal_of(id)?
        } else {
            Vec::new()
        };
        Ok(Some(StoredRun {
            header,
            actions,
            journal,
        }))
    }

    fn list(&self, f: &RunFilter) -> Result<Vec<RunHeader>, StoreError> {
        let low = f.since.map(id_bound).unwrap_or_default();
        let high = f
            .until
            .map(|t| id_bound(t + chrono::Duration::milliseconds(1)))
            .unwrap_or_else(|| vec![0xFF]);
        let limit = if f.limit == 0 { usize::MAX } else { f.limit };
        let mut out = Vec::new();
        let mut consider = |id: &[u8]| -> Result<bool, StoreError> {
            if let Some(h) = self.header(id)? {
                if self.matches(&h, f)? {
                    out.push(h);
                }
            }
            Ok(out.len() < limit)
        };
        match &f.workflow {
            Some(w) => {
                let prefix = key(&[w.to_lowercase().as_bytes(), b""]);
                let range = [prefix.clone(), low].concat()..[prefix.clone(), high].concat();
                for item in self.by_workflow.range(range).rev() {
                    let (k, _) = item?;
                    if !consider(&k[prefix.len()..])? {
                        break;
                    }
                }
            }
            None => {
                for item in self.runs.range(low..high).rev() {
                    let (k, _) = item?;
                    if !consider(&k)? {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    fn purge(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut purged = std::collections::HashSet::new();
        let mut released = Vec::new();
        for item in self.runs.range(..id_bound(before)) {
            let (id, bytes) = item?;
            let header: RunHeader = serde_json::from_slice(&bytes)?;
            if header.running {
                continue;
            }
            self.runs.remove(&id)?;
            self.trees.remove(&id)?;
            self.by_workflow
                .remove(key(&[header.workflow.to_lowercase().as_bytes(), &id]))?;
            if let Some(hashes) = self.blobs.by_run.remove(&id)? {
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
            let release = Op::Release(self.blobs.clone(), released);
            let done = self.writer.submit(vec![release]);
            done.blocking_recv()
                .map_err(|_| StoreError::Closed)?
                .map_err(|_| StoreError::Closed)?;
        }
        for item in self.events.iter() {
            let (event, run) = item?;
            if purged.contains(run.as_ref()) {
                self.events.remove(event)?;
            }
        }
        self.db.flush()?;
        Ok(purged.len())
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }
}
