//! `sluice mock function`: serves the stand-in until Ctrl-C.

use sluice_connectors::http::mock_function::{router, MockConfig};
use std::process::ExitCode;

pub fn function(port: u16, config: MockConfig) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&config.fail_rate) {
        anyhow::bail!("--fail-rate must be between 0 and 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        eprintln!(
            "sluice: mock function listening on http://{} (GET /_stats for counters)",
            listener.local_addr()?
        );
        let serve = axum::serve(listener, router(config));
        tokio::select! {
            result = serve => result?,
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `sluice mock llm`: serves the OpenAI-compatible stand-in until Ctrl-C.
pub fn llm(
    port: u16,
    config: sluice_connectors::gateway::mock_llm::MockLlmConfig,
) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&config.faults.fail_rate) {
        anyhow::bail!("--fail-rate must be between 0 and 1");
    }
    if config.name.parse::<axum::http::HeaderValue>().is_err() {
        anyhow::bail!("--name must be usable as a header value");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        eprintln!(
            "sluice: mock llm listening on http://{}/v1 (GET /_stats for counters)",
            listener.local_addr()?
        );
        let serve = axum::serve(
            listener,
            sluice_connectors::gateway::mock_llm::router(config),
        );
        tokio::select! {
            result = serve => result?,
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}
