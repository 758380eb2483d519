//! The app model: Logic Apps Standard files read into typed structures, validated with
//! precise locations.
//!
//! - [`app`]: an app folder (host.json, connections.json, parameters.json, app settings,
//!   workflow folders) and [`check_app`], which reports every problem of every file.
//! - [`workflow_file`]: one `workflow.json` or bare definition: parse, read, validate.
//! - [`model`], [`action`], [`inputs`]: the Workflow Definition Language as typed structs.
//! - [`names`]: the case-insensitive vocabularies (types, statuses, kinds).
//! - [`reader`] turns a file's text into the model, walking it as [`node`]s and [`fields`]
//!   without parsing it whole; [`payload`] says how the model holds the JSON a workflow may put
//!   anywhere (kept to run, skipped to validate). [`validate`] applies the rules that need the
//!   whole workflow (names, runAfter, placement, limits).
//! - [`source`], [`problem`]: where a problem is, and how it is reported (with
//!   [`crate::pointer::Pointer`]).
//! - [`duration`]: ISO 8601 durations.
//! - `expressions`: every expression of a workflow compiled at load time, errors located.

pub mod action;
pub mod app;
pub mod duration;
pub(crate) mod expressions;
pub(crate) mod fields;
pub mod inputs;
pub mod model;
pub mod names;
pub(crate) mod node;
pub mod payload;
pub mod problem;
pub(crate) mod reader;
pub mod source;
pub mod validate;
pub mod workflow_file;

pub use crate::pointer::Pointer;
pub use action::{Action, ActionBody};
pub use app::{check_app, App, AppReport};
pub use model::{Definition, Trigger, Workflow};
pub use names::{ActionType, RunStatus, TriggerType, WorkflowKind};
pub use problem::{Problem, Severity};
pub use workflow_file::{check_workflow_file, check_workflow_text, Purpose, WorkflowReport};
