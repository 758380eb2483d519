//! Hosting an app's workflows: [`host::Host`] holds their plans behind admission gates
//! ([`admission`]); every trigger submits through it; it recovers unfinished runs and runs
//! the Recurrence triggers.

pub mod admission;
pub mod host;
