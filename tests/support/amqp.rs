//! RabbitMQ helpers for the end-to-end tests: the broker on 127.0.0.1:5672 (guest/guest),
//! which must be running in CI; unique queue names per test; publishing with confirms; queue
//! depths.

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

pub const URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A channel to the broker; in CI a missing broker fails the test, elsewhere too (the
/// machine image runs RabbitMQ).
pub async fn channel() -> (Connection, Channel) {
    let connection = Connection::connect(URI, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| {
            panic!("RabbitMQ must be running on 127.0.0.1:5672 (.ci/run starts it): {e}")
        });
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    (connection, channel)
}

/// A queue name unique to this test run.
pub fn queue(name: &str) -> String {
    format!(
        "sluice-test-{name}-{}-{}",
        std::process::id(),
        fastrand_u32()
    )
}

fn fastrand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

/// Publishes `bodies` to `queue` with message ids `id-0…`, waiting for every confirm.
pub async fn publish(channel: &Channel, queue: &str, bodies: impl IntoIterator<Item = String>) {
    let mut confirms = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let properties = BasicProperties::default()
            .with_message_id(format!("id-{i}").into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2);
        let confirm = channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                properties,
            )
            .await
            .unwrap();
        confirms.push(confirm);
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

/// Messages ready in `queue` (0 if it does not exist).
pub async fn depth(channel: &Channel, queue: &str) -> u32 {
    let options = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    match channel
        .queue_declare(queue.into(), options, FieldTable::default())
        .await
    {
        Ok(q) => q.message_count(),
        Err(_) => 0,
    }
}

/// Waits until Sluice's trigger consumes `queue` (the queue exists and has a consumer), so
/// that what a test publishes next is not dropped for want of a queue. A failed passive
/// declare closes its channel, so each probe uses a fresh one.
pub async fn consumed(connection: &Connection, queue: &str) {
    let options = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let probe = connection.create_channel().await.unwrap();
        let declared = probe
            .queue_declare(queue.into(), options, FieldTable::default())
            .await;
        if matches!(&declared, Ok(q) if q.consumer_count() > 0) {
            let _ = probe.close(200, "probed".into()).await;
            return;
        }
        if declared.is_ok() {
            let _ = probe.close(200, "probed".into()).await;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no consumer on {queue} within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Deletes the queue and its dead-letter queue.
pub async fn delete(channel: &Channel, queue: &str) {
    for q in [queue.to_string(), format!("{queue}.deadletter")] {
        let _ = channel
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
}

/// An app with workflow `consume` triggered by `queue` (operation `operation`), the given
/// actions, and a Service Bus connection to the local broker.
pub fn app(
    name: &str,
    kind: &str,
    operation: &str,
    queue: &str,
    extra: serde_json::Value,
    actions: serde_json::Value,
) -> std::path::PathBuf {
    let mut parameters = serde_json::json!({"queueName": queue});
    for (k, v) in extra.as_object().unwrap() {
        parameters[k] = v.clone();
    }
    let mut trigger = serde_json::json!({"type": "ServiceProvider", "splitOn": "@triggerOutputs()?['body']",
        "inputs": {"parameters": parameters, "serviceProviderConfiguration": {
            "connectionName": "serviceBus", "operationId": operation, "serviceProviderId": "/serviceProviders/serviceBus"}}});
    if let Some(c) = extra.get("concurrency") {
        trigger["runtimeConfiguration"] = serde_json::json!({"concurrency": c});
        trigger["inputs"]["parameters"]
            .as_object_mut()
            .unwrap()
            .remove("concurrency");
    }
    let workflow = serde_json::json!({"kind": kind, "definition": {"triggers": {"messages": trigger}, "actions": actions}});
    let dir = super::app(name, &[("consume", workflow)]);
    let connections = serde_json::json!({"serviceProviderConnections": {"serviceBus": {
        "parameterValues": {"amqpUri": URI}, "serviceProvider": {"id": "/serviceProviders/serviceBus"}}}});
    std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
    dir
}
