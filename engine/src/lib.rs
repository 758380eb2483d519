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
//! - [`store`]: durable run state and run history on sled, behind the `RunStore` trait.
//! - [`Error`]: the crate's one error type.

pub mod definition;
mod error;
pub mod expr;
pub mod runtime;
pub mod store;

pub use error::Error;
