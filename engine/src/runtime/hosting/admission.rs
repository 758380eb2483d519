//! Admission control at the trigger: at most `runs` runs of a workflow execute at once, at
//! most `maximumWaitingRuns` wait for a slot, and an engine-wide cap bounds all runs. When the
//! waiting queue is full, admission says so at once, so a trigger can push back (pause Kafka
//! partitions, stop acking AMQP, answer 429) instead of buffering without bound.
//!
//! A nested run (a child called by a Workflow action) is not counted against the engine-wide
//! cap: its parent already holds a slot and waits for it, so parents filling the cap would
//! otherwise wait forever for children that cannot start. The child's own trigger limits
//! still apply, and parents bound how many children there are.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The concurrency limits of one workflow's trigger, changeable at run time.
#[derive(Debug)]
pub struct Admission {
    runs: Arc<Semaphore>,
    run_limit: AtomicUsize,
    waiting: AtomicUsize,
    max_waiting: AtomicUsize,
    engine: Arc<Semaphore>,
}

/// The queue is full: the caller should apply backpressure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// A run's place: while held, the run counts against both limits.
#[derive(Debug)]
pub struct Slot {
    _run: OwnedSemaphorePermit,
    _engine: Option<OwnedSemaphorePermit>,
}

/// A place in the waiting queue, turned into a [`Slot`] by [`Ticket::start`].
pub struct Ticket {
    admission: Arc<Admission>,
    /// Still counted as waiting (until it starts, or is dropped).
    waiting: bool,
    /// A child run: no engine slot (see the module's doc).
    nested: bool,
}

impl Admission {
    /// `runs` concurrent runs, `max_waiting` waiting runs (0 allowed), sharing `engine`.
    pub fn new(runs: usize, max_waiting: usize, engine: Arc<Semaphore>) -> Admission {
        Admission {
            runs: Arc::new(Semaphore::new(runs)),
            run_limit: AtomicUsize::new(runs),
            waiting: AtomicUsize::new(0),
            max_waiting: AtomicUsize::new(max_waiting),
            engine,
        }
    }

    /// Takes a place in line, or says the line is full. A run that can start at once does not
    /// count as waiting.
    pub fn enter(self: &Arc<Self>) -> Result<Ticket, QueueFull> {
        self.enter_as(false)
    }

    /// [`Admission::enter`] for a child run of a Workflow action, which takes no engine slot.
    pub fn enter_nested(self: &Arc<Self>) -> Result<Ticket, QueueFull> {
        self.enter_as(true)
    }

    fn enter_as(self: &Arc<Self>, nested: bool) -> Result<Ticket, QueueFull> {
        // Tickets ahead of this one take the free slots first, even before they have started.
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut free = self.runs.available_permits();
        if !nested {
            free = free.min(self.engine.available_permits());
        }
        if ahead >= free && ahead - free >= self.max_waiting.load(Ordering::SeqCst) {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(QueueFull);
        }
        Ok(Ticket {
            admission: self.clone(),
            waiting: true,
            nested,
        })
    }

    /// A place for a run recovered after a restart: never refused (the run was accepted
    /// before the crash), but counted as waiting, so new events meet a full queue and their
    /// triggers push back while the backlog drains.
    pub fn enter_recovered(self: &Arc<Self>) -> Ticket {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Ticket {
            admission: self.clone(),
            waiting: true,
            nested: false,
        }
    }

    /// Runs waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Whether new work would be refused now: the signal triggers watch for backpressure.
    pub fn is_saturated(&self) -> bool {
        self.runs.available_permits() == 0
            && self.waiting() >= self.max_waiting.load(Ordering::SeqCst)
    }

    /// Changes the concurrent-runs limit; running runs are not interrupted.
    pub fn set_runs(&self, runs: usize) {
        let old = self.run_limit.swap(runs, Ordering::SeqCst);
        if runs > old {
            self.runs.add_permits(runs - old);
        } else {
            self.runs.forget_permits(old - runs);
        }
    }

    /// Changes the waiting-runs limit.
    pub fn set_max_waiting(&self, max_waiting: usize) {
        self.max_waiting.store(max_waiting, Ordering::SeqCst);
    }
}

impl Ticket {
    /// Waits for a run slot and an engine slot.
    pub async fn start(mut self) -> Slot {
        let a = self.admission.clone();
        let run = a
            .runs
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        let engine = match self.nested {
            true => None,
            false => Some(
                a.engine
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore never closed"),
            ),
        };
        a.waiting.fetch_sub(1, Ordering::SeqCst);
        self.waiting = false;
        Slot {
            _run: run,
            _engine: engine,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.waiting {
            self.admission.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_running_and_waiting_runs() {
        let engine = Arc::new(Semaphore::new(100));
        let a = Arc::new(Admission::new(1, 1, engine));
        let first = a.enter().unwrap().start().await;
        let second = a.enter().unwrap();
        assert_eq!(a.waiting(), 1);
        assert!(a.is_saturated());
        assert_eq!(a.enter().err(), Some(QueueFull));
        drop(first);
        let _running = second.start().await;
        assert_eq!(a.waiting(), 0);
        a.set_max_waiting(0);
        assert_eq!(a.enter().err(), Some(QueueFull));
        a.set_runs(2);
        assert!(a.enter().is_ok());
    }

    #[tokio::test]
    async fn a_child_run_starts_when_parents_fill_the_engine() {
        let engine = Arc::new(Semaphore::new(1));
        let parents = Arc::new(Admission::new(10, 0, engine.clone()));
        let children = Arc::new(Admission::new(10, 0, engine));
        let _parent = parents.enter().unwrap().start().await;
        assert_eq!(
            children.enter().err(),
            Some(QueueFull),
            "a top-level run waits for the engine"
        );
        let child = children.enter_nested().unwrap();
        let started = tokio::time::timeout(std::time::Duration::from_secs(1), child.start()).await;
        assert!(
            started.is_ok(),
            "the child did not wait for the engine slot its parent holds"
        );
    }

    #[test]
    fn tickets_not_yet_started_count_against_the_free_slots() {
        let a = Arc::new(Admission::new(1, 1, Arc::new(Semaphore::new(100))));
        let _first = a.enter().unwrap();
        let _second = a.enter().unwrap();
        assert_eq!(
            a.enter().err(),
            Some(QueueFull),
            "one slot and one waiting place are taken"
        );
    }

    #[tokio::test]
    async fn the_engine_cap_applies_across_workflows() {
        let engine = Arc::new(Semaphore::new(1));
        let a = Arc::new(Admission::new(10, 0, engine.clone()));
        let b = Arc::new(Admission::new(10, 0, engine));
        let _slot = a.enter().unwrap().start().await;
        assert_eq!(b.enter().err(), Some(QueueFull));
    }
}
