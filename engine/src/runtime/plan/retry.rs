//! Retry delays, exactly as Logic Apps documents them.
//!
//! Exponential retry *n* waits a uniformly random time in
//! `[max(2^(n-2)·interval, minimum), min(2^(n-1)·interval, maximum)]` (for n = 1 the lower
//! bound is `minimum`). A downstream `Retry-After` replaces the computed delay, capped by the
//! policy's maximum interval (one hour for fixed policies).

use crate::runtime::plan::RetryPolicy;
use std::time::Duration;

/// The cap on a `Retry-After` honoured under a fixed policy, which has no maximum of its own.
const FIXED_RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

impl RetryPolicy {
    /// How many retries the policy allows after the first attempt.
    pub fn count(&self) -> u32 {
        match self {
            RetryPolicy::None => 0,
            RetryPolicy::Fixed { count, .. } | RetryPolicy::Exponential { count, .. } => *count,
        }
    }

    /// The wait before retry `n` (1-based), or `None` when the policy allows no more.
    pub fn delay(&self, n: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if n == 0 || n > self.count() {
            return None;
        }
        Some(match (self, retry_after) {
            (RetryPolicy::Exponential { maximum, .. }, Some(after)) => after.min(*maximum),
            (RetryPolicy::Fixed { .. }, Some(after)) => after.min(FIXED_RETRY_AFTER_CAP),
            (RetryPolicy::Fixed { interval, .. }, None) => *interval,
            (
                RetryPolicy::Exponential {
                    interval,
                    minimum,
                    maximum,
                    ..
                },
                None,
            ) => {
                let (low, high) = bounds(n, *interval, *minimum, *maximum);
                let span = high.saturating_sub(low).as_millis() as u64;
                low + Duration::from_millis(if span == 0 {
                    0
                } else {
                    fastrand::u64(0..=span)
                })
            }
            (RetryPolicy::None, _) => return None,
        })
    }
}

/// The documented interval bounds of exponential retry `n`.
pub fn bounds(
    n: u32,
    interval: Duration,
    minimum: Duration,
    maximum: Duration,
) -> (Duration, Duration) {
    let scaled = |power: u32| interval.saturating_mul(2u32.saturating_pow(power));
    let low = if n <= 1 {
        minimum
    } else {
        scaled(n - 2).max(minimum)
    };
    let high = scaled(n - 1).min(maximum);
    (low.min(high), high)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn exponential_bounds_follow_the_documented_table() {
        let (i, min, max) = (S(7), S(5), S(3600));
        assert_eq!(bounds(1, i, min, max), (S(5), S(7)));
        assert_eq!(bounds(2, i, min, max), (S(7), S(14)));
        assert_eq!(bounds(3, i, min, max), (S(14), S(28)));
        assert_eq!(bounds(4, i, min, max), (S(28), S(56)));
        assert_eq!(bounds(20, i, min, max), (S(3600), S(3600)));
    }

    #[test]
    fn delays_stay_in_bounds_and_stop_after_count() {
        let p = RetryPolicy::default_policy();
        for n in 1..=4 {
            let (low, high) = bounds(n, S(7), S(5), S(3600));
            for _ in 0..50 {
                let d = p.delay(n, None).unwrap();
                assert!(d >= low && d <= high, "retry {n}: {d:?}");
            }
        }
        assert_eq!(p.delay(5, None), None);
        assert_eq!(RetryPolicy::None.delay(1, None), None);
        assert_eq!(p.delay(1, Some(S(30))), Some(S(30)));
        assert_eq!(p.delay(1, Some(S(7200))), Some(S(3600)));
        let fixed = RetryPolicy::Fixed {
            count: 2,
            interval: S(10),
        };
        assert_eq!(
            (
                fixed.delay(1, None),
                fixed.delay(2, None),
                fixed.delay(3, None)
            ),
            (Some(S(10)), Some(S(10)), None)
        );
    }
}
