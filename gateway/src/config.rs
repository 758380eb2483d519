//! `gateway.json`: backends, pools and the policies of each API.
//!
//! The file sits in the app folder (read by `sluice run`) or is given to
//! `sluice gateway --config FILE`. Every field is documented here with its default; the
//! same text is the user documentation in `docs/gateway.md`.
//!
//! ```json
//! {
//!   "backends": {
//!     "ptu":   {"url": "http://127.0.0.1:8081/v1", "apiKeySetting": "PTU_KEY",
//!               "circuitBreaker": {"failureCondition": {"count": 1, "interval": "PT1M",
//!                 "statusCodeRanges": [{"min": 429, "max": 429}]},
//!                 "tripDuration": "PT1M", "acceptRetryAfter": true}},
//!     "payg":  {"url": "https://x.openai.azure.com", "kind": "azureOpenAI", "apiKeySetting": "AOAI_KEY"}
//!   },
//!   "pools": {"chat": {"backends": [{"id": "ptu", "priority": 1}, {"id": "payg", "priority": 2}]}},
//!   "apis": {"chat": {"pool": "chat",
//!     "tokenLimit": {"counterKey": "{subscription}", "tokensPerMinute": 10000},
//!     "semanticCache": {"embeddingsBackend": "ptu", "scoreThreshold": 0.05, "varyBy": ["{subscription}"]}}}
//! }
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The whole gateway configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayConfig {
    /// Backends by id.
    #[serde(default)]
    pub backends: BTreeMap<String, BackendConfig>,
    /// Pools by id; an API names one. At most 30 backends each.
    #[serde(default)]
    pub pools: BTreeMap<String, PoolConfig>,
    /// APIs by name, each with its pool and policies. The first (by name) is the default
    /// API of `/v1/...` requests that name none (header `x-sluice-api` names one).
    #[serde(default)]
    pub apis: BTreeMap<String, ApiConfig>,
    /// Keys a client must present (`api-key`, `Authorization: Bearer`, or
    /// `Ocp-Apim-Subscription-Key`). Empty (the default): no key is required.
    #[serde(default)]
    pub subscription_keys: Vec<String>,
}

/// What a backend speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BackendKind {
    /// An OpenAI-compatible server; `url` is its base URL as the OpenAI SDKs take it
    /// (`https://api.openai.com/v1`; a URL with no path gets `/v1`). Key as `Authorization: Bearer`.
    #[default]
    #[serde(alias = "openAI", alias = "openai")]
    OpenAi,
    /// An Azure OpenAI resource (`https://NAME.openai.azure.com`); requests go to
    /// `/openai/deployments/{deployment}/…?api-version=…`. Key as `api-key`.
    #[serde(alias = "azureOpenAI", alias = "azureopenai")]
    AzureOpenAi,
    /// A plain HTTP function: the request path is appended to `url`. Key as `x-functions-key`.
    Function,
}

/// One backend.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackendConfig {
    pub url: String,
    #[serde(default)]
    pub kind: BackendKind,
    /// The app setting (or environment variable) holding the backend's API key; none: no key.
    #[serde(default)]
    pub api_key_setting: Option<String>,
    /// Azure OpenAI: the deployment to call; default: the request's deployment or `model`.
    #[serde(default)]
    pub deployment: Option<String>,
    /// Azure OpenAI: the `api-version` query value. Default `2024-10-21`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Request timeout in seconds. Default 120.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Requests waiting for this backend's answer at most (each holds a connection); more
    /// wait their turn, which under bursts costs less than opening connections. Default 128.
    /// Requests in progress on this backend at most; None (the default): no cap. A real
    /// model answers in seconds, so a cap must be latency × target rate; requests over it
    /// wait up to `queueTimeoutSeconds`, then go to another backend or get 503.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// How long a request waits for a capped backend's slot (default 30).
    #[serde(default = "default_queue_timeout")]
    pub queue_timeout_seconds: u64,
    /// The breaker rule; none: the backend is never taken out.
    #[serde(default)]
    pub circuit_breaker: Option<BreakerConfig>,
}

fn default_api_version() -> String {
    "2024-10-21".into()
}

fn default_timeout() -> u64 {
    120
}

fn default_queue_timeout() -> u64 {
    30
}

/// A pool: backends with an optional priority (lower number = used first; default 1) and
/// weight (default 1). Within a priority group, requests are spread by weight (equal
/// weights: round-robin). A lower group is used only when every backend of the higher
/// groups is unavailable (breaker open).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PoolConfig {
    pub backends: Vec<PoolMember>,
    /// How many times a request is sent again to another backend of the pool after a 429, a
    /// 503 or a connection error. Default: the pool's size − 1.
    #[serde(default)]
    pub retries: Option<usize>,
    /// Statuses that send a request on to the next backend (connection errors and timeouts
    /// always do). Default: 429, 500, 502, 503, 504.
    #[serde(default = "default_failover_statuses")]
    pub failover_status_codes: Vec<u16>,
}

fn default_failover_statuses() -> Vec<u16> {
    vec![429, 500, 502, 503, 504]
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PoolMember {
    pub id: String,
    #[serde(default = "one")]
    pub priority: u32,
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// A circuit-breaker rule (the shape of the APIM backend's `circuitBreaker.rules[0]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakerConfig {
    pub failure_condition: FailureCondition,
    /// How long the breaker stays open (ISO 8601 duration). Default PT1M.
    #[serde(default = "default_trip", with = "iso_duration")]
    pub trip_duration: Duration,
    /// Take the open time from the backend's `Retry-After` (seconds or HTTP date) when it
    /// sends one. Default false.
    #[serde(default)]
    pub accept_retry_after: bool,
    /// The longest open time a `Retry-After` may ask for. Default PT5M (Azure OpenAI can
    /// ask for a day).
    #[serde(default = "default_max_trip", with = "iso_duration")]
    pub max_trip_duration: Duration,
}

fn default_trip() -> Duration {
    Duration::from_secs(60)
}

fn default_max_trip() -> Duration {
    Duration::from_secs(300)
}

/// When a backend counts as failing: `count` failures, or `percentage` of the requests (at
/// least 5 of them), within `interval`. A failure is a response whose status lies in one of
/// `statusCodeRanges` (default 500–599 and 429) or an error named in `errorReasons`
/// (`ConnectionFailure`, `Timeout`; default both).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailureCondition {
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub percentage: Option<u32>,
    #[serde(default = "default_interval", with = "iso_duration")]
    pub interval: Duration,
    #[serde(default = "default_ranges")]
    pub status_code_ranges: Vec<StatusRange>,
    #[serde(default = "default_reasons")]
    pub error_reasons: Vec<String>,
}

fn default_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_ranges() -> Vec<StatusRange> {
    vec![
        StatusRange { min: 429, max: 429 },
        StatusRange { min: 500, max: 599 },
    ]
}

fn default_reasons() -> Vec<String> {
    vec!["ConnectionFailure".into(), "Timeout".into()]
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct StatusRange {
    pub min: u16,
    pub max: u16,
}

/// An API: where its requests go and which policies apply.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiConfig {
    pub pool: String,
    #[serde(default)]
    pub token_limit: Option<TokenLimitConfig>,
    #[serde(default)]
    pub token_metrics: Option<TokenMetricsConfig>,
    #[serde(default)]
    pub semantic_cache: Option<SemanticCacheConfig>,
    /// URL prefixes whose Http actions go through this API: the rest of the action's URL
    /// (path and query) is appended to the chosen backend's URL. Workflow files stay as
    /// they are. Default: none.
    #[serde(default)]
    pub routes: Vec<String>,
}

/// `llm-token-limit`: a per-minute rate and/or a quota per period, per counter key.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenLimitConfig {
    /// A key template (see [`super::key`]), e.g. `{subscription}`, `{header:x-user}`,
    /// `{ip}`, `{workflow}`. Default `{subscription}`.
    #[serde(default = "default_counter_key")]
    pub counter_key: String,
    /// Prompt + completion tokens in any 60-second window.
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
    /// Tokens per `tokenQuotaPeriod` (a fixed window starting at the UTC time truncated to it).
    #[serde(default)]
    pub token_quota: Option<u64>,
    /// `Hourly`, `Daily`, `Weekly`, `Monthly` or `Yearly`. Default `Monthly`.
    #[serde(default)]
    pub token_quota_period: QuotaPeriod,
    /// Estimate prompt tokens (tiktoken) and reserve them with `max_tokens` before the
    /// call. Default true; false counts only what responses report (requests can overshoot).
    #[serde(default = "yes")]
    pub estimate_prompt_tokens: bool,
    /// The completion tokens reserved for a request without `max_tokens`; None (the
    /// default): the 95th percentile of the last completions of that model and counter key,
    /// and before any is seen, what is left of the limit (the first request runs alone).
    #[serde(default)]
    pub completion_tokens_estimate: Option<u64>,
    /// Header names. Defaults: `x-sluice-remaining-tokens`, `x-sluice-remaining-quota-tokens`,
    /// `x-sluice-tokens-consumed`, `Retry-After`.
    #[serde(default = "remaining_header")]
    pub remaining_tokens_header_name: String,
    #[serde(default = "remaining_quota_header")]
    pub remaining_quota_tokens_header_name: String,
    #[serde(default = "consumed_header")]
    pub tokens_consumed_header_name: String,
    #[serde(default = "retry_after_header")]
    pub retry_after_header_name: String,
}

fn default_counter_key() -> String {
    "{subscription}".into()
}
fn yes() -> bool {
    true
}
fn remaining_header() -> String {
    "x-sluice-remaining-tokens".into()
}
fn remaining_quota_header() -> String {
    "x-sluice-remaining-quota-tokens".into()
}
fn consumed_header() -> String {
    "x-sluice-tokens-consumed".into()
}
fn retry_after_header() -> String {
    "Retry-After".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum QuotaPeriod {
    Hourly,
    Daily,
    Weekly,
    #[default]
    Monthly,
    Yearly,
}

/// `llm-emit-token-metric`: dimensions of the token counters. Each value is a key template;
/// default dimensions: `api`, `operation`, `backend`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenMetricsConfig {
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
}

/// `llm-semantic-cache-lookup` + `-store`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SemanticCacheConfig {
    /// The backend that computes embeddings (OpenAI-compatible `/embeddings`).
    pub embeddings_backend: String,
    /// The embeddings model (or Azure deployment). Default `text-embedding-3-small`.
    #[serde(default = "default_embeddings_model")]
    pub embeddings_model: String,
    /// A distance, as in APIM: a hit needs 1 − cosine similarity ≤ threshold, so lower is
    /// stricter. Default 0.05; above 0.2 unrelated prompts start to match.
    #[serde(default = "default_threshold")]
    pub score_threshold: f64,
    /// Key templates joined into a hard partition: no hit ever crosses partitions.
    #[serde(default)]
    pub vary_by: Vec<String>,
    /// How long an answer stays cached. Default 3600.
    #[serde(default = "default_ttl")]
    pub duration_seconds: u64,
    /// Leave system messages out of the compared prompt (they stay in the exact key).
    /// Default true.
    #[serde(default = "yes")]
    pub ignore_system_messages: bool,
    /// Requests with more messages skip the cache. Default: no limit.
    #[serde(default)]
    pub max_message_count: Option<usize>,
}

fn default_embeddings_model() -> String {
    "text-embedding-3-small".into()
}
fn default_threshold() -> f64 {
    0.05
}
fn default_ttl() -> u64 {
    3600
}

impl GatewayConfig {
    /// Reads and checks a configuration file; errors name the file, the JSON path, line
    /// and column.
    pub fn load(path: &std::path::Path) -> Result<GatewayConfig, crate::Error> {
        let text = std::fs::read_to_string(path).map_err(|cause| crate::Error::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        let mut de = serde_json::Deserializer::from_str(&text);
        let config: GatewayConfig = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let inner = e.inner();
            crate::Error::Parse {
                path: path.to_path_buf(),
                at: e.path().to_string(),
                line: inner.line(),
                column: inner.column(),
                reason: inner.to_string(),
            }
        })?;
        config
            .check()
            .map_err(|e| crate::Error::Invalid(e).in_file(path))?;
        Ok(config)
    }

    /// A round-robin pool over `urls` (OpenAI-compatible) with no other policy: what
    /// `sluice gateway --backend URL …` serves.
    pub fn round_robin(urls: &[String]) -> GatewayConfig {
        let mut config = GatewayConfig::default();
        let mut members = Vec::new();
        for (i, url) in urls.iter().enumerate() {
            let id = format!("backend-{}", i + 1);
            config.backends.insert(
                id.clone(),
                BackendConfig {
                    url: url.clone(),
                    kind: BackendKind::OpenAi,
                    api_key_setting: None,
                    deployment: None,
                    api_version: default_api_version(),
                    timeout_seconds: default_timeout(),
                    max_connections: None,
                    queue_timeout_seconds: default_queue_timeout(),
                    circuit_breaker: None,
                },
            );
            members.push(PoolMember {
                id,
                priority: 1,
                weight: 1,
            });
        }
        config.pools.insert(
            "default".into(),
            PoolConfig {
                backends: members,
                retries: None,
                failover_status_codes: default_failover_statuses(),
            },
        );
        config.apis.insert(
            "default".into(),
            ApiConfig {
                pool: "default".into(),
                token_limit: None,
                token_metrics: None,
                semantic_cache: None,
                routes: Vec::new(),
            },
        );
        config
    }

    /// Cross-references: pools name backends, APIs name pools, limits are set.
    pub fn check(&self) -> Result<(), String> {
        for (name, pool) in &self.pools {
            if pool.backends.is_empty() || pool.backends.len() > 30 {
                return Err(format!("pools.{name}: a pool has 1 to 30 backends"));
            }
            for m in &pool.backends {
                if !self.backends.contains_key(&m.id) {
                    return Err(format!("pools.{name}: no backend '{}'", m.id));
                }
                if m.weight == 0 {
                    return Err(format!("pools.{name}: '{}' has weight 0", m.id));
                }
            }
        }
        for (name, api) in &self.apis {
            if !self.pools.contains_key(&api.pool) {
                return Err(format!("apis.{name}.pool: no pool '{}'", api.pool));
            }
            for status in &self.pools[&api.pool].failover_status_codes {
                if !(100..=599).contains(status) {
                    return Err(format!(
                        "pools.{}.failoverStatusCodes: {status} is not an HTTP status",
                        api.pool
                    ));
                }
            }
            if let Some(l) = &api.token_limit {
                if l.tokens_per_minute.is_none() && l.token_quota.is_none() {
                    return Err(format!(
                        "apis.{name}.tokenLimit: set tokensPerMinute, tokenQuota or both"
                    ));
                }
            }
            if let Some(c) = &api.semantic_cache {
                if !self.backends.contains_key(&c.embeddings_backend) {
                    return Err(format!(
                        "apis.{name}.semanticCache.embeddingsBackend: no backend '{}'",
                        c.embeddings_backend
                    ));
                }
            }
        }
        for (name, b) in &self.backends {
            if let Some(c) = &b.circuit_breaker {
                let f = &c.failure_condition;
                if f.count.is_none() == f.percentage.is_none() {
                    return Err(format!(
                        "backends.{name}.circuitBreaker.failureCondition: set count or percentage"
                    ));
                }
            }
        }
        if self.apis.is_empty() {
            return Err("no apis: name at least one API and its pool".into());
        }
        Ok(())
    }
}

/// ISO 8601 durations (`PT1M`, `PT30S`, `P1D`) as [`Duration`].
mod iso_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("'{text}' is not an ISO 8601 duration like PT1M"))
        })
    }

    pub fn parse(text: &str) -> Option<Duration> {
        let rest = text.strip_prefix('P')?;
        let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
        let mut seconds = 0f64;
        for (part, units) in [
            (date, &[('W', 604800.0), ('D', 86400.0)][..]),
            (time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)][..]),
        ] {
            let mut number = String::new();
            for c in part.chars() {
                if c.is_ascii_digit() || c == '.' {
                    number.push(c);
                } else {
                    let unit = units.iter().find(|(u, _)| *u == c)?.1;
                    seconds += number.parse::<f64>().ok()? * unit;
                    number.clear();
                }
            }
            if !number.is_empty() {
                return None;
            }
        }
        Some(Duration::from_secs_f64(seconds))
    }

    #[cfg(test)]
    mod tests {
        use super::parse;
        use std::time::Duration;

        #[test]
        fn durations() {
            assert_eq!(parse("PT1M"), Some(Duration::from_secs(60)));
            assert_eq!(parse("PT1H30M"), Some(Duration::from_secs(5400)));
            assert_eq!(parse("P1D"), Some(Duration::from_secs(86400)));
            assert_eq!(parse("PT0.5S"), Some(Duration::from_millis(500)));
            assert_eq!(parse("1M"), None);
            assert_eq!(parse("PT5X"), None);
        }
    }
}
