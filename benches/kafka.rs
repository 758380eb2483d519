//! Kafka throughput: events/s a one-action stateless workflow consumes through the Kafka
//! trigger, against the raw rdkafka consume rate (a StreamConsumer receiving and storing
//! offsets, nothing else), on the same embedded cluster in the same run.
//!
//! `cargo bench --bench kafka` (EVENTS=N to change the count, default 200,000).

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use serde_json::json;
use sluice_connectors::{Connectors, Wiring};
use sluice_engine::definition::App;
use sluice_engine::runtime::hosting::host::Host;
use sluice_engine::runtime::observation::stats::StatsRecorder;
use sluice_engine::runtime::{app_settings, Engine};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let events: u64 = std::env::var("EVENTS")
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(200_000);
    let recorder = StatsRecorder::new(metrics::NoopRecorder);
    let stats = recorder.stats.clone();
    metrics::set_global_recorder(recorder).unwrap();
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("in", 4, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("linger.ms", "5")
            .create()
            .unwrap();
        for i in 0..events {
            let payload = json!({"id": i, "amount": i % 1000}).to_string();
            while producer.send_result(FutureRecord::<(), _>::to("in").payload(&payload)).is_err() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        producer.flush(Duration::from_secs(60)).unwrap();

        let raw: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "raw")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        raw.subscribe(&["in"]).unwrap();
        let first = raw.recv().await.unwrap();
        raw.store_offset_from_message(&first).unwrap();
        let started = Instant::now();
        for _ in 1..events {
            let m = raw.recv().await.unwrap();
            raw.store_offset_from_message(&m).unwrap();
        }
        let raw_rate = (events - 1) as f64 / started.elapsed().as_secs_f64();
        // Kept, not dropped: closing a consumer waits on its group, which would cost this run.
        let _raw = raw;

        let dir = std::env::temp_dir().join(format!("sluice-kafka-bench-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("consume")).unwrap();
        let workflow = json!({"kind": "Stateless", "definition": {
            "triggers": {"events": {"type": "ServiceProvider", "splitOn": "@triggerOutputs()?['body']",
                "inputs": {"parameters": {"eventHubName": "in", "consumerGroup": "engine"}, "serviceProviderConfiguration": {
                    "connectionName": "hub", "operationId": "receiveEvents", "serviceProviderId": "/serviceProviders/eventHub"}}}},
            "actions": {"Amount": {"type": "Compose", "runAfter": {}, "inputs": "@triggerBody()?['contentData']?['amount']"}}}});
        std::fs::write(dir.join("consume/workflow.json"), workflow.to_string()).unwrap();
        let connections = json!({"serviceProviderConnections": {"hub": {"parameterValues": {"bootstrapServers": bootstrap},
            "serviceProvider": {"id": "/serviceProviders/eventHub"}}}});
        std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
        let app = App::load(&dir).unwrap();
        let connectors = Connectors::build(&Wiring::new(&app, true, None).unwrap()).unwrap();
        let engine = Engine::new(connectors.handlers(), app_settings(&app));
        let host = Arc::new(Host::new(&app, engine, 100_000).unwrap());
        let mut trigger = connectors.start(&host).unwrap().remove(0);
        // Timed from the first finished run, so the consumer's group join is not counted.
        while stats.runs.load(Relaxed) < 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let started = Instant::now();
        let first = stats.runs.load(Relaxed);
        while stats.runs.load(Relaxed) < events {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let engine_rate = (events - first) as f64 / started.elapsed().as_secs_f64();
        trigger.drain().await.unwrap();
        trigger.close().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        println!("kafka/raw_consume: {raw_rate:.0} events/s");
        println!("kafka/one_action_stateless_workflow: {engine_rate:.0} events/s");
        println!("kafka/ratio: {:.2}", engine_rate / raw_rate);
    });
}
