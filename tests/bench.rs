//! `sluice bench` end to end through the real binary: each scenario on a small input, checked
//! against what the generator sent (no event lost or run twice), with its results folder
//! (JSON, Markdown beside the study, the chart as PNG). Figures are not asserted: they come
//! from release builds (docs/benchmarks.md).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bench(name: &str, args: &[&str]) -> (Value, PathBuf) {
    let results = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-{name}"));
    let _ = std::fs::remove_dir_all(&results);
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["bench", name, "--format", "json", "--drain-timeout", "120"])
        .args(args)
        .arg("--results")
        .arg(&results)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "sluice bench {name} failed:\n{stderr}"
    );
    let result: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&output.stdout)));
    let folder = std::fs::read_dir(&results)
        .unwrap()
        .next()
        .expect("a results folder")
        .unwrap()
        .path();
    (result, folder)
}

fn check_common(result: &Value, folder: &Path, events: u64, study_row: &str) {
    assert_eq!(result["events_in"], events, "{result:#}");
    assert_eq!(result["lost"], 0, "{result:#}");
    assert_eq!(result["duplicated"], 0, "{result:#}");
    for field in [
        "events_per_min",
        "actions_per_min",
        "jobs_per_min",
        "elapsed_s",
        "peak_rss_mb",
    ] {
        assert!(result[field].as_f64().unwrap() > 0.0, "{field}: {result:#}");
    }
    for field in ["delay_p50_ms", "delay_p95_ms", "delay_p99_ms"] {
        assert!(result[field].is_number(), "{field}: {result:#}");
    }
    assert!(
        result["latency_p95_ms"].as_f64().unwrap() >= result["latency_p50_ms"].as_f64().unwrap()
    );
    assert!(!result["samples"].as_array().unwrap().is_empty());
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("result.json")).unwrap())
            .unwrap();
    assert_eq!(saved["events_in"], events);
    let md = std::fs::read_to_string(folder.join("result.md")).unwrap();
    assert!(md.contains(study_row), "the study's column: {md}");
    assert!(md.contains("![") && md.contains("chart.png"), "{md}");
    let png = std::fs::read(folder.join("chart.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

#[test]
fn sustained_runs_every_event_once() {
    let (result, folder) = bench("sustained", &["--events", "400", "--rate", "200"]);
    check_common(&result, &folder, 400, "| actions/min | 250K sustained |");
    assert_eq!(result["runs_completed"], 400, "one run per event");
    // Each event runs 19 to 22 of the 24 actions, depending on the branches it takes.
    let actions = result["actions_total"].as_u64().unwrap();
    assert!(
        (400 * 19..=400 * 22).contains(&actions),
        "{actions} actions"
    );
    assert_eq!(result["downstream"]["repeated_keys"], 0);
}

#[test]
fn throttled_never_overruns_the_downstream() {
    let (result, folder) = bench(
        "throttled",
        &[
            "--events",
            "300",
            "--rate",
            "150",
            "--capacity",
            "10",
            "--latency-ms",
            "20",
        ],
    );
    check_common(&result, &folder, 300, "| drain time / input time |");
    assert_eq!(
        result["runs_completed"], 600,
        "a parent and a child per event"
    );
    let downstream = &result["downstream"];
    assert!(
        downstream["max_concurrent"].as_u64().unwrap() <= 10,
        "{downstream}"
    );
    assert_eq!(downstream["rejected"], 0, "{downstream}");
    assert_eq!(
        downstream["requests"], 301,
        "one call per event and the warm-up's: {downstream}"
    );
    assert!(result["drain_over_ideal"].as_f64().unwrap() >= 1.0);
}

#[test]
fn burst_runs_microsofts_files_unchanged() {
    let (result, folder) = bench("burst", &["--events", "2000", "--batch", "500"]);
    check_common(&result, &folder, 2000, "| 1M messages |");
    assert_eq!(
        result["runs_completed"], 4000,
        "a dispatcher and an enricher run per message"
    );
    assert_eq!(
        result["downstream"]["requests"], 2001,
        "{}",
        result["downstream"]
    );
}

#[test]
fn bad_options_are_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["bench", "burst", "--stateless"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unchanged"));
}
