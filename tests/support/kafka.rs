//! Kafka helpers for the end-to-end tests: a mock cluster owned by the test process,
//! `sluice produce` as an external producer, an app whose workflow reads `in` and sends to
//! `out`, and readers for committed offsets and topics.

use super::{app, get_json, settings, wait_for, Sluice};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, TopicPartitionList};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub type Record = (Option<Vec<u8>>, Vec<(String, String)>);

pub const PARTITIONS: i32 = 4;

pub fn cluster(topics: &[&str]) -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let cluster = MockCluster::new(1).unwrap();
    for topic in topics {
        cluster.create_topic(topic, PARTITIONS, 1).unwrap();
    }
    cluster
}

pub fn produce(bootstrap: &str, topic: &str, count: u64, first_id: u64) {
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
pub fn kafka_app(name: &str, kind: &str, bootstrap: &str, trigger_extra: Value) -> PathBuf {
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
        "parameterValues": {"bootstrapServers": "@appsetting('KafkaBootstrap')",
            // The mock cluster completes a rebalance only when a member's session expires.
            "properties": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}},
        "serviceProvider": {"id": "/serviceProviders/eventHub"}, "displayName": "hub"}}});
    std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
    settings(&dir, &[("KafkaBootstrap", bootstrap)]);
    dir
}

/// (committed offset, end offset) summed over the topic's partitions, for `group`.
pub fn committed_and_end(bootstrap: &str, group: &str, topic: &str) -> (i64, i64) {
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
pub fn read_all(bootstrap: &str, topic: &str, count: usize) -> Vec<Record> {
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

pub fn runs(sluice: &Sluice) -> Vec<Value> {
    let api = "/runtime/webhooks/workflow/api/management/workflows/ingest/runs";
    get_json(&sluice.base, &format!("{api}?top=1000000"))["value"]
        .as_array()
        .unwrap()
        .clone()
}

pub fn wait_until_committed(bootstrap: &str, topic: &str, limit: Duration) {
    wait_for(limit, "every offset committed", || {
        let (committed, end) = committed_and_end(bootstrap, "sluice", topic);
        (end > 0 && committed == end).then_some(())
    });
}
