//! The `openai` service provider (Logic Apps' Azure OpenAI built-in connector) in-process,
//! through the gateway: `getChatCompletions`, `getSingleEmbedding`, `getArrayEmbeddings`.
//!
//! A connection whose name is also an API of the app's `gateway.json` goes through that
//! API (its pool, limits, metrics and cache; counter keys see `{workflow}`). Any other
//! `openai` connection becomes a one-backend API of its own from its `openAIEndpoint` and
//! `openAIKey` (Azure OpenAI when the host is `*.openai.azure.com` or
//! `*.cognitiveservices.azure.com`, OpenAI-compatible otherwise).
//!
//! Outputs follow the connector: chat → `body.content`, `body.role`, `body.finishReason`,
//! `body.usage`; single embedding → `body.embedding`; array → `body.embeddings`.

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{json, Value as Json};
use sluice_engine::definition::App;
use sluice_engine::expr::Value;
use sluice_engine::runtime::{ActionCall, ActionFailure, ActionHandler, BoxFuture};
use sluice_gateway::config::{BackendConfig, BackendKind, GatewayConfig};
use sluice_gateway::{Gateway, GatewayRequest, Operation, ResponseBody};
use std::collections::HashMap;
use std::sync::Arc;

pub const PROVIDER: &str = "/serviceProviders/openai";

/// Builds the `openai` connector: its actions, and the AI gateway's OpenAI-compatible routes
/// (`/v1/…`) on the app's server when the app has a `gateway.json`.
pub fn build(
    wiring: &crate::connector::Wiring<'_>,
) -> Result<Box<dyn crate::connector::Connector>, crate::connector::ConnectorError> {
    Ok(Box::new(OpenAiConnector {
        actions: Arc::new(OpenAiActions::new(wiring.app, wiring.gateway.as_ref())),
        gateway: wiring.gateway.clone(),
    }))
}

struct OpenAiConnector {
    actions: Arc<OpenAiActions>,
    gateway: Option<Arc<Gateway>>,
}

impl crate::connector::Connector for OpenAiConnector {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn actions(&self, actions: &mut crate::connector::Actions) {
        actions.register_provider(PROVIDER, self.actions.clone());
    }

    fn routes(&self) -> Option<axum::Router> {
        let gateway = self.gateway.as_ref()?;
        tracing::info!("the AI gateway of gateway.json serves /v1 on the app's server");
        Some(sluice_gateway::server::router(gateway.clone()))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Runs `openai` service provider actions; connections by lower-case name.
pub struct OpenAiActions {
    /// A connection that does not resolve fails its actions (not the app's start), so a
    /// workflow whose model calls are mocked still runs.
    routes: HashMap<String, Result<(Arc<Gateway>, String), String>>,
}

impl OpenAiActions {
    pub fn new(app: &App, gateway: Option<&Arc<Gateway>>) -> OpenAiActions {
        let mut routes = HashMap::new();
        for (name, c) in &app.connections.service_provider_connections {
            if !c.service_provider.id.eq_ignore_ascii_case(PROVIDER) {
                continue;
            }
            let route = match gateway.filter(|g| g.has_api(name)) {
                Some(g) => Ok((g.clone(), name.clone())),
                None => direct(app, &c.parameter_values)
                    .map(|g| (g, "default".to_string()))
                    .map_err(|e| format!("connections.json {name}: {e}")),
            };
            routes.insert(name.to_lowercase(), route);
        }
        OpenAiActions { routes }
    }
}

/// A one-backend gateway for a connection that no gateway API names.
fn direct(app: &App, parameters: &Json) -> Result<Arc<Gateway>, String> {
    let values = sluice_engine::runtime::resolve_app_value(app, parameters)
        .map_err(|e| e.to_string())?
        .to_json();
    let endpoint = values
        .get("openAIEndpoint")
        .and_then(Json::as_str)
        .ok_or("no openAIEndpoint")?
        .to_string();
    let key = values
        .get("openAIKey")
        .and_then(Json::as_str)
        .map(str::to_string);
    Gateway::new(single(&endpoint, key.is_some()), &|_| key.clone(), None)
        .map_err(|e| e.to_string())
}

/// A one-backend gateway configuration for a connection's endpoint.
fn single(endpoint: &str, keyed: bool) -> GatewayConfig {
    let mut config = GatewayConfig::round_robin(&[endpoint.to_string()]);
    let azure =
        endpoint.contains(".openai.azure.com") || endpoint.contains(".cognitiveservices.azure.com");
    let b: &mut BackendConfig = config.backends.values_mut().next().expect("one");
    if azure {
        b.kind = BackendKind::AzureOpenAi;
    }
    if keyed {
        b.api_key_setting = Some("openAIKey".into());
    }
    config
}

impl ActionHandler for OpenAiActions {
    fn execute<'a>(&'a self, call: ActionCall<'a>) -> BoxFuture<'a, Result<Value, ActionFailure>> {
        Box::pin(async move {
            let inputs = call.inputs.to_json();
            let config = &inputs["serviceProviderConfiguration"];
            let connection = config["connectionName"].as_str().unwrap_or_default();
            let operation = config["operationId"].as_str().unwrap_or_default();
            let (gateway, api) = match self.routes.get(&connection.to_lowercase()) {
                Some(Ok(route)) => route,
                Some(Err(e)) => {
                    return Err(ActionFailure::permanent("InvalidConnection", e.clone()))
                }
                None => {
                    return Err(ActionFailure::permanent(
                        "InvalidConnection",
                        format!("connections.json has no openai connection '{connection}'"),
                    ))
                }
            };
            let p = &inputs["parameters"];
            let deployment = p["deploymentId"].as_str().map(str::to_string);
            let (op, body) = match operation {
                "getChatCompletions" => (Operation::ChatCompletions, chat_body(p)),
                "getSingleEmbedding" | "getArrayEmbeddings" => {
                    (Operation::Embeddings, json!({"model": deployment, "input": p["input"]}))
                }
                other => {
                    return Err(ActionFailure::permanent(
                        "OperationNotSupported",
                        format!("the openai operation '{other}' is not supported (getChatCompletions, getSingleEmbedding, getArrayEmbeddings)"),
                    ))
                }
            };
            let mut headers = HeaderMap::new();
            if let Ok(v) = call.workflow.parse() {
                headers.insert("x-ms-workflow-name", v);
            }
            let request = GatewayRequest {
                api: Some(api.clone()),
                operation: op,
                method: axum::http::Method::POST,
                deployment,
                body: Bytes::from(body.to_string()),
                headers,
                client_ip: None,
                workflow: Some(call.workflow.to_string()),
            };
            let response = gateway.call(request).await;
            let ResponseBody::Full(bytes) = response.body else {
                return Err(ActionFailure::permanent(
                    "BadGateway",
                    "a streamed answer to a non-streaming call",
                ));
            };
            let answer: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
            let status = response.status.as_u16();
            if !response.status.is_success() {
                let message = answer
                    .pointer("/error/message")
                    .and_then(Json::as_str)
                    .unwrap_or("the model call failed")
                    .to_string();
                let mut failure = ActionFailure::from_status(
                    status,
                    message,
                    Some(Value::from_json(
                        json!({"statusCode": status, "body": answer}),
                    )),
                );
                failure.retry_after = sluice_gateway::backend::retry_after(&response.headers);
                return Err(failure);
            }
            let body = match operation {
                "getChatCompletions" => {
                    let choice = &answer["choices"][0];
                    json!({"content": choice["message"]["content"], "role": choice["message"]["role"],
                        "finishReason": choice["finish_reason"], "usage": answer["usage"], "id": answer["id"], "model": answer["model"]})
                }
                "getSingleEmbedding" => {
                    json!({"embedding": answer["data"][0]["embedding"], "usage": answer["usage"]})
                }
                _ => {
                    let all: Vec<Json> = answer["data"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|d| d["embedding"].clone())
                        .collect();
                    json!({"embeddings": all, "usage": answer["usage"]})
                }
            };
            Ok(Value::from_json(
                json!({"statusCode": status, "body": body}),
            ))
        })
    }
}

/// The connector's parameters as a chat request: messages take `message` or `content`.
fn chat_body(p: &Json) -> Json {
    let messages: Vec<Json> = p["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| json!({"role": m["role"], "content": m.get("content").unwrap_or(&m["message"])}))
        .collect();
    let mut body = json!({"model": p["deploymentId"], "messages": messages});
    for k in [
        "temperature",
        "max_tokens",
        "top_p",
        "frequency_penalty",
        "presence_penalty",
        "stop",
        "seed",
        "response_format",
        "tools",
        "tool_choice",
    ] {
        let camel = match k {
            "max_tokens" => "maxTokens",
            "top_p" => "topP",
            "frequency_penalty" => "frequencyPenalty",
            "presence_penalty" => "presencePenalty",
            "response_format" => "responseFormat",
            "tool_choice" => "toolChoice",
            other => other,
        };
        if let Some(v) = p.get(k).or_else(|| p.get(camel)) {
            body[k] = v.clone();
        }
    }
    body
}
