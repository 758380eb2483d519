//! Unfinished runs, in memory: what the journal log holds for each (its header and journal),
//! so that history queries see running runs without reading the log, and so that a log
//! segment's unfinished runs can be moved into sled when the log rolls past it.
//!
//! Also the records the log holds, and their binary form.

use super::codec::{CodecError, Decoder, Encoder};
use super::{JournalEntry, RunHeader};
use crate::record::ActionRecord;
use indexmap::IndexMap;
use std::collections::HashMap;
use std::sync::Arc;

/// One record of the journal log.
pub enum LogRecord {
    /// A definition version's text (runs name their version; recovery needs the text).
    Definition { version: String, text: String },
    /// A stateful run was admitted: its header, Running, with the trigger outputs.
    Admitted(RunHeader),
    /// A leaf action of a running run finished.
    Journaled { run: String, entry: JournalEntry },
    /// A run ended: its final header (without the trigger outputs, which `Admitted` holds).
    /// Written by earlier versions; read for their logs.
    Ended(RunHeader),
    /// A run ended: its final header with the trigger outputs, its action tree as history
    /// stores it (`trees::encode_tree`), and the large values the tree references by hash
    /// (so that recovery can store them if sled lost them). History reads the run from here.
    Finished(Box<Finished>),
}

const DEFINITION: u8 = 1;
const ADMITTED: u8 = 2;
const JOURNALED: u8 = 3;
const ENDED: u8 = 4;
const FINISHED: u8 = 5;

impl LogRecord {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut e = Encoder(out);
        match self {
            LogRecord::Definition { version, text } => {
                e.u8(DEFINITION);
                e.str(version);
                e.str(text);
            }
            LogRecord::Admitted(header) => {
                e.u8(ADMITTED);
                e.header(header);
            }
            LogRecord::Journaled { run, entry } => {
                e.u8(JOURNALED);
                e.str(run);
                e.str(&entry.path);
                e.record(&entry.record);
            }
            LogRecord::Ended(header) => {
                e.u8(ENDED);
                e.header_with_trigger(header, &crate::expr::Value::Null);
            }
            LogRecord::Finished(f) => LogRecord::encode_finished(&f.header, &f.tree, &f.large, out),
        }
    }

    /// A `Finished` record of its parts (see [`Finished`]).
    pub fn encode_finished(
        header: &RunHeader,
        tree: &[u8],
        large: &[(String, Vec<u8>)],
        out: &mut Vec<u8>,
    ) {
        let mut e = Encoder(out);
        e.u8(FINISHED);
        e.header(header);
        e.bytes(tree);
        e.varint(large.len() as u64);
        for (hash, bytes) in large {
            e.str(hash);
            e.bytes(bytes);
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<LogRecord, CodecError> {
        let mut d = Decoder::new(bytes);
        let record = match d.u8()? {
            DEFINITION => LogRecord::Definition {
                version: d.str()?.to_string(),
                text: d.str()?.to_string(),
            },
            ADMITTED => LogRecord::Admitted(d.header()?),
            JOURNALED => LogRecord::Journaled {
                run: d.str()?.to_string(),
                entry: JournalEntry {
                    path: d.str()?.to_string(),
                    record: Arc::new(d.record()?),
                },
            },
            ENDED => LogRecord::Ended(d.header()?),
            FINISHED => {
                let header = d.header()?;
                let tree = d.bytes()?.to_vec();
                let n = d.varint()?;
                let mut large = Vec::new();
                for _ in 0..n {
                    large.push((d.str()?.to_string(), d.bytes()?.to_vec()));
                }
                LogRecord::Finished(Box::new(Finished {
                    header,
                    tree,
                    large,
                }))
            }
            _ => return Err(CodecError::new("unknown log record")),
        };
        match d.is_empty() {
            true => Ok(record),
            false => Err(CodecError::new("bytes follow the record")),
        }
    }
}

/// What a `Finished` record holds.
pub struct Finished {
    pub header: RunHeader,
    pub tree: Vec<u8>,
    /// (hex SHA-256, bytes) of each large value the tree references.
    pub large: Vec<(String, Vec<u8>)>,
}

/// An unfinished run.
pub struct LiveRun {
    pub header: RunHeader,
    /// Recorded leaf results by action path, in the order they were recorded.
    pub journal: IndexMap<String, Arc<ActionRecord>>,
    /// The oldest log segment holding a frame of this run that sled does not hold yet.
    pub log_from: Option<u64>,
    /// Whether sled holds the run's header and (part of) its journal.
    pub spilled: bool,
}

impl LiveRun {
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.journal
            .iter()
            .map(|(path, record)| JournalEntry {
                path: path.clone(),
                record: record.clone(),
            })
            .collect()
    }
}

/// Every unfinished run of the store, by id.
#[derive(Default)]
pub struct LiveRuns(HashMap<String, LiveRun>);

impl LiveRuns {
    pub fn get(&self, id: &str) -> Option<&LiveRun> {
        self.0.get(id)
    }

    pub fn values(&self) -> impl Iterator<Item = &LiveRun> {
        self.0.values()
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut LiveRun> {
        self.0.values_mut()
    }

    /// A run sled holds unfinished (spilled, or left by an earlier process).
    pub fn load(&mut self, header: RunHeader, journal: Vec<JournalEntry>) {
        let run = LiveRun {
            journal: journal.into_iter().map(|e| (e.path, e.record)).collect(),
            header,
            log_from: None,
            spilled: true,
        };
        self.0.insert(run.header.id.clone(), run);
    }

    /// A run admitted with its header in log segment `segment`.
    pub fn admit(&mut self, header: RunHeader, segment: u64) {
        match self.0.get_mut(&header.id) {
            Some(run) => {
                run.header = header;
                run.log_from.get_or_insert(segment);
            }
            None => {
                let run = LiveRun {
                    header,
                    journal: IndexMap::new(),
                    log_from: Some(segment),
                    spilled: false,
                };
                self.0.insert(run.header.id.clone(), run);
            }
        }
    }

    /// A journal entry in log segment `segment`. An entry of a run not admitted is only in
    /// the log (a run is always admitted first).
    pub fn journal(&mut self, run: &str, entry: JournalEntry, segment: u64) {
        if let Some(live) = self.0.get_mut(run) {
            live.journal.insert(entry.path, entry.record);
            live.log_from.get_or_insert(segment);
        }
    }

    /// The run ended; what was live of it.
    pub fn end(&mut self, id: &str) -> Option<LiveRun> {
        self.0.remove(id)
    }
}
