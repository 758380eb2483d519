//! The token limit: a per-minute rate and a period quota per counter key, enforced by
//! reservation so that concurrent requests cannot overshoot.
//!
//! Before a call the gateway reserves the prompt estimate plus the completion budget:
//! `max_tokens` when the request names it, otherwise the completion estimate ([`Recent`]:
//! the 95th percentile of that model's and key's last completions, or a configured number).
//! With nothing observed yet, the reservation is everything the limit has left, so the first
//! request of a model and key runs alone and teaches the estimate. Reserved tokens count
//! against the minute and the quota until the call settles; then the real usage counts for
//! the 60 seconds after it was used (a sliding window), and in the quota period. A
//! completion longer than its estimate is an overshoot that later requests wait for, so a
//! key exceeds its limit by at most the completions that outran their estimates in flight.
//!
//! A request that does not fit the rate gets 429 with the time until enough settled tokens
//! leave the window; one that does not fit the quota gets 403 with the end of the period.
//! Quota usage is kept in the gateway's store (when it has one) and read back at start.

use super::config::{QuotaPeriod, TokenLimitConfig};
use chrono::{DateTime, Datelike, Duration as Days, TimeZone, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// Why a reservation was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Over the rate: 429 with this Retry-After.
    Rate { retry_after: Duration, needed: u64 },
    /// Over the quota: 403 with this Retry-After (the end of the period).
    Quota { retry_after: Duration },
}

/// A granted reservation, settled (or released) after the call.
#[derive(Debug)]
pub struct Reservation {
    key: String,
    pub reserved: u64,
    /// Reserved without an estimate (everything left): it settles much lower.
    cold: bool,
}

impl Reservation {
    /// The counter key it was reserved under.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Reserved with no completion estimate known: everything that was left.
    pub fn is_cold(&self) -> bool {
        self.cold
    }
}

/// What the response headers report after a reservation or a settlement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Remaining {
    pub tokens: Option<u64>,
    pub quota: Option<u64>,
}

#[derive(Default)]
struct Counter {
    /// (settled at, tokens) within the last minute, oldest first.
    settled: VecDeque<(Instant, u64)>,
    settled_sum: u64,
    /// Tokens reserved by calls not yet settled: they count against both limits.
    in_flight: u64,
    quota_window: i64,
    /// Settled tokens in the quota window.
    quota_used: u64,
}

impl Counter {
    fn in_window(&self) -> u64 {
        self.settled_sum.saturating_add(self.in_flight)
    }

    fn quota_taken(&self) -> u64 {
        self.quota_used.saturating_add(self.in_flight)
    }
}

/// The completion sizes last seen for one model and key.
#[derive(Default)]
struct Recent {
    sizes: VecDeque<u64>,
    /// The 95th percentile of `sizes`, kept current.
    p95: u64,
}

const RECENT: usize = 64;

/// Model and key pairs whose completions are remembered at most: model names come from
/// requests, so the table is bounded; past it, one pair is forgotten for each new one.
const RECENT_KEYS: usize = 10_000;

impl Recent {
    fn observe(&mut self, completion: u64) {
        if self.sizes.len() == RECENT {
            self.sizes.pop_front();
        }
        self.sizes.push_back(completion);
        let mut sorted = [0u64; RECENT];
        let n = self.sizes.len();
        for (slot, size) in sorted.iter_mut().zip(&self.sizes) {
            *slot = *size;
        }
        sorted[..n].sort_unstable();
        let rank = (n * 95).div_ceil(100).max(1) - 1;
        self.p95 = sorted[rank];
    }
}

pub struct TokenLimiter {
    tpm: Option<u64>,
    quota: Option<u64>,
    period: QuotaPeriod,
    fixed_completion: Option<u64>,
    counters: Mutex<HashMap<String, Counter>>,
    /// By "model\0key".
    completions: Mutex<HashMap<String, Recent>>,
    /// Where quota usage survives a restart: counter key → (window, used).
    store: Option<sled::Tree>,
}

impl TokenLimiter {
    pub fn new(config: &TokenLimitConfig, store: Option<sled::Tree>) -> TokenLimiter {
        let mut counters = HashMap::new();
        if let (Some(tree), Some(_)) = (&store, config.token_quota) {
            for (key, value) in tree.iter().flatten() {
                let (Ok(key), Ok(value)) = (
                    String::from_utf8(key.to_vec()),
                    <[u8; 16]>::try_from(&value[..]),
                ) else {
                    continue;
                };
                let (window, used) = value.split_at(8);
                let counter = Counter {
                    quota_window: i64::from_be_bytes(window.try_into().expect("8 bytes")),
                    quota_used: u64::from_be_bytes(used.try_into().expect("8 bytes")),
                    ..Counter::default()
                };
                counters.insert(key, counter);
            }
        }
        TokenLimiter {
            tpm: config.tokens_per_minute,
            quota: config.token_quota,
            period: config.token_quota_period,
            fixed_completion: config.completion_tokens_estimate,
            counters: Mutex::new(counters),
            completions: Mutex::default(),
            store: store.filter(|_| config.token_quota.is_some()),
        }
    }

    /// The completion tokens to reserve for a request of `model` under `key` that names no
    /// `max_tokens`; None while nothing is known (the request then reserves what is left).
    pub fn completion_estimate(&self, key: &str, model: &str) -> Option<u64> {
        if self.fixed_completion.is_some() {
            return self.fixed_completion;
        }
        let recent = self.completions.lock().unwrap_or_else(|p| p.into_inner());
        recent.get(&recent_key(key, model)).map(|r| r.p95)
    }

    /// Learns from a completion the backend reported.
    pub fn observe_completion(&self, key: &str, model: &str, completion: u64) {
        if self.fixed_completion.is_some() {
            return;
        }
        let name = recent_key(key, model);
        let mut recent = self.completions.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() >= RECENT_KEYS && !recent.contains_key(&name) {
            if let Some(old) = recent.keys().next().cloned() {
                recent.remove(&old);
            }
        }
        recent.entry(name).or_default().observe(completion);
    }

    /// Reserves `tokens` for `key` (None: what is left, at least `floor`), or says why not
    /// and for how long.
    pub fn reserve(
        &self,
        key: &str,
        tokens: Option<u64>,
        floor: u64,
    ) -> Result<(Reservation, Remaining), Refusal> {
        self.reserve_at(key, tokens, floor, Instant::now(), Utc::now())
    }

    fn reserve_at(
        &self,
        key: &str,
        tokens: Option<u64>,
        floor: u64,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<(Reservation, Remaining), Refusal> {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let c = counters.entry(key.to_string()).or_default();
        expire(c, now);
        let (window, window_end) = quota_window(self.period, wall);
        if c.quota_window != window {
            c.quota_window = window;
            c.quota_used = 0;
        }
        let cold = tokens.is_none();
        let tokens = tokens.unwrap_or_else(|| self.left(c).max(floor));
        if let Some(quota) = self.quota {
            // At exactly the quota a request is still admitted only if it fits: `>` not `>=`.
            if c.quota_taken().saturating_add(tokens) > quota {
                // Held by reservations in flight, not spent: those settle soon.
                if c.in_flight > 0 && c.quota_used.saturating_add(tokens) <= quota {
                    return Err(Refusal::Rate {
                        retry_after: Duration::from_secs(1),
                        needed: tokens,
                    });
                }
                let left = (window_end - wall).to_std().unwrap_or_default();
                return Err(Refusal::Quota {
                    retry_after: left.max(Duration::from_secs(1)),
                });
            }
        }
        if let Some(tpm) = self.tpm {
            if c.in_window().saturating_add(tokens) > tpm {
                return Err(Refusal::Rate {
                    retry_after: retry_after(c, tokens, tpm, now),
                    needed: tokens,
                });
            }
        }
        c.in_flight = c.in_flight.saturating_add(tokens);
        let remaining = self.remaining(c);
        let reservation = Reservation {
            key: key.to_string(),
            reserved: tokens,
            cold,
        };
        Ok((reservation, remaining))
    }

    /// What both limits have left for `c`.
    fn left(&self, c: &Counter) -> u64 {
        let rate = self.tpm.map(|t| t.saturating_sub(c.in_window()));
        let quota = self.quota.map(|q| q.saturating_sub(c.quota_taken()));
        rate.into_iter().chain(quota).min().unwrap_or(0)
    }

    /// Replaces a reservation by what was used.
    pub fn settle(&self, r: Reservation, used: u64) -> Remaining {
        self.settle_at(r, used, Instant::now())
    }

    fn settle_at(&self, r: Reservation, used: u64, now: Instant) -> Remaining {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let Some(c) = counters.get_mut(&r.key) else {
            return Remaining::default();
        };
        c.in_flight = c.in_flight.saturating_sub(r.reserved);
        if used > 0 {
            c.settled.push_back((now, used));
            c.settled_sum = c.settled_sum.saturating_add(used);
            c.quota_used = c.quota_used.saturating_add(used);
            if let Some(tree) = &self.store {
                let mut value = [0u8; 16];
                value[..8].copy_from_slice(&c.quota_window.to_be_bytes());
                value[8..].copy_from_slice(&c.quota_used.to_be_bytes());
                if let Err(e) = tree.insert(r.key.as_bytes(), &value[..]) {
                    tracing::warn!("gateway: could not keep the quota of a counter key: {e}");
                }
            }
        }
        self.remaining(c)
    }

    fn remaining(&self, c: &Counter) -> Remaining {
        Remaining {
            tokens: self.tpm.map(|t| t.saturating_sub(c.in_window())),
            quota: self.quota.map(|q| q.saturating_sub(c.quota_taken())),
        }
    }
}

fn recent_key(key: &str, model: &str) -> String {
    format!("{model}\0{key}")
}

fn expire(c: &mut Counter, now: Instant) {
    while let Some(&(at, tokens)) = c.settled.front() {
        if now.duration_since(at) < WINDOW {
            break;
        }
        c.settled.pop_front();
        c.settled_sum = c.settled_sum.saturating_sub(tokens);
    }
}

/// When `tokens` more would fit: once enough settled tokens leave the window, counting the
/// reservations in flight at what they reserved (once settled they stay in the window a
/// minute). When only calls in flight settling below their reservation can make room, that
/// is unknown but soon: a second. A request larger than the limit: a minute.
fn retry_after(c: &Counter, tokens: u64, tpm: u64, now: Instant) -> Duration {
    let mut wait = None;
    let mut left = c.in_window();
    for &(at, t) in &c.settled {
        left = left.saturating_sub(t);
        if left.saturating_add(tokens) <= tpm {
            wait = Some((at + WINDOW).saturating_duration_since(now));
            break;
        }
    }
    let wait = match wait {
        Some(w) => w,
        None if c.in_flight > 0 => Duration::from_secs(1),
        None => WINDOW,
    };
    // Whole seconds, rounded up, at least one: Retry-After is sent in seconds.
    Duration::from_secs(wait.as_secs_f64().ceil().max(1.0) as u64)
}

/// The quota window containing `now` (as its start's timestamp) and its end.
fn quota_window(period: QuotaPeriod, now: DateTime<Utc>) -> (i64, DateTime<Utc>) {
    let day = Utc
        .with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0)
        .single()
        .unwrap_or(now);
    let (start, end) = match period {
        QuotaPeriod::Hourly => {
            let start = day + Days::hours(i64::from(chrono::Timelike::hour(&now)));
            (start, start + Days::hours(1))
        }
        QuotaPeriod::Daily => (day, day + Days::days(1)),
        QuotaPeriod::Weekly => {
            let start = day - Days::days(i64::from(now.weekday().num_days_from_monday()));
            (start, start + Days::days(7))
        }
        QuotaPeriod::Monthly => {
            let start = Utc
                .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
                .unwrap();
            let (y, m) = if now.month() == 12 {
                (now.year() + 1, 1)
            } else {
                (now.year(), now.month() + 1)
            };
            (start, Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).unwrap())
        }
        QuotaPeriod::Yearly => (
            Utc.with_ymd_and_hms(now.year(), 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(now.year() + 1, 1, 1, 0, 0, 0).unwrap(),
        ),
    };
    (start.timestamp(), end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(tpm: Option<u64>, quota: Option<u64>) -> TokenLimiter {
        let config: TokenLimitConfig = serde_json::from_value(serde_json::json!({
            "tokensPerMinute": tpm, "tokenQuota": quota, "tokenQuotaPeriod": "Hourly"
        }))
        .unwrap();
        TokenLimiter::new(&config, None)
    }

    fn rate_wait(refusal: Refusal) -> Duration {
        match refusal {
            Refusal::Rate { retry_after, .. } => retry_after,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reservations_hold_the_rate_and_settle_to_usage() {
        let l = limiter(Some(100), None);
        let t0 = Instant::now();
        let wall = Utc::now();
        let (a, _) = l.reserve_at("k", Some(60), 0, t0, wall).unwrap();
        // 60 reserved: 50 more would overshoot while the first is in flight; it may settle
        // lower, soon.
        let refused = l.reserve_at("k", Some(50), 0, t0, wall).unwrap_err();
        assert_eq!(rate_wait(refused), Duration::from_secs(1));
        // Settled at 30: now 50 fits, and exactly the limit is admitted.
        let left = l.settle_at(a, 30, t0);
        assert_eq!(left.tokens, Some(70));
        l.reserve_at("k", Some(50), 0, t0, wall).unwrap();
        l.reserve_at("k", Some(20), 0, t0, wall).unwrap();
        let later = t0 + Duration::from_secs(30);
        assert!(l.reserve_at("k", Some(1), 0, later, wall).is_err());
        // Another key has its own counter.
        l.reserve_at("other", Some(100), 0, t0, wall).unwrap();
    }

    #[test]
    fn retry_after_is_when_enough_settled_tokens_leave_the_window() {
        let l = limiter(Some(100), None);
        let t0 = Instant::now();
        let wall = Utc::now();
        let (a, _) = l.reserve_at("k", Some(80), 0, t0, wall).unwrap();
        let used_at = t0 + Duration::from_secs(5);
        l.settle_at(a, 80, used_at);
        let asked = t0 + Duration::from_secs(20);
        let wait = rate_wait(l.reserve_at("k", Some(30), 0, asked, wall).unwrap_err());
        assert_eq!(wait, Duration::from_secs(45));
        let just_before = asked + wait - Duration::from_millis(500);
        assert!(l.reserve_at("k", Some(30), 0, just_before, wall).is_err());
        l.reserve_at("k", Some(30), 0, asked + wait, wall).unwrap();
    }

    #[test]
    fn without_an_estimate_the_first_request_runs_alone_and_teaches_it() {
        let l = limiter(Some(500), None);
        let t0 = Instant::now();
        let wall = Utc::now();
        assert_eq!(l.completion_estimate("k", "m"), None);
        let (first, left) = l.reserve_at("k", None, 10, t0, wall).unwrap();
        assert_eq!((first.reserved, left.tokens), (500, Some(0)));
        let refused = l.reserve_at("k", Some(10), 0, t0, wall).unwrap_err();
        assert_eq!(rate_wait(refused), Duration::from_secs(1), "settles soon");
        l.settle_at(first, 110, t0);
        l.observe_completion("k", "m", 100);
        assert_eq!(l.completion_estimate("k", "m"), Some(100));
        assert_eq!(l.completion_estimate("k", "other-model"), None);
        // 110 used: three more of 10 + 100 fit in 500, the fourth does not.
        for _ in 0..3 {
            l.reserve_at("k", Some(110), 0, t0, wall).unwrap();
        }
        assert!(l.reserve_at("k", Some(110), 0, t0, wall).is_err());
    }

    #[test]
    fn the_estimate_is_the_95th_percentile_of_recent_completions() {
        let l = limiter(Some(500), None);
        for n in 1..=100 {
            l.observe_completion("k", "m", n);
        }
        // The last 64 are 37..=100; their 95th percentile is the 61st of them.
        assert_eq!(l.completion_estimate("k", "m"), Some(97));
    }

    #[test]
    fn the_quota_refuses_with_the_end_of_the_period() {
        let l = limiter(None, Some(100));
        let t0 = Instant::now();
        let wall = Utc.with_ymd_and_hms(2026, 11, 26, 14, 45, 0).unwrap();
        let (a, _) = l.reserve_at("k", Some(100), 0, t0, wall).unwrap();
        assert_eq!(
            rate_wait(l.reserve_at("k", Some(1), 0, t0, wall).unwrap_err()),
            Duration::from_secs(1),
            "held by a reservation in flight, not spent"
        );
        l.settle_at(a, 100, t0);
        assert_eq!(
            l.reserve_at("k", Some(1), 0, t0, wall).unwrap_err(),
            Refusal::Quota {
                retry_after: Duration::from_secs(900)
            }
        );
        // The next hour starts a new quota window.
        let next = Utc.with_ymd_and_hms(2026, 11, 26, 15, 0, 1).unwrap();
        l.reserve_at("k", Some(100), 0, t0, next).unwrap();
    }

    #[test]
    fn quota_usage_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("sluice-quota-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config: TokenLimitConfig = serde_json::from_value(serde_json::json!({
            "tokenQuota": 100, "tokenQuotaPeriod": "Hourly"}))
        .unwrap();
        let t0 = Instant::now();
        let wall = Utc::now();
        {
            let db = sled::open(&dir).unwrap();
            let l = TokenLimiter::new(&config, Some(db.open_tree("q").unwrap()));
            let (a, _) = l.reserve_at("k", Some(70), 0, t0, wall).unwrap();
            l.settle_at(a, 70, t0);
            db.flush().unwrap();
        }
        let db = sled::open(&dir).unwrap();
        let l = TokenLimiter::new(&config, Some(db.open_tree("q").unwrap()));
        assert!(l.reserve_at("k", Some(31), 0, t0, wall).is_err());
        l.reserve_at("k", Some(30), 0, t0, wall).unwrap();
        drop(l);
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
