//! AMQP throughput: messages/s a one-action stateless workflow takes from a RabbitMQ queue
//! (auto-complete), against lapin's raw consume + ack rate on the same broker, in one run.
//! Needs RabbitMQ on 127.0.0.1:5672 (guest/guest).
//!
//! `cargo bench --bench amqp` (MESSAGES=N to change the count, default 50,000).

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
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

const URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

async fn fill(channel: &Channel, queue: &str, count: u64) {
    let mut confirms = Vec::new();
    for i in 0..count {
        let body = json!({"n": i}).to_string();
        let props = BasicProperties::default().with_message_id(i.to_string().into());
        confirms.push(
            channel
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions::default(),
                    body.as_bytes(),
                    props,
                )
                .await
                .unwrap(),
        );
        if confirms.len() >= 1000 {
            for c in confirms.drain(..) {
                c.await.unwrap();
            }
        }
    }
    for c in confirms {
        c.await.unwrap();
    }
}

fn main() {
    let messages: u64 = std::env::var("MESSAGES")
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(50_000);
    let recorder = StatsRecorder::new(metrics::NoopRecorder);
    let stats = recorder.stats.clone();
    metrics::set_global_recorder(recorder).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let connection = Connection::connect(URI, ConnectionProperties::default()).await.expect("RabbitMQ on 127.0.0.1:5672");
        let channel = connection.create_channel().await.unwrap();
        channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
        let queue = format!("sluice-bench-{}", std::process::id());
        sluice_connectors::amqp::client::declare(&channel, &queue, None, 10).await.unwrap();

        fill(&channel, &queue, messages).await;
        let consumer_channel = connection.create_channel().await.unwrap();
        consumer_channel.basic_qos(1000, BasicQosOptions::default()).await.unwrap();
        let mut consumer = consumer_channel
            .basic_consume(queue.as_str().into(), "raw".into(), BasicConsumeOptions::default(), FieldTable::default())
            .await
            .unwrap();
        // The plain consumer loop: receive, acknowledge, next.
        let started = Instant::now();
        for _ in 0..messages {
            let delivery = consumer.next().await.unwrap().unwrap();
            delivery.ack(BasicAckOptions::default()).await.unwrap();
        }
        let raw_rate = messages as f64 / started.elapsed().as_secs_f64();
        let _ = consumer_channel.close(200, "".into()).await;

        fill(&channel, &queue, messages).await;
        let dir = std::env::temp_dir().join(format!("sluice-amqp-bench-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("consume")).unwrap();
        let workflow = json!({"kind": "Stateless", "definition": {
            "triggers": {"messages": {"type": "ServiceProvider", "splitOn": "@triggerOutputs()?['body']",
                "runtimeConfiguration": {"concurrency": {"runs": 1000}},
                "inputs": {"parameters": {"queueName": queue}, "serviceProviderConfiguration": {
                    "connectionName": "sb", "operationId": "receiveQueueMessages", "serviceProviderId": "/serviceProviders/serviceBus"}}}},
            "actions": {"N": {"type": "Compose", "runAfter": {}, "inputs": "@triggerBody()?['contentData']?['n']"}}}});
        std::fs::write(dir.join("consume/workflow.json"), workflow.to_string()).unwrap();
        let connections = json!({"serviceProviderConnections": {"sb": {"parameterValues": {"amqpUri": URI},
            "serviceProvider": {"id": "/serviceProviders/serviceBus"}}}});
        std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
        let app = App::load(&dir).unwrap();
        let connectors = Connectors::build(&Wiring::new(&app, true, None).unwrap()).unwrap();
        let engine = Engine::new(connectors.handlers(), app_settings(&app));
        let host = Arc::new(Host::new(&app, engine, 100_000).unwrap());
        let started = Instant::now();
        let mut trigger = connectors.start(&host).unwrap().remove(0);
        while stats.runs.load(Relaxed) < messages {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let engine_rate = messages as f64 / started.elapsed().as_secs_f64();
        trigger.drain().await.unwrap();
        let _ = channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await;
        let _ = channel.queue_delete(format!("{queue}.deadletter").as_str().into(), QueueDeleteOptions::default()).await;
        let _ = std::fs::remove_dir_all(&dir);
        println!("amqp/raw_consume_ack: {raw_rate:.0} messages/s");
        println!("amqp/one_action_stateless_workflow: {engine_rate:.0} messages/s");
        println!("amqp/ratio: {:.2}", engine_rate / raw_rate);
    });
}
