//! Every connector of this build, and the set of them built for one app.
//!
//! Adding a connector is its folder plus its name in the `connectors!` line of `lib.rs`;
//! nothing else names it.

use crate::connector::{Actions, Build, Connector, ConnectorError, Trigger, Wiring};
use sluice_engine::runtime::{Handlers, Host};
use std::sync::Arc;

/// The connectors every host gets, in the order they are built and started.
pub const BUILTIN: &[Build] = crate::BUILTIN;

/// The connectors of one app, built.
pub struct Connectors {
    built: Vec<Box<dyn Connector>>,
    handlers: Handlers,
}

impl Connectors {
    /// Builds every connector of [`BUILTIN`] for the app.
    pub fn build(wiring: &Wiring<'_>) -> Result<Connectors, ConnectorError> {
        Connectors::build_with(wiring, BUILTIN)
    }

    /// Builds these connectors for the app (tests add their own to [`BUILTIN`]).
    pub fn build_with(wiring: &Wiring<'_>, list: &[Build]) -> Result<Connectors, ConnectorError> {
        let built = list
            .iter()
            .map(|build| build(wiring))
            .collect::<Result<Vec<_>, _>>()?;
        let mut actions = Actions::default();
        for connector in &built {
            connector.actions(&mut actions);
        }
        Ok(Connectors {
            built,
            handlers: actions.into_handlers(),
        })
    }

    /// Every action handler, for the engine.
    pub fn handlers(&self) -> Handlers {
        self.handlers.clone()
    }

    /// Gives every connector the host (call once the host exists).
    pub fn attach(&self, host: &Arc<Host>) {
        for connector in &self.built {
            connector.attach(host);
        }
    }

    /// What the connectors serve on the app's HTTP server, merged.
    pub fn routes(&self) -> axum::Router {
        self.built
            .iter()
            .filter_map(|c| c.routes())
            .fold(axum::Router::new(), axum::Router::merge)
    }

    /// Starts every connector's triggers. On an error the triggers already started are
    /// dropped with the returned error's caller, which stops their tasks.
    pub fn start(&self, host: &Arc<Host>) -> Result<Vec<Trigger>, ConnectorError> {
        let mut triggers = Vec::new();
        for connector in &self.built {
            triggers.extend(connector.start(host)?);
        }
        Ok(triggers)
    }

    /// The built connector of type `C`, for the callers that need its own API.
    pub fn find<C: Connector>(&self) -> Option<&C> {
        self.built
            .iter()
            .find_map(|c| c.as_any().downcast_ref::<C>())
    }
}
