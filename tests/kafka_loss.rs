//! A burst larger than the embedded (mock) cluster keeps: the broker drops the oldest events
//! before the workflow reaches them. That loss is never silent — every event either runs or
//! is counted in `sluice_trigger_events_lost_total` and reported on the log and status line.

mod support;

use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use serde_json::json;
use std::time::Duration;
use support::{app, settings, wait_for};

/// Events of 64 KiB: 400 of them are ~25 MiB, far past the ~5 MiB a mock partition keeps.
const EVENTS: u64 = 400;
const PAD: usize = 64 * 1024;

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[test]
fn a_burst_past_the_brokers_retention_is_counted_as_lost_never_dropped_silently() {
    let cluster: MockCluster<'static, DefaultProducerContext> = MockCluster::new(1).unwrap();
    cluster.create_topic("in", 1, 1).unwrap();
    cluster.create_topic("in-deadletter", 1, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let workflow = json!({"kind": "Stateless", "definition": {
        "triggers": {"events": {"type": "ServiceProvider", "splitOn": "@triggerOutputs()?['body']",
            "runtimeConfiguration": {"concurrency": {"runs": 20, "maximumWaitingRuns": 20}},
            "inputs": {"parameters": {"eventHubName": "in", "consumerGroup": "slow", "maxEventBatchSize": 10},
                "serviceProviderConfiguration": {"connectionName": "hub", "operationId": "receiveEvents",
                    "serviceProviderId": "/serviceProviders/eventHub"}}}},
        "actions": {"Slowly": {"type": "Wait", "runAfter": {}, "inputs": {"interval": {"count": 1, "unit": "Second"}}}}
    }});
    let dir = app("kafka_loss", &[("slow", workflow)]);
    let connections = json!({"serviceProviderConnections": {"hub": {
        "parameterValues": {"bootstrapServers": "@appsetting('KafkaBootstrap')"},
        "serviceProvider": {"id": "/serviceProviders/eventHub"}, "displayName": "hub"}}});
    std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
    settings(&dir, &[("KafkaBootstrap", &bootstrap)]);

    let producer: ThreadedProducer<_> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "20")
        .create()
        .unwrap();
    let send = |i: u64| {
        let payload = json!({"id": i, "pad": "x".repeat(PAD)}).to_string();
        loop {
            match producer.send(BaseRecord::<(), _>::to("in").payload(&payload)) {
                Ok(()) => break,
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    };
    // The first event, so the consumer knows where the partition starts.
    send(0);
    producer.flush(Duration::from_secs(10)).unwrap();
    let sluice = support::start(&dir);
    let runs_done = |text: &str| metric(text, "sluice_runs_completed_total");
    wait_for(Duration::from_secs(60), "the first event to run", || {
        let (_, _, text) = support::request(&sluice.base, "GET", "/metrics", None);
        (runs_done(&text) >= 1).then_some(())
    });
    for i in 1..EVENTS {
        send(i);
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let (lost, ran) = wait_for(
        Duration::from_secs(240),
        "every event to run or be counted lost",
        || {
            let (_, _, text) = support::request(&sluice.base, "GET", "/metrics", None);
            let lost = metric(&text, "sluice_trigger_events_lost_total");
            let ran = runs_done(&text);
            (lost + ran >= EVENTS && lost > 0).then_some((lost, ran))
        },
    );
    assert_eq!(lost + ran, EVENTS, "lost {lost} + ran {ran}");
    assert!(
        lost > EVENTS / 2,
        "most of the burst is past what the mock keeps: lost {lost}"
    );
}
