//! The Http action: one call through the pooled client, the asynchronous 202 + `Location`
//! polling pattern unless `DisableAsyncPattern`, the downstream's `Retry-After` handed to the
//! retry policy, and the idempotency key sent as `Idempotency-Key`.
//!
//! A URL under a `routes` prefix of the app's gateway goes through that gateway API instead.
//!
//! Logic Apps' workflow headers go with every call unless `SuppressWorkflowHeaders`:
//! `x-ms-workflow-name`, `x-ms-workflow-run-id`, `x-ms-workflow-operation-name`.

use super::outbound::{workflow_headers, Outbound, Request};
use sluice_engine::definition::names::OperationOption;
use sluice_engine::expr::Value;
use sluice_engine::runtime::{ActionCall, ActionFailure, ActionHandler, BoxFuture};
use std::time::Duration;

/// How long to wait between polls of a 202's `Location` when the downstream gives no
/// `Retry-After`.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Runs Http actions.
pub struct HttpAction {
    pub outbound: Outbound,
    /// The app's AI gateway: URLs under one of its APIs' `routes` go through that API.
    pub gateway: Option<std::sync::Arc<sluice_gateway::Gateway>>,
}

impl ActionHandler for HttpAction {
    fn execute<'a>(&'a self, call: ActionCall<'a>) -> BoxFuture<'a, Result<Value, ActionFailure>> {
        Box::pin(async move {
            let request = Request::from_inputs(&call.inputs)?;
            if let Some(gateway) = &self.gateway {
                if let Some((api, rest)) = gateway.route(&request.uri) {
                    let prefix = &request.uri[..request.uri.len() - rest.len()];
                    let api = api.to_string();
                    return super::gateway_route::call(
                        gateway,
                        &api,
                        Some(prefix),
                        &request,
                        &call,
                    )
                    .await;
                }
            }
            call_with_pattern(&self.outbound, &request, &call).await
        })
    }
}

/// Sends `request`; a 202 with a `Location` is polled until it answers otherwise, unless
/// the action disables the asynchronous pattern.
pub async fn call_with_pattern(
    outbound: &Outbound,
    request: &Request,
    call: &ActionCall<'_>,
) -> Result<Value, ActionFailure> {
    let headers = workflow_headers(call, request);
    let mut response = outbound.send(request, &headers).await?;
    if call.has_option(OperationOption::DisableAsyncPattern) {
        return response.into_result();
    }
    while response.status == 202 {
        let Some(location) = response.location.take() else {
            break;
        };
        let location = absolute(&request.uri, &location);
        tokio::time::sleep(response.retry_after.unwrap_or(DEFAULT_POLL_INTERVAL)).await;
        let poll = request.follow(location.clone());
        response = outbound.send(&poll, &headers).await?;
        if response.status == 202 && response.location.is_none() {
            response.location = Some(location);
        }
    }
    response.into_result()
}

/// A `Location` relative to the request's URI made absolute.
fn absolute(base: &str, location: &str) -> String {
    reqwest::Url::parse(base)
        .and_then(|b| b.join(location))
        .map(String::from)
        .unwrap_or_else(|_| location.to_string())
}
