//! The shape every connector has: built for an app from its [`Wiring`], it gives action
//! handlers, routes on the app's HTTP server, and triggers, each started and stopped the same
//! way.
//!
//! A connector's life in a host:
//! 1. [`Build`] reads its part of the app (connections.json, the workflows' triggers) and
//!    makes its clients; a connection that cannot be built is an error, never skipped;
//! 2. [`Connector::actions`] registers its handlers, by action type or by service provider id;
//! 3. [`Connector::attach`] gives it the host, once the engine exists (the Workflow action
//!    starts child runs through it);
//! 4. [`Connector::routes`] adds what it serves on the app's HTTP server;
//! 5. [`Connector::start`] starts its triggers (only `sluice run` and `sluice bench` do),
//!    each a [`Trigger`] handle that the host drains and closes on the way out.

use crate::http::Outbound;
use crate::service_provider::ServiceProviders;
use sluice_engine::definition::{ActionType, App};
use sluice_engine::runtime::{ActionHandler, BoxFuture, Handlers, Host, Settings};
use std::any::Any;
use std::sync::Arc;

/// What a connector is built from: the app and the services connectors share.
pub struct Wiring<'a> {
    pub app: &'a App,
    /// App settings: the environment first, then local.settings.json.
    pub settings: Settings,
    /// The one pooled HTTP client every outbound call uses.
    pub outbound: Outbound,
    /// The app's AI gateway (`gateway.json`), if it has one: Http, Function and `openai`
    /// actions route through it in-process.
    pub gateway: Option<Arc<sluice_gateway::Gateway>>,
    /// Whether triggers will be started (`sluice run`, `sluice bench`): only then are the
    /// workflows' triggers read, and stand-ins a trigger needs (the embedded Kafka cluster)
    /// started. `sluice invoke` runs one workflow without its trigger.
    pub hosting: bool,
}

impl<'a> Wiring<'a> {
    /// The wiring of `app`; loads its `gateway.json` if present. `data_dir` is the host's
    /// data directory, where the gateway keeps its semantic cache and quota usage (None: in
    /// memory).
    pub fn new(
        app: &'a App,
        hosting: bool,
        data_dir: Option<&std::path::Path>,
    ) -> Result<Wiring<'a>, ConnectorError> {
        let settings = sluice_engine::runtime::app_settings(app);
        let gateway = load_gateway(app, &settings, data_dir)
            .map_err(|e| ConnectorError::new("gateway", e))?;
        Ok(Wiring {
            app,
            outbound: Outbound::new(settings.clone()),
            settings,
            gateway,
            hosting,
        })
    }
}

/// The app's `gateway.json`, if present.
fn load_gateway(
    app: &App,
    settings: &Settings,
    data_dir: Option<&std::path::Path>,
) -> Result<Option<Arc<sluice_gateway::Gateway>>, sluice_gateway::Error> {
    let path = app.root.join("gateway.json");
    if !path.exists() {
        return Ok(None);
    }
    let config = sluice_gateway::config::GatewayConfig::load(&path)?;
    let setting = |name: &str| settings(name).or_else(|| std::env::var(name).ok());
    sluice_gateway::Gateway::new(config, &setting, data_dir)
        .map(Some)
        .map_err(|e| e.in_file(&path))
}

/// Why a connector could not be built or started: the connector's own typed error, named.
/// (Its message is part of this one, so it is not repeated as a source.)
#[derive(Debug, thiserror::Error)]
#[error("{connector}: {error}")]
pub struct ConnectorError {
    pub connector: &'static str,
    pub error: Box<dyn std::error::Error + Send + Sync>,
}

impl ConnectorError {
    pub fn new(
        connector: &'static str,
        error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> ConnectorError {
        ConnectorError {
            connector,
            error: error.into(),
        }
    }
}

/// Where connectors register their action handlers.
#[derive(Default)]
pub struct Actions {
    handlers: Handlers,
    providers: ServiceProviders,
}

impl Actions {
    /// Handles every action of type `action_type`.
    pub fn register(&mut self, action_type: ActionType, handler: Arc<dyn ActionHandler>) {
        self.handlers.register(action_type, handler);
    }

    /// Handles the `ServiceProvider` actions whose `serviceProviderId` is `provider_id`.
    pub fn register_provider(&mut self, provider_id: &str, handler: Arc<dyn ActionHandler>) {
        self.providers.register(provider_id, handler);
    }

    /// The handlers the engine takes.
    pub fn into_handlers(self) -> Handlers {
        let mut handlers = self.handlers;
        handlers.register(ActionType::ServiceProvider, Arc::new(self.providers));
        handlers
    }
}

/// A connector built for one app. It lives on the hosting thread (the embedded Kafka cluster
/// cannot move between threads); what runs elsewhere (handlers, trigger tasks) it hands out.
pub trait Connector: 'static {
    /// Its name in logs and errors: `kafka`, `amqp`, `http` …
    fn name(&self) -> &'static str;

    /// Registers its action handlers.
    fn actions(&self, _actions: &mut Actions) {}

    /// Receives the host once it exists.
    fn attach(&self, _host: &Arc<Host>) {}

    /// What it serves on the app's HTTP server, if anything.
    fn routes(&self) -> Option<axum::Router> {
        None
    }

    /// Starts its triggers for the app in `host`.
    fn start(&self, _host: &Arc<Host>) -> Result<Vec<Trigger>, ConnectorError> {
        Ok(Vec::new())
    }

    /// For the few callers that need a connector's own API (`sluice run --demo` produces to
    /// the embedded Kafka cluster).
    fn as_any(&self) -> &dyn Any;
}

/// Builds a connector for an app.
pub type Build = fn(&Wiring<'_>) -> Result<Box<dyn Connector>, ConnectorError>;

/// A started trigger: what it serves, and the handle that stops it.
pub struct Trigger {
    /// The workflow whose runs it starts.
    pub workflow: String,
    /// What it listens to, as the banner says it: `Kafka topic 'orders' (group 'g', batch 100)`.
    pub source: String,
    running: Box<dyn Running>,
}

impl Trigger {
    pub fn new(workflow: &str, source: String, running: impl Running) -> Trigger {
        Trigger {
            workflow: workflow.to_string(),
            source,
            running: Box::new(running),
        }
    }

    /// A trigger that is one task: draining stops the task; there is nothing to close.
    pub fn task(workflow: &str, source: String, task: tokio::task::JoinHandle<()>) -> Trigger {
        Trigger::new(workflow, source, Task(Some(task)))
    }

    /// Stops taking events and lets the runs it started finish (each connector bounds the wait).
    pub async fn drain(&mut self) -> Result<(), ConnectorError> {
        self.running.drain().await
    }

    /// Releases the trigger's connection (a Kafka consumer leaves its group at once).
    pub async fn close(self) -> Result<(), ConnectorError> {
        self.running.close().await
    }
}

/// How a connector stops one of its triggers.
pub trait Running: Send + 'static {
    /// Stops taking events and waits, bounded, for the runs in flight.
    fn drain(&mut self) -> BoxFuture<'_, Result<(), ConnectorError>>;
    /// Releases the connection; called after [`Running::drain`].
    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), ConnectorError>>;
}

/// A trigger that is one task.
struct Task(Option<tokio::task::JoinHandle<()>>);

impl Running for Task {
    fn drain(&mut self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            if let Some(task) = self.0.take() {
                task.abort();
                let _ = task.await;
            }
            Ok(())
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            if let Some(task) = self.0 {
                task.abort();
            }
            Ok(())
        })
    }
}

/// A task that ends when its owner is dropped (a connector's housekeeping).
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
