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

/// Registers the descriptions with the installed recorder.
pub fn describe() {
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
