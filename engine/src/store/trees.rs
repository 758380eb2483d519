//! The sled side of the store: its trees, the JSON they hold (the format `sluice runs` and the
//! management API read), and the writes the writer and recovery make to them.
//!
//! sled is never flushed on a run's path: the journal log makes writes durable, and sled is
//! flushed by its own background thread, and explicitly when the log rolls (so that recovery
//! can start reading the log later).

use super::codec::{Decoder, Encoder, Shown};
use super::log::Location;
use super::{JournalEntry, RunHeader, StoreError};
use crate::expr::Value;
use crate::record::{ActionRecord, HistoryTree, LargeValues, SECURED};
use std::collections::HashMap;
use std::sync::Arc;

/// The first byte of an action tree or run header in the binary form (JSON starts with `[`
/// or `{`; stores written before the binary form hold JSON, read as such).
const BINARY_TREE: u8 = 1;
const BINARY_HEADER: u8 = 1;
/// A finished run's header whose trigger outputs and action tree are in the journal log,
/// preceded by where (see [`encode_located`]).
const LOCATED_HEADER: u8 = 2;

/// A run header as `runs` holds it.
pub fn encode_header(header: &RunHeader) -> Vec<u8> {
    let mut bytes = vec![BINARY_HEADER];
    Encoder(&mut bytes).header(header);
    bytes
}

/// A finished run's header as `runs` holds it when the log holds its `Finished` record at
/// `at`: the location, then the header without its trigger outputs.
pub fn encode_located(header: &RunHeader, at: Location) -> Vec<u8> {
    let mut bytes = vec![LOCATED_HEADER];
    let mut e = Encoder(&mut bytes);
    e.varint(at.segment);
    e.varint(at.offset);
    e.varint(at.len.into());
    e.header_with_trigger(header, &Value::Null);
    bytes
}

/// A run header from `runs` (binary, or JSON), and where the log holds the rest of a finished
/// one (its trigger outputs are then not in the header).
pub fn decode_located(bytes: &[u8]) -> Result<(RunHeader, Option<Location>), StoreError> {
    let corrupt = |e: super::codec::CodecError| StoreError::Undecodable(e.to_string());
    match bytes.split_first() {
        Some((&BINARY_HEADER, rest)) => Ok((Decoder::new(rest).header().map_err(corrupt)?, None)),
        Some((&LOCATED_HEADER, rest)) => {
            let mut d = Decoder::new(rest);
            let at = Location {
                segment: d.varint().map_err(corrupt)?,
                offset: d.varint().map_err(corrupt)?,
                len: u32::try_from(d.varint().map_err(corrupt)?)
                    .map_err(|_| StoreError::Undecodable("a frame length is too large".into()))?,
            };
            Ok((d.header().map_err(corrupt)?, Some(at)))
        }
        _ => Ok((serde_json::from_slice(bytes)?, None)),
    }
}

/// A run header from `runs` (a finished run's trigger outputs may be in the log: see
/// [`decode_located`]).
pub fn decode_header(bytes: &[u8]) -> Result<RunHeader, StoreError> {
    decode_located(bytes).map(|(header, _)| header)
}

/// History's view of a record's values: secured ones redacted, large ones referenced.
struct HistoryView<'a>(&'a mut LargeValues);

impl Shown for HistoryView<'_> {
    fn instead(&mut self, _: &Value, secure: bool) -> Option<Value> {
        secure.then(|| Value::from(SECURED))
    }

    fn instead_of_written(&mut self, value: &Value, written: usize) -> Option<Value> {
        let large = &mut *self.0;
        if large.threshold == 0 || written <= large.threshold {
            return None;
        }
        large.reference(value).map(Value::from_json)
    }
}

/// A finished run's action tree as stored: binary, values as history shows them.
pub fn encode_tree(actions: &[Arc<ActionRecord>], large: &mut LargeValues) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4096);
    bytes.push(BINARY_TREE);
    let mut e = Encoder(&mut bytes);
    e.varint(actions.len() as u64);
    let mut view = HistoryView(large);
    for record in actions {
        e.record_shown(record, &mut view);
    }
    bytes
}

/// A stored action tree as JSON (large values still referenced).
pub fn decode_tree(bytes: &[u8]) -> Result<serde_json::Value, StoreError> {
    let Some((&BINARY_TREE, rest)) = bytes.split_first() else {
        return Ok(serde_json::from_slice(bytes)?);
    };
    let mut d = Decoder::new(rest);
    let corrupt = |e: super::codec::CodecError| StoreError::Undecodable(e.to_string());
    let n = d.varint().map_err(corrupt)?;
    let mut records = Vec::new();
    for _ in 0..n {
        records.push(Arc::new(d.record().map_err(corrupt)?));
    }
    let tree = HistoryTree { records: &records };
    Ok(serde_json::to_value(tree)?)
}

const SEP: u8 = 0;

/// The `meta` key prefix of a log segment's newest finished run id (see
/// [`Trees::segment_newest`]).
const SEGMENT_NEWEST: &[u8] = b"log segment newest";

/// The `meta` key of [`Trees::log_read_from`].
const LOG_READ_FROM: &[u8] = b"log read from";

/// A key of parts joined by a 0 byte.
pub fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(SEP);
        }
        k.extend_from_slice(p);
    }
    k
}

/// The trees of the store's sled database.
#[derive(Clone)]
pub struct Trees {
    pub db: sled::Db,
    /// Run headers (JSON) by run id.
    pub runs: sled::Tree,
    /// `workflow (lower case) 0 run id` → nothing: history by workflow.
    pub by_workflow: sled::Tree,
    /// Run ids of unfinished runs whose header and journal sled holds (see [`Trees::spill`]).
    pub running: sled::Tree,
    /// `run id 0 action path` → journal entry (JSON) of unfinished runs held in sled.
    pub journal: sled::Tree,
    /// Final action trees (JSON) by run id.
    pub trees: sled::Tree,
    /// Trigger event id → run id.
    pub events: sled::Tree,
    /// Definition version → workflow file text.
    pub definitions: sled::Tree,
    /// Large history values by content hash.
    pub blobs: sled::Tree,
    /// Content hash → how many runs reference it (u64, big-endian).
    pub references: sled::Tree,
    /// Run id → the hashes it references, comma-separated.
    pub blobs_by_run: sled::Tree,
    /// Facts about the store itself (its format).
    pub meta: sled::Tree,
}

impl Trees {
    pub fn open(db: sled::Db) -> Result<Trees, StoreError> {
        Ok(Trees {
            runs: db.open_tree("runs")?,
            by_workflow: db.open_tree("runs_by_workflow")?,
            running: db.open_tree("runs_running")?,
            journal: db.open_tree("journal")?,
            trees: db.open_tree("action_trees")?,
            events: db.open_tree("events")?,
            definitions: db.open_tree("definitions")?,
            blobs: db.open_tree("large_values")?,
            references: db.open_tree("large_value_references")?,
            blobs_by_run: db.open_tree("large_values_by_run")?,
            meta: db.open_tree("meta")?,
            db,
        })
    }

    pub fn header(&self, id: &[u8]) -> Result<Option<RunHeader>, StoreError> {
        Ok(self.located(id)?.map(|(header, _)| header))
    }

    /// A run's header, and where the log holds the rest of it if it finished (see
    /// [`decode_located`]).
    pub fn located(&self, id: &[u8]) -> Result<Option<(RunHeader, Option<Location>)>, StoreError> {
        match self.runs.get(id)? {
            Some(bytes) => Ok(Some(decode_located(&bytes)?)),
            None => Ok(None),
        }
    }

    /// The journal sled holds for an unfinished run, by path.
    pub fn journal_of(&self, id: &str) -> Result<Vec<JournalEntry>, StoreError> {
        self.journal
            .scan_prefix(key(&[id.as_bytes(), b""]))
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect()
    }

    /// Writes a run's header and its workflow index entry.
    pub fn put_header(&self, batch: &mut Batches, header: &RunHeader) {
        self.put_encoded(batch, header, encode_header(header));
    }

    fn put_encoded(&self, batch: &mut Batches, header: &RunHeader, encoded: Vec<u8>) {
        let id = header.id.as_bytes();
        batch.insert(&self.runs, id.to_vec(), encoded);
        let index = key(&[header.workflow.to_lowercase().as_bytes(), id]);
        batch.insert(&self.by_workflow, index, Vec::new());
    }

    /// Records a run's end whose `Finished` record the log holds at `at`: its large values
    /// (once each, by content), its final header pointing there, and, when sled held it
    /// unfinished, drops its journal. The header is written last (see [`Batches::apply`]).
    pub fn index_finished(
        &self,
        batch: &mut Batches,
        header: &RunHeader,
        at: Location,
        large: Vec<(String, Vec<u8>)>,
        spilled: bool,
    ) -> Result<(), StoreError> {
        let id = header.id.as_bytes();
        self.store_large(id, large)?;
        self.drop_unfinished(batch, id, spilled)?;
        self.put_encoded(batch, header, encode_located(header, at));
        Ok(())
    }

    /// Notes what `newest` holds of log `segment` in sled, so that purging older runs can tell
    /// when the segment holds nothing it keeps.
    pub fn note_segment_newest(&self, batch: &mut Batches, newest: &SegmentNewest, segment: u64) {
        if let Some(id) = newest.0.get(&segment) {
            let key = key(&[SEGMENT_NEWEST, &segment.to_be_bytes()]);
            batch.insert(&self.meta, key, id.as_bytes().to_vec());
        }
    }

    /// The newest run id whose `Finished` record log segment `segment` holds, if any.
    pub fn segment_newest(&self, segment: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let newest = key(&[SEGMENT_NEWEST, &segment.to_be_bytes()]);
        Ok(self.meta.get(newest)?.map(|v| v.to_vec()))
    }

    /// The first log segment recovery must read: those before it are folded into sled.
    pub fn log_read_from(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(LOG_READ_FROM)?
            .and_then(|v| v.as_ref().try_into().ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// Records that the log segments before `segment` are folded into sled (effective once
    /// sled is flushed).
    pub fn set_log_read_from(&self, segment: u64) -> Result<(), StoreError> {
        self.meta.insert(LOG_READ_FROM, &segment.to_be_bytes())?;
        Ok(())
    }

    /// Forgets what [`Trees::segment_newest`] knew of a deleted segment.
    pub fn forget_segment(&self, segment: u64) -> Result<(), StoreError> {
        self.meta
            .remove(key(&[SEGMENT_NEWEST, &segment.to_be_bytes()]))?;
        Ok(())
    }

    /// Stores a run's large values, once each, and which it references.
    fn store_large(&self, id: &[u8], found: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        if found.is_empty() || self.blobs_by_run.contains_key(id)? {
            return Ok(());
        }
        let mut hashes = Vec::with_capacity(found.len());
        for (hash, bytes) in found {
            if self.add_reference(&hash, 1)? == 1 {
                self.blobs.insert(hash.as_bytes(), bytes)?;
            }
            hashes.push(hash);
        }
        self.blobs_by_run
            .insert(id, hashes.join(",").into_bytes())?;
        Ok(())
    }

    /// Drops what sled held of a run while it was unfinished.
    fn drop_unfinished(
        &self,
        batch: &mut Batches,
        id: &[u8],
        spilled: bool,
    ) -> Result<(), StoreError> {
        if spilled {
            for k in self.journal.scan_prefix(key(&[id, b""])).keys() {
                batch.remove(&self.journal, k?.to_vec());
            }
            batch.remove(&self.running, id.to_vec());
        }
        Ok(())
    }

    /// Moves an unfinished run into sled (header, journal, and the index of unfinished runs),
    /// so that the log segments holding its frames can be deleted.
    pub fn spill<'a>(
        &self,
        batch: &mut Batches,
        header: &RunHeader,
        journal: impl Iterator<Item = (&'a str, &'a Arc<ActionRecord>)>,
    ) {
        self.put_header(batch, header);
        let id = header.id.as_bytes();
        batch.insert(&self.running, id.to_vec(), Vec::new());
        for (path, record) in journal {
            let entry = JournalEntry {
                path: path.to_string(),
                record: record.clone(),
            };
            let json = serde_json::to_vec(&entry).unwrap_or_default();
            batch.insert(&self.journal, key(&[id, path.as_bytes()]), json);
        }
    }

    /// Records a run's end: its action tree (large values once each, by content), its final
    /// header, and, when sled held it unfinished, drops its journal. The header is written
    /// last: a run whose final header survived a crash has everything else too.
    pub fn finish(
        &self,
        batch: &mut Batches,
        header: &RunHeader,
        actions: &[Arc<ActionRecord>],
        threshold: usize,
        spilled: bool,
    ) -> Result<(), StoreError> {
        let id = header.id.as_bytes();
        let mut large = LargeValues {
            threshold,
            found: Vec::new(),
        };
        let tree = encode_tree(actions, &mut large);
        self.store_large(id, large.found)?;
        batch.insert(&self.trees, id.to_vec(), tree);
        self.drop_unfinished(batch, id, spilled)?;
        self.put_header(batch, header);
        Ok(())
    }

    /// Drops one reference to each of these large values; deletes those no run references.
    pub fn release(&self, hashes: &[String]) -> Result<(), StoreError> {
        for hash in hashes {
            if self.add_reference(hash, -1)? == 0 {
                self.blobs.remove(hash.as_bytes())?;
            }
        }
        Ok(())
    }

    /// Adds `delta` to a reference count atomically; returns the new count.
    fn add_reference(&self, hash: &str, delta: i64) -> Result<u64, sled::Error> {
        fn count(bytes: Option<&[u8]>) -> u64 {
            bytes
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_be_bytes)
        }
        let updated = self.references.update_and_fetch(hash, |old| {
            let n = (count(old) as i64 + delta).max(0) as u64;
            (n > 0).then(|| n.to_be_bytes().to_vec())
        })?;
        Ok(count(updated.as_deref()))
    }
}

/// The newest run id each log segment holds a `Finished` record of.
#[derive(Default)]
pub struct SegmentNewest(HashMap<u64, String>);

impl SegmentNewest {
    /// Takes `id` as `segment`'s newest if it is newer than what was; whether it was.
    pub fn raise(&mut self, segment: u64, id: &str) -> bool {
        let newest = self.0.entry(segment).or_default();
        let newer = id > newest.as_str();
        if newer {
            newest.clear();
            newest.push_str(id);
        }
        newer
    }

    /// The segments it knows of.
    pub fn segments(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.keys().copied()
    }

    /// Forgets the segments before `segment`.
    pub fn forget_before(&mut self, segment: u64) {
        self.0.retain(|s, _| *s >= segment);
    }
}

/// Writes gathered for one go, applied one by one, the run headers' last (see
/// [`Trees::finish`]).
///
/// Not as sled batches: sled writes out its current I/O buffer before and after every batch
/// (`apply_batch` pins its log), which under load meant hundreds of small writes, each with a
/// `sync_file_range` and a hand-off to sled's I/O threads, every second, and an exclusive lock
/// that stalled event claims on the runs' threads. No reader needs a finished run's writes to
/// appear at once: the header, written last, is what makes the run visible as finished.
#[derive(Default)]
pub struct Batches(Vec<(sled::Tree, Vec<u8>, Option<Vec<u8>>)>);

impl Batches {
    pub fn insert(&mut self, tree: &sled::Tree, key: Vec<u8>, value: Vec<u8>) {
        self.0.push((tree.clone(), key, Some(value)));
    }

    pub fn remove(&mut self, tree: &sled::Tree, key: Vec<u8>) {
        self.0.push((tree.clone(), key, None));
    }

    /// Applies every write in order, the run headers' last.
    pub fn apply(mut self) -> Result<(), sled::Error> {
        self.0.sort_by_key(|(tree, _, _)| &*tree.name() == b"runs");
        for (tree, key, value) in self.0 {
            match value {
                Some(value) => drop(tree.insert(key, value)?),
                None => drop(tree.remove(key)?),
            }
        }
        Ok(())
    }
}
