//! The group-commit writer: two threads take the writes of all runs in batches.
//!
//! - The log thread appends a batch's journal-log frames and syncs them once, updates the
//!   unfinished runs in memory, and tells every waiting [`Commit`](super::Commit) of a log
//!   write that it is durable.
//! - The history thread writes what ends in sled (finished runs' headers, pointing at their
//!   `Finished` records in the log, without a flush), while the log thread syncs the next batch.
//!
//! When the log's segment is full the log thread rolls to a new one, and the history thread
//! checkpoints: it moves the unfinished runs with frames in older segments into sled, flushes
//! sled, and records that recovery may start at the newer segment.

use super::live::{LiveRuns, LogRecord};
use super::log::{self, Location, Log};
use super::trees::{self, Batches, SegmentNewest, Trees};
use super::{RunHeader, StoreError};
use crate::record::{ActionRecord, LargeValues};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// Writes per batch, at most.
const BATCH_LIMIT: usize = 10_000;

/// The shortest time from one log sync to the next. A sync costs the machine about the same
/// whatever it holds (on a virtual disk, mostly the exit to the hypervisor), and each one
/// wakes the runs it made durable, which under load means the runs' threads park and are woken
/// once per sync; so at most 500 syncs a second, and a commit waits at most this much longer. A
/// lone commit after a quiet moment is synced at once. (Measured with `sluice bench
/// sustained`, stateful: at `--rate 4000`, 0 µs → 177K and 197K events/min, 300 µs → 210K and
/// 171K, 1 ms → 232K and 223K; at saturation, `--rate 8000 --events 240000`, 1 ms → 0.62–0.65
/// of stateless, 2 ms → 0.68–0.82 in four pairs, 4 ms → 0.83 in one; the end-to-end p99 at
/// the study's rate was 1.14× stateless at 2 ms and 1.30× at 4 ms.)
const SYNC_PACE: std::time::Duration = std::time::Duration::from_micros(2000);

/// One write.
pub enum Op {
    /// A record for the log (definitions, admissions, journal entries).
    Log(LogRecord),
    /// A run's end: a `Finished` record in the log, then its history entry in sled.
    Finish(Box<Finish>),
    /// Drop one reference to each of these large values; delete those no run references.
    Release(Vec<String>),
}

/// A run's end, with its action tree to encode on the writer thread.
pub struct Finish {
    pub header: RunHeader,
    pub actions: Vec<Arc<ActionRecord>>,
    pub threshold: usize,
}

/// What the history thread writes to sled once the log holds a job's frames.
enum Later {
    /// A finished run whose `Finished` record is at `at`.
    Indexed {
        header: RunHeader,
        at: Location,
        large: Vec<(String, Vec<u8>)>,
    },
    Release(Vec<String>),
}

struct Job {
    ops: Vec<Op>,
    later: Vec<Later>,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// Work for the history thread.
enum Sled {
    /// A job's sled writes, after its log frames are durable.
    Job(Job),
    /// The log rolled past this segment: move what sled must hold out of the ones before it.
    Checkpoint(u64),
}

/// What the log thread owns.
pub struct State {
    pub trees: Trees,
    pub log: Log,
    pub live: Arc<Mutex<LiveRuns>>,
    /// Roll the log to a new segment past this size.
    pub segment_bytes: u64,
}

/// The sending side of the writer threads, owned by the store.
pub struct Writer {
    tx: Option<Sender<Job>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Writer {
    /// Starts the log and history threads.
    pub fn start(state: State) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>();
        let (sled_tx, sled_rx) = mpsc::channel::<Sled>();
        let history = History {
            trees: state.trees.clone(),
            live: state.live.clone(),
            newest: SegmentNewest::default(),
        };
        let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(body)
                .expect("the store's threads start")
        };
        let threads = vec![
            spawn("sluice-store-log", Box::new(move || state.run(rx, sled_tx))),
            spawn(
                "sluice-store-history",
                Box::new(move || history.run(sled_rx)),
            ),
        ];
        Writer {
            tx: Some(tx),
            threads,
        }
    }

    /// Queues `ops`; the returned receiver fires once they are durable.
    pub fn submit(&self, ops: Vec<Op>) -> oneshot::Receiver<Result<(), String>> {
        let (done, rx) = oneshot::channel();
        let job = Job {
            ops,
            later: Vec::new(),
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

/// Writes wait while the previous batch is synced; whatever queued up meanwhile is the next
/// batch. A lone write is synced at once, and under load batches grow by themselves.
impl Drop for Writer {
    /// Finishes the queued writes and releases the database (and its lock) before returning.
    fn drop(&mut self) {
        self.tx.take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Takes whatever queued up behind `first`, up to [`BATCH_LIMIT`].
fn batch<T>(first: T, rx: &Receiver<T>) -> Vec<T> {
    let mut batch = vec![first];
    while batch.len() < BATCH_LIMIT {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    batch
}

fn resolve(done: Option<oneshot::Sender<Result<(), String>>>, result: &Result<(), String>) {
    if let Some(done) = done {
        let _ = done.send(result.clone());
    }
}

impl State {
    fn live(&self) -> MutexGuard<'_, LiveRuns> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(mut self, rx: Receiver<Job>, sled: Sender<Sled>) {
        let mut synced = std::time::Instant::now();
        while let Ok(first) = rx.recv() {
            // Under load, a batch gathers for a moment: each sync costs the same whatever it
            // holds, and the syncs' own cost would otherwise grow with the load.
            if let Some(wait) = SYNC_PACE.checked_sub(synced.elapsed()) {
                std::thread::sleep(wait);
            }
            let mut jobs = batch(first, &rx);
            let result = self.apply(&mut jobs).map_err(|e| e.to_string());
            synced = std::time::Instant::now();
            for job in jobs {
                // A job with writes for sled is resolved once they are done.
                if result.is_ok() && !job.later.is_empty() {
                    if let Err(mpsc::SendError(Sled::Job(job))) = sled.send(Sled::Job(job)) {
                        resolve(job.done, &Err("the writer has stopped".into()));
                    }
                } else {
                    resolve(job.done, &result);
                }
            }
            if self.log.size() >= self.segment_bytes {
                match self.log.roll() {
                    Ok(closed) => drop(sled.send(Sled::Checkpoint(closed))),
                    Err(e) => tracing::error!("the run store's journal log cannot roll: {e}"),
                }
            }
        }
    }

    /// Makes a batch's log records durable and applies them to the unfinished runs; leaves in
    /// each job what is for sled.
    fn apply(&mut self, jobs: &mut [Job]) -> Result<(), StoreError> {
        let framed = frames(jobs);
        if !framed.is_empty() {
            let (segment, base) = self.log.append(&framed)?;
            for later in jobs.iter_mut().flat_map(|j| &mut j.later) {
                if let Later::Indexed { at, .. } = later {
                    at.segment = segment;
                    at.offset += base;
                }
            }
        }
        let segment = self.log.number();
        let mut live = self.live();
        // Only log records are left in the ops (`frames` moved the rest to `later`).
        for op in jobs.iter_mut().flat_map(|j| j.ops.drain(..)) {
            let Op::Log(record) = op else { continue };
            match record {
                LogRecord::Definition { version, text } => {
                    self.trees.definitions.insert(version, text.into_bytes())?;
                }
                LogRecord::Admitted(header) => live.admit(header, segment),
                LogRecord::Journaled { run, entry } => live.journal(&run, entry, segment),
                LogRecord::Ended(_) | LogRecord::Finished(_) => {}
            }
        }
        Ok(())
    }
}

/// The log frames of a batch: every log record, and a `Finished` record for each run's end
/// (its tree encoded here, off the run's thread). Each end becomes a [`Later::Indexed`] whose
/// location is relative to the batch until the batch is appended; the log records stay in
/// the job's ops for the unfinished runs.
fn frames(jobs: &mut [Job]) -> Vec<u8> {
    let mut framed = Vec::new();
    for job in jobs.iter_mut() {
        let ops = std::mem::take(&mut job.ops);
        for op in ops {
            match op {
                Op::Log(record) => {
                    log::frame_with(&mut framed, |out| record.encode(out));
                    job.ops.push(Op::Log(record));
                }
                Op::Finish(f) => {
                    let mut large = LargeValues {
                        threshold: f.threshold,
                        found: Vec::new(),
                    };
                    let tree = trees::encode_tree(&f.actions, &mut large);
                    let (offset, len) = log::frame_with(&mut framed, |out| {
                        LogRecord::encode_finished(&f.header, &tree, &large.found, out)
                    });
                    let at = Location {
                        segment: 0,
                        offset: offset as u64,
                        len,
                    };
                    job.later.push(Later::Indexed {
                        header: f.header,
                        at,
                        large: large.found,
                    });
                }
                Op::Release(hashes) => job.later.push(Later::Release(hashes)),
            }
        }
    }
    framed
}

/// What the history thread owns.
struct History {
    trees: Trees,
    live: Arc<Mutex<LiveRuns>>,
    /// The newest run id each log segment holds a `Finished` record of, as noted in sled.
    newest: SegmentNewest,
}

impl History {
    fn live(&self) -> MutexGuard<'_, LiveRuns> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(mut self, rx: Receiver<Sled>) {
        while let Ok(first) = rx.recv() {
            let mut jobs = Vec::new();
            for item in batch(first, &rx) {
                match item {
                    Sled::Job(job) => jobs.push(job),
                    Sled::Checkpoint(closed) => {
                        self.finish_jobs(std::mem::take(&mut jobs));
                        if let Err(e) = self.checkpoint(closed) {
                            tracing::error!("the run store cannot checkpoint its journal log: {e}");
                        }
                    }
                }
            }
            self.finish_jobs(jobs);
        }
        if let Err(e) = self.trees.db.flush() {
            tracing::error!("the run store could not flush at close: {e}");
        }
    }

    fn finish_jobs(&mut self, mut jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let result = self.apply(&mut jobs).map_err(|e| e.to_string());
        for job in jobs {
            resolve(job.done, &result);
        }
    }

    fn apply(&mut self, jobs: &mut [Job]) -> Result<(), StoreError> {
        let mut batches = Batches::default();
        let mut ended = Vec::new();
        let mut raised = Vec::new();
        for later in jobs.iter_mut().flat_map(|j| j.later.drain(..)) {
            match later {
                Later::Indexed { header, at, large } => {
                    let spilled = self.live().get(&header.id).is_some_and(|r| r.spilled);
                    self.trees
                        .index_finished(&mut batches, &header, at, large, spilled)?;
                    if self.newest.raise(at.segment, &header.id) && !raised.contains(&at.segment) {
                        raised.push(at.segment);
                    }
                    ended.push(header.id);
                }
                Later::Release(hashes) => self.trees.release(&hashes)?,
            }
        }
        for segment in raised {
            self.trees
                .note_segment_newest(&mut batches, &self.newest, segment);
        }
        batches.apply()?;
        let mut live = self.live();
        for id in ended {
            live.end(&id);
        }
        Ok(())
    }

    /// Moves the unfinished runs with frames in the log segments before `closed` into sled,
    /// and flushes sled, so that recovery need not read those segments again. They stay on
    /// disk while history reads finished runs from them, until a purge deletes them.
    fn checkpoint(&mut self, closed: u64) -> Result<(), StoreError> {
        let mut batches = Batches::default();
        for run in self.live().values_mut() {
            if run.log_from.is_some_and(|s| s < closed) {
                let journal = run.journal.iter().map(|(p, r)| (p.as_str(), r));
                self.trees.spill(&mut batches, &run.header, journal);
                run.log_from = None;
                run.spilled = true;
            }
        }
        batches.apply()?;
        self.trees.set_log_read_from(closed)?;
        self.trees.db.flush()?;
        self.newest.forget_before(closed);
        Ok(())
    }
}
