//! The run store in PostgreSQL: the same records as the embedded store, in tables any instance
//! of the app can read.
//!
//! - Writes go to one writer thread, which applies each batch of them in one transaction with
//!   one multi-row statement per table (`writer`), then resolves their [`Commit`]s.
//! - Reads go to a few reader threads, each with its own connection; the caller blocks on the
//!   answer, as it does on sled. (The blocking `postgres` client cannot be called from inside
//!   the async runtime, so it lives on threads of its own.)
//! - Tables are created and upgraded by versioned migrations (`schema`).
//! - Run headers and action trees are stored in the same binary form as on sled; journal
//!   entries as JSON.
//!
//! One instance writes to a database at a time: opening the store for writing takes a
//! session advisory lock, and a second instance is refused with a clear error. Reading
//! (`sluice runs`) needs no lock.

mod schema;
mod writer;

use super::trees::{decode_header, decode_tree};
use super::{Commit, JournalEntry, RunFilter, RunHeader, RunStore, StoreError, StoredRun};
use crate::record::ActionRecord;
use chrono::{DateTime, Utc};
use postgres::{Client, NoTls};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use writer::{Op, Writer};

/// Reader threads, each with a connection.
const READERS: usize = 4;

/// A key for `pg_try_advisory_lock`: the instance writing to this database.
const WRITER_LOCK: i64 = 0x736c_7569_6365_0002;

type Query = Box<dyn FnOnce(&mut Client) + Send>;

/// Runs recorded in a PostgreSQL database.
pub struct PgStore {
    writer: Writer,
    reader: Mutex<Sender<Query>>,
    /// Definition versions already written (or on their way): a definition's text is sent
    /// once, not with every run that starts.
    definitions: writer::Saved,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/database`), applies the migrations the
    /// database lacks, and takes the writer's lock unless `read_only`.
    pub fn open(url: &str, read_only: bool) -> Result<PgStore, StoreError> {
        let (tx, rx) = mpsc::channel::<Query>();
        let rx = Arc::new(Mutex::new(rx));
        let mut ready = Vec::new();
        for i in 0..READERS {
            let (url, rx) = (url.to_string(), rx.clone());
            let (ready_tx, ready_rx) = mpsc::channel();
            ready.push(ready_rx);
            std::thread::Builder::new()
                .name(format!("sluice-pg-read-{i}"))
                .spawn(move || match connect(&url) {
                    Ok(client) => {
                        let _ = ready_tx.send(Ok(()));
                        serve(client, rx);
                    }
                    Err(e) => drop(ready_tx.send(Err(e))),
                })
                .map_err(StoreError::Log)?;
        }
        for r in ready {
            r.recv().map_err(|_| StoreError::Closed)??;
        }
        let definitions = writer::Saved::default();
        let store = PgStore {
            writer: Writer::start(url, !read_only, definitions.clone())?,
            reader: Mutex::new(tx),
            definitions,
        };
        Ok(store)
    }

    /// Runs `f` on a reader's connection and waits for its answer.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = mpsc::channel();
        let query: Query = Box::new(move |client| drop(tx.send(f(client))));
        self.reader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(query)
            .map_err(|_| StoreError::Closed)?;
        // A round trip to the database: on the async runtime's workers, let the worker's other
        // tasks move to another thread meanwhile instead of waiting behind this one.
        let answer = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| rx.recv())
            }
            _ => rx.recv(),
        };
        answer.map_err(|_| StoreError::Closed)?
    }
}

/// Connects and brings the tables up to date.
fn connect(url: &str) -> Result<Client, StoreError> {
    let mut client = Client::connect(url, NoTls).map_err(|e| {
        StoreError::Unavailable(format!("cannot connect to the PostgreSQL run store: {e}"))
    })?;
    schema::migrate(&mut client)?;
    Ok(client)
}

/// A reader thread: answers queries until the store is dropped.
fn serve(mut client: Client, queries: Arc<Mutex<Receiver<Query>>>) {
    loop {
        let next = queries.lock().unwrap_or_else(|p| p.into_inner()).recv();
        match next {
            Ok(query) => query(&mut client),
            Err(_) => return,
        }
    }
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl RunStore for PgStore {
    fn save_definition(&self, version: &str, text: &str) -> Commit {
        let mut saved = self.definitions.lock().unwrap_or_else(|p| p.into_inner());
        if !saved.insert(version.to_string()) {
            return Commit::done();
        }
        drop(saved);
        self.writer.submit(Op::Definition {
            version: version.to_string(),
            text: text.to_string(),
        })
    }

    fn definition(&self, version: &str) -> Result<Option<String>, StoreError> {
        let version = version.to_string();
        self.read(move |c| {
            let row = c.query_opt(
                "SELECT text FROM sluice_definitions WHERE version = $1",
                &[&version],
            )?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn put_run(&self, header: &RunHeader) -> Commit {
        self.writer.submit(Op::Header(header.clone()))
    }

    fn journal(&self, run_id: &str, entry: JournalEntry) -> Commit {
        self.writer.submit(Op::Journal {
            run: run_id.to_string(),
            entry,
        })
    }

    fn finish_run(&self, header: &RunHeader, actions: Vec<Arc<ActionRecord>>) -> Commit {
        self.writer.submit(Op::Finish {
            header: header.clone(),
            actions,
        })
    }

    fn claim_event(&self, event_id: &str, run_id: &str) -> Result<Option<String>, StoreError> {
        let (event, run) = (event_id.to_string(), run_id.to_string());
        self.read(move |c| {
            let row = c.query_opt(
                "WITH claimed AS (
                     INSERT INTO sluice_events (event_id, run_id) VALUES ($1, $2)
                     ON CONFLICT (event_id) DO NOTHING RETURNING run_id)
                 SELECT run_id FROM sluice_events WHERE event_id = $1
                   AND NOT EXISTS (SELECT 1 FROM claimed)",
                &[&event, &run],
            )?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn run(&self, id: &str) -> Result<Option<StoredRun>, StoreError> {
        let id = id.to_string();
        self.read(move |c| {
            let Some(row) = c.query_opt(
                "SELECT header, tree, running FROM sluice_runs WHERE id = $1",
                &[&id],
            )?
            else {
                return Ok(None);
            };
            let header = decode_header(row.get::<_, &[u8]>(0))?;
            let actions = match row.get::<_, Option<&[u8]>>(1) {
                Some(bytes) => Some(decode_tree(bytes)?),
                None => None,
            };
            let journal = match row.get::<_, bool>(2) {
                true => journal_of(c, &id)?,
                false => Vec::new(),
            };
            Ok(Some(StoredRun {
                header,
                actions,
                journal,
            }))
        })
    }

    fn list(&self, f: &RunFilter) -> Result<Vec<RunHeader>, StoreError> {
        let f = f.clone();
        self.read(move |c| {
            let workflow = f.workflow.as_ref().map(|w| w.to_lowercase());
            let status = f.status.map(|s| s.to_string());
            let since = f.since.map(millis);
            let until = f.until.map(millis);
            let stuck = f
                .stuck_for
                .map(|d| millis(Utc::now()) - i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            let running = f.running || stuck.is_some();
            let limit = if f.limit == 0 {
                i64::MAX
            } else {
                f.limit as i64
            };
            let rows = c.query(
                "SELECT header FROM sluice_runs
                 WHERE ($1::text IS NULL OR workflow = $1)
                   AND ($2::text IS NULL OR (status = $2 AND NOT running))
                   AND ($3 = false OR running)
                   AND ($4::bigint IS NULL OR start_ms >= $4)
                   AND ($5::bigint IS NULL OR start_ms <= $5)
                   AND ($6::bigint IS NULL OR progress_ms <= $6)
                 ORDER BY id DESC LIMIT $7",
                &[&workflow, &status, &running, &since, &until, &stuck, &limit],
            )?;
            rows.iter()
                .map(|r| decode_header(r.get::<_, &[u8]>(0)))
                .collect()
        })
    }

    fn purge(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let before = millis(before);
        self.read(move |c| {
            let mut tx = c.transaction()?;
            let purged = tx.query(
                "DELETE FROM sluice_runs WHERE NOT running AND start_ms < $1 RETURNING id",
                &[&before],
            )?;
            let ids: Vec<String> = purged.iter().map(|r| r.get(0)).collect();
            tx.execute("DELETE FROM sluice_events WHERE run_id = ANY($1)", &[&ids])?;
            tx.commit()?;
            Ok(ids.len())
        })
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            let tables: Vec<String> = schema::TABLES.iter().map(|t| t.to_string()).collect();
            let size: i64 = c
                .query_one(
                    "SELECT coalesce(sum(pg_total_relation_size(t::regclass)), 0)::bigint
                     FROM unnest($1::text[]) AS t",
                    &[&tables],
                )?
                .get(0);
            Ok(u64::try_from(size).unwrap_or(0))
        })
    }
}

/// The journal of an unfinished run, by path.
fn journal_of(c: &mut Client, id: &str) -> Result<Vec<JournalEntry>, StoreError> {
    c.query(
        "SELECT entry FROM sluice_journal WHERE run_id = $1 ORDER BY path",
        &[&id],
    )?
    .iter()
    .map(|r| Ok(serde_json::from_slice(r.get::<_, &[u8]>(0))?))
    .collect()
}

#[cfg(test)]
mod tests;
