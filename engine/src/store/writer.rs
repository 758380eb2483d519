//! The group-commit writer: one thread applies the writes of all runs in batches and flushes
//! once per batch, then tells every waiting [`Commit`](super::Commit) that its write is durable.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long the writer gathers writes after the first one before flushing.
const BATCH_WINDOW: Duration = Duration::from_millis(2);
/// Writes per batch, at most.
const BATCH_LIMIT: usize = 10_000;

/// One write: set (`Some`) or delete (`None`) a key in a tree, or remove a key range.
pub enum Op {
    Put(sled::Tree, Vec<u8>, Option<Vec<u8>>),
    RemovePrefix(sled::Tree, Vec<u8>),
}

struct Job {
    ops: Vec<Op>,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// The sending side, cloned by every writer of the store.
#[derive(Clone)]
pub struct Writer {
    tx: Sender<Job>,
}

impl Writer {
    /// Starts the writer thread for `db`.
    pub fn start(db: sled::Db) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sluice-store-writer".into())
            .spawn(move || run(db, rx))
            .expect("the writer thread starts");
        Writer { tx }
    }

    /// Queues `ops`; the returned receiver fires once they are flushed.
    pub fn submit(&self, ops: Vec<Op>) -> oneshot::Receiver<Result<(), String>> {
        let (done, rx) = oneshot::channel();
        if let Err(mpsc::SendError(job)) = self.tx.send(Job {
            ops,
            done: Some(done),
        }) {
            if let Some(done) = job.done {
                let _ = done.send(Err("the writer has stopped".into()));
            }
        }
        rx
    }
}

fn run(db: sled::Db, rx: Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let deadline = Instant::now() + BATCH_WINDOW;
        while batch.len() < BATCH_LIMIT {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(job) => batch.push(job),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let result = apply(&db, &mut batch).map_err(|e| e.to_string());
        for job in batch {
            if let Some(done) = job.done {
                let _ = done.send(result.clone());
            }
        }
    }
}

fn apply(db: &sled::Db, batch: &mut [Job]) -> Result<(), sled::Error> {
    for job in batch.iter_mut() {
        for op in job.ops.drain(..) {
            match op {
                Op::Put(tree, key, Some(value)) => {
                    tree.insert(key, value)?;
                }
                Op::Put(tree, key, None) => {
                    tree.remove(key)?;
                }
                Op::RemovePrefix(tree, prefix) => {
                    for key in tree.scan_prefix(&prefix).keys() {
                        tree.remove(key?)?;
                    }
                }
            }
        }
    }
    db.flush()?;
    Ok(())
}
