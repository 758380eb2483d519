//! A connector added from outside the connectors crate: its own folder (`connector_recipe/`)
//! and one registration line, with nothing else of Sluice changed.

mod ticker;

use serde_json::json;
use sluice_connectors::registry::BUILTIN;
use sluice_connectors::{Connectors, Wiring};
use sluice_engine::definition::{App, RunStatus};
use sluice_engine::runtime::{app_settings, Engine, Host};
use std::sync::Arc;

fn app() -> App {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("connector-recipe");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("ticks")).unwrap();
    std::fs::write(dir.join("host.json"), r#"{"version": "2.0"}"#).unwrap();
    let workflow = json!({"kind": "Stateless", "definition": {
        "$schema": "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#",
        "contentVersion": "1.0.0.0",
        "triggers": {"tick": {"type": "ServiceProvider", "inputs": {
            "parameters": {"count": 3},
            "serviceProviderConfiguration": {"connectionName": "ticker", "operationId": "tick",
                "serviceProviderId": ticker::PROVIDER}}}},
        "actions": {"Echo": {"type": "ServiceProvider", "runAfter": {}, "inputs": {
            "parameters": {"text": "@{triggerBody()?['n']}"},
            "serviceProviderConfiguration": {"connectionName": "ticker", "operationId": "echo",
                "serviceProviderId": ticker::PROVIDER}}}}}});
    std::fs::write(dir.join("ticks/workflow.json"), workflow.to_string()).unwrap();
    let connections = json!({"serviceProviderConnections": {"ticker": {"parameterValues": {},
        "serviceProvider": {"id": ticker::PROVIDER}}}});
    std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
    App::load(&dir).unwrap()
}

#[tokio::test]
async fn a_connector_from_its_own_folder_and_one_line() {
    let app = app();
    let connectors = [BUILTIN, &[ticker::build]].concat(); // the registration line
    let wiring = Wiring::new(&app, true, None).unwrap();
    let connectors = Connectors::build_with(&wiring, &connectors).unwrap();
    let engine = Engine::new(connectors.handlers(), app_settings(&app));
    let host = Arc::new(Host::new(&app, engine, 100).unwrap());
    connectors.attach(&host);
    let mut finished = connectors.find::<ticker::Ticker>().unwrap().finished();
    let mut triggers = connectors.start(&host).unwrap();
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0].source, "ticker (3 ticks)");
    let mut echoed = Vec::new();
    for _ in 0..3 {
        let run = finished.recv().await.unwrap();
        assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
        let echo = &run.actions[0].outputs;
        echoed.push(echo.to_json()["body"]["echo"].clone());
    }
    assert_eq!(echoed, [json!("0"), json!("1"), json!("2")]);
    for mut trigger in triggers.drain(..) {
        trigger.drain().await.unwrap();
        trigger.close().await.unwrap();
    }
}
