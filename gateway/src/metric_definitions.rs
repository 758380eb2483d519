//! The AI gateway's metric names and descriptions, in one place.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

pub const GATEWAY_PROMPT_TOKENS: &str = "sluice_gateway_prompt_tokens_total";
pub const GATEWAY_COMPLETION_TOKENS: &str = "sluice_gateway_completion_tokens_total";
pub const GATEWAY_TOTAL_TOKENS: &str = "sluice_gateway_total_tokens_total";
pub const GATEWAY_CACHED_TOKENS: &str = "sluice_gateway_cached_tokens_total";
pub const GATEWAY_REQUESTS: &str = "sluice_gateway_backend_requests_total";
pub const GATEWAY_BACKEND_DURATION: &str = "sluice_gateway_backend_duration_seconds";
pub const GATEWAY_LIMITED: &str = "sluice_gateway_limited_total";
pub const GATEWAY_CACHE: &str = "sluice_gateway_cache_lookups_total";
pub const GATEWAY_BREAKER_TRANSITIONS: &str = "sluice_gateway_breaker_transitions_total";
pub const GATEWAY_BREAKER_STATE: &str = "sluice_gateway_breaker_state";
pub const GATEWAY_BREAKER_TRIPS: &str = "sluice_gateway_breaker_trips_total";
pub const GATEWAY_FAILOVERS: &str = "sluice_gateway_failovers_total";
pub const GATEWAY_BACKEND_QUEUED: &str = "sluice_gateway_backend_queued";
pub const GATEWAY_BACKEND_IN_FLIGHT: &str = "sluice_gateway_backend_in_flight";

/// Registers these metrics' descriptions with the installed recorder.
pub fn describe() {
    describe_counter!(
        GATEWAY_PROMPT_TOKENS,
        "Prompt tokens through the AI gateway (from usage; when a response reports none, the token limit's estimate), by the API's token-metric dimensions."
    );
    describe_counter!(
        GATEWAY_COMPLETION_TOKENS,
        "Completion tokens through the AI gateway, by the API's token-metric dimensions."
    );
    describe_counter!(
        GATEWAY_TOTAL_TOKENS,
        "Total tokens through the AI gateway, by the API's token-metric dimensions."
    );
    describe_counter!(
        GATEWAY_CACHED_TOKENS,
        "Cached prompt tokens backends reported, by the API's token-metric dimensions."
    );
    describe_counter!(
        GATEWAY_REQUESTS,
        "Requests the gateway sent to backends, by API, backend and status (error: no answer)."
    );
    describe_histogram!(
        GATEWAY_BACKEND_DURATION,
        Unit::Seconds,
        "Time to a backend's response headers, by backend."
    );
    describe_counter!(
        GATEWAY_LIMITED,
        "Requests refused by a token limit: 429 over the rate, 403 over the quota."
    );
    describe_counter!(
        GATEWAY_CACHE,
        "Semantic cache lookups by API and result (hit, miss)."
    );
    describe_counter!(
        GATEWAY_BREAKER_TRANSITIONS,
        "Circuit breaker state changes by backend and new state (open, half_open, closed)."
    );
    describe_gauge!(
        GATEWAY_BREAKER_STATE,
        "Circuit breaker state by backend: 0 closed, 1 half-open (one probe request), 2 open."
    );
    describe_counter!(
        GATEWAY_BREAKER_TRIPS,
        "Times a backend's circuit breaker opened, by backend."
    );
    describe_counter!(
        GATEWAY_FAILOVERS,
        "Requests sent on to the next backend of the pool, by API, the backend left and why (its status, error or queue_timeout)."
    );
    describe_gauge!(
        GATEWAY_BACKEND_QUEUED,
        "Requests waiting for a slot on a backend capped by maxConnections, by backend."
    );
    describe_gauge!(
        GATEWAY_BACKEND_IN_FLIGHT,
        "Requests in progress on a backend, by backend."
    );
}
