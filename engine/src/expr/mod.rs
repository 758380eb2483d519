//! The Workflow Definition Language's expression language.
//!
//! - [`value`]: [`Value`], JSON with integer/float/decimal kept apart and shared containers.
//! - [`syntax`]: the parser; function names are resolved and arities checked while parsing.
//! - [`eval`]: the evaluator, with errors that name the function, the argument and its value.
//! - [`functions`]: the function library by category (string, collection, logical,
//!   conversion, math, date and time, workflow, URI, JSON and XML).
//! - [`template`]: JSON values compiled once into literal parts and parsed expressions.
//! - [`context`]: [`EvalContext`], the seam through which expressions read a run, and
//!   [`JsonContext`], a context from one JSON document (tests, `sluice expr`).

pub mod context;
pub mod eval;
pub mod functions;
pub mod syntax;
pub mod template;
pub mod value;

pub use context::{EvalContext, JsonContext};
pub use eval::EvalError;
pub use syntax::SyntaxError;
pub use template::{Expression, Template, TemplateError};
pub use value::Value;
