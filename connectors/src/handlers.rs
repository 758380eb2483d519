//! The action handlers of an app, wired from its settings and connections.json: what
//! `sluice run` and `sluice invoke` give the engine.

use crate::http::webhook::{Callbacks, HttpWebhookAction};
use crate::http::{FunctionAction, HttpAction, Outbound, WorkflowAction};
use crate::kafka::SendAction;
use crate::service_provider::ServiceProviders;
use sluice_engine::definition::{ActionType, App};
use sluice_engine::runtime::hosting::host::Host;
use sluice_engine::runtime::{app_settings, Handlers};
use std::sync::Arc;

/// Every connector action handler of an app.
pub struct AppHandlers {
    pub handlers: Handlers,
    /// HttpWebhook actions waiting for callbacks; the server delivers to them.
    pub callbacks: Arc<Callbacks>,
    /// Peek-locked Service Bus messages, shared by the trigger and the settlement actions.
    pub locks: Arc<crate::amqp::locks::Locks>,
    /// The AI gateway of the app's `gateway.json`, if it has one (served by `sluice run`
    /// beside the app's routes, and used in-process by `openai` actions).
    pub gateway: Option<Arc<crate::gateway::Gateway>>,
    workflow: Arc<WorkflowAction>,
}

impl AppHandlers {
    /// Handlers for Http, HttpWebhook, Function, InvokeFunction, Workflow and ServiceProvider
    /// (Kafka / Event Hubs) actions; `kafka` is the embedded cluster's bootstrap, if running.
    pub fn new(app: &App, kafka: Option<&str>) -> Result<AppHandlers, String> {
        let settings = app_settings(app);
        let outbound = Outbound::new(settings.clone());
        let mut handlers = Handlers::default();
        let gateway = load_gateway(app, &settings)?;
        handlers.register(
            ActionType::Http,
            Arc::new(HttpAction {
                outbound: outbound.clone(),
                gateway: gateway.clone(),
            }),
        );
        let callbacks = Arc::new(Callbacks::default());
        handlers.register(
            ActionType::HttpWebhook,
            Arc::new(HttpWebhookAction {
                outbound: outbound.clone(),
                callbacks: callbacks.clone(),
            }),
        );
        let function = Arc::new(
            FunctionAction::new(app, outbound.clone(), settings.clone())?
                .with_gateway(gateway.clone()),
        );
        handlers.register(ActionType::Function, function.clone());
        handlers.register(ActionType::InvokeFunction, function);
        let mut providers = ServiceProviders::default();
        let send = Arc::new(SendAction::new(&crate::kafka::connections(app)?, kafka)?);
        for id in crate::kafka::trigger::PROVIDERS {
            providers.register(id, send.clone());
        }
        let locks = Arc::new(crate::amqp::locks::Locks::default());
        let service_bus = crate::amqp::actions::ServiceBusActions {
            locks: locks.clone(),
            publishers: crate::amqp::connections(app, &settings)
                .into_iter()
                .map(|(name, uri)| {
                    (
                        name.to_lowercase(),
                        crate::amqp::client::Publisher::new(uri),
                    )
                })
                .collect(),
            lock_duration: std::time::Duration::from_secs(60),
        };
        providers.register(crate::amqp::PROVIDER, Arc::new(service_bus));
        let openai = crate::gateway::action::OpenAiActions::new(app, gateway.as_ref());
        providers.register(crate::gateway::action::PROVIDER, Arc::new(openai));
        handlers.register(ActionType::ServiceProvider, Arc::new(providers));
        let workflow = WorkflowAction::new(outbound, settings);
        handlers.register(ActionType::Workflow, workflow.clone());
        Ok(AppHandlers {
            handlers,
            callbacks,
            locks,
            gateway,
            workflow,
        })
    }

    /// Lets Workflow actions start child runs in `host` (in-process, no HTTP hop).
    pub fn attach(&self, host: &Arc<Host>) {
        self.workflow.attach(host);
    }
}

/// The app's `gateway.json`, if present. In-process, the semantic cache is kept in memory
/// (several hosts may share one app folder; `sluice gateway` keeps it on disk).
fn load_gateway(
    app: &App,
    settings: &sluice_engine::runtime::Settings,
) -> Result<Option<Arc<crate::gateway::Gateway>>, String> {
    let path = app.root.join("gateway.json");
    if !path.exists() {
        return Ok(None);
    }
    let config = crate::gateway::config::GatewayConfig::load(&path)?;
    let setting = |name: &str| settings(name).or_else(|| std::env::var(name).ok());
    crate::gateway::Gateway::new(config, &setting, None)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}
