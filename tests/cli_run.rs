//! `sluice run` hosts the sample app: its Recurrence workflow runs every second and the live
//! status line reports it; the Event Hubs workflow consumes from the embedded cluster.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn run_hosts_recurrences_and_reports_rates() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "workflows", "--port", "0"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut ran = false;
    for line in stderr.lines() {
        let line = line.unwrap();
        seen.push(line.clone());
        // The heartbeat runs 14 actions per run: one initialize, ten appends, the loop, the If and a Compose.
        if line.starts_with("events ") && !line.contains("(0 done)") && line.contains("| in flight")
        {
            ran = true;
            break;
        }
        if Instant::now() > deadline {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let text = seen.join("\n");
    assert!(
        text.contains("sluice: heartbeat: recurrence every 1s"),
        "{text}"
    );
    assert!(
        text.contains("sluice: hello: POST http://127.0.0.1:")
            && text.contains("/api/hello/triggers/manual/invoke"),
        "{text}"
    );
    assert!(
        text.contains("sluice: embedded Kafka cluster at 127.0.0.1:")
            && text.contains("sluice: sustained: Kafka topic 'events'"),
        "the sustained workflow's Event Hubs trigger on the embedded cluster:\n{text}"
    );
    assert!(
        text.contains("sluice: queue-orders: RabbitMQ queue 'orders' (peek-lock, prefetch"),
        "the queue-driven sample on RabbitMQ:\n{text}"
    );
    assert!(ran, "no run reported:\n{text}");
}
