//! The AI gateway, modelled on the Azure API Management GenAI gateway.
//!
//! A request names an API (`gateway.json`); it passes, in order:
//! 1. the semantic cache ([`cache`]): an exact or a similar prompt within the same `vary-by`
//!    partition and the same sampling parameters is answered from cache;
//! 2. the token limit ([`limit`]): the prompt estimate ([`tokens`]) plus `max_tokens`, or
//!    the completion estimate learnt per model and key, is reserved per counter key
//!    ([`key`]), 429 over the rate, 403 over the quota;
//! 3. the pool ([`pool`]): a backend is chosen by priority and weight, skipping those whose
//!    breaker ([`breaker`]) is open and taking a half-open one only as its one probe; a
//!    failover status (429, 500, 502, 503, 504 by default) or a connection error sends the
//!    request on to a backend it has not tried, so a client sees one only when no backend
//!    is left; backends are uncapped unless `maxConnections` says otherwise;
//! 4. on the way back the reservation is settled against `usage` (the final chunk of a
//!    stream, [`stream`]), token metrics are counted, and a cache miss is stored.
//!
//! [`server`] serves the OpenAI-compatible surface (`sluice gateway`, and the same routes
//! inside `sluice run`). Workflows reach the gateway in-process through the `openai`
//! connector and through Http and Function actions routed to a gateway API.

pub mod backend;
pub mod breaker;
pub mod cache;
pub mod config;
mod dispatch;
mod error;
pub mod key;
pub mod limit;
pub mod metric_definitions;
pub mod pool;
pub mod request;
pub mod server;
pub mod stream;
pub mod tokens;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
pub use error::Error;

use backend::Backend;
use config::GatewayConfig;
use futures_util::stream::BoxStream;
use key::KeyTemplate;
use std::collections::HashMap;
use std::sync::Arc;

/// What a request asks a backend to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    ChatCompletions,
    Embeddings,
    /// A plain HTTP function: the path (and query) appended to the backend's URL.
    Function(String),
}

impl Operation {
    pub fn name(&self) -> &'static str {
        match self {
            Operation::ChatCompletions => "chat.completions",
            Operation::Embeddings => "embeddings",
            Operation::Function(_) => "function",
        }
    }
}

/// One request to the gateway, from the HTTP surface or a workflow action.
pub struct GatewayRequest {
    /// The API; None: the default one.
    pub api: Option<String>,
    pub operation: Operation,
    /// POST for models; a function's own method otherwise.
    pub method: axum::http::Method,
    /// The Azure path's deployment, if the request came that way.
    pub deployment: Option<String>,
    pub body: Bytes,
    pub headers: HeaderMap,
    pub client_ip: Option<std::net::IpAddr>,
    /// The calling workflow, for in-process calls.
    pub workflow: Option<String>,
}

pub enum ResponseBody {
    Full(Bytes),
    /// Server-sent events, passed through as they arrive.
    Stream(BoxStream<'static, Result<Bytes, std::io::Error>>),
}

pub struct GatewayResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: ResponseBody,
}

impl GatewayResponse {
    /// An error in the OpenAI error shape, which the SDKs read.
    pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> GatewayResponse {
        let body =
            serde_json::json!({"error": {"message": message.into(), "type": code, "code": code}});
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().expect("valid"));
        GatewayResponse {
            status,
            headers,
            body: ResponseBody::Full(Bytes::from(body.to_string())),
        }
    }
}

/// Whether an API keeps something in the gateway's store: its semantic cache, or its token
/// quota's usage.
fn keeps_state(api: &config::ApiConfig) -> bool {
    api.semantic_cache.is_some()
        || api
            .token_limit
            .as_ref()
            .is_some_and(|l| l.token_quota.is_some())
}

/// The tree where an API's quota usage survives restarts.
fn quota_tree(db: Option<&sled::Db>, api: &str) -> Result<Option<sled::Tree>, Error> {
    let Some(db) = db else {
        return Ok(None);
    };
    db.open_tree(format!("quota:{api}"))
        .map(Some)
        .map_err(|e| Error::Invalid(format!("apis.{api}: the quota store: {e}")))
}

/// An API, compiled: its pool and policies.
pub(crate) struct Api {
    name: String,
    pool: pool::Pool,
    limit: Option<(limit::TokenLimiter, KeyTemplate, config::TokenLimitConfig)>,
    dimensions: Vec<(String, KeyTemplate)>,
    cache: Option<cache::SemanticCache>,
}

/// The gateway: shared by the HTTP surface and the workflow actions of one process.
pub struct Gateway {
    backends: Vec<Backend>,
    apis: HashMap<String, Arc<Api>>,
    default_api: String,
    subscription_keys: Vec<String>,
    /// (URL prefix, API) for Http actions, longest prefix first.
    routes: Vec<(String, String)>,
    client: reqwest::Client,
}

impl Gateway {
    /// Builds the gateway; `setting` resolves app settings (API keys), `data` is where the
    /// semantic cache keeps its store (None: in memory only).
    pub fn new(
        config: GatewayConfig,
        setting: &dyn Fn(&str) -> Option<String>,
        data: Option<&std::path::Path>,
    ) -> Result<Arc<Gateway>, Error> {
        Gateway::build(config, setting, data).map(Arc::new)
    }

    fn build(
        config: GatewayConfig,
        setting: &dyn Fn(&str) -> Option<String>,
        data: Option<&std::path::Path>,
    ) -> Result<Gateway, Error> {
        config.check().map_err(Error::Invalid)?;
        let mut backends = Vec::new();
        for (id, b) in &config.backends {
            backends.push(Backend::new(id, b.clone(), setting).map_err(Error::Invalid)?);
        }
        let index = |id: &str| backends.iter().position(|b| b.id == id).expect("checked");
        let db = match data {
            Some(dir) if config.apis.values().any(keeps_state) => Some(
                sled::open(dir.join("gateway-cache")).map_err(|cause| Error::Store {
                    dir: dir.to_path_buf(),
                    cause,
                })?,
            ),
            _ => None,
        };
        let mut apis = HashMap::new();
        for (name, a) in &config.apis {
            let limit = match &a.token_limit {
                Some(l) => Some((
                    limit::TokenLimiter::new(l, quota_tree(db.as_ref(), name)?),
                    KeyTemplate::parse(&l.counter_key)
                        .map_err(|e| format!("apis.{name}.tokenLimit.counterKey: {e}"))?,
                    l.clone(),
                )),
                None => None,
            };
            let mut dims = a
                .token_metrics
                .as_ref()
                .map(|m| m.dimensions.clone())
                .unwrap_or_default();
            if dims.is_empty() {
                for d in ["api", "operation", "backend"] {
                    dims.insert(d.into(), format!("{{{d}}}"));
                }
            }
            let dimensions = dims
                .into_iter()
                .map(|(k, v)| {
                    KeyTemplate::parse(&v)
                        .map(|t| (k.clone(), t))
                        .map_err(|e| format!("apis.{name}.tokenMetrics.dimensions.{k}: {e}"))
                })
                .collect::<Result<_, _>>()?;
            let cache = match &a.semantic_cache {
                Some(c) => Some(cache::SemanticCache::new(
                    name,
                    c.clone(),
                    index(&c.embeddings_backend),
                    db.as_ref(),
                )?),
                None => None,
            };
            let api = Api {
                name: name.clone(),
                pool: pool::Pool::new(&config.pools[&a.pool], index),
                limit,
                dimensions,
                cache,
            };
            apis.insert(name.clone(), Arc::new(api));
        }
        let default_api = config.apis.keys().next().cloned().expect("checked");
        let mut routes: Vec<(String, String)> = config
            .apis
            .iter()
            .flat_map(|(name, a)| a.routes.iter().map(move |r| (r.clone(), name.clone())))
            .collect();
        routes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("gateway HTTP client: {e}"))?;
        Ok(Gateway {
            backends,
            apis,
            default_api,
            subscription_keys: config.subscription_keys,
            routes,
            client,
        })
    }

    /// Whether the gateway has an API of this name.
    pub fn has_api(&self, name: &str) -> bool {
        self.apis.contains_key(name)
    }

    /// The API whose `routes` cover `url`, and the rest of the URL after the prefix.
    pub fn route<'u>(&self, url: &'u str) -> Option<(&str, &'u str)> {
        self.routes
            .iter()
            .find(|(prefix, _)| url.starts_with(prefix.as_str()))
            .map(|(prefix, api)| (api.as_str(), &url[prefix.len()..]))
    }

    /// Handles one request through the API's policies and pool.
    pub async fn call(&self, request: GatewayRequest) -> GatewayResponse {
        dispatch::call(self, request).await
    }
}
