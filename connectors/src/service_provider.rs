//! ServiceProvider actions (built-in connectors) go to the connector of their
//! `serviceProviderConfiguration.serviceProviderId`.

use sluice_engine::expr::functions::to_text;
use sluice_engine::expr::Value;
use sluice_engine::runtime::{ActionCall, ActionFailure, ActionHandler, BoxFuture};
use std::collections::HashMap;
use std::sync::Arc;

/// The connectors of ServiceProvider actions, by service provider id.
#[derive(Default)]
pub struct ServiceProviders {
    by_id: HashMap<String, Arc<dyn ActionHandler>>,
}

impl ServiceProviders {
    pub fn register(&mut self, provider_id: &str, handler: Arc<dyn ActionHandler>) {
        self.by_id.insert(provider_id.to_lowercase(), handler);
    }
}

impl ActionHandler for ServiceProviders {
    fn execute<'a>(&'a self, call: ActionCall<'a>) -> BoxFuture<'a, Result<Value, ActionFailure>> {
        let id = call
            .inputs
            .get("serviceProviderConfiguration")
            .and_then(|c| c.get("serviceProviderId"))
            .map(to_text)
            .unwrap_or_default();
        match self.by_id.get(&id.to_lowercase()) {
            Some(handler) => handler.execute(call),
            None => Box::pin(async move {
                Err(ActionFailure::permanent(
                    "NoHandler",
                    format!(
                        "the service provider '{id}' is not available in this build; mock '{}' to run this workflow",
                        call.action
                    ),
                ))
            }),
        }
    }
}
