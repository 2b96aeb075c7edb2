//! Retry policy: `Retry-After` parsing and backoff with jitter.
//!
//! Webex answers 429 with `Retry-After` in seconds
//! (<https://developer.webex.com/blog/rate-limiting-and-the-webex-api>); RFC 9110 also allows an
//! HTTP date. A missing or malformed value means "wait 15 s" (our contract, section 6).

use std::time::{Duration, SystemTime};

use rand::Rng;

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

/// Delay before retry number `retry` (1 for the first retry): `base * 2^(retry-1)`, with "equal
/// jitter" (half fixed, half random) so many clients do not retry in lockstep. Capped at 30 s.
pub fn backoff(base: Duration, retry: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << retry.saturating_sub(1).min(16));
    let capped = exp.min(Duration::from_secs(30));
    let half = capped / 2;
    let jitter_nanos =
        rand::thread_rng().gen_range(0..=half.as_nanos().min(u64::MAX as u128) as u64);
    half + Duration::from_nanos(jitter_nanos)
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
        let base = Duration::from_millis(100);
        for retry in 1..=6 {
            let full = (base * (1 << (retry - 1))).min(Duration::from_secs(30));
            for _ in 0..50 {
                let delay = backoff(base, retry);
                assert!(delay >= full / 2 && delay <= full, "{retry}: {delay:?}");
            }
        }
        assert!(backoff(base, 40) <= Duration::from_secs(30));
    }
}
