//! Capped exponential backoff with jitter: the one place core and the channel plugins compute how
//! long to wait before trying again.
//!
//! Built on [`backon`]'s `ExponentialBuilder`. Every retry loop (receiver restarts, re-fetching a
//! delivered message, re-sending a reply chunk, model provider requests, a plugin's polling loop)
//! takes its delays from [`exponential`], so jitter and caps are decided here only. A
//! server-requested wait (`Retry-After`) is not a backoff: callers use it instead of the next
//! delay.
//!
//! The shape is "equal jitter": for retry `n` (1-based) let `d = min(base * 2^(n-1), cap)`; the
//! delay is uniformly random in `[d/2, d]`. Half of it is fixed, so delays still grow, and the
//! random half keeps many processes that failed together from retrying in lockstep.

use std::time::Duration;

use backon::BackoffBuilder;

/// The endless sequence of delays for retries 1, 2, 3, ... of a loop that starts waiting at
/// `base` and never waits longer than `cap` (see the [module docs](self) for the exact bounds).
///
/// Start a new sequence (call this again) when the loop succeeds, to begin again from `base`.
pub fn exponential(base: Duration, cap: Duration) -> impl Iterator<Item = Duration> + Send {
    let cap = cap.max(base);
    // backon's jitter adds a uniform `[0, d)` to its delay `d`: built from half the base and
    // half the cap, the jittered delay lands in `[d/2, d]` of the full-size schedule.
    backon::ExponentialBuilder::new()
        .with_min_delay(base / 2)
        .with_max_delay(cap / 2)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// backon computes in `f32`: allow rounding of a few nanoseconds per doubling.
    const SLACK: Duration = Duration::from_micros(1);

    #[test]
    fn delays_double_within_equal_jitter_bounds_up_to_the_cap() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(30);
        for _ in 0..200 {
            for (n, delay) in exponential(base, cap).take(12).enumerate() {
                let full = base.saturating_mul(1 << n).min(cap);
                assert!(
                    delay + SLACK >= full / 2 && delay <= full + SLACK,
                    "retry {}: {delay:?} not in [{:?}, {full:?}]",
                    n + 1,
                    full / 2
                );
            }
        }
    }

    #[test]
    fn the_sequence_never_ends_and_stays_capped() {
        let cap = Duration::from_secs(60);
        let late = exponential(Duration::from_secs(1), cap).nth(10_000);
        assert!(late.is_some_and(|d| d >= cap / 2 && d <= cap + SLACK));
    }

    #[test]
    fn a_cap_below_the_base_is_raised_to_the_base() {
        let base = Duration::from_secs(2);
        for delay in exponential(base, Duration::from_secs(1)).take(5) {
            assert!(delay >= base / 2 && delay <= base + SLACK, "{delay:?}");
        }
    }

    #[test]
    fn delays_are_jittered() {
        let first: Vec<Duration> = (0..50)
            .filter_map(|_| exponential(Duration::from_secs(1), Duration::from_secs(8)).next())
            .collect();
        assert!(
            first.iter().any(|d| *d != first[0]),
            "50 first delays were all {:?}",
            first[0]
        );
    }
}
