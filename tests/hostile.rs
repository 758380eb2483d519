//! Hostile input against the real binary: each class of input that could abort the process,
//! starve it or leak a secret gets a clear error (a validation error, a failed action, a 4xx)
//! and the process stays up.

mod support;

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{app, request, request_with, settings, start, wait_for};

fn sluice(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .unwrap()
}

fn request_trigger(actions: Value) -> Value {
    json!({"kind": "Stateful", "definition": {
        "triggers": {"manual": {"type": "Request", "kind": "Http"}},
        "actions": actions}})
}

fn healthy(base: &str) {
    let (status, _, body) = request(base, "GET", "/health", None);
    assert_eq!(status, 200, "the process is up: {body}");
}

#[test]
fn deep_expressions_and_huge_numbers_are_validation_errors() {
    let deep = format!("@{}1{}", "string(".repeat(10_000), ")".repeat(10_000));
    let chain = format!("@triggerBody(){}", "?['a']".repeat(10_000));
    let digits = format!("PT{}S", "9".repeat(400));
    let dir = app(
        "hostile-validate",
        &[(
            "w",
            request_trigger(json!({
                "Deep": {"type": "Compose", "runAfter": {}, "inputs": deep},
                "Chain": {"type": "Compose", "runAfter": {}, "inputs": chain},
                "Long": {"type": "Http", "runAfter": {},
                    "inputs": {"method": "GET", "uri": "http://127.0.0.1:9/x",
                        "retryPolicy": {"type": "fixed", "count": 2, "interval": digits}}}
            })),
        )],
    );
    let out = sluice(&["validate", dir.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "an error, not a crash: {out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.contains("nests deeper than 128"))
            .count(),
        2,
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("too long")),
        "{messages:?}"
    );
}

#[test]
fn hostile_values_fail_their_action_not_the_process() {
    let deep_xml = format!("{}{}", "<a>".repeat(30_000), "</a>".repeat(30_000));
    let dir = app(
        "hostile-invoke",
        &[(
            "w",
            request_trigger(json!({
                "Substring": {"type": "Compose", "runAfter": {},
                    "inputs": "@substring('abc', 1, 9223372036854775807)"},
                "Sort": {"type": "Compose", "runAfter": {},
                    "inputs": "@sort(createArray(3, 'a', 1, 'b', 2))"},
                "Xml": {"type": "Compose", "runAfter": {},
                    "inputs": "@json(xml(triggerBody()?['xml']))"},
                "Deep_array": {"type": "JavaScriptCode", "runAfter": {},
                    "inputs": {"code": "var a = []; for (var i = 0; i < 200000; i++) a = [a]; return a;"}},
                "Cycle": {"type": "JavaScriptCode", "runAfter": {},
                    "inputs": {"code": "var o = {n: 1}; o.self = o; return o;"}},
                "Fine": {"type": "Compose", "runAfter": {}, "inputs": "@add(1, 2)"}
            })),
        )],
    );
    let body = dir.join("body.json");
    std::fs::write(&body, json!({"xml": deep_xml}).to_string()).unwrap();
    let out = sluice(&[
        "invoke",
        dir.to_str().unwrap(),
        "w",
        "--body",
        body.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the run fails, the process does not: {out:?}"
    );
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let action = |name: &str| {
        run["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()
            .clone()
    };
    for (name, expected) in [
        ("Substring", "outside the text"),
        ("Sort", "cannot order"),
        ("Xml", "nests deeper than 256"),
        ("Deep_array", "nests deeper than 128"),
        ("Cycle", "nests deeper than 128"),
    ] {
        let a = action(name);
        assert_eq!(a["status"], "Failed", "{name}: {a}");
        let message = a["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{name}: {message}");
    }
    assert_eq!(action("Fine")["outputs"], 3);
}

/// A downstream that answers every request with `status` and these extra header lines.
fn downstream(status: &str, headers: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let status = status.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    format!("http://{address}")
}

#[test]
fn absurd_retry_after_headers_are_capped_by_the_retry_policy() {
    let down = downstream("503 Service Unavailable", "Retry-After: 1e300\r\n");
    let down_ms = downstream(
        "429 Too Many Requests",
        "retry-after-ms: inf\r\nRetry-After: -5\r\n",
    );
    let policy = json!({"type": "exponential", "count": 1, "interval": "PT1S",
        "minimumInterval": "PT1S", "maximumInterval": "PT1S"});
    let dir = app(
        "hostile-retry-after",
        &[(
            "w",
            request_trigger(json!({
                "Call": {"type": "Http", "runAfter": {},
                    "inputs": {"method": "GET", "uri": format!("{down}/x"), "retryPolicy": policy}},
                "Call_ms": {"type": "Http", "runAfter": {},
                    "inputs": {"method": "GET", "uri": format!("{down_ms}/x"), "retryPolicy": policy}},
                "Answer": {"type": "Response", "kind": "Http",
                    "runAfter": {"Call": ["Failed"], "Call_ms": ["Failed"]},
                    "inputs": {"statusCode": 200, "body": "both failed after one retry"}}
            })),
        )],
    );
    let sluice = start(&dir);
    let started = Instant::now();
    let (status, _, body) = request(
        &sluice.base,
        "POST",
        "/api/w/triggers/manual/invoke",
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the 1e300 s wait was capped at maximumInterval"
    );
    healthy(&sluice.base);
}

#[test]
fn the_management_api_needs_its_key_and_shows_no_secret() {
    let dir = app(
        "hostile-secrets",
        &[(
            "w",
            json!({"kind": "Stateful", "definition": {
            "triggers": {"manual": {"type": "Request", "kind": "Http",
                "runtimeConfiguration": {"secureData": {"properties": ["outputs"]}}}},
            "actions": {
                "Secret": {"type": "Compose", "runAfter": {}, "inputs": "@triggerBody()?['password']",
                    "runtimeConfiguration": {"secureData": {"properties": ["inputs", "outputs"]}}},
                "Echo_headers": {"type": "Compose", "runAfter": {"Secret": ["Succeeded"]},
                    "inputs": "@triggerOutputs()?['headers']"}
            }}}),
        )],
    );
    let sluice = start(&dir);
    let management = "/runtime/webhooks/workflow/api/management/workflows";
    for key in [
        "",
        "x-functions-key: wrong\r\n",
        "Authorization: Bearer wrong\r\n",
    ] {
        let mut stream = TcpStream::connect(sluice.base.trim_start_matches("http://")).unwrap();
        write!(
            stream,
            "GET {management} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{key}\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 401"), "{key:?}: {answer}");
    }
    let (status, _, _) = request_with(
        &sluice.base,
        "GET",
        &format!("{management}?code={}", support::MANAGEMENT_KEY),
        None,
        "x-functions-key: ignored-when-code-is-right\r\n",
    );
    assert_eq!(status, 401, "the header is checked first");

    let credentials = "Authorization: Bearer TOKEN-1\r\nCookie: session=COOKIE-2\r\n\
                       x-functions-key: FKEY-3\r\napi-key: AKEY-4\r\nsig: SIG-5\r\n";
    let (status, headers, body) = request_with(
        &sluice.base,
        "POST",
        "/api/w/triggers/manual/invoke",
        Some(&json!({"password": "PASSWORD-6"})),
        credentials,
    );
    assert_eq!(status, 202, "{body}");
    let location = support::header(&headers, "location").to_string();
    let run = wait_for(Duration::from_secs(30), "the run to end", || {
        let (status, _, body) = request(&sluice.base, "GET", &location, None);
        (status == 200).then_some(body)
    });
    for secret in [
        "TOKEN-1",
        "COOKIE-2",
        "FKEY-3",
        "AKEY-4",
        "SIG-5",
        "PASSWORD-6",
    ] {
        assert!(!run.contains(secret), "{secret} shown: {run}");
    }
    let run: Value = serde_json::from_str(&run).unwrap();
    assert_eq!(run["status"], "Succeeded", "{run}");
    assert!(
        run["trigger"].to_string().contains("Content not shown"),
        "{run}"
    );
    let list = support::get_json(&sluice.base, &format!("{management}/w/runs"));
    assert!(!list.to_string().contains("PASSWORD-6"));

    let (status, _, _) = request(
        &sluice.base,
        "POST",
        "/runtime/webhooks/workflow/callbacks/SOMERUN%2FAction",
        Some(&json!({"forged": true})),
    );
    assert_eq!(status, 401, "a callback without its signature");
    healthy(&sluice.base);
}

#[test]
fn a_function_key_never_comes_back_in_an_error() {
    let dir = app(
        "hostile-function-key",
        &[(
            "w",
            request_trigger(json!({
                "Call": {"type": "Function", "runAfter": {},
                    "inputs": {"function": {"connectionName": "scorer"}, "method": "POST", "body": {},
                        "retryPolicy": {"type": "none"}}},
                "Answer": {"type": "Response", "kind": "Http", "runAfter": {"Call": ["Failed"]},
                    "inputs": {"statusCode": 502, "body": "@actions('Call')"}}
            })),
        )],
    );
    let connections = json!({"functionConnections": {"scorer": {
        "function": {"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/a/functions/score"},
        "triggerUrl": "http://127.0.0.1:1/api/score",
        "authentication": {"type": "QueryString", "name": "Code", "value": "FUNCTION-KEY-7"}}}});
    std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
    let sluice = start(&dir);
    let (status, headers, body) = request(
        &sluice.base,
        "POST",
        "/api/w/triggers/manual/invoke",
        Some(&json!({})),
    );
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("127.0.0.1:1/api/score"),
        "the URL is named: {body}"
    );
    assert!(!body.contains("FUNCTION-KEY-7"), "{body}");
    let id = support::header(&headers, "x-ms-workflow-run-id");
    let stored = support::get_json(
        &sluice.base,
        &format!("/runtime/webhooks/workflow/api/management/workflows/w/runs/{id}"),
    );
    assert!(!stored.to_string().contains("FUNCTION-KEY-7"), "{stored}");
}

#[test]
fn scripts_and_idle_connections_never_starve_the_server() {
    let busy = json!({"type": "JavaScriptCode", "runAfter": {},
        "inputs": {"code": "var t = Date.now(); while (Date.now() - t < 2500) {} return 1;"}});
    let dir = app(
        "hostile-starve",
        &[(
            "w",
            request_trigger(json!({"A": busy, "B": busy, "C": busy, "D": busy})),
        )],
    );
    settings(
        &dir,
        &[
            ("Sluice.Http.HeaderReadTimeoutSeconds", "1"),
            ("Sluice.Http.MaxConnections", "16"),
        ],
    );
    let sluice = start(&dir);
    for _ in 0..2 {
        let (status, _, _) = request(
            &sluice.base,
            "POST",
            "/api/w/triggers/manual/invoke",
            Some(&json!({})),
        );
        assert_eq!(status, 202);
    }
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..5 {
        let started = Instant::now();
        healthy(&sluice.base);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "/health waited {:?} behind the scripts",
            started.elapsed()
        );
    }
    // Idle connections past the cap: closed after the header-read timeout, and the server
    // answers again once they are.
    let address = sluice.base.trim_start_matches("http://").to_string();
    let idle: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(&address).unwrap())
        .collect();
    let mut first = idle.into_iter().next().unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 16];
    let read = first.read(&mut buffer).unwrap_or(0);
    assert_eq!(read, 0, "an idle connection is closed");
    assert!(started.elapsed() < Duration::from_secs(5));
    wait_for(
        Duration::from_secs(10),
        "the server to answer again",
        || {
            support::try_request_with(&sluice.base, "GET", "/health", None, "")
                .ok()
                .filter(|(status, _, _)| *status == 200)
        },
    );
}

#[test]
fn the_gateway_refuses_malformed_requests_with_400() {
    let llm = support::mock_llm(&[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "gateway",
            "--backend",
            &format!("{}/v1", llm.base),
            "--port",
            "0",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some((_, rest)) = line.split_once("listening on ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches("/v1")
                .to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    let chat = "/v1/chat/completions";
    let cases: Vec<(&str, String)> = vec![
        (chat, "[null,true]".into()),
        (
            chat,
            "{\"model\":\"m\",\"stream\":true,\"stream_options\":5}".into(),
        ),
        (
            chat,
            "{\"model\":\"m\",\"max_tokens\":18446744073709551615,\"messages\":[]}".into(),
        ),
        (chat, "{\"model\":\"..\",\"messages\":[]}".into()),
        (chat, "{\"model\":\"m\",\"messages\":{}}".into()),
        (
            "/openai/deployments/%2E%2E/chat/completions?api-version=1",
            "{\"messages\":[]}".into(),
        ),
    ];
    for (path, body) in &cases {
        let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let raw = body.clone();
        let mut stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{raw}",
            raw.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{path} {value}: {answer}"
        );
    }
    let (status, _, body) = request(
        &base,
        "POST",
        chat,
        Some(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})),
    );
    assert_eq!(status, 200, "still serving: {body}");
    let _ = child.kill();
    let _ = child.wait();
}
