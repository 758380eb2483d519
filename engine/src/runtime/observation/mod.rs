//! What the runtime reports: metric names, descriptions and cached handles ([`metrics`]),
//! and the recorder that also keeps the status line's series ([`stats`]).

pub mod metrics;
pub mod stats;
