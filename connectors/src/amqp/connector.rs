//! The Service Bus connector on RabbitMQ: queue and topic triggers, and the settlement and
//! send actions. A trigger whose connection does not resolve stops the app's start; a
//! connection only actions use fails those actions with its reason (logged at start).

use super::actions::ServiceBusActions;
use super::client::Publisher;
use super::locks::Locks;
use super::trigger::{expire_locks, AmqpTrigger};
use super::PROVIDER;
use crate::connector::{AbortOnDrop, Actions, Connector, ConnectorError, Trigger, Wiring};
use sluice_engine::runtime::Host;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a peek-locked message stays locked when the trigger does not say.
const LOCK_DURATION: Duration = Duration::from_secs(60);

/// Builds the Service Bus connector.
pub fn build(wiring: &Wiring<'_>) -> Result<Box<dyn Connector>, ConnectorError> {
    let error = |e| ConnectorError::new("amqp", e);
    let triggers = match wiring.hosting {
        true => AmqpTrigger::for_app(wiring.app, &wiring.settings).map_err(error)?,
        false => Vec::new(),
    };
    let locks = Arc::new(Locks::default());
    let publishers = super::connections(wiring.app, &wiring.settings)
        .into_iter()
        .map(|(name, uri)| {
            if let Err(e) = &uri {
                tracing::warn!("Service Bus connection '{name}' cannot be used: {e}");
            }
            let publisher = uri.map(Publisher::new).map_err(|e| e.to_string());
            (name.to_lowercase(), publisher)
        })
        .collect();
    let actions = ServiceBusActions {
        locks: locks.clone(),
        publishers,
        lock_duration: LOCK_DURATION,
    };
    Ok(Box::new(AmqpConnector {
        triggers,
        actions: Arc::new(actions),
        locks,
        housekeeping: Mutex::default(),
    }))
}

struct AmqpConnector {
    triggers: Vec<AmqpTrigger>,
    actions: Arc<ServiceBusActions>,
    /// Peek-locked messages, shared by the triggers and the settlement actions.
    locks: Arc<Locks>,
    /// Abandons expired locks while triggers run.
    housekeeping: Mutex<Option<AbortOnDrop>>,
}

impl Connector for AmqpConnector {
    fn name(&self) -> &'static str {
        "amqp"
    }

    fn actions(&self, actions: &mut Actions) {
        actions.register_provider(PROVIDER, self.actions.clone());
    }

    fn start(&self, host: &Arc<Host>) -> Result<Vec<Trigger>, ConnectorError> {
        if !self.triggers.is_empty() {
            let task = expire_locks(self.locks.clone());
            *self.housekeeping.lock().unwrap_or_else(|p| p.into_inner()) = Some(AbortOnDrop(task));
        }
        Ok(self
            .triggers
            .iter()
            .map(|trigger| {
                let source = format!(
                    "RabbitMQ queue '{}' ({}, prefetch {})",
                    trigger.queue,
                    if trigger.peek_lock {
                        "peek-lock"
                    } else {
                        "auto-complete"
                    },
                    trigger.prefetch
                );
                let task = trigger.clone().start(host.clone(), self.locks.clone());
                Trigger::task(&trigger.workflow, source, task)
            })
            .collect())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
