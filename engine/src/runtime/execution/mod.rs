//! Running one plan: the [`engine::Engine`] that starts runs and records them, the job
//! scheduler of a run's containers ([`executor`]), loops, waits and handler actions with
//! retries and timeouts ([`loops`]), and the seam connectors implement ([`handler`]).

pub mod engine;
pub mod executor;
pub mod handler;
pub(crate) mod loops;
