//! The writer thread: each batch of writes in one transaction, one statement per table.
//!
//! Writes queue on a channel; the thread takes whatever has queued (at most [`BATCH_LIMIT`]),
//! applies it in one transaction (definitions, then run headers, journal entries, and ends, so
//! that a run admitted and ended in one batch ends up ended), commits, and then resolves every
//! write's [`Commit`]. Rows are sent as arrays (`unnest`), so a batch costs a handful of round
//! trips however many runs it holds.

use super::super::trees::{encode_header, encode_tree};
use super::super::{Commit, JournalEntry, RunHeader, StoreError};
use crate::record::{ActionRecord, LargeValues};
use indexmap::IndexMap;
use postgres::{Client, Transaction};
use std::collections::HashSet;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Definition versions written, or on their way to the database.
pub type Saved = Arc<Mutex<HashSet<String>>>;

/// Writes per batch, at most.
const BATCH_LIMIT: usize = 10_000;

/// One write.
pub enum Op {
    Definition {
        version: String,
        text: String,
    },
    Header(RunHeader),
    Journal {
        run: String,
        entry: JournalEntry,
    },
    Finish {
        header: RunHeader,
        actions: Vec<Arc<ActionRecord>>,
    },
}

struct Job {
    op: Op,
    done: oneshot::Sender<Result<(), String>>,
}

/// The sending side of the writer thread.
pub struct Writer {
    tx: Sender<Job>,
}

impl Writer {
    /// Connects and starts the thread; with `exclusive`, first takes the writer's lock.
    /// `saved` holds the definition versions written or on their way; a batch that fails takes
    /// its own out again, so the next run of that version sends the text anew.
    pub fn start(url: &str, exclusive: bool, saved: Saved) -> Result<Writer, StoreError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready) = mpsc::channel();
        let url = url.to_string();
        std::thread::Builder::new()
            .name("sluice-pg-write".into())
            .spawn(move || match writer_client(&url, exclusive) {
                Ok(client) => {
                    let _ = ready_tx.send(Ok(()));
                    run(client, rx, saved);
                }
                Err(e) => drop(ready_tx.send(Err(e))),
            })
            .map_err(StoreError::Log)?;
        ready.recv().map_err(|_| StoreError::Closed)??;
        Ok(Writer { tx })
    }

    pub fn submit(&self, op: Op) -> Commit {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Job { op, done }).is_err() {
            let (failed, rx) = oneshot::channel();
            let _ = failed.send(Err("the writer has stopped".into()));
            return Commit(Some(rx));
        }
        Commit(Some(rx))
    }
}

/// The writer's connection; with `exclusive`, holding the writer's lock for as long as it is
/// open (PostgreSQL releases it when the connection ends, a crash included).
fn writer_client(url: &str, exclusive: bool) -> Result<Client, StoreError> {
    let mut client = super::connect(url)?;
    if exclusive {
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&super::WRITER_LOCK])?
            .get(0);
        if !locked {
            return Err(StoreError::Busy(
                "another sluice instance is writing to this PostgreSQL run store; \
                 one instance per database writes at a time"
                    .into(),
            ));
        }
    }
    Ok(client)
}

fn run(mut client: Client, rx: Receiver<Job>, saved: Saved) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < BATCH_LIMIT {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (ops, done): (Vec<Op>, Vec<_>) = jobs.into_iter().map(|j| (j.op, j.done)).unzip();
        let versions: Vec<String> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Definition { version, .. } => Some(version.clone()),
                _ => None,
            })
            .collect();
        let result = apply(&mut client, ops).map_err(|e| {
            tracing::error!(error = %e, "the PostgreSQL run store could not write a batch");
            let mut saved = saved.lock().unwrap_or_else(|p| p.into_inner());
            for version in &versions {
                saved.remove(version);
            }
            e.to_string()
        });
        for d in done {
            let _ = d.send(result.clone());
        }
    }
}

/// The rows of one batch, by table, the last write of a key winning.
#[derive(Default)]
struct Rows {
    definitions: IndexMap<String, String>,
    headers: IndexMap<String, RunHeader>,
    journal: IndexMap<(String, String), Vec<u8>>,
    progress: IndexMap<String, i64>,
    finished: IndexMap<String, (RunHeader, Vec<u8>)>,
}

impl Rows {
    fn from(ops: Vec<Op>) -> Result<Rows, StoreError> {
        let mut rows = Rows::default();
        for op in ops {
            match op {
                Op::Definition { version, text } => {
                    rows.definitions.insert(version, text);
                }
                Op::Header(h) => {
                    rows.headers.insert(h.id.clone(), h);
                }
                Op::Journal { run, entry } => {
                    let at = entry.record.end_time.timestamp_millis();
                    let progress = rows.progress.entry(run.clone()).or_insert(at);
                    *progress = (*progress).max(at);
                    let json = serde_json::to_vec(&entry)?;
                    rows.journal.insert((run, entry.path), json);
                }
                Op::Finish { header, actions } => {
                    let mut inline = LargeValues {
                        threshold: 0,
                        found: Vec::new(),
                    };
                    let tree = encode_tree(&actions, &mut inline);
                    rows.finished.insert(header.id.clone(), (header, tree));
                }
            }
        }
        Ok(rows)
    }
}

fn apply(client: &mut Client, ops: Vec<Op>) -> Result<(), StoreError> {
    let rows = Rows::from(ops)?;
    let mut tx = client.transaction()?;
    definitions(&mut tx, &rows)?;
    let headers: Vec<(&RunHeader, Option<&Vec<u8>>)> =
        rows.headers.values().map(|h| (h, None)).collect();
    upsert_runs(&mut tx, &headers)?;
    journal(&mut tx, &rows)?;
    let finished: Vec<(&RunHeader, Option<&Vec<u8>>)> =
        rows.finished.values().map(|(h, t)| (h, Some(t))).collect();
    upsert_runs(&mut tx, &finished)?;
    if !rows.finished.is_empty() {
        let ids: Vec<&str> = rows.finished.keys().map(String::as_str).collect();
        tx.execute("DELETE FROM sluice_journal WHERE run_id = ANY($1)", &[&ids])?;
    }
    tx.commit()?;
    Ok(())
}

fn definitions(tx: &mut Transaction<'_>, rows: &Rows) -> Result<(), StoreError> {
    if rows.definitions.is_empty() {
        return Ok(());
    }
    let versions: Vec<&str> = rows.definitions.keys().map(String::as_str).collect();
    let texts: Vec<&str> = rows.definitions.values().map(String::as_str).collect();
    tx.execute(
        "INSERT INTO sluice_definitions (version, text)
         SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (version) DO NOTHING",
        &[&versions, &texts],
    )?;
    Ok(())
}

/// Inserts or updates runs: headers (with the final tree of an ended run).
fn upsert_runs(
    tx: &mut Transaction<'_>,
    runs: &[(&RunHeader, Option<&Vec<u8>>)],
) -> Result<(), StoreError> {
    if runs.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = runs.iter().map(|(h, _)| h.id.as_str()).collect();
    let workflows: Vec<String> = runs
        .iter()
        .map(|(h, _)| h.workflow.to_lowercase())
        .collect();
    let statuses: Vec<String> = runs.iter().map(|(h, _)| h.status.to_string()).collect();
    let running: Vec<bool> = runs.iter().map(|(h, _)| h.running).collect();
    let starts: Vec<i64> = runs
        .iter()
        .map(|(h, _)| h.start_time.timestamp_millis())
        .collect();
    let progress: Vec<i64> = runs
        .iter()
        .map(|(h, _)| h.end_time.unwrap_or(h.start_time).timestamp_millis())
        .collect();
    let headers: Vec<Vec<u8>> = runs.iter().map(|(h, _)| encode_header(h)).collect();
    let trees: Vec<Option<&[u8]>> = runs.iter().map(|(_, t)| t.map(|t| &t[..])).collect();
    // A run's trigger event is claimed by it (the engine claims it first; this keeps a run
    // resubmitted or recorded without a claim from being run again by a redelivery).
    let (events, claimants): (Vec<&str>, Vec<&str>) = runs
        .iter()
        .filter_map(|(h, _)| Some((h.event_id.as_deref()?, h.id.as_str())))
        .unzip();
    if !events.is_empty() {
        tx.execute(
            "INSERT INTO sluice_events (event_id, run_id)
             SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (event_id) DO NOTHING",
            &[&events, &claimants],
        )?;
    }
    tx.execute(
        "INSERT INTO sluice_runs (id, workflow, status, running, start_ms, progress_ms, header, tree)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::int8[],
                              $6::int8[], $7::bytea[], $8::bytea[])
         ON CONFLICT (id) DO UPDATE SET
             workflow = EXCLUDED.workflow, status = EXCLUDED.status,
             running = EXCLUDED.running, start_ms = EXCLUDED.start_ms,
             progress_ms = greatest(sluice_runs.progress_ms, EXCLUDED.progress_ms),
             header = EXCLUDED.header,
             tree = coalesce(EXCLUDED.tree, sluice_runs.tree)",
        &[
            &ids, &workflows, &statuses, &running, &starts, &progress, &headers, &trees,
        ],
    )?;
    Ok(())
}

fn journal(tx: &mut Transaction<'_>, rows: &Rows) -> Result<(), StoreError> {
    if rows.journal.is_empty() {
        return Ok(());
    }
    let runs: Vec<&str> = rows.journal.keys().map(|(r, _)| r.as_str()).collect();
    let paths: Vec<&str> = rows.journal.keys().map(|(_, p)| p.as_str()).collect();
    let entries: Vec<&[u8]> = rows.journal.values().map(|e| &e[..]).collect();
    tx.execute(
        "INSERT INTO sluice_journal (run_id, path, entry)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
         ON CONFLICT (run_id, path) DO UPDATE SET entry = EXCLUDED.entry",
        &[&runs, &paths, &entries],
    )?;
    let ids: Vec<&str> = rows.progress.keys().map(String::as_str).collect();
    let at: Vec<i64> = rows.progress.values().copied().collect();
    tx.execute(
        "UPDATE sluice_runs AS r SET progress_ms = greatest(r.progress_ms, p.ms)
         FROM unnest($1::text[], $2::int8[]) AS p(id, ms) WHERE r.id = p.id",
        &[&ids, &at],
    )?;
    Ok(())
}
