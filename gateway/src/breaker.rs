//! The circuit breaker of one backend: failures counted within an interval trip it open
//! for the trip duration, or for as long as the backend's `Retry-After` asks (capped) when
//! `acceptRetryAfter` is set. While open the pool skips the backend. When the time is up it
//! is half-open: one probe request goes to it while the others keep to the rest of the pool;
//! the probe's success closes it, a failure opens it again. So a failed backend never gets
//! a burst while a healthy one is there. Every change is logged and counted.

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

/// Whether a request may go to the backend, and as what.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    Request,
    /// The one request that tests a half-open backend.
    Probe,
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Closed,
    Open {
        until: Instant,
    },
    /// `probe`: when the probe in flight is given up on, if one is.
    HalfOpen {
        probe: Option<Instant>,
    },
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::Closed => "closed",
            Phase::Open { .. } => "open",
            Phase::HalfOpen { .. } => "half_open",
        }
    }

    /// The value of the state gauge: 0 closed, 1 half-open, 2 open.
    fn gauge(&self) -> f64 {
        match self {
            Phase::Closed => 0.0,
            Phase::HalfOpen { .. } => 1.0,
            Phase::Open { .. } => 2.0,
        }
    }
}

struct State {
    /// (when, failed) of the calls within the interval.
    calls: VecDeque<(Instant, bool)>,
    failures: usize,
    phase: Phase,
}

pub struct Breaker {
    backend: String,
    rule: Option<BreakerConfig>,
    /// How long a probe may take before another is let through (the backend's timeout).
    probe_timeout: Duration,
    state: Mutex<State>,
}

impl Breaker {
    pub fn new(backend: &str, rule: Option<BreakerConfig>, probe_timeout: Duration) -> Breaker {
        Breaker {
            backend: backend.to_string(),
            rule,
            probe_timeout,
            state: Mutex::new(State {
                calls: VecDeque::new(),
                failures: 0,
                phase: Phase::Closed,
            }),
        }
    }

    /// How long the backend stays unavailable from `now`; None when a request may go to it
    /// (closed, or half-open with no probe in flight).
    pub fn open_for(&self, now: Instant) -> Option<Duration> {
        self.rule.as_ref()?;
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.phase {
            Phase::Closed => None,
            Phase::Open { until } if until > now => Some(until - now),
            Phase::Open { .. } => {
                self.enter(&mut s, Phase::HalfOpen { probe: None });
                None
            }
            // A probe is in flight: its answer is due any moment, so a short wait is the hint.
            Phase::HalfOpen {
                probe: Some(giving_up),
            } if giving_up > now => Some((giving_up - now).min(Duration::from_secs(1))),
            Phase::HalfOpen { .. } => None,
        }
    }

    /// Takes the backend for one request: always when closed; when half-open, only as the
    /// one probe (refused: another request is probing, choose another backend).
    pub fn admit(&self, now: Instant) -> Admission {
        if self.rule.is_none() {
            return Admission::Request;
        }
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.phase {
            Phase::Closed => Admission::Request,
            Phase::HalfOpen { probe } if probe.is_none_or(|giving_up| giving_up <= now) => {
                s.phase = Phase::HalfOpen {
                    probe: Some(now + self.probe_timeout),
                };
                Admission::Probe
            }
            _ => Admission::Refused,
        }
    }

    /// A probe that ended without an answer (its client left): the next request probes.
    pub fn abandon_probe(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Phase::HalfOpen { .. } = s.phase {
            s.phase = Phase::HalfOpen { probe: None };
        }
    }

    /// Whether `outcome` counts as a failure under `rule`.
    fn fails(rule: &BreakerConfig, outcome: Outcome) -> bool {
        let c = &rule.failure_condition;
        match outcome {
            Outcome::Status(code) => c
                .status_code_ranges
                .iter()
                .any(|r| (r.min..=r.max).contains(&code)),
            Outcome::ConnectionFailure => c.error_reasons.iter().any(|r| r == "ConnectionFailure"),
            Outcome::Timeout => c.error_reasons.iter().any(|r| r == "Timeout"),
        }
    }

    /// Counts one call; `retry_after` is the backend's `Retry-After`, if it sent one.
    pub fn record(&self, outcome: Outcome, retry_after: Option<Duration>, now: Instant) {
        let Some(rule) = &self.rule else {
            return;
        };
        let failed = Breaker::fails(rule, outcome);
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.phase {
            // Answers to calls sent before the trip.
            Phase::Open { .. } => return,
            Phase::HalfOpen { .. } if failed => {
                self.trip(&mut s, rule, outcome, retry_after, now);
                return;
            }
            Phase::HalfOpen { .. } => {
                s.calls.clear();
                s.failures = 0;
                self.enter(&mut s, Phase::Closed);
                return;
            }
            Phase::Closed => {}
        }
        let c = &rule.failure_condition;
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
            self.trip(&mut s, rule, outcome, retry_after, now);
        }
    }

    fn trip(
        &self,
        s: &mut State,
        rule: &BreakerConfig,
        outcome: Outcome,
        retry_after: Option<Duration>,
        now: Instant,
    ) {
        let open = match retry_after {
            Some(asked) if rule.accept_retry_after => asked.min(rule.max_trip_duration),
            _ => rule.trip_duration,
        };
        tracing::warn!(
            "gateway: backend '{}' breaker open for {:.1} s after {outcome:?}",
            self.backend,
            open.as_secs_f64()
        );
        metrics::counter!(metric::GATEWAY_BREAKER_TRIPS, "backend" => self.backend.clone())
            .increment(1);
        self.enter(s, Phase::Open { until: now + open });
    }

    fn enter(&self, s: &mut State, phase: Phase) {
        s.phase = phase;
        if phase == Phase::Closed {
            tracing::info!("gateway: backend '{}' breaker closed", self.backend);
        } else if let Phase::HalfOpen { .. } = phase {
            tracing::info!(
                "gateway: backend '{}' breaker half-open: one probe request",
                self.backend
            );
        }
        metrics::counter!(metric::GATEWAY_BREAKER_TRANSITIONS, "backend" => self.backend.clone(), "state" => phase.name()).increment(1);
        metrics::gauge!(metric::GATEWAY_BREAKER_STATE, "backend" => self.backend.clone())
            .set(phase.gauge());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_http::retry_after::parse_retry_after;

    fn breaker(rule: serde_json::Value) -> Breaker {
        Breaker::new(
            "b",
            Some(serde_json::from_value(rule).unwrap()),
            Duration::from_secs(120),
        )
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

    #[test]
    fn half_open_lets_one_probe_through_and_its_answer_decides() {
        let b = breaker(serde_json::json!({"failureCondition": {"count": 1},
            "tripDuration": "PT5S"}));
        let t = Instant::now();
        b.record(Outcome::Status(500), None, t);
        assert_eq!(b.admit(t), Admission::Refused, "open");
        let t1 = t + Duration::from_secs(5);
        assert_eq!(b.open_for(t1), None, "half-open: available for a probe");
        assert_eq!(b.admit(t1), Admission::Probe);
        assert_eq!(b.admit(t1), Admission::Refused, "one probe at a time");
        assert_eq!(b.open_for(t1), Some(Duration::from_secs(1)));
        b.record(Outcome::Status(500), None, t1);
        assert_eq!(b.open_for(t1), Some(Duration::from_secs(5)), "reopened");
        let t2 = t1 + Duration::from_secs(5);
        assert_eq!(b.open_for(t2), None);
        assert_eq!(b.admit(t2), Admission::Probe);
        b.abandon_probe();
        assert_eq!(
            b.admit(t2),
            Admission::Probe,
            "a probe whose client left is replaced"
        );
        b.record(Outcome::Status(200), None, t2);
        assert_eq!(b.admit(t2), Admission::Request, "closed");
        assert_eq!(b.open_for(t2), None);
    }
}
