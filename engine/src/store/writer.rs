//! The group-commit writer: one thread applies the writes of all runs in batches and flushes
//! once per batch, then tells every waiting [`Commit`](super::Commit) that its write is durable.

use std::sync::mpsc::{self, Receiver, Sender};
use tokio::sync::oneshot;

/// Writes per batch, at most.
const BATCH_LIMIT: usize = 10_000;

/// One write: set (`Some`) or delete (`None`) a key in a tree, or remove a key range.
pub enum Op {
    Put(sled::Tree, Vec<u8>, Option<Vec<u8>>),
    /// Set a key to bytes produced on the writer thread, off the runs' thread.
    Encode(sled::Tree, Vec<u8>, Box<dyn FnOnce() -> Vec<u8> + Send>),
    RemovePrefix(sled::Tree, Vec<u8>),
    /// Store a finished run's action tree, its large values once each (reference-counted).
    History(Box<History>),
    /// Drop one reference to each of these large values; delete those no run references.
    Release(Blobs, Vec<String>),
}

/// The trees that hold large values: content by hash, reference counts, hashes by run.
#[derive(Clone)]
pub struct Blobs {
    pub content: sled::Tree,
    pub references: sled::Tree,
    pub by_run: sled::Tree,
}

/// A finished run's tree to encode on the writer thread.
pub struct History {
    pub trees: sled::Tree,
    pub blobs: Blobs,
    pub run: Vec<u8>,
    pub actions: Vec<std::sync::Arc<crate::record::ActionRecord>>,
    pub threshold: usize,
}

fn count(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// Adds `delta` to a reference count atomically; returns the new count.
fn add_reference(blobs: &Blobs, hash: &str, delta: i64) -> Result<u64, sled::Error> {
    let updated = blobs.references.update_and_fetch(hash, |old| {
        let n = (count(old) as i64 + delta).max(0) as u64;
        (n > 0).then(|| n.to_be_bytes().to_vec())
    })?;
    Ok(count(updated.as_deref()))
}

struct Job {
    ops: Vec<Op>,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// The sending side of the writer thread, owned by the store.
pub struct Writer {
    tx: Option<Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread for `db`.
    pub fn start(db: sled::Db) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("sluice-store-writer".into())
            .spawn(move || run(db, rx))
            .expect("the writer thread starts");
        Writer {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Queues `ops`; the returned receiver fires once they are flushed.
    pub fn submit(&self, ops: Vec<Op>) -> oneshot::Receiver<Result<(), String>> {
        let (done, rx) = oneshot::channel();
        let job = Job {
            ops,
            done: Some(done),
        };
        let refused = match &self.tx {
            Some(tx) => tx.send(job).err().map(|mpsc::SendError(job)| job),
            None => Some(job),
        };
        if let Some(done) = refused.and_then(|job| job.done) {
            let _ = done.send(Err("the writer has stopped".into()));
        }
        rx
    }
}

/// Writes wait while the previous batch is flushed; whatever queued up meanwhile is the next
/// batch. A lone write is flushed at once, and under load batches grow by themselves.
impl Drop for Writer {
    /// Finishes the queued writes and releases the database (and its lock) before returning.
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(db: sled::Db, rx: Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH_LIMIT {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
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
    // One atomic sled batch per tree: far cheaper than one insert at a time.
    let mut per_tree: Vec<(sled::Tree, sled::Batch)> = Vec::new();
    fn batch_for(per_tree: &mut Vec<(sled::Tree, sled::Batch)>, tree: sled::Tree) -> usize {
        match per_tree.iter().position(|(t, _)| t.name() == tree.name()) {
            Some(i) => i,
            None => {
                per_tree.push((tree, sled::Batch::default()));
                per_tree.len() - 1
            }
        }
    }
    for job in batch.iter_mut() {
        for op in job.ops.drain(..) {
            match op {
                Op::Put(tree, key, value) => {
                    let i = batch_for(&mut per_tree, tree);
                    match value {
                        Some(v) => per_tree[i].1.insert(key, v),
                        None => per_tree[i].1.remove(key),
                    }
                }
                Op::Encode(tree, key, encode) => {
                    let i = batch_for(&mut per_tree, tree);
                    per_tree[i].1.insert(key, encode());
                }
                Op::History(h) => {
                    let large = std::cell::RefCell::new(crate::record::LargeValues {
                        threshold: h.threshold,
                        found: Vec::new(),
                    });
                    let tree = crate::record::HistoryTree {
                        records: &h.actions,
                        large: Some(&large),
                    };
                    let json = serde_json::to_vec(&tree).unwrap_or_default();
                    let found = large.into_inner().found;
                    let mut hashes = Vec::with_capacity(found.len());
                    for (hash, bytes) in found {
                        if add_reference(&h.blobs, &hash, 1)? == 1 {
                            h.blobs.content.insert(hash.as_bytes(), bytes)?;
                        }
                        hashes.push(hash);
                    }
                    if !hashes.is_empty() {
                        h.blobs
                            .by_run
                            .insert(&h.run, hashes.join(",").into_bytes())?;
                    }
                    let i = batch_for(&mut per_tree, h.trees.clone());
                    per_tree[i].1.insert(h.run.clone(), json);
                }
                Op::Release(blobs, hashes) => {
                    for hash in hashes {
                        if add_reference(&blobs, &hash, -1)? == 0 {
                            blobs.content.remove(hash.as_bytes())?;
                        }
                    }
                }
                Op::RemovePrefix(tree, prefix) => {
                    let keys: Vec<sled::IVec> =
                        tree.scan_prefix(&prefix).keys().collect::<Result<_, _>>()?;
                    let i = batch_for(&mut per_tree, tree);
                    for k in keys {
                        per_tree[i].1.remove(k);
                    }
                }
            }
        }
    }
    for (tree, b) in per_tree {
        tree.apply_batch(b)?;
    }
    db.flush()?;
    Ok(())
}
