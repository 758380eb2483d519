//! `sluice mock function` and `sluice mock llm`: serve a stand-in until Ctrl-C.

use sluice_mocks::function::{router, MockConfig};
use sluice_mocks::llm::MockLlmConfig;
use std::process::ExitCode;

pub fn function(port: u16, config: MockConfig) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&config.fail_rate) {
        anyhow::bail!("--fail-rate must be between 0 and 1");
    }
    serve(
        port,
        "mock function",
        "",
        "(GET /_stats for counters)",
        || router(config),
    )
}

/// `sluice mock llm`: the OpenAI-compatible stand-in.
pub fn llm(port: u16, config: MockLlmConfig) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&config.faults.fail_rate) {
        anyhow::bail!("--fail-rate must be between 0 and 1");
    }
    if config.name.parse::<axum::http::HeaderValue>().is_err() {
        anyhow::bail!("--name must be usable as a header value");
    }
    serve(
        port,
        "mock llm",
        "/v1",
        "(GET /_stats for counters)",
        || sluice_mocks::llm::router(config),
    )
}

/// Serves `router` on 127.0.0.1:`port` until Ctrl-C, announcing
/// "sluice: WHAT listening on http://ADDR{path} {hint}" (tests read that line).
pub fn serve(
    port: u16,
    what: &str,
    path: &str,
    hint: &str,
    router: impl FnOnce() -> axum::Router,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        eprintln!(
            "sluice: {what} listening on http://{}{path} {hint}",
            listener.local_addr()?
        );
        let limits =
            sluice_http::serve::ServerLimits::from_settings(|name| std::env::var(name).ok());
        tokio::select! {
            _ = sluice_http::serve::serve(listener, router(), limits) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}
