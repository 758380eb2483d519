//! The circuit breaker of one backend: failures counted within an interval trip it open
//! for the trip duration, or for as long as the backend's `Retry-After` asks (capped) when
//! `acceptRetryAfter` is set. While open the pool skips the backend; when the time is up
//! traffic resumes. Every change is logged and counted.

use super::config::BreakerConfig;
use crate::metric_definitions as metric;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a call to a backend came to, as the breaker sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Status(u16),
    ConnectionFailure,
    Timeout,
}

#[derive(Default)]
struct State {
    /// (when, failed) of the calls within the interval.
    calls: VecDeque<(Instant, bool)>,
    failures: usize,
    open_until: Option<Instant>,
}

pub struct Breaker {
    backend: String,
    rule: Option<BreakerConfig>,
    state: Mutex<State>,
}

impl Breaker {
    pub fn new(backend: &str, rule: Option<BreakerConfig>) -> Breaker {
        Breaker {
            backend: backend.to_string(),
            rule,
            state: Mutex::default(),
        }
    }

    /// How long the breaker stays open from `now`; None when closed.
    pub fn open_for(&self, now: Instant) -> Option<Duration> {
        self.rule.as_ref()?;
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.open_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                s.open_until = None;
                s.calls.clear();
                s.failures = 0;
                tracing::info!("gateway: backend '{}' breaker closed", self.backend);
                metrics::counter!(metric::GATEWAY_BREAKER_TRANSITIONS, "backend" => self.backend.clone(), "state" => "closed").increment(1);
                None
            }
            None => None,
        }
    }

    /// Counts one call; `retry_after` is the backend's `Retry-After`, if it sent one.
    pub fn record(&self, outcome: Outcome, retry_after: Option<Duration>, now: Instant) {
        let Some(rule) = &self.rule else {
            return;
        };
        let c = &rule.failure_condition;
        let failed = match outcome {
            Outcome::Status(code) => c
                .status_code_ranges
                .iter()
                .any(|r| (r.min..=r.max).contains(&code)),
            Outcome::ConnectionFailure => c.error_reasons.iter().any(|r| r == "ConnectionFailure"),
            Outcome::Timeout => c.error_reasons.iter().any(|r| r == "Timeout"),
        };
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.open_until.is_some_and(|u| u > now) {
            return;
        }
        s.calls.push_back((now, failed));
        s.failures += usize::from(failed);
        while let Some(&(at, f)) = s.calls.front() {
            if now.duration_since(at) <= c.interval {
                break;
            }
            s.calls.pop_front();
            s.failures -= usize::from(f);
        }
        let trips = match (c.count, c.percentage) {
            (Some(n), _) => s.failures >= n as usize,
            (None, Some(p)) => s.calls.len() >= 5 && s.failures * 100 >= p as usize * s.calls.len(),
            (None, None) => false,
        };
        if failed && trips {
            let open = match retry_after {
                Some(asked) if rule.accept_retry_after => asked.min(rule.max_trip_duration),
                _ => rule.trip_duration,
            };
            s.open_until = Some(now + open);
            tracing::warn!(
                "gateway: backend '{}' breaker open for {:.1} s after {outcome:?}",
                self.backend,
                open.as_secs_f64()
            );
            metrics::counter!(metric::GATEWAY_BREAKER_TRANSITIONS, "backend" => self.backend.clone(), "state" => "open").increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_http::retry_after::parse_retry_after;

    fn breaker(rule: serde_json::Value) -> Breaker {
        Breaker::new("b", Some(serde_json::from_value(rule).unwrap()))
    }

    #[test]
    fn a_count_trips_and_the_trip_duration_ends_it() {
        let b = breaker(
            serde_json::json!({"failureCondition": {"count": 2, "interval": "PT10S",
            "statusCodeRanges": [{"min": 500, "max": 599}]}, "tripDuration": "PT5S"}),
        );
        let t = Instant::now();
        b.record(Outcome::Status(500), None, t);
        b.record(Outcome::Status(200), None, t);
        b.record(Outcome::Status(429), None, t);
        assert_eq!(b.open_for(t), None);
        b.record(Outcome::Status(503), None, t);
        assert_eq!(b.open_for(t), Some(Duration::from_secs(5)));
        assert_eq!(b.open_for(t + Duration::from_secs(5)), None);
    }

    #[test]
    fn retry_after_sets_the_open_time_up_to_the_cap() {
        let b = breaker(serde_json::json!({"failureCondition": {"count": 1},
            "acceptRetryAfter": true, "maxTripDuration": "PT30S"}));
        let t = Instant::now();
        b.record(Outcome::Status(429), parse_retry_after("86400"), t);
        assert_eq!(b.open_for(t), Some(Duration::from_secs(30)));
        let t2 = t + Duration::from_secs(31);
        assert_eq!(b.open_for(t2), None);
        b.record(Outcome::ConnectionFailure, parse_retry_after("2"), t2);
        assert_eq!(b.open_for(t2), Some(Duration::from_secs(2)));
    }

    #[test]
    fn a_percentage_needs_enough_calls() {
        let b = breaker(
            serde_json::json!({"failureCondition": {"percentage": 50, "interval": "PT1M"}}),
        );
        let t = Instant::now();
        b.record(Outcome::Timeout, None, t);
        assert_eq!(b.open_for(t), None, "one call is not a rate");
        for _ in 0..3 {
            b.record(Outcome::Status(200), None, t);
        }
        b.record(Outcome::Status(500), None, t);
        assert_eq!(b.open_for(t), None, "2 of 5 is 40%");
        b.record(Outcome::Status(500), None, t);
        assert!(b.open_for(t).is_some(), "3 of 6 is 50%");
    }
}
