//! Kafka / Event Hubs end to end: the mock cluster is owned by this test process (librdkafka's
//! embedded cluster, over real loopback sockets); the engine is `sluice run` in its own process,
//! pointed at the cluster through connections.json; events come from `sluice produce` (a
//! plain librdkafka producer in a third process).

mod support;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, TopicPartitionList};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::{app, get_json, settings, start, wait_for, Sluice};

const PARTITIONS: i32 = 4;

fn cluster(topics: &[&str]) -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let cluster = MockCluster::new(1).unwrap();
    for topic in topics {
        cluster.create_topic(topic, PARTITIONS, 1).unwrap();
    }
    cluster
}

fn produce(bootstrap: &str, topic: &str, count: u64, first_id: u64) {
    let status = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["produce", "--bootstrap", bootstrap, "--topic", topic])
        .args([
            "--count",
            &count.to_string(),
            "--first-id",
            &first_id.to_string(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
}

/// An app whose workflow `ingest` (kind `kind`) reads `in`, one run per event, and sends a
/// status event to `out`; the Kafka connection points at `bootstrap`.
fn kafka_app(name: &str, kind: &str, bootstrap: &str, trigger_extra: Value) -> PathBuf {
    let mut parameters =
        json!({"eventHubName": "in", "consumerGroup": "sluice", "maxEventBatchSize": 100});
    for (k, v) in trigger_extra.as_object().unwrap() {
        parameters[k] = v.clone();
    }
    let workflow = json!({"kind": kind, "definition": {
    "triggers": {"events": {"type": "ServiceProvider", "splitOn": "@triggerOutputs()?['body']",
        "inputs": {"parameters": parameters, "serviceProviderConfiguration": {
            "connectionName": "hub", "operationId": "receiveEvents", "serviceProviderId": "/serviceProviders/eventHub"}}}},
    "actions": {
        "Amount": {"type": "Compose", "runAfter": {}, "inputs": "@triggerBody()?['contentData']?['amount']"},
        "Send_status": {"type": "ServiceProvider", "runAfter": {"Amount": ["Succeeded"]}, "inputs": {
            "parameters": {"eventHubName": "out", "eventData": {
                "contentData": {"id": "@triggerBody()?['contentData']?['id']", "amount": "@outputs('Amount')"},
                "properties": {"source": "sluice"}}},
            "serviceProviderConfiguration": {"connectionName": "hub", "operationId": "sendEvent",
                "serviceProviderId": "/serviceProviders/eventHub"}}}
    }}});
    let dir = app(name, &[("ingest", workflow)]);
    let connections = json!({"serviceProviderConnections": {"hub": {
        "parameterValues": {"bootstrapServers": "@appsetting('KafkaBootstrap')"},
        "serviceProvider": {"id": "/serviceProviders/eventHub"}, "displayName": "hub"}}});
    std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
    settings(&dir, &[("KafkaBootstrap", bootstrap)]);
    dir
}

/// (committed offset, end offset) summed over the topic's partitions, for `group`.
fn committed_and_end(bootstrap: &str, group: &str, topic: &str) -> (i64, i64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    let mut sums = (0, 0);
    for p in 0..PARTITIONS {
        let c = committed
            .find_partition(topic, p)
            .unwrap()
            .offset()
            .to_raw()
            .unwrap_or(0)
            .max(0);
        let (_, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .unwrap();
        sums.0 += c;
        sums.1 += high;
    }
    sums
}

/// Every record of `topic` (from the start), until `count` have been read.
fn read_all(
    bootstrap: &str,
    topic: &str,
    count: usize,
) -> Vec<(Option<Vec<u8>>, Vec<(String, String)>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{topic}-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut records = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while records.len() < count && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_string(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            records.push((m.payload().map(<[u8]>::to_vec), headers));
        }
    }
    records
}

fn runs(sluice: &Sluice) -> Vec<Value> {
    let api = "/runtime/webhooks/workflow/api/management/workflows/ingest/runs";
    get_json(&sluice.base, &format!("{api}?top=1000000"))["value"]
        .as_array()
        .unwrap()
        .clone()
}

fn wait_until_committed(bootstrap: &str, topic: &str, limit: Duration) {
    wait_for(limit, "every offset committed", || {
        let (committed, end) = committed_and_end(bootstrap, "sluice", topic);
        (end > 0 && committed == end).then_some(())
    });
}

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

/// Kills the engine with SIGKILL mid-stream, restarts it: nothing lost, nothing run twice.
#[test]
fn a_killed_engine_resumes_without_loss_or_duplicates() {
    const EVENTS: u64 = 20_000;
    let cluster = cluster(&["in", "out", "in-deadletter"]);
    let bootstrap = cluster.bootstrap_servers();
    produce(&bootstrap, "in", EVENTS, 0);
    let dir = kafka_app("kafka-kill", "Stateful", &bootstrap, json!({}));
    let mut first = start(&dir);
    wait_for(Duration::from_secs(120), "some runs to finish", || {
        let list = get_json(&first.base, "/runtime/webhooks/workflow/api/management/workflows/ingest/runs?status=Succeeded&top=2000");
        (list["value"].as_array().unwrap().len() >= 2000).then_some(())
    });
    first.child.kill().unwrap();
    first.child.wait().unwrap();
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
