//! Recovery at scale: `sluice run` is SIGKILLed with 10,000 acknowledged stateful runs in
//! flight (each waiting in a Wait action), and restarted on the same data directory. Every run
//! must resume and finish exactly once. The time from the restart to the last run's end is
//! printed (`cargo test --release --test recovery_scale -- --nocapture` for the figure in
//! docs/benchmarks.md).

mod support;

use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{app, get_json, settings, start, try_request_with, wait_for};

const RUNS: u64 = 10_000;

fn workflow() -> Value {
    json!({"kind": "Stateful", "definition": {
    "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
    "actions": {
        "Hold": {"type": "Wait", "runAfter": {},
            "inputs": {"interval": {"count": "@int(appsetting('HoldSeconds'))", "unit": "Second"}}},
        "Done": {"type": "Compose", "runAfter": {"Hold": ["Succeeded"]},
            "inputs": "@triggerBody()?['event']"}
    }}})
}

/// Posts events 1..=RUNS from four clients; panics unless every one is answered 202.
fn post_all(base: &str) {
    let next = Arc::new(AtomicU64::new(1));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (base, next) = (base.to_string(), next.clone());
            std::thread::spawn(move || loop {
                let event = next.fetch_add(1, Ordering::SeqCst);
                if event > RUNS {
                    return;
                }
                let tracking = format!("x-ms-client-tracking-id: event-{event}\r\n");
                let sent = try_request_with(
                    &base,
                    "POST",
                    "/api/hold/triggers/manual/invoke",
                    Some(&json!({"event": event})),
                    &tracking,
                );
                assert!(matches!(sent, Ok((202, _, _))), "event {event}: {sent:?}");
            })
        })
        .collect();
    clients.into_iter().for_each(|c| c.join().unwrap());
}

#[test]
fn ten_thousand_runs_in_flight_resume_after_a_kill() {
    let dir = app("recovery-scale", &[("hold", workflow())]);
    settings(&dir, &[("HoldSeconds", "3600")]);
    let first = start(&dir);
    post_all(&first.base);
    drop(first); // SIGKILL, with every run waiting

    settings(&dir, &[("HoldSeconds", "0")]);
    let restarted = Instant::now();
    let second = start(&dir);
    let api = "/runtime/webhooks/workflow/api/management/workflows/hold/runs";
    wait_for(Duration::from_secs(300), "every run to end", || {
        let running = get_json(&second.base, &format!("{api}?status=Running&top=1"));
        running["value"].as_array()?.is_empty().then_some(())
    });
    let elapsed = restarted.elapsed();
    let runs = get_json(&second.base, &format!("{api}?top=100000"))["value"]
        .as_array()
        .unwrap()
        .clone();
    let mut events = HashSet::new();
    for run in &runs {
        assert_eq!(run["status"], "Succeeded", "{run}");
        events.insert(run["eventId"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(runs.len() as u64, RUNS, "one run per acknowledged request");
    assert_eq!(events.len() as u64, RUNS, "each event ran once");
    println!(
        "recovery: {RUNS} runs in flight at the kill all finished {:.2} s after the restart",
        elapsed.as_secs_f64()
    );
}
