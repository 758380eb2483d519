//! The connectors' metric names and descriptions, in one place.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

pub const KAFKA_CONSUMED: &str = "sluice_kafka_events_consumed_total";
pub const KAFKA_LAG: &str = "sluice_kafka_consumer_lag";
pub const KAFKA_BATCH_SIZE: &str = "sluice_kafka_batch_size";
pub const KAFKA_PAUSES: &str = "sluice_kafka_pauses_total";
pub const KAFKA_DEAD_LETTERED: &str = "sluice_kafka_dead_lettered_total";
pub const KAFKA_SEND: &str = "sluice_kafka_send_seconds";

pub const AMQP_CONSUMED: &str = "sluice_amqp_messages_consumed_total";
pub const AMQP_ACKED: &str = "sluice_amqp_messages_acked_total";
pub const AMQP_NACKED: &str = "sluice_amqp_messages_nacked_total";
pub const AMQP_DEAD_LETTERED: &str = "sluice_amqp_messages_dead_lettered_total";
pub const AMQP_REDELIVERED: &str = "sluice_amqp_messages_redelivered_total";
pub const AMQP_RECONNECTS: &str = "sluice_amqp_reconnects_total";
pub const AMQP_RETURNED: &str = "sluice_amqp_messages_returned_total";

/// Registers the description of every metric Sluice reports, the engine's and the
/// connectors', with the installed recorder: every command that serves `/metrics` calls it
/// once the recorder is installed, so each metric has its HELP line.
pub fn describe() {
    sluice_engine::runtime::metrics::describe();
    sluice_http::metric_definitions::describe();
    sluice_gateway::metric_definitions::describe();
    describe_counter!(
        AMQP_CONSUMED,
        "Service Bus messages consumed from RabbitMQ, by queue."
    );
    describe_counter!(
        AMQP_ACKED,
        "Messages completed (acknowledged) after their run, by queue."
    );
    describe_counter!(
        AMQP_NACKED,
        "Messages abandoned back to their queue (nacked with requeue), by queue."
    );
    describe_counter!(
        AMQP_DEAD_LETTERED,
        "Messages dead-lettered (poison, or past maxDeliveryCount), by queue."
    );
    describe_counter!(
        AMQP_REDELIVERED,
        "Messages the broker delivered again (after an abandon, a lock expiry or a reconnect), by queue."
    );
    describe_counter!(
        AMQP_RECONNECTS,
        "Times a Service Bus trigger reconnected to RabbitMQ, by queue."
    );
    describe_counter!(
        AMQP_RETURNED,
        "Messages a send action published that the broker could not route (no such queue): the action failed."
    );
    describe_counter!(
        KAFKA_CONSUMED,
        "Kafka / Event Hubs events consumed, by topic and partition."
    );
    describe_gauge!(
        KAFKA_LAG,
        "Consumer lag (messages behind the end) by topic and partition."
    );
    describe_histogram!(
        KAFKA_BATCH_SIZE,
        "Events per batch handed to a Kafka trigger's workflow."
    );
    describe_counter!(
        KAFKA_PAUSES,
        "Times a Kafka trigger paused its partitions for backpressure."
    );
    describe_counter!(
        KAFKA_DEAD_LETTERED,
        "Poison events sent to the dead-letter topic, by source topic."
    );
    describe_histogram!(
        KAFKA_SEND,
        Unit::Seconds,
        "Time from sending an event to its delivery report."
    );
}

#[cfg(test)]
mod tests {
    use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString};
    use std::sync::Mutex;

    /// Remembers which metrics were described.
    #[derive(Default)]
    struct Described(Mutex<Vec<String>>);

    impl Described {
        fn add(&self, key: KeyName) {
            self.0.lock().unwrap().push(key.as_str().to_string());
        }
    }

    impl Recorder for Described {
        fn describe_counter(&self, key: KeyName, _: Option<metrics::Unit>, _: SharedString) {
            self.add(key)
        }
        fn describe_gauge(&self, key: KeyName, _: Option<metrics::Unit>, _: SharedString) {
            self.add(key)
        }
        fn describe_histogram(&self, key: KeyName, _: Option<metrics::Unit>, _: SharedString) {
            self.add(key)
        }
        fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
            Counter::noop()
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    /// The metric names a source file declares as `pub const NAME: &str = "sluice_…";`.
    fn declared(source: &str) -> Vec<&str> {
        source
            .lines()
            .filter(|l| l.starts_with("pub const ") && l.contains(": &str = \"sluice_"))
            .filter_map(|l| l.split('"').nth(1))
            .collect()
    }

    #[test]
    fn every_metric_has_a_description() {
        let recorder = Described::default();
        metrics::with_local_recorder(&recorder, super::describe);
        let described = recorder.0.into_inner().unwrap();
        let names: Vec<&str> = [
            include_str!("metric_definitions.rs"),
            include_str!("../../engine/src/runtime/observation/metrics.rs"),
            include_str!("../../http/src/metric_definitions.rs"),
            include_str!("../../gateway/src/metric_definitions.rs"),
        ]
        .into_iter()
        .flat_map(declared)
        .collect();
        assert!(names.len() > 30, "{names:?}");
        for name in names {
            assert!(
                described.iter().any(|d| d == name),
                "{name} has no description"
            );
        }
    }
}
