//! Kafka consumer groups, backpressure and the embedded cluster under `sluice run`: two
//! engines in one group split the partitions and one takes over when the other stops; a
//! workflow slower than its input pauses the partitions and memory stays bounded; a stock
//! librdkafka producer in another process feeds the embedded cluster of a running engine.

mod support;

use serde_json::{json, Value};
use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;
use support::kafka::{cluster, kafka_app, produce, runs, wait_until_committed};
use support::{app, request, start, start_with, wait_for};

fn stop_gracefully(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn two_engines_split_the_partitions_and_one_takes_over() {
    let cluster = cluster(&["in", "out", "in-deadletter"]);
    let bootstrap = cluster.bootstrap_servers();
    let dir = kafka_app("kafka-group", "Stateful", &bootstrap, json!({}));
    let data = |n: &str| dir.join(format!(".data-{n}")).to_str().unwrap().to_string();
    let first = start_with(&dir, &["--data", &data("a")]);
    let mut second = start_with(&dir, &["--data", &data("b")]);
    produce(&bootstrap, "in", 4_000, 0);
    let partitions = |runs: &[Value]| -> HashSet<String> {
        runs.iter()
            .map(|r| {
                r["eventId"]
                    .as_str()
                    .unwrap()
                    .split('/')
                    .nth(1)
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let (of_first, of_second) = wait_for(
        Duration::from_secs(120),
        "both engines to run events",
        || {
            let (a, b) = (runs(&first), runs(&second));
            (!a.is_empty() && !b.is_empty() && a.len() + b.len() >= 4_000)
                .then(|| (partitions(&a), partitions(&b)))
        },
    );
    assert!(
        of_first.is_disjoint(&of_second),
        "each partition has one owner: {of_first:?} {of_second:?}"
    );
    let stopping = std::time::Instant::now();
    stop_gracefully(second.child.id());
    second.child.wait().unwrap();
    eprintln!("the second engine stopped in {:?}", stopping.elapsed());
    produce(&bootstrap, "in", 4_000, 4_000);
    wait_until_committed(&bootstrap, "in", Duration::from_secs(120));
    eprintln!(
        "all offsets committed {:?} after the stop",
        stopping.elapsed()
    );
    let mut seen: HashSet<String> = HashSet::new();
    let first_runs = runs(&first);
    for r in &first_runs {
        seen.insert(r["eventId"].as_str().unwrap().to_string());
    }
    let second_runs = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["runs", "--app", dir.to_str().unwrap(), "--data", &data("b")])
        .args(["list", "--limit", "100000", "--format", "json"])
        .output()
        .unwrap();
    let second_runs: Value = serde_json::from_slice(&second_runs.stdout).unwrap();
    for r in second_runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "Succeeded")
    {
        seen.insert(r["eventId"].as_str().unwrap().to_string());
    }
    assert_eq!(
        seen.len(),
        8_000,
        "every event ran on one engine or the other"
    );
    assert!(
        partitions(&first_runs).is_superset(&of_second),
        "the remaining engine took over the stopped one's partitions"
    );
}

#[test]
fn a_slow_workflow_pauses_the_partitions_and_memory_stays_bounded() {
    let cluster = cluster(&["in", "out", "in-deadletter"]);
    let bootstrap = cluster.bootstrap_servers();
    let dir = kafka_app("kafka-backpressure", "Stateless", &bootstrap, json!({}));
    // The workflow waits 20 ms per event, ten at a time: 500 events/s at most.
    let mut workflow: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ingest/workflow.json")).unwrap())
            .unwrap();
    workflow["definition"]["triggers"]["events"]["runtimeConfiguration"] =
        json!({"concurrency": {"runs": 10, "maximumWaitingRuns": 10}});
    workflow["definition"]["actions"]["Amount"] = json!({"type": "Wait", "runAfter": {},
        "inputs": {"interval": {"count": 1, "unit": "Second"}}});
    workflow["definition"]["actions"]["Send_status"]["runAfter"] = json!({"Amount": ["Succeeded"]});
    std::fs::write(dir.join("ingest/workflow.json"), workflow.to_string()).unwrap();
    produce(&bootstrap, "in", 30_000, 0);
    let sluice = start(&dir);
    let rss = || {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", sluice.child.id())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .unwrap()
            .to_string();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            / 1024
    };
    let mut peak = 0;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(250));
        peak = peak.max(rss());
    }
    let (_, _, metrics) = request(&sluice.base, "GET", "/metrics", None);
    let metric = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(
        metric("sluice_kafka_pauses_total ") > 0.0,
        "the partitions were paused:\n{metrics}"
    );
    let in_flight = metric("sluice_runs_in_flight ");
    assert!(
        in_flight <= 20.0,
        "at most runs + waiting runs in flight, not {in_flight}"
    );
    assert!(peak < 150, "resident memory stayed bounded: {peak} MiB");
    eprintln!("peak RSS {peak} MiB with 30,000 events waiting; {in_flight} runs in flight");
}

#[test]
fn an_external_producer_feeds_the_embedded_cluster() {
    let workflow = json!({"kind": "Stateless", "definition": {
        "triggers": {"events": {"type": "ServiceProvider", "splitOn": "@triggerOutputs()?['body']",
            "inputs": {"parameters": {"eventHubName": "orders"}, "serviceProviderConfiguration": {
                "connectionName": "hub", "operationId": "receiveEvents", "serviceProviderId": "/serviceProviders/eventHub"}}}},
        "actions": {"Id": {"type": "Compose", "runAfter": {}, "inputs": "@triggerBody()?['contentData']?['id']"}}}});
    let dir = app("kafka-embedded", &[("consume", workflow)]);
    let connections = json!({"serviceProviderConnections": {"hub": {"parameterValues": {},
        "serviceProvider": {"id": "/serviceProviders/eventHub"}}}});
    std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
    let sluice = start(&dir);
    let bootstrap = sluice
        .preamble
        .iter()
        .find_map(|l| l.strip_prefix("sluice: embedded Kafka cluster at "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no embedded cluster announced: {:?}", sluice.preamble))
        .to_string();
    produce(&bootstrap, "orders", 500, 0);
    wait_for(Duration::from_secs(60), "500 runs", || {
        let (_, _, metrics) = request(&sluice.base, "GET", "/metrics", None);
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(r#"sluice_runs_completed_total{status="Succeeded"} "#))
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|n| *n >= 500.0)
    });
}
