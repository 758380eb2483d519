//! The seam connectors implement: a handler executes the actions of one type (Http,
//! ServiceProvider, …) and tells the runtime whether a failure may be retried.

use crate::definition::names::OperationOption;
use crate::definition::ActionType;
use crate::expr::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed future, as handlers return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One execution of an action by a handler.
#[derive(Debug)]
pub struct ActionCall<'a> {
    pub workflow: &'a str,
    pub run_id: &'a str,
    pub action: &'a str,
    pub action_type: ActionType,
    /// The evaluated `inputs`.
    pub inputs: Value,
    /// Run id + action path with loop indexes: the same across retries and recovery, sent
    /// downstream as `Idempotency-Key` so a downstream can drop repeats.
    pub idempotency_key: &'a str,
    /// The action's `operationOptions`.
    pub options: &'a [OperationOption],
}

impl ActionCall<'_> {
    pub fn has_option(&self, option: OperationOption) -> bool {
        self.options.contains(&option)
    }
}

/// Why a handler failed, and whether the retry policy applies.
#[derive(Debug, Clone)]
pub struct ActionFailure {
    /// A Logic Apps style code: `BadRequest`, `ServiceUnavailable`, `ConnectionFailed` …
    pub code: String,
    pub message: String,
    /// The downstream's HTTP status, when there is one.
    pub status_code: Option<u16>,
    pub retryable: bool,
    /// A downstream `Retry-After`.
    pub retry_after: Option<Duration>,
    /// Outputs to record even though the action failed (the error response).
    pub outputs: Option<Value>,
}

impl ActionFailure {
    /// A failure that is not retried.
    pub fn permanent(code: impl Into<String>, message: impl Into<String>) -> ActionFailure {
        ActionFailure {
            code: code.into(),
            message: message.into(),
            status_code: None,
            retryable: false,
            retry_after: None,
            outputs: None,
        }
    }

    /// A downstream answered `status`: 408, 429 and 5xx are retried, as Logic Apps does.
    pub fn from_status(
        status: u16,
        message: impl Into<String>,
        outputs: Option<Value>,
    ) -> ActionFailure {
        ActionFailure {
            code: status_code_name(status).to_string(),
            message: message.into(),
            status_code: Some(status),
            retryable: status == 408 || status == 429 || status >= 500,
            retry_after: None,
            outputs,
        }
    }

    /// The downstream could not be reached; retried.
    pub fn connection(message: impl Into<String>) -> ActionFailure {
        ActionFailure {
            retryable: true,
            ..ActionFailure::permanent("ConnectionFailed", message)
        }
    }
}

fn status_code_name(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        408 => "RequestTimeout",
        409 => "Conflict",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        s if s >= 500 => "ServerError",
        _ => "ActionFailed",
    }
}

/// Executes the actions of one type.
pub trait ActionHandler: Send + Sync {
    /// Runs one attempt; the runtime applies retries and timeouts around it.
    fn execute<'a>(&'a self, call: ActionCall<'a>) -> BoxFuture<'a, Result<Value, ActionFailure>>;
}

/// The handlers of an engine, by action type.
#[derive(Clone, Default)]
pub struct Handlers {
    by_type: HashMap<ActionType, Arc<dyn ActionHandler>>,
}

impl Handlers {
    pub fn register(&mut self, action_type: ActionType, handler: Arc<dyn ActionHandler>) {
        self.by_type.insert(action_type, handler);
    }

    pub fn get(&self, action_type: ActionType) -> Option<&Arc<dyn ActionHandler>> {
        self.by_type.get(&action_type)
    }
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_type.keys()).finish()
    }
}
