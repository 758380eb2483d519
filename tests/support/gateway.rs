//! The AI gateway in the test's runtime: the same routers `sluice gateway` and
//! `sluice mock llm` serve, over real loopback HTTP.

use serde_json::Value;
use sluice_gateway::config::GatewayConfig;
use sluice_gateway::{server, Gateway};
use sluice_mocks::llm::{self, Faults, MockLlmConfig, MockLlmStats};
use std::net::SocketAddr;

pub async fn listen(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    format!("http://{addr}")
}

pub async fn mock(name: &str, faults: Faults) -> String {
    listen(llm::router(MockLlmConfig {
        name: name.into(),
        faults,
        ..MockLlmConfig::default()
    }))
    .await
}

pub async fn gateway(config: Value) -> String {
    let config: GatewayConfig = serde_json::from_value(config).unwrap();
    let g = Gateway::new(config, &|_| None, None).unwrap();
    listen(server::router(g)).await
}

pub async fn stats(client: &reqwest::Client, base: &str) -> MockLlmStats {
    let r = client.get(format!("{base}/_stats")).send().await.unwrap();
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

pub async fn chat(
    client: &reqwest::Client,
    gw: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = client
        .post(format!("{gw}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// A mock LLM with its own settings (latency, completion size, faults).
pub async fn mock_with(config: MockLlmConfig) -> String {
    listen(llm::router(config)).await
}

/// Starts `sluice gateway --config CONFIG --data DATA` on an ephemeral port.
pub fn sluice_gateway(config: &std::path::Path, data: &std::path::Path) -> super::Sluice {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["gateway", "--port", "0", "--config"])
        .arg(config)
        .arg("--data")
        .arg(data)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the gateway printed its address")
            .unwrap();
        if let Some((_, rest)) = line.split_once("listening on ") {
            let url = rest.split_whitespace().next().unwrap();
            break url.trim_end_matches("/v1").to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    super::Sluice {
        child,
        base,
        preamble: Vec::new(),
    }
}
