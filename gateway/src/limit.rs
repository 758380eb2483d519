//! The token limit: a per-minute rate and a period quota per counter key, enforced by
//! reservation so that concurrent requests cannot overshoot.
//!
//! Before a call, the prompt estimate plus `max_tokens` is reserved against both the
//! sliding 60-second window and the quota window; after the call the reservation is
//! settled to the `usage` the backend reported (or kept as reserved when it reported none).
//! A request whose reservation does not fit the rate gets 429 with the time after which it
//! would fit; one that does not fit the quota gets 403. A request that names no
//! `max_tokens` reserves its prompt only, so its completion can overshoot once; the
//! overshoot is counted and later requests wait for it (documented, as APIM does).

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

/// A granted reservation, settled (or dropped) after the call.
#[derive(Debug)]
pub struct Reservation {
    key: String,
    id: u64,
    pub reserved: u64,
    quota_window: i64,
}

/// What the response headers report after a reservation or a settlement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Remaining {
    pub tokens: Option<u64>,
    pub quota: Option<u64>,
}

#[derive(Default)]
struct Counter {
    /// (id, granted at, tokens) in grant order, for the sliding minute.
    entries: VecDeque<(u64, Instant, u64)>,
    in_window: u64,
    /// Reservations not yet settled.
    in_flight: u64,
    quota_window: i64,
    quota_used: u64,
}

pub struct TokenLimiter {
    tpm: Option<u64>,
    quota: Option<u64>,
    period: QuotaPeriod,
    counters: Mutex<HashMap<String, Counter>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl TokenLimiter {
    pub fn new(config: &TokenLimitConfig) -> TokenLimiter {
        TokenLimiter {
            tpm: config.tokens_per_minute,
            quota: config.token_quota,
            period: config.token_quota_period,
            counters: Mutex::default(),
            next_id: Default::default(),
        }
    }

    /// Reserves `tokens` for `key`, or says why not and for how long.
    pub fn reserve(&self, key: &str, tokens: u64) -> Result<(Reservation, Remaining), Refusal> {
        self.reserve_at(key, tokens, Instant::now(), Utc::now())
    }

    fn reserve_at(
        &self,
        key: &str,
        tokens: u64,
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
        if let Some(quota) = self.quota {
            // At exactly the quota a request is still admitted only if it fits: `>` not `>=`.
            if c.quota_used.saturating_add(tokens) > quota {
                let left = (window_end - wall).to_std().unwrap_or_default();
                return Err(Refusal::Quota {
                    retry_after: left.max(Duration::from_secs(1)),
                });
            }
        }
        if let Some(tpm) = self.tpm {
            if c.in_window.saturating_add(tokens) > tpm {
                return Err(Refusal::Rate {
                    retry_after: retry_after(c, tokens, tpm, now),
                    needed: tokens,
                });
            }
        }
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        c.entries.push_back((id, now, tokens));
        c.in_window = c.in_window.saturating_add(tokens);
        c.in_flight = c.in_flight.saturating_add(tokens);
        c.quota_used = c.quota_used.saturating_add(tokens);
        let remaining = self.remaining(c);
        Ok((
            Reservation {
                key: key.to_string(),
                id,
                reserved: tokens,
                quota_window: window,
            },
            remaining,
        ))
    }

    /// Replaces a reservation by what was used.
    pub fn settle(&self, r: Reservation, used: u64) -> Remaining {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let Some(c) = counters.get_mut(&r.key) else {
            return Remaining::default();
        };
        c.in_flight = c.in_flight.saturating_sub(r.reserved);
        if let Ok(i) = c.entries.binary_search_by_key(&r.id, |e| e.0) {
            c.in_window = c
                .in_window
                .saturating_sub(c.entries[i].2)
                .saturating_add(used);
            c.entries[i].2 = used;
        }
        if c.quota_window == r.quota_window {
            c.quota_used = c.quota_used.saturating_sub(r.reserved).saturating_add(used);
        }
        self.remaining(c)
    }

    fn remaining(&self, c: &Counter) -> Remaining {
        Remaining {
            tokens: self.tpm.map(|t| t.saturating_sub(c.in_window)),
            quota: self.quota.map(|q| q.saturating_sub(c.quota_used)),
        }
    }
}

fn expire(c: &mut Counter, now: Instant) {
    while let Some(&(_, at, tokens)) = c.entries.front() {
        if now.duration_since(at) < WINDOW {
            break;
        }
        c.entries.pop_front();
        c.in_window = c.in_window.saturating_sub(tokens);
    }
}

/// When `tokens` more would fit: after enough of the oldest grants leave the window, or
/// within a second when reservations in flight may settle lower.
fn retry_after(c: &Counter, tokens: u64, tpm: u64, now: Instant) -> Duration {
    let mut freed = 0;
    let mut wait = WINDOW;
    for &(_, at, t) in &c.entries {
        freed += t;
        if c.in_window.saturating_sub(freed).saturating_add(tokens) <= tpm {
            wait = (at + WINDOW).saturating_duration_since(now);
            break;
        }
    }
    if c.in_flight > 0 {
        wait = wait.min(Duration::from_secs(1));
    }
    // Whole seconds, at least one: Retry-After is sent in seconds.
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
        TokenLimiter::new(&config)
    }

    #[test]
    fn reservations_hold_the_rate_and_settle_to_usage() {
        let l = limiter(Some(100), None);
        let t0 = Instant::now();
        let wall = Utc::now();
        let (a, _) = l.reserve_at("k", 60, t0, wall).unwrap();
        // 60 reserved: 50 more would overshoot while the first is in flight.
        match l.reserve_at("k", 50, t0, wall).unwrap_err() {
            Refusal::Rate { retry_after, .. } => assert_eq!(retry_after, Duration::from_secs(1)),
            other => panic!("{other:?}"),
        }
        // Settled at 30: now 50 fits, and exactly the limit is admitted.
        let left = l.settle(a, 30);
        assert_eq!(left.tokens, Some(70));
        l.reserve_at("k", 50, t0, wall).unwrap();
        l.reserve_at("k", 20, t0, wall).unwrap();
        // Full and nothing in flight would settle lower... but two are in flight.
        let later = t0 + Duration::from_secs(30);
        assert!(l.reserve_at("k", 1, later, wall).is_err());
        // Another key has its own counter.
        l.reserve_at("other", 100, t0, wall).unwrap();
        // After the window the tokens are free again.
        l.reserve_at("k", 100, t0 + Duration::from_secs(61), wall)
            .unwrap();
    }

    #[test]
    fn retry_after_waits_for_the_oldest_grant_to_leave_the_window() {
        let l = limiter(Some(100), None);
        let t0 = Instant::now();
        let wall = Utc::now();
        let (a, _) = l.reserve_at("k", 80, t0, wall).unwrap();
        l.settle(a, 80);
        match l
            .reserve_at("k", 30, t0 + Duration::from_secs(20), wall)
            .unwrap_err()
        {
            Refusal::Rate { retry_after, .. } => assert_eq!(retry_after, Duration::from_secs(40)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_quota_refuses_with_the_end_of_the_period() {
        let l = limiter(None, Some(100));
        let t0 = Instant::now();
        let wall = Utc.with_ymd_and_hms(2026, 11, 26, 14, 45, 0).unwrap();
        let (a, _) = l.reserve_at("k", 100, t0, wall).unwrap();
        l.settle(a, 100);
        assert_eq!(
            l.reserve_at("k", 1, t0, wall).unwrap_err(),
            Refusal::Quota {
                retry_after: Duration::from_secs(900)
            }
        );
        // The next hour starts a new quota window.
        let next = Utc.with_ymd_and_hms(2026, 11, 26, 15, 0, 1).unwrap();
        l.reserve_at("k", 100, t0, next).unwrap();
    }
}
