//! What the end-to-end tests share: the real `sluice` binary started on an ephemeral port,
//! `sluice mock function` as a downstream, plain HTTP/1.1 requests over loopback, and app
//! folders written into the target's temporary directory.
#![allow(dead_code)]

pub mod amqp;
pub mod gateway;
pub mod kafka;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An HTTP answer: status, headers (names in lower case), body.
pub type Reply = (u16, Vec<(String, String)>, String);

/// The management API key every `sluice run` of the tests gets (app setting
/// `Sluice.Management.Key`); [`request_with`] sends it on management paths.
pub const MANAGEMENT_KEY: &str = "test-management-key";
const MANAGEMENT: &str = "/runtime/webhooks/workflow/api/management";

pub struct Sluice {
    pub child: Child,
    pub base: String,
    /// What the process printed before it listened (e.g. the embedded cluster's address).
    pub preamble: Vec<String>,
}

impl Drop for Sluice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `sluice run` on an ephemeral port and waits for it to listen.
pub fn start(app: &Path) -> Sluice {
    start_with(app, &[])
}

/// Starts `sluice run` with extra arguments.
pub fn start_with(app: &Path, extra: &[&str]) -> Sluice {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", app.to_str().unwrap(), "--port", "0"])
        .args(extra)
        .env("Sluice.Management.Key", MANAGEMENT_KEY)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut preamble = Vec::new();
    let base = loop {
        let line = lines
            .next()
            .expect("sluice run printed its address")
            .unwrap();
        if let Some(rest) = line.strip_prefix("sluice: listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
        preamble.push(line);
    };
    std::thread::spawn(move || lines.for_each(drop));
    Sluice {
        child,
        base,
        preamble,
    }
}

/// One HTTP/1.1 request; returns (status, headers in lower case, body).
pub fn request(base: &str, method: &str, path: &str, body: Option<&Value>) -> Reply {
    request_with(base, method, path, body, "")
}

/// A request with extra header lines (`"Name: value\r\n"`).
pub fn request_with(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    extra: &str,
) -> Reply {
    try_request_with(base, method, path, body, extra)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// A request that may fail (the server was killed): the error instead of a panic.
pub fn try_request_with(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    extra: &str,
) -> std::io::Result<Reply> {
    let address = base.trim_start_matches("http://");
    let key;
    let extra =
        if path.contains(MANAGEMENT) && !extra.to_ascii_lowercase().contains("x-functions-key") {
            key = format!("{extra}x-functions-key: {MANAGEMENT_KEY}\r\n");
            key.as_str()
        } else {
            extra
        };
    let mut stream = TcpStream::connect(address)?;
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{payload}",
        payload.len()
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let broken = || std::io::Error::other(format!("not an HTTP response: {raw:?}"));
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(broken)?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(broken)?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers, body.to_string()))
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

pub fn app(name: &str, workflows: &[(&str, Value)]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    for (workflow, definition) in workflows {
        std::fs::create_dir_all(dir.join(workflow)).unwrap();
        std::fs::write(
            dir.join(workflow).join("workflow.json"),
            definition.to_string(),
        )
        .unwrap();
    }
    dir
}

/// Starts `sluice mock function` with `args` on an ephemeral port.
pub fn mock_function(args: &[&str]) -> Sluice {
    mock("function", args)
}

/// Starts `sluice mock llm` with `args` on an ephemeral port; `base` has no `/v1`.
pub fn mock_llm(args: &[&str]) -> Sluice {
    let mut m = mock("llm", args);
    m.base = m.base.trim_end_matches("/v1").to_string();
    m
}

fn mock(kind: &str, args: &[&str]) -> Sluice {
    let mut command = vec!["mock", kind];
    command.extend_from_slice(args);
    serve(&command, &format!("mock {kind}"))
}

/// Starts `sluice ARGS --port 0` and waits for its first line, "sluice: WHAT listening on URL".
pub fn serve(args: &[&str], what: &str) -> Sluice {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .args(["--port", "0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().expect("sluice printed its address").unwrap();
    let base = line
        .strip_prefix(&format!("sluice: {what} listening on "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    std::thread::spawn(move || lines.for_each(drop));
    Sluice {
        child,
        base,
        preamble: Vec::new(),
    }
}

/// GET `path` as JSON.
pub fn get_json(base: &str, path: &str) -> Value {
    let (status, _, body) = request(base, "GET", path, None);
    assert!(status < 300, "GET {path}: {status} {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Polls `check` every 20 ms until it gives a value, or fails after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes `local.settings.json` with these app settings into an app folder.
pub fn settings(app: &Path, values: &[(&str, &str)]) {
    let values: serde_json::Map<String, Value> = values
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    let doc = serde_json::json!({"IsEncrypted": false, "Values": values});
    std::fs::write(app.join("local.settings.json"), doc.to_string()).unwrap();
}

/// Waits until `function` (a `sluice mock function`) has served `calls` requests and no run
/// of `workflow` is still running; returns every run of `workflow` from the management API.
pub fn finished_runs(sluice: &Sluice, function: &Sluice, workflow: &str, calls: u64) -> Vec<Value> {
    let api = format!("/runtime/webhooks/workflow/api/management/workflows/{workflow}/runs");
    wait_for(
        Duration::from_secs(300),
        "a call per event at the function",
        || {
            let stats = get_json(&function.base, "/_stats");
            let served = stats["requests"].as_u64()? - stats["rejected"].as_u64()?;
            (served >= calls).then_some(())
        },
    );
    wait_for(Duration::from_secs(60), "every run to end", || {
        let running = get_json(&sluice.base, &format!("{api}?status=Running&top=1"));
        running["value"].as_array()?.is_empty().then_some(())
    });
    get_json(&sluice.base, &format!("{api}?top=100000"))["value"]
        .as_array()
        .unwrap()
        .clone()
}
