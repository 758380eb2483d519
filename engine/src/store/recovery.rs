//! Opening the store after a stop or a crash: the journal log segments not yet folded into
//! sled are folded, and the unfinished runs are loaded into memory. The segments stay: history
//! reads finished runs from them.
//!
//! Folding is idempotent (a crash while recovering recovers again):
//! - definitions and event claims are written to sled;
//! - a run whose final header sled already holds is done;
//! - a run the log holds a `Finished` record of gets its final header, pointing there;
//! - a run the log says was cancelled (by an earlier version's `Ended` record) is written
//!   finished, with its journal as its actions;
//! - every other admitted run is written to sled unfinished (header and journal), to be
//!   resumed by replay.

use super::live::{Finished, LiveRuns, LogRecord};
use super::log::{Location, Log};
use super::trees::{Batches, SegmentNewest, Trees};
use super::{RunHeader, StoreError};
use crate::definition::RunStatus;
use crate::record::ActionRecord;
use indexmap::IndexMap;
use std::path::Path;
use std::sync::Arc;

/// What the log holds of one run.
#[derive(Default)]
struct Folded {
    header: Option<RunHeader>,
    journal: IndexMap<String, Arc<ActionRecord>>,
    ended: Option<RunHeader>,
    finished: Option<(Box<Finished>, Location)>,
}

/// The key in the `meta` tree saying that `runs_running` indexes every unfinished run.
const INDEXED: &[u8] = b"runs_running indexed";

/// Folds the log in `dir` into sled; returns the unfinished runs, and a log to append to.
pub fn recover(dir: &Path, trees: &Trees, threshold: usize) -> Result<(LiveRuns, Log), StoreError> {
    index_unfinished(trees)?;
    let found = Log::recover(dir, trees.log_read_from()?)?;
    for (segment, offset) in &found.damaged {
        tracing::warn!(
            "journal segment {segment} ends in an incomplete record at byte {offset} (a write cut \
             short by a crash); what follows it there is ignored"
        );
    }
    let mut runs: IndexMap<String, Folded> = IndexMap::new();
    for (at, frame) in &found.frames {
        match LogRecord::decode(frame) {
            Ok(record) => fold(record, *at, trees, &mut runs)?,
            Err(e) => tracing::error!("skipping a journal record: {e}"),
        }
    }
    let mut batches = Batches::default();
    let mut newest = SegmentNewest::default();
    for (id, run) in runs {
        if let Some((_, at)) = &run.finished {
            newest.raise(at.segment, &id);
        }
        settle(trees, &mut batches, &id, run, threshold)?;
    }
    for segment in newest.segments() {
        trees.note_segment_newest(&mut batches, &newest, segment);
    }
    batches.apply()?;
    let log = Log::start(dir)?;
    trees.set_log_read_from(log.number())?;
    trees.db.flush()?;
    Ok((unfinished(trees)?, log))
}

fn fold(
    record: LogRecord,
    at: Location,
    trees: &Trees,
    runs: &mut IndexMap<String, Folded>,
) -> Result<(), StoreError> {
    match record {
        LogRecord::Definition { version, text } => {
            if !trees.definitions.contains_key(&version)? {
                trees.definitions.insert(version, text.into_bytes())?;
            }
        }
        LogRecord::Admitted(header) => {
            if let Some(event) = &header.event_id {
                let _ = trees.events.compare_and_swap(
                    event.as_bytes(),
                    None as Option<&[u8]>,
                    Some(header.id.as_bytes()),
                )?;
            }
            let id = header.id.clone();
            runs.entry(id).or_default().header = Some(header);
        }
        LogRecord::Journaled { run, entry } => {
            let folded = runs.entry(run).or_default();
            folded.journal.insert(entry.path, entry.record);
        }
        LogRecord::Ended(header) => {
            let id = header.id.clone();
            runs.entry(id).or_default().ended = Some(header);
        }
        LogRecord::Finished(finished) => {
            let id = finished.header.id.clone();
            runs.entry(id).or_default().finished = Some((finished, at));
        }
    }
    Ok(())
}

/// Writes what the log says of one run into sled.
fn settle(
    trees: &Trees,
    batches: &mut Batches,
    id: &str,
    run: Folded,
    threshold: usize,
) -> Result<(), StoreError> {
    let stored = trees.header(id.as_bytes())?;
    if stored.as_ref().is_some_and(|h| !h.running) {
        return Ok(());
    }
    let spilled = stored.is_some();
    if let Some((finished, at)) = run.finished {
        let Finished { header, large, .. } = *finished;
        return trees.index_finished(batches, &header, at, large, spilled);
    }
    let Some(header) = run.header.or(stored) else {
        tracing::warn!("journal entries of run {id}, whose admission is not recorded, are ignored");
        return Ok(());
    };
    let mut journal: IndexMap<String, Arc<ActionRecord>> = match spilled {
        true => trees
            .journal_of(id)?
            .into_iter()
            .map(|e| (e.path, e.record))
            .collect(),
        false => IndexMap::new(),
    };
    journal.extend(run.journal);
    match run.ended.filter(|e| e.status == RunStatus::Cancelled) {
        Some(mut ended) => {
            ended.trigger = header.trigger;
            let actions: Vec<_> = journal.into_values().collect();
            trees.finish(batches, &ended, &actions, threshold, spilled)
        }
        None => {
            let entries = journal.iter().map(|(p, r)| (p.as_str(), r));
            trees.spill(batches, &header, entries);
            Ok(())
        }
    }
}

/// Every unfinished run sled holds, with its journal.
fn unfinished(trees: &Trees) -> Result<LiveRuns, StoreError> {
    let mut live = LiveRuns::default();
    for id in trees.running.iter().keys() {
        let id = id?;
        match trees.header(&id)? {
            Some(header) if header.running => {
                let journal = trees.journal_of(&header.id)?;
                live.load(header, journal);
            }
            _ => {
                trees.running.remove(&id)?;
            }
        }
    }
    Ok(live)
}

/// A store written before `runs_running` existed keeps its unfinished runs only in `runs`:
/// indexes them once.
fn index_unfinished(trees: &Trees) -> Result<(), StoreError> {
    if trees.meta.contains_key(INDEXED)? {
        return Ok(());
    }
    for item in trees.runs.iter() {
        let (id, bytes) = item?;
        let header = super::trees::decode_header(&bytes)?;
        if header.running {
            trees.running.insert(id, Vec::new())?;
        }
    }
    trees.meta.insert(INDEXED, Vec::new())?;
    trees.db.flush()?;
    Ok(())
}
