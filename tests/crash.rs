//! Durable runs survive SIGKILL: the real binary hosts a stateful workflow whose two Http
//! actions call `sluice mock function` (which counts calls per idempotency key); 10,000
//! events are fed, the process is killed at a random point, restarted on the same data
//! directory, and the events are fed again (an at-least-once source redelivers). Every event
//! must have finished exactly once in history; each action called once, or at most twice with
//! the same key for runs that were in flight at the kill.

mod support;

use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::{app, get_json, mock_function, settings, start, try_request_with, wait_for, Sluice};

const EVENTS: usize = 10_000;
const BATCH: usize = 250;

fn ingest() -> Value {
    let call = |path: &str| {
        json!({"method": "POST", "uri": format!("@{{appsetting('Downstream')}}/api/{path}"),
               "body": "@triggerBody()"})
    };
    json!({"kind": "Stateful", "definition": {
    "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {},
                            "splitOn": "@triggerBody()?['events']"}},
    "actions": {
        "Reserve": {"type": "Http", "runAfter": {}, "inputs": call("reserve")},
        "Confirm": {"type": "Http", "runAfter": {"Reserve": ["Succeeded"]}, "inputs": call("confirm")}
    }}})
}

/// Sends every batch with its tracking id; after a kill, sends fail and are ignored.
fn feed(base: &str) -> usize {
    let mut accepted = 0;
    for batch in 0..EVENTS / BATCH {
        let events: Vec<Value> = (0..BATCH)
            .map(|i| json!({"event": batch * BATCH + i}))
            .collect();
        let tracking = format!("x-ms-client-tracking-id: batch-{batch}\r\n");
        let path = "/api/ingest/triggers/manual/invoke";
        let sent = try_request_with(
            base,
            "POST",
            path,
            Some(&json!({"events": events})),
            &tracking,
        );
        match sent {
            Ok((202, _, _)) => accepted += 1,
            _ => break,
        }
    }
    accepted
}

fn runs_cli(dir: &std::path::Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["runs", "--app", dir.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_killed_instance_resumes_and_runs_every_event_exactly_once() {
    let function = mock_function(&["--latency-ms", "1"]);
    let dir = app("crash", &[("ingest", ingest())]);
    settings(&dir, &[("Downstream", &function.base)]);

    let first: Sluice = start(&dir);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let kill_after = Duration::from_millis(300 + nanos % 1500);
    let mut first = first;
    let base = first.base.clone();
    let feeder = std::thread::spawn(move || feed(&base));
    std::thread::sleep(kill_after);
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let fed_before = feeder.join().unwrap();

    let unfinished: HashSet<String> = runs_cli(
        &dir,
        &[
            "list", "--status", "Running", "--limit", "100000", "--format", "json",
        ],
    )
    .as_array()
    .unwrap()
    .iter()
    .map(|r| r["id"].as_str().unwrap().to_string())
    .collect();
    let before_restart = get_json(&function.base, "/_stats");

    let second = start(&dir);
    assert_eq!(
        feed(&second.base),
        EVENTS / BATCH,
        "the restarted instance takes every batch"
    );
    let api = "/runtime/webhooks/workflow/api/management/workflows/ingest/runs";
    wait_for(Duration::from_secs(300), "every run to end", || {
        let running = get_json(&second.base, &format!("{api}?status=Running&top=1"));
        let stats = get_json(&function.base, "/_stats");
        (running["value"].as_array().unwrap().is_empty()
            && stats["idempotency_keys_seen"].as_u64() >= Some(2 * EVENTS as u64))
        .then_some(())
    });

    let runs = get_json(&second.base, &format!("{api}?top=100000"))["value"]
        .as_array()
        .unwrap()
        .clone();
    let events: HashSet<&str> = runs.iter().filter_map(|r| r["eventId"].as_str()).collect();
    assert_eq!(runs.len(), EVENTS, "one run per event in history");
    assert_eq!(events.len(), EVENTS, "every event ran, none twice");
    let failed: Vec<_> = runs.iter().filter(|r| r["status"] != "Succeeded").collect();
    assert!(
        failed.is_empty(),
        "{} runs did not succeed, e.g. {:#}",
        failed.len(),
        failed[0]
    );

    let keys: HashMap<String, u64> =
        serde_json::from_value(get_json(&function.base, "/_keys")).unwrap();
    assert_eq!(
        keys.len(),
        2 * EVENTS,
        "two actions per event, each with one stable key"
    );
    let ids: HashSet<&str> = runs.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for (key, count) in &keys {
        let run = key.split('/').next().unwrap();
        assert!(
            ids.contains(run),
            "a call from a run that is not in history: {key}"
        );
        match count {
            1 => {}
            2 => assert!(
                unfinished.contains(run),
                "{key} called twice, but its run was not in flight at the kill"
            ),
            n => panic!("{key} called {n} times"),
        }
    }
    let repeated = keys.values().filter(|c| **c == 2).count();
    eprintln!(
        "killed after {kill_after:?} ({fed_before} batches accepted, {} calls made, {} runs unfinished); \
         after restart: {repeated} calls repeated with the same key",
        before_restart["requests"], unfinished.len()
    );
}
