//! The typed `inputs` of each non-container action type.
//!
//! Fields that Logic Apps evaluates as expressions stay [`Value`]s; fields that must be literal
//! (a variable's name, an operation id, JavaScript code) are typed, so a mistake there is found
//! at load time with the exact pointer. Fields Sluice does not know are ignored, as Logic Apps
//! ignores them.

use super::names::{RunStatus, VariableType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// InitializeVariable: `{"variables": [{"name", "type", "value"}]}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct InitializeVariableInputs {
    pub variables: Vec<VariableDeclaration>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct VariableDeclaration {
    pub name: String,
    #[serde(rename = "type")]
    pub variable_type: VariableType,
    #[serde(default)]
    pub value: Option<Value>,
}

/// SetVariable, IncrementVariable, DecrementVariable, AppendToArrayVariable,
/// AppendToStringVariable: `{"name", "value"}`; increments default to 1.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct VariableInputs {
    pub name: String,
    #[serde(default)]
    pub value: Option<Value>,
}

/// ParseJson.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ParseJsonInputs {
    pub content: Value,
    pub schema: Value,
}

/// Query (filter array).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct QueryInputs {
    pub from: Value,
    #[serde(rename = "where")]
    pub where_: Value,
}

/// Select.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SelectInputs {
    pub from: Value,
    pub select: Value,
}

/// Join.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinInputs {
    pub from: Value,
    pub join_with: Value,
}

/// Table: CSV or HTML from an array, with automatic or custom columns.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TableInputs {
    pub format: TableFormat,
    pub from: Value,
    #[serde(default)]
    pub columns: Option<Vec<TableColumn>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TableFormat {
    #[serde(alias = "csv", alias = "Csv")]
    Csv,
    #[serde(alias = "html", alias = "Html")]
    Html,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TableColumn {
    #[serde(default)]
    pub header: Option<Value>,
    pub value: Value,
}

/// Http.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct HttpInputs {
    pub method: String,
    pub uri: Value,
    #[serde(default)]
    pub headers: Option<Value>,
    #[serde(default)]
    pub queries: Option<Value>,
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub authentication: Option<Value>,
    #[serde(default)]
    pub cookie: Option<Value>,
}

/// HttpWebhook: a subscribe call carrying `listCallbackUrl()`, and an optional unsubscribe call.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct HttpWebhookInputs {
    pub subscribe: Value,
    #[serde(default)]
    pub unsubscribe: Option<Value>,
}

/// Function: an Azure Function called over HTTP, named by a connection or an id.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FunctionInputs {
    pub function: FunctionReference,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub headers: Option<Value>,
    #[serde(default)]
    pub queries: Option<Value>,
    #[serde(default)]
    pub body: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionReference {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub connection_name: Option<String>,
}

/// InvokeFunction: a local function of the app, by name.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokeFunctionInputs {
    pub function_name: String,
    #[serde(default)]
    pub parameters: Option<Value>,
}

/// Workflow: a child workflow of the same app, called through its Request trigger.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WorkflowInputs {
    pub host: WorkflowHost,
    #[serde(default)]
    pub headers: Option<Value>,
    #[serde(default)]
    pub body: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowHost {
    pub workflow: WorkflowReference,
    #[serde(default)]
    pub trigger_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WorkflowReference {
    pub id: String,
}

/// Response: the synchronous answer of a Request-triggered workflow.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseInputs {
    #[serde(default = "default_status_code")]
    pub status_code: Value,
    #[serde(default)]
    pub headers: Option<Value>,
    #[serde(default)]
    pub body: Option<Value>,
}

fn default_status_code() -> Value {
    Value::from(200)
}

/// Terminate.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminateInputs {
    pub run_status: RunStatus,
    #[serde(default)]
    pub run_error: Option<RunError>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RunError {
    #[serde(default)]
    pub code: Option<Value>,
    #[serde(default)]
    pub message: Option<Value>,
}

/// Wait: for an interval (`{"count", "unit"}`) or until a timestamp.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WaitInputs {
    #[serde(default)]
    pub interval: Option<WaitInterval>,
    #[serde(default)]
    pub until: Option<WaitUntil>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WaitInterval {
    pub count: Value,
    pub unit: super::names::Frequency,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WaitUntil {
    pub timestamp: Value,
}

/// JavaScriptCode.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JavaScriptCodeInputs {
    pub code: String,
    #[serde(default)]
    pub explicit_dependencies: Option<ExplicitDependencies>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplicitDependencies {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub include_trigger: bool,
}

/// ServiceProvider (built-in connector) actions and triggers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProviderInputs {
    #[serde(default)]
    pub parameters: Option<Value>,
    pub service_provider_configuration: ServiceProviderConfiguration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProviderConfiguration {
    pub connection_name: String,
    pub operation_id: String,
    pub service_provider_id: String,
}

/// ApiConnection and ApiConnectionWebhook (managed connectors).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ApiConnectionInputs {
    pub host: Value,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path: Option<Value>,
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub headers: Option<Value>,
    #[serde(default)]
    pub queries: Option<Value>,
}

/// Xslt and Liquid transforms.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransformInputs {
    pub content: Value,
    #[serde(default)]
    pub integration_account: Option<Value>,
    #[serde(default)]
    pub map: Option<Value>,
    #[serde(default)]
    pub transform_options: Option<Value>,
}
