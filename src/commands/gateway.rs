//! `sluice gateway`: the AI gateway as a standalone OpenAI-compatible proxy, with its own
//! `/metrics`.

use axum::routing::get;
use sluice_gateway::config::GatewayConfig;
use sluice_gateway::{server, Gateway};
use std::path::Path;
use std::process::ExitCode;

pub fn run(
    config: Option<&Path>,
    backends: &[String],
    port: u16,
    data: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let (config, default_data) = match config {
        Some(path) => match GatewayConfig::load(path) {
            Ok(c) => (c, path.parent().map(|p| p.join(".sluice-gateway"))),
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::FAILURE);
            }
        },
        None if !backends.is_empty() => (GatewayConfig::round_robin(backends), None),
        None => anyhow::bail!("give --config FILE or at least one --backend URL"),
    };
    let data = data.map(Path::to_path_buf).or(default_data);
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = prometheus.handle();
    metrics::set_global_recorder(prometheus).map_err(|e| anyhow::anyhow!("{e}"))?;
    sluice_connectors::metric_definitions::describe();
    let setting = |name: &str| std::env::var(name).ok();
    let gateway = match Gateway::new(config, &setting, data.as_deref()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("sluice: gateway: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    crate::commands::mock::serve(port, "gateway", "/v1", "(GET /metrics)", move || {
        server::router(gateway).route(
            "/metrics",
            get(move || {
                let h = handle.clone();
                async move { h.render() }
            }),
        )
    })
}
