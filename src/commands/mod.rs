//! The subcommands of `sluice`, one module each.

pub mod bench;
pub mod demo;
pub mod expr;
pub mod gateway;
pub mod invoke;
pub mod mock;
pub mod produce;
pub mod run;
pub mod runs;
pub mod validate;
