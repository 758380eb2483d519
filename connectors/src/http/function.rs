//! The Function and InvokeFunction actions: an HTTP call to a function, found by name.
//!
//! Where a function is:
//! - `function.connectionName`: the entry of `functionConnections` in connections.json, its
//!   `triggerUrl` and its `authentication` (`QueryString` adds `name=value` to the query,
//!   `Raw`/`Basic` go in `Authorization`), with `@appsetting()` references resolved.
//! - `function.id` (`/subscriptions/…/sites/{app}/functions/{name}`): the app setting
//!   `Sluice.Functions.{app}.BaseUrl`, else `Sluice.Functions.BaseUrl`, then `/api/{name}`.
//! - InvokeFunction's `functionName`: the app setting `Sluice.Functions.{name}.Url`, else
//!   `Sluice.Functions.BaseUrl` + `/api/{name}`, called with POST and `parameters` as the body.
//!
//! Function calls have Http's retry policy, asynchronous pattern and idempotency key. A
//! connection named like an API of the app's `gateway.json` goes through that API's pool
//! instead (see [`super::gateway_route`]).

use super::action::call_with_pattern;
use super::auth::Authentication;
use super::outbound::{Outbound, Request};
use sluice_engine::definition::{ActionType, App};
use sluice_engine::expr::functions::to_text;
use sluice_engine::expr::Value;
use sluice_engine::runtime::{ActionCall, ActionFailure, ActionHandler, BoxFuture, Settings};
use sluice_gateway::Gateway;
use std::collections::HashMap;
use std::sync::Arc;

/// A `functionConnections` entry, resolved.
#[derive(Debug, Clone)]
struct FunctionConnection {
    trigger_url: String,
    queries: Vec<(String, String)>,
    authentication: Option<Authentication>,
}

/// Runs Function and InvokeFunction actions.
pub struct FunctionAction {
    outbound: Outbound,
    settings: Settings,
    connections: HashMap<String, FunctionConnection>,
    /// The app's AI gateway: a connection (or InvokeFunction name) that is also one of its
    /// APIs is called through that API's pool.
    gateway: Option<Arc<Gateway>>,
}

impl FunctionAction {
    /// Reads the app's function connections; an entry that does not resolve is an error now,
    /// not at the first call.
    pub fn new(
        app: &App,
        outbound: Outbound,
        settings: Settings,
    ) -> Result<FunctionAction, super::Error> {
        let mut connections = HashMap::new();
        for (name, entry) in &app.connections.function_connections {
            let unusable = |reason: String| super::Error::FunctionConnection {
                name: name.clone(),
                reason,
            };
            let value = sluice_engine::runtime::resolve_app_value(app, entry)
                .map_err(|e| unusable(e.to_string()))?;
            let connection = connection(&value).map_err(unusable)?;
            connections.insert(name.to_lowercase(), connection);
        }
        Ok(FunctionAction {
            outbound,
            settings,
            connections,
            gateway: None,
        })
    }

    /// Routes calls whose connection names an API of `gateway` through it.
    pub fn with_gateway(mut self, gateway: Option<Arc<Gateway>>) -> FunctionAction {
        self.gateway = gateway;
        self
    }

    /// The gateway API a call goes through, if any.
    fn gateway_api(&self, call: &ActionCall<'_>) -> Option<(&Gateway, String)> {
        let gateway = self.gateway.as_deref()?;
        let name = if call.action_type == ActionType::InvokeFunction {
            call.inputs.get("functionName").map(to_text)
        } else {
            call.inputs
                .get("function")
                .and_then(|f| f.get("connectionName"))
                .map(to_text)
        }?;
        gateway.has_api(&name).then_some((gateway, name))
    }

    fn request(&self, call: &ActionCall<'_>) -> Result<Request, ActionFailure> {
        let inputs = &call.inputs;
        let text = |v: Option<&Value>| v.map(to_text).unwrap_or_default();
        let not_found = |m: String| ActionFailure::permanent("FunctionNotFound", m);
        let mut request_inputs = inputs.as_object().cloned().unwrap_or_default();
        let mut extra_queries = Vec::new();
        let mut authentication = None;
        let uri = if call.action_type == ActionType::InvokeFunction {
            let name = text(inputs.get("functionName"));
            request_inputs.insert("method".into(), Value::from("POST"));
            request_inputs.insert(
                "body".into(),
                inputs.get("parameters").cloned().unwrap_or_default(),
            );
            (self.settings)(&format!("Sluice.Functions.{name}.Url"))
                .or_else(|| self.base_url(None).map(|b| format!("{b}/api/{name}")))
                .ok_or_else(|| {
                    not_found(format!(
                        "no URL for the function '{name}': set the app setting \
                         Sluice.Functions.{name}.Url or Sluice.Functions.BaseUrl"
                    ))
                })?
        } else {
            let function = inputs.get("function");
            let connection = text(function.and_then(|f| f.get("connectionName")));
            let id = text(function.and_then(|f| f.get("id")));
            if !connection.is_empty() {
                let found = self
                    .connections
                    .get(&connection.to_lowercase())
                    .ok_or_else(|| {
                        not_found(format!(
                            "connections.json has no functionConnections entry '{connection}'"
                        ))
                    })?;
                extra_queries.clone_from(&found.queries);
                authentication.clone_from(&found.authentication);
                found.trigger_url.clone()
            } else {
                let (site, name) = site_and_function(&id).ok_or_else(|| {
                    not_found(format!(
                        "'{id}' is not a function id (…/sites/APP/functions/NAME)"
                    ))
                })?;
                let base = self.base_url(Some(site)).ok_or_else(|| {
                    not_found(format!(
                        "no URL for the function app '{site}': set the app setting \
                         Sluice.Functions.{site}.BaseUrl or Sluice.Functions.BaseUrl"
                    ))
                })?;
                format!("{base}/api/{name}")
            }
        };
        if !request_inputs.contains_key("method") {
            request_inputs.insert("method".into(), Value::from("POST"));
        }
        request_inputs.insert("uri".into(), Value::from(uri));
        let mut request = Request::from_inputs(&Value::object(request_inputs))?;
        request.queries.extend(extra_queries);
        if request.authentication.is_none() {
            request.authentication = authentication;
        }
        Ok(request)
    }

    fn base_url(&self, site: Option<&str>) -> Option<String> {
        site.and_then(|s| (self.settings)(&format!("Sluice.Functions.{s}.BaseUrl")))
            .or_else(|| (self.settings)("Sluice.Functions.BaseUrl"))
            .map(|b| b.trim_end_matches('/').to_string())
    }
}

impl ActionHandler for FunctionAction {
    fn execute<'a>(&'a self, call: ActionCall<'a>) -> BoxFuture<'a, Result<Value, ActionFailure>> {
        Box::pin(async move {
            let request = self.request(&call)?;
            if let Some((gateway, api)) = self.gateway_api(&call) {
                return super::gateway_route::call(gateway, &api, None, &request, &call).await;
            }
            call_with_pattern(&self.outbound, &request, &call).await
        })
    }
}

/// A resolved `functionConnections` entry; the error is the reason.
fn connection(value: &Value) -> Result<FunctionConnection, String> {
    let trigger_url = value.get("triggerUrl").map(to_text).unwrap_or_default();
    if trigger_url.is_empty() {
        return Err("no triggerUrl".to_string());
    }
    let mut queries = Vec::new();
    let mut authentication = None;
    if let Some(auth) = value.get("authentication").filter(|a| !a.is_null()) {
        let field = |f: &str| auth.get(f).map(to_text).unwrap_or_default();
        if field("type").eq_ignore_ascii_case("QueryString") {
            queries.push((field("name"), field("value")));
        } else {
            authentication = Some(Authentication::from_value(auth)?);
        }
    }
    Ok(FunctionConnection {
        trigger_url,
        queries,
        authentication,
    })
}

/// `/subscriptions/…/sites/{app}/functions/{name}` → (app, name).
fn site_and_function(id: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = id.split('/').collect();
    let at = |key: &str| {
        parts
            .iter()
            .position(|p| p.eq_ignore_ascii_case(key))
            .and_then(|i| parts.get(i + 1).copied())
    };
    Some((at("sites")?, at("functions")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_ids_name_the_app_and_function() {
        assert_eq!(
            site_and_function("/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/retail/functions/GetSkus"),
            Some(("retail", "GetSkus"))
        );
        assert_eq!(site_and_function("GetSkus"), None);
    }

    #[test]
    fn query_string_keys_become_queries() {
        let value: Value = serde_json::from_str(
            r#"{"triggerUrl":"http://f/api/x","authentication":{"type":"QueryString","name":"Code","value":"k"}}"#,
        )
        .unwrap();
        let c = connection(&value).unwrap();
        assert_eq!(c.queries, vec![("Code".to_string(), "k".to_string())]);
        assert!(connection(&Value::Null).is_err());
    }
}
