//! sluice-engine: the workflow language and the runtime of Sluice. It knows nothing of Kafka,
//! AMQP or HTTP; connectors plug in through the seams it defines.
//!
//! A map of the crate:
//! - [`definition`]: the app model. Loads Logic Apps Standard app folders, `workflow.json` files
//!   and bare definitions into typed structures, and validates them, naming the file, JSON
//!   pointer, line and column of every problem.
//! - [`expr`]: the expression language: parser, evaluator, the function library, and
//!   templates (JSON values compiled once at load time).
//! - [`runtime`]: runs of compiled workflows — plans, the job scheduler, built-in actions,
//!   retries, admission control, metrics, and the handler seam connectors implement.
//! - [`record`]: what a run leaves — the records of its actions and of the run — shared by
//!   the runtime that writes them and the store that keeps them.
//! - [`store`]: durable run state and run history on sled, behind the `RunStore` trait.
//! - [`pointer`] and [`spelling`]: JSON pointers and "did you mean" hints, used by the
//!   definitions and the expression language alike.
//! - [`Error`]: the crate's one error type.

pub mod definition;
mod error;
pub mod expr;
pub mod pointer;
pub mod record;
pub mod runtime;
pub mod spelling;
pub mod store;

pub use error::Error;
