//! The typed `inputs` of each non-container action type.
//!
//! Fields that Logic Apps evaluates as expressions are payloads ([`Value`]s once loaded, see
//! [`super::payload`]); fields that must be literal
//! (a variable's name, an operation id, JavaScript code) are typed, so a mistake there is found
//! at load time with the exact pointer. Fields Sluice does not know are ignored, as Logic Apps
//! ignores them.

use super::names::{RunStatus, VariableType};
use super::payload::Payload;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// InitializeVariable: `{"variables": [{"name", "type", "value"}]}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: Payload"))]
pub struct InitializeVariableInputs<P = Value> {
    pub variables: Vec<VariableDeclaration<P>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: Payload"))]
pub struct VariableDeclaration<P = Value> {
    pub name: String,
    #[serde(rename = "type")]
    pub variable_type: VariableType,
    #[serde(default)]
    pub value: Option<P>,
}

/// SetVariable, IncrementVariable, DecrementVariable, AppendToArrayVariable,
/// AppendToStringVariable: `{"name", "value"}`; increments default to 1.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: Payload"))]
pub struct VariableInputs<P = Value> {
    pub name: String,
    #[serde(default)]
    pub value: Option<P>,
}

/// ParseJson.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: Payload"))]
pub struct ParseJsonInputs<P = Value> {
    pub content: P,
    pub schema: P,
}

/// Query (filter array).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: Payload"))]
pub struct QueryInputs<P = Value> {
    pub from: P,
    #[serde(rename = "where")]
    pub where_: P,
}

/// Select.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: Payload"))]
pub struct SelectInputs<P = Value> {
    pub from: P,
    pub select: P,
}

/// Join.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "P: Payload"))]
pub struct JoinInputs<P = Value> {
    pub from: P,
    pub join_with: P,
}

/// Table: CSV or HTML from an array, with automatic or custom columns.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: Payload"))]
pub struct TableInputs<P = Value> {
    pub format: TableFormat,
    pub from: P,
    #[serde(default)]
    pub columns: Option<Vec<TableColumn<P>>>,
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
#[serde(bound(deserialize = "P: Payload"))]
pub struct TableColumn<P = Value> {
    #[serde(default)]
    pub header: Option<P>,
    pub value: P,
}

/// Http.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: Payload"))]
pub struct HttpInputs<P = Value> {
    pub method: String,
    pub uri: P,
    #[serde(default)]
    pub headers: Option<P>,
    #[serde(default)]
    pub queries: Option<P>,
    #[serde(default)]
    pub body: Option<P>,
    #[serde(default)]
    pub authentication: Option<P>,
    #[serde(default)]
    pub cookie: Option<P>,
}

/// HttpWebhook: a subscribe call carrying `listCallbackUrl()`, and an optional unsubscribe call.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: Payload"))]
pub struct HttpWebhookInputs<P = Value> {
    pub subscribe: P,
    #[serde(default)]
    pub unsubscribe: Option<P>,
}

/// Function: an Azure Function called over HTTP, named by a connection or an id.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: Payload"))]
pub struct FunctionInputs<P = Value> {
    pub function: FunctionReference,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub headers: Option<P>,
    #[serde(default)]
    pub queries: Option<P>,
    #[serde(default)]
    pub body: Option<P>,
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
#[serde(rename_all = "camelCase", bound(deserialize = "P: Payload"))]
pub struct InvokeFunctionInputs<P = Value> {
    pub function_name: String,
    #[serde(default)]
    pub parameters: Option<P>,
}

/// Workflow: a child workflow of the same app, called through its Request trigger.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: Payload"))]
pub struct WorkflowInputs<P = Value> {
    pub host: WorkflowHost,
    #[serde(default)]
    pub headers: Option<P>,
    #[serde(default)]
    pub body: Option<P>,
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
#[serde(rename_all = "camelCase", bound(deserialize = "P: Payload"))]
pub struct ResponseInputs<P = Value> {
    #[serde(default = "default_status_code")]
    pub status_code: P,
    #[serde(default)]
    pub headers: Option<P>,
    #[serde(default)]
    pub body: Option<P>,
}

fn default_status_code<P: Payload>() -> P {
    P::integer(200)
}

/// Terminate.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "P: Payload"))]
pub struct TerminateInputs<P = Value> {
    pub run_status: RunStatus,
    #[serde(default)]
    pub run_error: Option<RunError<P>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: Payload"))]
pub struct RunError<P = Value> {
    #[serde(default)]
    pub code: Option<P>,
    #[serde(default)]
    pub message: Option<P>,
}

/// Wait: for an interval (`{"count", "unit"}`) or until a timestamp.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: Payload"))]
pub struct WaitInputs<P = Value> {
    #[serde(default)]
    pub interval: Option<WaitInterval<P>>,
    #[serde(default)]
    pub until: Option<WaitUntil<P>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: Payload"))]
pub struct WaitInterval<P = Value> {
    pub count: P,
    pub unit: super::names::Frequency,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "P: Payload"))]
pub struct WaitUntil<P = Value> {
    pub timestamp: P,
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
    #[serde(default, deserialize_with = "action_names")]
    pub actions: Vec<String>,
    #[serde(default)]
    pub include_trigger: bool,
}

/// ServiceProvider (built-in connector) actions and triggers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "P: Payload"))]
pub struct ServiceProviderInputs<P = Value> {
    #[serde(default)]
    pub parameters: Option<P>,
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
#[serde(bound(deserialize = "P: Payload"))]
pub struct ApiConnectionInputs<P = Value> {
    pub host: P,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path: Option<P>,
    #[serde(default)]
    pub body: Option<P>,
    #[serde(default)]
    pub headers: Option<P>,
    #[serde(default)]
    pub queries: Option<P>,
}

/// Xslt and Liquid transforms.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "P: Payload"))]
pub struct TransformInputs<P = Value> {
    pub content: P,
    #[serde(default)]
    pub integration_account: Option<P>,
    #[serde(default)]
    pub map: Option<P>,
    #[serde(default)]
    pub transform_options: Option<P>,
}

/// Names of actions, never more than a workflow may have: a longer list is refused as it is
/// read, before it takes memory.
fn action_names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    use super::validate::limits::MAX_ACTIONS;
    struct Names;
    impl<'de> serde::de::Visitor<'de> for Names {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of action names")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<String>, A::Error> {
            let mut names = Vec::new();
            while let Some(name) = seq.next_element::<String>()? {
                if names.len() == MAX_ACTIONS {
                    return Err(serde::de::Error::custom(format!(
                        "more than {MAX_ACTIONS} action names; a workflow has at most {MAX_ACTIONS} actions"
                    )));
                }
                names.push(name);
            }
            Ok(names)
        }
    }
    d.deserialize_seq(Names)
}
