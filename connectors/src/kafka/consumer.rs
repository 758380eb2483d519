//! The consume loop of one Kafka trigger.
//!
//! - Offsets: `enable.auto.offset.store=false`; an event's offset is stored when its run has
//!   finished (a stateful run is durable by then), in order per partition
//!   ([`OffsetTracker`]); stored offsets are auto-committed every second and committed at
//!   once on revocation and shutdown. A crash or rebalance therefore redelivers from the first
//!   unfinished event; redelivered events are deduplicated through the run store by their id
//!   `topic/partition/offset` (stateful workflows).
//! - Rebalance: cooperative-sticky; on revocation the loop waits (at most
//!   [`DRAIN_BOUND`], below the session timeout) for the revoked partitions' runs, then
//!   commits.
//! - Backpressure: at most `capacity` events in flight; when no room frees within
//!   [`PAUSE_AFTER`], the assigned partitions are paused, and resumed below half; the loop
//!   keeps polling meanwhile, so it never stalls past `max.poll.interval.ms`. Brief
//!   saturation (the normal state at full throughput) does not pause: a pause drops what
//!   librdkafka has prefetched, and refetching it after every resume cost the sustained
//!   benchmark 40% of its throughput. librdkafka's own prefetch limit
//!   (`queued.max.messages.kbytes`) bounds memory meanwhile.
//! - Poison events (undecodable, or refused by `splitOn`) go to the dead-letter topic and
//!   their offset moves on (see [`super::dead_letter`]).
//! - Loss is never silent: the loop knows the next offset it expects of each partition (the
//!   committed one on assignment, then the one after each event). When a partition jumps
//!   ahead, it asks the broker for the partition's first offset; if the events in between are
//!   gone (retention, truncation: the embedded cluster keeps a few MiB per partition), the
//!   skipped range is counted in `sluice_trigger_events_lost_total`, logged, and shown on the
//!   status line. A jump over offsets the broker still has (transaction markers, compaction)
//!   is not a loss.

use super::offsets::OffsetTracker;
use super::trigger::KafkaTrigger;
use crate::connector::ConnectorError;
use crate::metric_definitions as metric;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use rdkafka::{ClientContext, Statistics};
use sluice_engine::expr::value::Map;
use sluice_engine::expr::Value;
use sluice_engine::runtime::hosting::host::{Host, Rejected};
use sluice_engine::runtime::BoxFuture;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How long a revocation waits for the revoked partitions' runs before committing anyway.
pub const DRAIN_BOUND: Duration = Duration::from_secs(10);
/// How long the loop waits for room before pausing the partitions.
pub const PAUSE_AFTER: Duration = Duration::from_millis(500);

/// What the loop and the rebalance callbacks share.
struct Shared {
    topic: String,
    tracker: Mutex<OffsetTracker>,
    finished: Condvar,
    /// Whether the assigned partitions are paused for backpressure. A lock, not a flag: the
    /// loop pauses and run completions resume, and a flag set before the call could let a
    /// resume slip in between and the pause land after it, with nobody left to resume.
    paused: Mutex<bool>,
    /// Events in flight at most, and the permits for them.
    capacity: usize,
    permits: Arc<Semaphore>,
    /// The next offset expected of each assigned partition (see the module's doc).
    expected: Mutex<std::collections::HashMap<i32, i64>>,
}

impl Shared {
    fn tracker(&self) -> std::sync::MutexGuard<'_, OffsetTracker> {
        self.tracker.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expected(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i32, i64>> {
        self.expected.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes that `offset` of `partition` arrived; the offset expected instead when it jumped
    /// ahead of it.
    fn arrived(&self, partition: i32, offset: i64) -> Option<i64> {
        let mut expected = self.expected();
        let before = expected.insert(partition, offset + 1);
        before.filter(|&e| offset > e)
    }
}

/// The consumer's context: rebalance draining and statistics (consumer lag).
pub struct TriggerContext {
    shared: Arc<Shared>,
}

impl ClientContext for TriggerContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    metrics::gauge!(metric::KAFKA_LAG, "topic" => topic.clone(), "partition" => partition.to_string())
                        .set(p.consumer_lag as f64);
                }
            }
        }
    }
}

impl ConsumerContext for TriggerContext {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(assigned) = rebalance else {
            return;
        };
        // Where the group left off: the first event of each partition should be there.
        let Ok(committed) = consumer.committed_offsets((*assigned).clone(), Duration::from_secs(5))
        else {
            return;
        };
        let mut expected = self.shared.expected();
        for e in committed.elements() {
            if let rdkafka::Offset::Offset(o) = e.offset() {
                expected.insert(e.partition(), o);
            }
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(revoked) = rebalance else {
            return;
        };
        let partitions: Vec<i32> = revoked.elements().iter().map(|e| e.partition()).collect();
        {
            let mut expected = self.shared.expected();
            partitions.iter().for_each(|p| {
                expected.remove(p);
            });
        }
        let deadline = Instant::now() + DRAIN_BOUND;
        let mut tracker = self.shared.tracker();
        while partitions.iter().any(|p| tracker.in_flight(*p) > 0) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(
                    "revoking partitions of {} with runs still in flight",
                    self.shared.topic
                );
                break;
            }
            tracker = self
                .shared
                .finished
                .wait_timeout(tracker, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        partitions.iter().for_each(|p| tracker.forget(*p));
        drop(tracker);
        match consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing stored since the last commit: nothing to do.
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => tracing::warn!("commit on revocation of {}: {e}", self.shared.topic),
        }
    }
}

/// A started trigger: the loop's task and the consumer, for a graceful close.
pub struct Running {
    task: tokio::task::JoinHandle<()>,
    consumer: Arc<StreamConsumer<TriggerContext>>,
    shared: Arc<Shared>,
}

impl Running {
    /// Drains, then closes: what [`crate::connector::Trigger`] does on the way out.
    pub async fn close(mut self) {
        use crate::connector::Running as _;
        let _ = self.drain().await;
        let _ = Box::new(self).close().await;
    }
}

impl crate::connector::Running for Running {
    /// Stops taking events and lets the runs in flight finish (at most [`DRAIN_BOUND`]).
    fn drain(&mut self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            self.task.abort();
            let _ = (&mut self.task).await;
            let all = u32::try_from(self.shared.capacity).unwrap_or(u32::MAX);
            let drained =
                tokio::time::timeout(DRAIN_BOUND, self.shared.permits.acquire_many(all)).await;
            if drained.is_err() {
                tracing::warn!(
                    topic = %self.shared.topic,
                    "closing the consumer with runs still in flight"
                );
            }
            // Events taken but never started (the loop stopped between taking and admitting
            // them) would hold the revocation for its whole bound: their offsets were not
            // stored, so they are redelivered; nothing is left to wait for.
            self.shared.tracker().clear();
            Ok(())
        })
    }

    /// Commits and closes the consumer so it leaves its group at once: the partitions move
    /// to the other members now rather than after the session timeout.
    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let consumer = self.consumer;
        Box::pin(async move {
            // Closing polls the consumer until the group is left: blocking work.
            tokio::task::spawn_blocking(move || {
                let committed = consumer.commit_consumer_state(CommitMode::Sync);
                drop(consumer);
                match committed {
                    Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
                    Err(e) => Err(ConnectorError::new("kafka", e)),
                }
            })
            .await
            .map_err(|e| ConnectorError::new("kafka", e))?
        })
    }
}

pub fn start(
    trigger: KafkaTrigger,
    host: Arc<Host>,
    embedded: Option<&str>,
) -> Result<Running, super::Error> {
    let mut config = trigger.connection.client_config(embedded)?;
    config
        .set("group.id", &trigger.group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("statistics.interval.ms", "5000");
    let named = |key: &str| trigger.connection.properties.iter().any(|(k, _)| k == key);
    if trigger.connection.bootstrap.is_none() && !named("session.timeout.ms") {
        // The embedded (mock) cluster completes a rebalance only when a member's session
        // expires, so a short session lets partitions move in seconds rather than 45.
        config
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500");
    }
    if trigger.connection.bootstrap.is_none() && !named("fetch.wait.max.ms") {
        // The mock broker holds an empty fetch for the whole wait even when events arrive
        // meanwhile (a real broker answers at once), which added ~250 ms to every event.
        config.set("fetch.wait.max.ms", "10");
    }
    let shared = Arc::new(Shared {
        topic: trigger.topic.clone(),
        tracker: Mutex::default(),
        finished: Condvar::new(),
        paused: Default::default(),
        capacity: trigger.capacity,
        permits: Arc::new(Semaphore::new(trigger.capacity)),
        expected: Mutex::default(),
    });
    let context = TriggerContext {
        shared: shared.clone(),
    };
    let consumer: StreamConsumer<TriggerContext> =
        config
            .create_with_context(context)
            .map_err(super::Error::client(format!(
                "Kafka consumer for '{}'",
                trigger.workflow
            )))?;
    consumer
        .subscribe(&[&trigger.topic])
        .map_err(super::Error::client(format!(
            "subscribing to '{}'",
            trigger.topic
        )))?;
    let producer: FutureProducer = trigger
        .connection
        .client_config(embedded)?
        .create()
        .map_err(super::Error::client("dead-letter producer"))?;
    let consumer = Arc::new(consumer);
    let task = tokio::spawn(consume(
        trigger,
        host,
        consumer.clone(),
        producer,
        shared.clone(),
    ));
    Ok(Running {
        task,
        consumer,
        shared,
    })
}

/// One event taken from a partition.
struct Taken {
    partition: i32,
    offset: i64,
    event: Value,
}

async fn consume(
    trigger: KafkaTrigger,
    host: Arc<Host>,
    consumer: Arc<StreamConsumer<TriggerContext>>,
    producer: FutureProducer,
    shared: Arc<Shared>,
) {
    loop {
        let batch = next_batch(&trigger, &consumer, &producer, &shared).await;
        if batch.is_empty() {
            continue;
        }
        metrics::histogram!(metric::KAFKA_BATCH_SIZE).record(batch.len() as f64);
        let groups: Vec<Vec<Taken>> = if trigger.split {
            batch.into_iter().map(|t| vec![t]).collect()
        } else {
            vec![batch]
        };
        for group in groups {
            let permit = room(&consumer, &shared).await;
            // Runs may all have ended between the pause and now: nobody else would resume.
            maybe_resume(&consumer, &shared);
            submit(
                &trigger, &host, &consumer, &producer, &shared, group, permit,
            )
            .await;
        }
    }
}

/// A permit for one more group; pauses the partitions when none frees within [`PAUSE_AFTER`].
async fn room(
    consumer: &StreamConsumer<TriggerContext>,
    shared: &Shared,
) -> tokio::sync::OwnedSemaphorePermit {
    let permits = shared.permits.clone();
    if let Ok(permit) = permits.clone().try_acquire_owned() {
        return permit;
    }
    if let Ok(permit) = tokio::time::timeout(PAUSE_AFTER, permits.clone().acquire_owned()).await {
        return permit.expect("never closed");
    }
    {
        let mut paused = shared.paused.lock().unwrap_or_else(|p| p.into_inner());
        if !*paused {
            pause(consumer);
            *paused = true;
        }
    }
    permits.acquire_owned().await.expect("never closed")
}

/// Resumes the paused partitions once half the capacity is free again (after a run ends).
fn maybe_resume(consumer: &StreamConsumer<TriggerContext>, shared: &Shared) {
    if shared.permits.available_permits() < shared.capacity.div_ceil(2) {
        return;
    }
    let mut paused = shared.paused.lock().unwrap_or_else(|p| p.into_inner());
    if *paused {
        resume(consumer);
        *paused = false;
    }
}

/// Stops fetching from every assigned partition (backpressure).
fn pause(consumer: &StreamConsumer<TriggerContext>) {
    if let Ok(assignment) = consumer.assignment() {
        metrics::counter!(metric::KAFKA_PAUSES).increment(1);
        let _ = consumer.pause(&assignment);
    }
}

/// Fetches again from every assigned partition.
fn resume(consumer: &StreamConsumer<TriggerContext>) {
    if let Ok(assignment) = consumer.assignment() {
        let _ = consumer.resume(&assignment);
    }
}

/// Up to `batch_size` decodable events: the first awaited, then whatever is ready at once,
/// waiting (at most `max_wait` after the first) only while fewer than `min_batch_size`;
/// poison events met on the way are dead-lettered and their offsets move on.
async fn next_batch(
    trigger: &KafkaTrigger,
    consumer: &Arc<StreamConsumer<TriggerContext>>,
    producer: &FutureProducer,
    shared: &Shared,
) -> Vec<Taken> {
    use futures_util::FutureExt;
    let mut batch = Vec::new();
    let deadline = tokio::time::Instant::now() + trigger.max_wait;
    while batch.len() < trigger.batch_size {
        let message = if batch.is_empty() {
            consumer.recv().await
        } else if batch.len() >= trigger.min_batch_size {
            match consumer.recv().now_or_never() {
                Some(m) => m,
                None => break,
            }
        } else {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(m) => m,
                Err(_) => break,
            }
        };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("Kafka consumer of '{}': {e}", trigger.topic);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        metrics::counter!(metric::KAFKA_CONSUMED, "topic" => trigger.topic.clone(), "partition" => message.partition().to_string())
            .increment(1);
        let (partition, offset) = (message.partition(), message.offset());
        if let Some(from) = shared.arrived(partition, offset) {
            count_loss(trigger, consumer.clone(), partition, from, offset);
        }
        shared.tracker().begin(partition, offset);
        match super::event::decode(&message, trigger.json_only) {
            Ok(event) => batch.push(Taken {
                partition,
                offset,
                event,
            }),
            Err(poison) => {
                super::dead_letter::send(producer, &trigger.dead_letter_topic, &message, &poison.0)
                    .await;
                finish(consumer, shared, &trigger.topic, partition, offset);
            }
        }
    }
    batch
}

/// Checks whether the offsets `from..to` of `partition` that the consumer jumped over are
/// gone from the broker; counts and reports those that are (see the module's doc).
fn count_loss(
    trigger: &KafkaTrigger,
    consumer: Arc<StreamConsumer<TriggerContext>>,
    partition: i32,
    from: i64,
    to: i64,
) {
    let (topic, workflow) = (trigger.topic.clone(), trigger.workflow.clone());
    tokio::task::spawn_blocking(move || {
        let low = match consumer.fetch_watermarks(&topic, partition, Duration::from_secs(10)) {
            Ok((low, _)) => low,
            Err(e) => {
                tracing::error!(
                    "{workflow}: Kafka topic {topic} partition {partition} skipped offsets {from}..{to} and its first offset could not be read ({e}); counting them as lost"
                );
                to
            }
        };
        let gone = low.min(to) - from;
        if gone <= 0 {
            return;
        }
        metrics::counter!(
            sluice_engine::runtime::metrics::TRIGGER_EVENTS_LOST,
            "workflow" => workflow.clone(),
            "source" => format!("{topic}/{partition}")
        )
        .increment(gone as u64);
        tracing::error!(
            "{workflow}: LOST {gone} events of Kafka topic {topic} partition {partition} (offsets {from}..{}): the broker deleted them before they were consumed (retention or truncation); they did not run",
            from + gone
        );
    });
}

fn finish(
    consumer: &StreamConsumer<TriggerContext>,
    shared: &Shared,
    topic: &str,
    partition: i32,
    offset: i64,
) {
    let next = shared.tracker().finish(partition, offset);
    if let Some(next) = next {
        if let Err(e) = consumer.store_offset(topic, partition, next - 1) {
            // The partition may have been revoked meanwhile; its new owner redelivers.
            let _ = e;
        }
    }
    shared.finished.notify_all();
}

/// Hands a group of events (one event with splitOn, else a batch) to the workflow; its
/// offsets finish when the runs end.
async fn submit(
    trigger: &KafkaTrigger,
    host: &Arc<Host>,
    consumer: &Arc<StreamConsumer<TriggerContext>>,
    producer: &FutureProducer,
    shared: &Arc<Shared>,
    group: Vec<Taken>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let first = &group[0];
    let event_id = format!("{}/{}/{}", trigger.topic, first.partition, first.offset);
    let event_id = if group.len() == 1 {
        event_id
    } else {
        format!("{event_id}+{}", group.len())
    };
    let body = Value::array(group.iter().map(|t| t.event.clone()).collect());
    let mut outputs = Map::default();
    outputs.insert("headers".into(), Value::object(Map::default()));
    outputs.insert("body".into(), body);
    let outputs = Value::object(outputs);
    let offsets: Vec<(i32, i64)> = group.iter().map(|t| (t.partition, t.offset)).collect();
    loop {
        match host.accept(&trigger.workflow, outputs.clone(), Some(&event_id)) {
            Ok(accepted) => {
                let (consumer, shared, topic) =
                    (consumer.clone(), shared.clone(), trigger.topic.clone());
                tokio::spawn(async move {
                    let _ = accepted.done.await;
                    for (partition, offset) in offsets {
                        finish(&consumer, &shared, &topic, partition, offset);
                    }
                    // After the offsets: a closing consumer waits for every permit.
                    drop(permit);
                    maybe_resume(&consumer, &shared);
                });
                return;
            }
            Err(Rejected::QueueFull) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(rejected) => {
                let reason = match rejected {
                    Rejected::SplitOn(m) => format!("splitOn failed: {m}"),
                    _ => format!("no workflow '{}'", trigger.workflow),
                };
                tracing::warn!("{event_id}: {reason}; dead-lettering");
                dead_letter_group(trigger, producer, &group, &reason).await;
                for (partition, offset) in offsets {
                    finish(consumer, shared, &trigger.topic, partition, offset);
                }
                drop(permit);
                maybe_resume(consumer, shared);
                return;
            }
        }
    }
}

/// Dead-letters events already decoded (refused at admission): each event's body as JSON,
/// through the one retrying dead-letter path.
async fn dead_letter_group(
    trigger: &KafkaTrigger,
    producer: &FutureProducer,
    group: &[Taken],
    reason: &str,
) {
    for taken in group {
        let payload = taken
            .event
            .get("contentData")
            .map(Value::to_json_string)
            .unwrap_or_default();
        let source = super::dead_letter::Source {
            topic: &trigger.topic,
            partition: taken.partition,
            offset: taken.offset,
        };
        super::dead_letter::send_event(
            producer,
            &trigger.dead_letter_topic,
            payload.as_bytes(),
            reason,
            &source,
        )
        .await;
    }
}
