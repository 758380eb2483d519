//! The HTTP connector: Http, HttpWebhook, Function and InvokeFunction actions, and the
//! webhook callbacks they wait for on the app's server. (Request triggers are the server's
//! own routes: [`super::routes`].)

use super::function::FunctionAction;
use super::webhook::{Callbacks, HttpWebhookAction};
use super::HttpAction;
use crate::connector::{Actions, Connector, ConnectorError, Wiring};
use sluice_engine::definition::ActionType;
use std::sync::Arc;

/// Builds the HTTP connector; a function connection that does not resolve is an error.
pub fn build(wiring: &Wiring<'_>) -> Result<Box<dyn Connector>, ConnectorError> {
    let function =
        FunctionAction::new(wiring.app, wiring.outbound.clone(), wiring.settings.clone())
            .map_err(|e| ConnectorError::new("http", e))?
            .with_gateway(wiring.gateway.clone());
    let callbacks = Arc::new(Callbacks::default());
    Ok(Box::new(HttpConnector {
        http: Arc::new(HttpAction {
            outbound: wiring.outbound.clone(),
            gateway: wiring.gateway.clone(),
        }),
        webhook: Arc::new(HttpWebhookAction {
            outbound: wiring.outbound.clone(),
            callbacks: callbacks.clone(),
        }),
        function: Arc::new(function),
        callbacks,
    }))
}

struct HttpConnector {
    http: Arc<HttpAction>,
    webhook: Arc<HttpWebhookAction>,
    function: Arc<FunctionAction>,
    /// HttpWebhook actions waiting for their callbacks; the callback route delivers to them.
    callbacks: Arc<Callbacks>,
}

impl Connector for HttpConnector {
    fn name(&self) -> &'static str {
        "http"
    }

    fn actions(&self, actions: &mut Actions) {
        actions.register(ActionType::Http, self.http.clone());
        actions.register(ActionType::HttpWebhook, self.webhook.clone());
        actions.register(ActionType::Function, self.function.clone());
        actions.register(ActionType::InvokeFunction, self.function.clone());
    }

    fn routes(&self) -> Option<axum::Router> {
        Some(super::webhook::routes(self.callbacks.clone()))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
