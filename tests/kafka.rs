//! Kafka / Event Hubs end to end: the mock cluster is owned by this test process (librdkafka's
//! embedded cluster, over real loopback sockets); the engine is `sluice run` in its own process,
//! pointed at the cluster through connections.json; events come from `sluice produce` (a
//! plain librdkafka producer in a third process).

mod support;

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;
use support::kafka::{cluster, kafka_app, produce, read_all, runs, wait_until_committed};
use support::{get_json, start, wait_for};

#[test]
fn events_run_exactly_once_through_a_stateful_workflow() {
    const EVENTS: u64 = 100_000;
    let cluster = cluster(&["in", "out", "in-deadletter"]);
    let bootstrap = cluster.bootstrap_servers();
    produce(&bootstrap, "in", EVENTS, 0);
    let sluice = start(&kafka_app(
        "kafka-exactly-once",
        "Stateful",
        &bootstrap,
        json!({}),
    ));
    wait_until_committed(&bootstrap, "in", Duration::from_secs(600));
    let all = runs(&sluice);
    let events: HashSet<&str> = all.iter().filter_map(|r| r["eventId"].as_str()).collect();
    assert_eq!(all.len() as u64, EVENTS, "one run per event");
    assert_eq!(events.len() as u64, EVENTS, "no event ran twice");
    assert!(all.iter().all(|r| r["status"] == "Succeeded"));
    let sent = read_all(&bootstrap, "out", EVENTS as usize);
    assert_eq!(sent.len() as u64, EVENTS, "a status event per run");
    assert!(sent[0]
        .1
        .contains(&("source".to_string(), "sluice".to_string())));
}

#[test]
fn poison_events_go_to_the_dead_letter_topic_with_their_reason() {
    let cluster = cluster(&["in", "out", "in-deadletter"]);
    let bootstrap = cluster.bootstrap_servers();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    producer
        .send(
            BaseRecord::<(), _>::to("in")
                .payload("this is not JSON")
                .partition(0),
        )
        .unwrap();
    producer
        .send(
            BaseRecord::<(), _>::to("in")
                .payload(r#"{"id": 1, "amount": 5}"#)
                .partition(0),
        )
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
    let dir = kafka_app(
        "kafka-poison",
        "Stateless",
        &bootstrap,
        json!({"contentType": "application/json"}),
    );
    let _sluice = start(&dir);
    let dead = read_all(&bootstrap, "in-deadletter", 1);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0.as_deref(), Some(&b"this is not JSON"[..]));
    let header = |k: &str| {
        dead[0]
            .1
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert!(
        header("x-dead-letter-reason").contains("not JSON"),
        "{:?}",
        dead[0].1
    );
    assert_eq!(
        (
            header("x-source-topic").as_str(),
            header("x-source-partition").as_str(),
            header("x-source-offset").as_str()
        ),
        ("in", "0", "0")
    );
    assert_eq!(
        read_all(&bootstrap, "out", 1).len(),
        1,
        "the good event after it ran"
    );
    wait_until_committed(&bootstrap, "in", Duration::from_secs(30));
}

/// Kills the engine with SIGKILL mid-stream three times, restarting it on the same data
/// directory: nothing lost, nothing run twice.
#[test]
fn a_killed_engine_resumes_without_loss_or_duplicates() {
    const EVENTS: u64 = 20_000;
    let cluster = cluster(&["in", "out", "in-deadletter"]);
    let bootstrap = cluster.bootstrap_servers();
    produce(&bootstrap, "in", EVENTS, 0);
    let dir = kafka_app("kafka-kill", "Stateful", &bootstrap, json!({}));
    for target in [2_000, 6_000, 11_000] {
        let mut instance = start(&dir);
        wait_for(Duration::from_secs(120), "some runs to finish", || {
            let list = get_json(&instance.base, &format!("/runtime/webhooks/workflow/api/management/workflows/ingest/runs?status=Succeeded&top={target}"));
            (list["value"].as_array().unwrap().len() >= target).then_some(())
        });
        instance.child.kill().unwrap();
        instance.child.wait().unwrap();
    }
    let second = start(&dir);
    wait_until_committed(&bootstrap, "in", Duration::from_secs(300));
    wait_for(Duration::from_secs(60), "resumed runs to end", || {
        let running = get_json(
            &second.base,
            "/runtime/webhooks/workflow/api/management/workflows/ingest/runs?status=Running&top=1",
        );
        running["value"]
            .as_array()
            .unwrap()
            .is_empty()
            .then_some(())
    });
    let all = runs(&second);
    let events: HashSet<&str> = all.iter().filter_map(|r| r["eventId"].as_str()).collect();
    assert_eq!(events.len() as u64, EVENTS, "every event ran");
    assert_eq!(
        all.len() as u64,
        EVENTS,
        "redelivered events were deduplicated"
    );
    assert!(all.iter().all(|r| r["status"] == "Succeeded"));
}
