//! Retry policy: `Retry-After` parsing and backoff with jitter.
//!
//! The backoff is [`backon`]'s `ExponentialBuilder`, configured in [`backoff`] only: delays
//! double from [`ClientConfig::backoff_base`](crate::ClientConfig::backoff_base) (250 ms by
//! default) up to [`MAX_BACKOFF`] (30 s), with "equal jitter". A `Retry-After` from Webex is not
//! a backoff: it pauses the client for exactly that long.
//!
//! Webex answers 429 with `Retry-After` in seconds
//! (<https://developer.webex.com/blog/rate-limiting-and-the-webex-api>); RFC 9110 also allows an
//! HTTP date. A missing or malformed value means "wait 15 s" (our contract, section 6).

use std::time::{Duration, SystemTime};

use backon::BackoffBuilder;

/// Wait used when `Retry-After` is missing or malformed.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(15);

/// Upper bound on any server-requested wait, so a bogus header cannot park the client for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Parses a `Retry-After` value (integer seconds or HTTP date) relative to `now`.
/// Missing or malformed values give [`DEFAULT_RETRY_AFTER`]; dates in the past give zero.
pub fn parse_retry_after(value: Option<&str>, now: SystemTime) -> Duration {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return DEFAULT_RETRY_AFTER;
    };
    let wait = if value.bytes().all(|b| b.is_ascii_digit()) {
        match value.parse::<u64>() {
            Ok(seconds) => Duration::from_secs(seconds),
            // Too many digits for u64: huge, clamp below.
            Err(_) => MAX_RETRY_AFTER,
        }
    } else {
        match httpdate::parse_http_date(value) {
            Ok(date) => date.duration_since(now).unwrap_or(Duration::ZERO),
            Err(_) => return DEFAULT_RETRY_AFTER,
        }
    };
    wait.min(MAX_RETRY_AFTER)
}

/// Longest computed wait between two retries (a `Retry-After` is not capped by it).
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The endless delays before retries 1, 2, 3, ...: for retry `n`, with `d = min(base * 2^(n-1),`
/// [`MAX_BACKOFF`]`)`, a uniformly random wait in `[d/2, d]` ("equal jitter": half fixed so
/// waits grow, half random so many clients do not retry in lockstep).
pub fn backoff(base: Duration) -> impl Iterator<Item = Duration> + Send {
    let cap = MAX_BACKOFF.max(base);
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

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn integer_seconds() {
        assert_eq!(parse_retry_after(Some("7"), at(0)), Duration::from_secs(7));
        assert_eq!(parse_retry_after(Some(" 0 "), at(0)), Duration::ZERO);
        assert_eq!(
            parse_retry_after(Some("99999999999999999999999"), at(0)),
            MAX_RETRY_AFTER
        );
        assert_eq!(parse_retry_after(Some("86400"), at(0)), MAX_RETRY_AFTER);
    }

    #[test]
    fn http_date() {
        // 1994-11-06T08:49:37Z = 784111777
        let now = at(784_111_777 - 42);
        assert_eq!(
            parse_retry_after(Some("Sun, 06 Nov 1994 08:49:37 GMT"), now),
            Duration::from_secs(42)
        );
        let later = at(784_111_777 + 10);
        assert_eq!(
            parse_retry_after(Some("Sun, 06 Nov 1994 08:49:37 GMT"), later),
            Duration::ZERO
        );
    }

    #[test]
    fn missing_or_malformed_means_fifteen_seconds() {
        assert_eq!(parse_retry_after(None, at(0)), DEFAULT_RETRY_AFTER);
        assert_eq!(parse_retry_after(Some(""), at(0)), DEFAULT_RETRY_AFTER);
        assert_eq!(parse_retry_after(Some("soon"), at(0)), DEFAULT_RETRY_AFTER);
        assert_eq!(parse_retry_after(Some("-5"), at(0)), DEFAULT_RETRY_AFTER);
        assert_eq!(parse_retry_after(Some("1.5"), at(0)), DEFAULT_RETRY_AFTER);
        assert_eq!(DEFAULT_RETRY_AFTER, Duration::from_secs(15));
    }

    #[test]
    fn backoff_grows_and_stays_within_bounds() {
        // backon computes in `f32`: allow a few nanoseconds of rounding per doubling.
        let slack = Duration::from_micros(1);
        let base = Duration::from_millis(100);
        for _ in 0..50 {
            for (n, delay) in backoff(base).take(12).enumerate() {
                let full = (base * (1 << n)).min(MAX_BACKOFF);
                assert!(
                    delay + slack >= full / 2 && delay <= full + slack,
                    "retry {}: {delay:?}",
                    n + 1
                );
            }
        }
        let late = backoff(base).nth(40);
        assert!(late.is_some_and(|d| d >= MAX_BACKOFF / 2 && d <= MAX_BACKOFF + slack));
    }
}
