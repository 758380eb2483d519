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

/// Starts `sluice gateway --config CONFIG [--data DATA]` on an ephemeral port; `base` has no
/// `/v1`.
pub fn sluice_gateway(config: &std::path::Path, data: Option<&std::path::Path>) -> super::Sluice {
    let config = config.to_str().unwrap();
    let mut args = vec!["gateway", "--config", config];
    if let Some(data) = data {
        args.extend(["--data", data.to_str().unwrap()]);
    }
    let mut gateway = super::serve(&args, "gateway");
    gateway.base = gateway.base.trim_end_matches("/v1").to_string();
    gateway
}
