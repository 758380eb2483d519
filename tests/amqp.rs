//! Service Bus workflows on the real RabbitMQ (127.0.0.1:5672) under `sluice run`: messages
//! run exactly once through a stateful workflow, a dropped broker connection is recovered,
//! peek-lock settlement (complete, abandon, dead-letter), a poison message dead-lettered
//! after the maximum delivery count, and prefetch bounding concurrency.

mod support;

use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;
use support::amqp::{app, channel, consumed, delete, depth, publish, queue};
use support::{get_json, mock_function, settings, start, wait_for};

/// The tests take turns: one of them closes every connection on the broker.
static BROKER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    BROKER.lock().unwrap_or_else(|p| p.into_inner())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Waits until the engine has declared `queue` (a failed passive declare closes its channel,
/// so each probe opens its own).
fn wait_declared(rt: &tokio::runtime::Runtime, queue: &str) {
    wait_for(Duration::from_secs(30), "the queue to be declared", || {
        rt.block_on(async {
            let (_c, probe) = channel().await;
            let passive = lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            probe
                .queue_declare(queue.into(), passive, Default::default())
                .await
                .ok()
                .map(|_| ())
        })
    });
}

fn runs(base: &str) -> Vec<Value> {
    get_json(
        base,
        "/runtime/webhooks/workflow/api/management/workflows/consume/runs?top=1000000",
    )["value"]
        .as_array()
        .unwrap()
        .clone()
}

fn compose() -> Value {
    json!({"Amount": {"type": "Compose", "runAfter": {}, "inputs": "@triggerBody()?['contentData']?['n']"}})
}

fn assert_exactly_once(base: &str, count: usize) {
    let all = runs(base);
    let events: HashSet<&str> = all.iter().filter_map(|r| r["eventId"].as_str()).collect();
    assert_eq!(events.len(), count, "every message ran");
    assert_eq!(all.len(), count, "no message ran twice");
    assert!(all.iter().all(|r| r["status"] == "Succeeded"));
}

#[test]
fn fifty_thousand_messages_run_exactly_once() {
    const MESSAGES: usize = 50_000;
    let _turn = exclusive();
    let rt = runtime();
    let q = queue("bulk");
    let dir = app(
        "amqp-bulk",
        "Stateful",
        "receiveQueueMessages",
        &q,
        json!({}),
        compose(),
    );
    let sluice = start(&dir);
    let (_c, ch) = rt.block_on(channel());
    wait_declared(&rt, &q);
    rt.block_on(publish(
        &ch,
        &q,
        (0..MESSAGES).map(|n| json!({"n": n}).to_string()),
    ));
    wait_for(Duration::from_secs(600), "every message to run", || {
        let (_, _, metrics) = support::request(&sluice.base, "GET", "/metrics", None);
        let acked = metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "sluice_amqp_messages_acked_total{{queue=\"{q}\"}} "
                ))
            })
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        (acked as usize >= MESSAGES).then_some(())
    });
    assert_eq!(rt.block_on(depth(&ch, &q)), 0);
    assert_exactly_once(&sluice.base, MESSAGES);
    rt.block_on(delete(&ch, &q));
}

#[test]
fn a_dropped_connection_is_recovered_without_loss() {
    const MESSAGES: usize = 3_000;
    let _turn = exclusive();
    let rt = runtime();
    let q = queue("drop");
    let function = mock_function(&["--latency-ms", "2"]);
    let actions = json!({"Call": {"type": "Http", "runAfter": {}, "inputs": {"method": "POST",
        "uri": "@{appsetting('Downstream')}/api/work", "body": "@triggerBody()?['contentData']"}}});
    let dir = app(
        "amqp-drop",
        "Stateful",
        "receiveQueueMessages",
        &q,
        json!({}),
        actions,
    );
    settings(&dir, &[("Downstream", &function.base)]);
    let sluice = start(&dir);
    let (c, ch) = rt.block_on(channel());
    rt.block_on(consumed(&c, &q));
    rt.block_on(publish(
        &ch,
        &q,
        (0..MESSAGES).map(|n| json!({"n": n}).to_string()),
    ));
    wait_for(Duration::from_secs(60), "some runs", || {
        (runs(&sluice.base).len() > 200).then_some(())
    });
    let closed = std::process::Command::new("rabbitmqctl")
        .args(["close_all_connections", "sluice test: connection dropped"])
        .output()
        .unwrap();
    assert!(
        closed.status.success(),
        "{}",
        String::from_utf8_lossy(&closed.stderr)
    );
    let (_c, ch) = rt.block_on(channel());
    wait_for(
        Duration::from_secs(120),
        "every message to run after the drop",
        || {
            let done = runs(&sluice.base)
                .iter()
                .filter(|r| r["status"] == "Succeeded")
                .count();
            (done >= MESSAGES && rt.block_on(depth(&ch, &q)) == 0).then_some(())
        },
    );
    assert_exactly_once(&sluice.base, MESSAGES);
    let (_, _, metrics) = support::request(&sluice.base, "GET", "/metrics", None);
    assert!(
        metrics.contains("sluice_amqp_reconnects_total"),
        "the consumer reconnected"
    );
    rt.block_on(delete(&ch, &q));
}

fn settle(operation: &str, extra: Value) -> Value {
    let mut parameters = json!({"lockToken": "@triggerBody()?['lockToken']"});
    for (k, v) in extra.as_object().unwrap() {
        parameters[k] = v.clone();
    }
    json!({"type": "ServiceProvider", "runAfter": {}, "inputs": {"parameters": parameters,
        "serviceProviderConfiguration": {"connectionName": "serviceBus", "operationId": operation,
            "serviceProviderId": "/serviceProviders/serviceBus"}}})
}

#[test]
fn peek_locked_messages_are_completed_abandoned_or_dead_lettered() {
    let _turn = exclusive();
    let rt = runtime();
    let q = queue("peek");
    let body = "triggerBody()?['contentData']?['action']";
    let actions = json!({"Route": {"type": "Switch", "runAfter": {}, "expression": format!("@{body}"),
        "cases": {
            "complete": {"case": "complete", "actions": {"Complete": settle("completeQueueMessageV2", json!({}))}},
            "abandon_once": {"case": "abandon_once", "actions": {"Once": {"type": "If", "runAfter": {},
                "expression": "@equals(triggerBody()?['deliveryCount'], 1)",
                "actions": {"Abandon": settle("abandonQueueMessageV2", json!({}))},
                "else": {"actions": {"Complete_later": settle("completeQueueMessageV2", json!({}))}}}}},
            "deadletter": {"case": "deadletter", "actions": {"Dead_letter": settle("deadLetterQueueMessageV2",
                json!({"deadLetterReason": "NotWanted", "deadLetterErrorDescription": "the test said so"}))}}
        },
        "default": {"actions": {}}}});
    let dir = app(
        "amqp-peek",
        "Stateless",
        "peekLockQueueMessagesV2",
        &q,
        json!({}),
        actions,
    );
    let sluice = start(&dir);
    let (c, ch) = rt.block_on(channel());
    rt.block_on(consumed(&c, &q));
    let bodies =
        ["complete", "abandon_once", "deadletter"].map(|a| json!({"action": a}).to_string());
    rt.block_on(publish(&ch, &q, bodies));
    wait_for(Duration::from_secs(60), "all three settled", || {
        (runs_total(&sluice.base) >= 4.0 && rt.block_on(depth(&ch, &q)) == 0).then_some(())
    });
    let dead = rt.block_on(async {
        ch.basic_get(
            format!("{q}.deadletter").as_str().into(),
            lapin::options::BasicGetOptions::default(),
        )
        .await
        .unwrap()
    });
    let dead = dead.expect("one message dead-lettered");
    assert_eq!(
        String::from_utf8_lossy(&dead.delivery.data),
        json!({"action": "deadletter"}).to_string()
    );
    let headers = dead.delivery.properties.headers().clone().unwrap();
    let text = |name: &str| match headers.inner().get(name) {
        Some(lapin::types::AMQPValue::LongString(s)) => {
            String::from_utf8_lossy(s.as_bytes()).into_owned()
        }
        other => format!("{other:?}"),
    };
    assert_eq!(text("DeadLetterReason"), "NotWanted");
    assert_eq!(text("DeadLetterErrorDescription"), "the test said so");
    rt.block_on(delete(&ch, &q));
}

fn runs_total(base: &str) -> f64 {
    let (_, _, metrics) = support::request(base, "GET", "/metrics", None);
    metrics
        .lines()
        .filter(|l| l.starts_with("sluice_runs_completed_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_poison_message_is_dead_lettered_after_the_max_delivery_count() {
    let _turn = exclusive();
    let rt = runtime();
    let q = queue("poison");
    let actions = json!({"Give_up": settle("abandonQueueMessageV2", json!({}))});
    let dir = app(
        "amqp-poison",
        "Stateless",
        "peekLockQueueMessagesV2",
        &q,
        json!({"maxDeliveryCount": 3}),
        actions,
    );
    let sluice = start(&dir);
    let (c, ch) = rt.block_on(channel());
    rt.block_on(consumed(&c, &q));
    rt.block_on(publish(&ch, &q, [json!({"poison": true}).to_string()]));
    wait_for(
        Duration::from_secs(60),
        "the message in the dead-letter queue",
        || (rt.block_on(depth(&ch, &format!("{q}.deadletter"))) == 1).then_some(()),
    );
    assert_eq!(
        runs_total(&sluice.base),
        3.0,
        "delivered exactly the maximum number of times"
    );
    rt.block_on(delete(&ch, &q));
}

#[test]
fn prefetch_bounds_the_runs_in_flight() {
    let _turn = exclusive();
    let rt = runtime();
    let q = queue("prefetch");
    let function = mock_function(&["--latency-ms", "50"]);
    let actions = json!({"Call": {"type": "Http", "runAfter": {}, "inputs": {"method": "POST",
        "uri": "@{appsetting('Downstream')}/api/slow", "body": "@triggerBody()?['contentData']"}}});
    let dir = app(
        "amqp-prefetch",
        "Stateless",
        "receiveQueueMessages",
        &q,
        json!({"concurrency": {"runs": 5, "maximumWaitingRuns": 0}}),
        actions,
    );
    settings(&dir, &[("Downstream", &function.base)]);
    let sluice = start(&dir);
    let (c, ch) = rt.block_on(channel());
    rt.block_on(consumed(&c, &q));
    rt.block_on(publish(
        &ch,
        &q,
        (0..200).map(|n| json!({"n": n}).to_string()),
    ));
    wait_for(Duration::from_secs(60), "200 runs", || {
        (runs_total(&sluice.base) >= 200.0).then_some(())
    });
    let stats = get_json(&function.base, "/_stats");
    assert_eq!(
        stats["max_concurrent"], 5,
        "prefetch 5 = five runs at a time: {stats}"
    );
    rt.block_on(delete(&ch, &q));
}

/// The corpus's Service Bus workflows, unchanged: Microsoft's peek-lock-with-renewal template
/// (complete after its business scope, renewing the lock in an Until meanwhile) and a
/// migration sample with `receiveQueueMessages` and `splitOn`.
#[test]
fn corpus_service_bus_workflows_run_on_rabbitmq() {
    let _turn = exclusive();
    let rt = runtime();
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(corpus.join(name)).unwrap()).unwrap()
    };
    let peek = read("Azure__LogicAppsTemplates__get-message-service-bus-queue-peek-lock-renew_default_workflow.json");
    let split = read("Azure__logicapps-migration-agent__resources_referenceWorkflowsAndConnections_workflows_sb-trigger-splitOn_workflow.json");
    let peek = json!({"definition": peek, "kind": "Stateful"});
    let dir = support::app("amqp-corpus", &[("peeklock", peek), ("split", split)]);
    let q = queue("corpus");
    let parameters = json!({
        "queueName_#workflowname#": {"type": "String", "value": q},
        "messageBatchSize_#workflowname#": {"type": "Int", "value": 10},
        "delayInMinutes_#workflowname#": {"type": "Int", "value": 0}});
    std::fs::write(dir.join("parameters.json"), parameters.to_string()).unwrap();
    let connection = json!({"parameterValues": {"amqpUri": support::amqp::URI}, "serviceProvider": {"id": "/serviceProviders/serviceBus"}});
    let connections = json!({"serviceProviderConnections": {"serviceBus_#workflowname#": connection, "serviceBus": connection}});
    std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
    let sluice = start(&dir);
    let (c, ch) = rt.block_on(channel());
    rt.block_on(consumed(&c, &q));
    rt.block_on(publish(
        &ch,
        &q,
        (0..5).map(|n| json!({"n": n}).to_string()),
    ));
    rt.block_on(publish(
        &ch,
        "testqueue",
        (0..3).map(|n| json!({"n": n}).to_string()),
    ));
    let api = "/runtime/webhooks/workflow/api/management/workflows";
    let done = |workflow: &str| -> Vec<Value> {
        get_json(
            &sluice.base,
            &format!("{api}/{workflow}/runs?status=Succeeded&top=100"),
        )["value"]
            .as_array()
            .unwrap()
            .clone()
    };
    wait_for(
        Duration::from_secs(60),
        "the corpus workflows' runs",
        || {
            (done("peeklock").len() >= 5
                && done("split").len() >= 3
                && rt.block_on(depth(&ch, &q)) == 0)
                .then_some(())
        },
    );
    let run = get_json(
        &sluice.base,
        &format!(
            "{api}/peeklock/runs/{}",
            done("peeklock")[0]["id"].as_str().unwrap()
        ),
    );
    let complete = run["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Complete_the_message_in_a_queue")
        .unwrap();
    assert_eq!(complete["status"], "Succeeded", "{complete:#}");
    rt.block_on(delete(&ch, &q));
    rt.block_on(delete(&ch, "testqueue"));
}

/// sendMessage from one workflow to a topic; a subscription's peek-lock trigger on another
/// receives it with the Service Bus fields mapped, and completes it.
#[test]
fn messages_sent_to_a_topic_reach_its_subscriptions() {
    let _turn = exclusive();
    let rt = runtime();
    let topic = queue("topic");
    let sender = json!({"kind": "Stateless", "definition": {
        "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
        "actions": {"Send": {"type": "ServiceProvider", "runAfter": {}, "inputs": {
            "parameters": {"entityName": topic, "message": {"contentData": "@triggerBody()", "messageId": "order-7",
                "correlationId": "corr-1", "userProperties": {"region": "eu"}}},
            "serviceProviderConfiguration": {"connectionName": "serviceBus", "operationId": "sendMessage",
                "serviceProviderId": "/serviceProviders/serviceBus"}}},
            "Done": {"type": "Response", "runAfter": {"Send": ["Succeeded"]}, "inputs": {"statusCode": 200}}}}});
    let receiver = json!({"kind": "Stateful", "definition": {
        "triggers": {"messages": {"type": "ServiceProvider", "splitOn": "@triggerOutputs()?['body']", "inputs": {
            "parameters": {"topicName": topic, "subscriptionName": "audit"},
            "serviceProviderConfiguration": {"connectionName": "serviceBus", "operationId": "peekLockTopicMessagesV2",
                "serviceProviderId": "/serviceProviders/serviceBus"}}}},
        "actions": {
            "Seen": {"type": "Compose", "runAfter": {}, "inputs": {"id": "@triggerBody()?['messageId']",
                "correlation": "@triggerBody()?['correlationId']", "region": "@triggerBody()?['userProperties']?['region']",
                "qty": "@triggerBody()?['contentData']?['qty']", "type": "@triggerBody()?['contentType']"}},
            "Complete": {"type": "ServiceProvider", "runAfter": {"Seen": ["Succeeded"]}, "inputs": {
                "parameters": {"lockToken": "@triggerBody()?['lockToken']", "topicName": topic, "subscriptionName": "audit"},
                "serviceProviderConfiguration": {"connectionName": "serviceBus", "operationId": "completeTopicMessageV2",
                    "serviceProviderId": "/serviceProviders/serviceBus"}}}}}});
    let dir = support::app("amqp-topic", &[("send", sender), ("receive", receiver)]);
    let connections = json!({"serviceProviderConnections": {"serviceBus": {"parameterValues": {"amqpUri": support::amqp::URI},
        "serviceProvider": {"id": "/serviceProviders/serviceBus"}}}});
    std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
    let sluice = start(&dir);
    let (_c, ch) = rt.block_on(channel());
    let subscription = format!("{topic}.audit");
    wait_declared(&rt, &subscription);
    let (status, _, body) = support::request(
        &sluice.base,
        "POST",
        "/api/send/triggers/manual/invoke",
        Some(&json!({"qty": 3})),
    );
    assert_eq!(status, 200, "{body}");
    let api = "/runtime/webhooks/workflow/api/management/workflows/receive/runs";
    let id = wait_for(Duration::from_secs(30), "the subscription's run", || {
        let list = get_json(&sluice.base, &format!("{api}?status=Succeeded&top=1"));
        list["value"]
            .as_array()
            .unwrap()
            .first()
            .map(|r| r["id"].as_str().unwrap().to_string())
    });
    let run = get_json(&sluice.base, &format!("{api}/{id}"));
    let seen = run["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Seen")
        .unwrap();
    assert_eq!(
        seen["outputs"],
        json!({"id": "order-7", "correlation": "corr-1", "region": "eu", "qty": 3, "type": "application/json"})
    );
    assert_eq!(rt.block_on(depth(&ch, &subscription)), 0, "completed");
    rt.block_on(delete(&ch, &subscription));
    rt.block_on(async {
        let _ = ch
            .exchange_delete(
                topic.as_str().into(),
                lapin::options::ExchangeDeleteOptions::default(),
            )
            .await;
    });
}

/// Without splitOn a run gets a batch of messages, at most `maxMessageBatchSize`.
#[test]
fn without_split_on_a_run_gets_a_batch() {
    let _turn = exclusive();
    let rt = runtime();
    let q = queue("batch");
    let actions =
        json!({"Count": {"type": "Compose", "runAfter": {}, "inputs": "@length(triggerBody())"}});
    let dir = app(
        "amqp-batch",
        "Stateful",
        "receiveQueueMessages",
        &q,
        json!({"maxMessageBatchSize": 5}),
        actions,
    );
    let mut workflow: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("consume/workflow.json")).unwrap())
            .unwrap();
    workflow["definition"]["triggers"]["messages"]
        .as_object_mut()
        .unwrap()
        .remove("splitOn");
    std::fs::write(dir.join("consume/workflow.json"), workflow.to_string()).unwrap();
    let sluice = start(&dir);
    wait_declared(&rt, &q);
    let (_c, ch) = rt.block_on(channel());
    rt.block_on(publish(
        &ch,
        &q,
        (0..12).map(|n| json!({"n": n}).to_string()),
    ));
    let sizes = wait_for(Duration::from_secs(30), "every message in a run", || {
        let api = "/runtime/webhooks/workflow/api/management/workflows/consume/runs";
        let done: Vec<i64> = runs(&sluice.base)
            .iter()
            .filter(|r| r["status"] == "Succeeded")
            .map(|r| {
                get_json(
                    &sluice.base,
                    &format!("{api}/{}", r["id"].as_str().unwrap()),
                )["actions"][0]["outputs"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        (done.iter().sum::<i64>() == 12).then_some(done)
    });
    assert!(
        sizes.iter().all(|n| *n <= 5),
        "batches of at most 5: {sizes:?}"
    );
    assert!(sizes.len() < 12, "messages were batched: {sizes:?}");
    rt.block_on(delete(&ch, &q));
}

/// A send to a queue that does not exist fails the action (Service Bus: entity not found):
/// RabbitMQ would otherwise drop the unroutable message and the action report success.
#[test]
fn a_send_to_a_missing_queue_fails_the_action() {
    let _turn = exclusive();
    let missing = queue("missing");
    let sender = json!({"kind": "Stateless", "definition": {
        "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
        "actions": {
            "Send": {"type": "ServiceProvider", "runAfter": {}, "inputs": {
                "parameters": {"entityName": missing, "message": {"contentData": "@triggerBody()"}},
                "serviceProviderConfiguration": {"connectionName": "serviceBus", "operationId": "sendMessage",
                    "serviceProviderId": "/serviceProviders/serviceBus"}}},
            "Failed": {"type": "Response", "runAfter": {"Send": ["Failed"]},
                "inputs": {"statusCode": 500, "body": "@actions('Send')?['error']"}},
            "Sent": {"type": "Response", "runAfter": {"Send": ["Succeeded"]}, "inputs": {"statusCode": 200}}}}});
    let dir = support::app("amqp-missing-queue", &[("send", sender)]);
    let connections = json!({"serviceProviderConnections": {"serviceBus": {"parameterValues": {"amqpUri": support::amqp::URI},
        "serviceProvider": {"id": "/serviceProviders/serviceBus"}}}});
    std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
    let sluice = start(&dir);
    let (status, _, body) = support::request(
        &sluice.base,
        "POST",
        "/api/send/triggers/manual/invoke",
        Some(&json!({"qty": 3})),
    );
    assert_eq!(status, 500, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["code"], "MessagingEntityNotFound", "{body}");
}

/// SIGKILL at three points while a stateful workflow consumes a queue, restarting on the same
/// data directory: unacknowledged messages come back, and every message runs exactly once.
#[test]
fn repeated_kills_lose_nothing_and_run_nothing_twice() {
    const MESSAGES: usize = 6_000;
    let _turn = exclusive();
    let rt = runtime();
    let q = queue("kills");
    let dir = app(
        "amqp-kills",
        "Stateful",
        "receiveQueueMessages",
        &q,
        json!({}),
        compose(),
    );
    let (_c, ch) = rt.block_on(channel());
    let mut published = false;
    for kill in 1..=3 {
        let mut sluice = start(&dir);
        wait_declared(&rt, &q);
        if !published {
            rt.block_on(publish(
                &ch,
                &q,
                (0..MESSAGES).map(|n| json!({"n": n}).to_string()),
            ));
            published = true;
        }
        let target = kill * MESSAGES / 4;
        wait_for(Duration::from_secs(120), "runs before the kill", || {
            (runs(&sluice.base).len() >= target).then_some(())
        });
        sluice.child.kill().unwrap();
        sluice.child.wait().unwrap();
    }
    let sluice = start(&dir);
    wait_for(Duration::from_secs(300), "every message to run", || {
        let all = runs(&sluice.base);
        let done = all.iter().filter(|r| r["status"] == "Succeeded").count();
        (done >= MESSAGES && rt.block_on(depth(&ch, &q)) == 0).then_some(())
    });
    assert_exactly_once(&sluice.base, MESSAGES);
    rt.block_on(delete(&ch, &q));
}
