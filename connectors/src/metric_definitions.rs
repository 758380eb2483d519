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
pub const GATEWAY_PROMPT_TOKENS: &str = "sluice_gateway_prompt_tokens_total";
pub const GATEWAY_COMPLETION_TOKENS: &str = "sluice_gateway_completion_tokens_total";
pub const GATEWAY_TOTAL_TOKENS: &str = "sluice_gateway_total_tokens_total";
pub const GATEWAY_CACHED_TOKENS: &str = "sluice_gateway_cached_tokens_total";
pub const GATEWAY_REQUESTS: &str = "sluice_gateway_backend_requests_total";
pub const GATEWAY_BACKEND_DURATION: &str = "sluice_gateway_backend_duration_seconds";
pub const GATEWAY_LIMITED: &str = "sluice_gateway_limited_total";
pub const GATEWAY_CACHE: &str = "sluice_gateway_cache_lookups_total";
pub const GATEWAY_BREAKER_TRANSITIONS: &str = "sluice_gateway_breaker_transitions_total";
pub const HTTP_ACCEPT_ERRORS: &str = "sluice_http_accept_errors_total";
pub const AMQP_RETURNED: &str = "sluice_amqp_messages_returned_total";

/// Registers the description of every metric Sluice reports, the engine's and the
/// connectors', with the installed recorder: every command that serves `/metrics` calls it
/// once the recorder is installed, so each metric has its HELP line.
pub fn describe() {
    sluice_engine::runtime::metrics::describe();
    describe_counter!(
        HTTP_ACCEPT_ERRORS,
        "Connections the HTTP server failed to accept (for example, out of file descriptors)."
    );
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
    describe_counter!(
        GATEWAY_PROMPT_TOKENS,
        "Prompt tokens through the AI gateway (from usage; when a response reports none, the token limit's estimate), by the API's token-metric dimensions."
    );
    describe_counter!(
        GATEWAY_COMPLETION_TOKENS,
        "Completion tokens through the AI gateway, by the API's token-metric dimensions."
    );
    describe_counter!(
        GATEWAY_TOTAL_TOKENS,
        "Total tokens through the AI gateway, by the API's token-metric dimensions."
    );
    describe_counter!(
        GATEWAY_CACHED_TOKENS,
        "Cached prompt tokens backends reported, by the API's token-metric dimensions."
    );
    describe_counter!(
        GATEWAY_REQUESTS,
        "Requests the gateway sent to backends, by API, backend and status (error: no answer)."
    );
    describe_histogram!(
        GATEWAY_BACKEND_DURATION,
        Unit::Seconds,
        "Time to a backend's response headers, by backend."
    );
    describe_counter!(
        GATEWAY_LIMITED,
        "Requests refused by a token limit: 429 over the rate, 403 over the quota."
    );
    describe_counter!(
        GATEWAY_CACHE,
        "Semantic cache lookups by API and result (hit, miss)."
    );
    describe_counter!(
        GATEWAY_BREAKER_TRANSITIONS,
        "Circuit breaker state changes by backend and new state (open, closed)."
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
        let engine = include_str!("../../engine/src/runtime/observation/metrics.rs");
        let names: Vec<&str> = declared(include_str!("metric_definitions.rs"))
            .into_iter()
            .chain(declared(engine))
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
