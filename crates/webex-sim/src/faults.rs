//! Fault injection: rate limits, scripted failures, latency, webhook delivery chaos and
//! Mercury (websocket) faults.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// Fault configuration. `Faults::default()` means no faults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Requests allowed per token per rolling minute; beyond it the answer is 429.
    pub rate_limit_per_minute: Option<u32>,
    /// `Retry-After` seconds sent with 429 answers (default 60, at most
    /// [`MAX_RETRY_AFTER_SECONDS`]).
    pub retry_after_seconds: Option<u64>,
    /// Raw `Retry-After` value instead (e.g. an HTTP date or garbage); an empty string omits
    /// the header altogether. Printable ASCII only (it must fit in a header).
    pub retry_after_raw: Option<String>,
    /// Added latency before every API answer, in ms (at most [`MAX_DELAY_MS`]).
    pub latency_ms: u64,
    /// Share of webhook deliveries silently dropped (0..=1).
    pub webhook_drop_ratio: f64,
    /// Share of webhook deliveries sent twice (0..=1).
    pub webhook_duplicate_ratio: f64,
    /// Delay before every webhook delivery, in ms (at most [`MAX_DELAY_MS`]).
    pub webhook_delay_ms: u64,
    /// Share of webhook deliveries held back so that later ones overtake them (0..=1).
    pub webhook_reorder_ratio: f64,
    /// Delay before every Mercury (websocket) event, in ms (at most [`MAX_DELAY_MS`]).
    pub mercury_delay_ms: u64,
    /// Share of Mercury events sent twice, with the same envelope id (0..=1).
    pub mercury_duplicate_ratio: f64,
    /// Mercury stops answering `ping` frames (the client should time out and reconnect).
    pub mercury_ignore_pings: bool,
    /// Websocket upgrades are refused with this status (`400..=599`; e.g. 404 = device gone).
    pub mercury_refuse_upgrade: Option<u16>,
    /// How long the websocket waits for the authorization frame before closing with 1008, in
    /// ms (default 10 000, at most [`MAX_DELAY_MS`]).
    pub mercury_auth_timeout_ms: Option<u64>,
    /// Every message edit (`PUT /v1/messages/{id}`) is refused with the 400 Webex gives for an
    /// edit it does not support ("Editing a message with files or attachments is currently
    /// unsupported."), after the request is otherwise checked.
    pub refuse_edits: bool,
}

/// The largest `latencyMs` and `webhookDelayMs` accepted: one minute. More would make every
/// call (or delivery) look hung rather than slow.
pub const MAX_DELAY_MS: u64 = 60_000;

/// The largest `retryAfterSeconds` accepted: one day (`retryAfterRaw` sends anything else).
pub const MAX_RETRY_AFTER_SECONDS: u64 = 86_400;

/// The methods a scripted failure may name (besides `*`), compared case-insensitively.
pub const FAIL_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// A fault value outside its allowed range: `key` (camelCase, as in the control API) must be
/// `expected`, and was `got`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` must be {expected}; got {got}")]
pub struct FaultError {
    /// The key, e.g. `webhookDropRatio` or `failNext.status`.
    pub key: &'static str,
    /// The allowed values, e.g. `a ratio 0..=1`.
    pub expected: String,
    /// The value given, rendered as JSON.
    pub got: String,
}

fn check<T: std::fmt::Display>(
    ok: bool,
    key: &'static str,
    expected: impl Into<String>,
    got: T,
) -> Result<(), FaultError> {
    if ok {
        return Ok(());
    }
    Err(FaultError {
        key,
        expected: expected.into(),
        got: got.to_string(),
    })
}

impl Faults {
    /// Checks every field's range (ratios `0..=1`, delays `0..=`[`MAX_DELAY_MS`], `Retry-After`
    /// seconds `0..=`[`MAX_RETRY_AFTER_SECONDS`], a raw `Retry-After` that fits in a header).
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), FaultError> {
        for (key, ratio) in [
            ("webhookDropRatio", self.webhook_drop_ratio),
            ("webhookDuplicateRatio", self.webhook_duplicate_ratio),
            ("webhookReorderRatio", self.webhook_reorder_ratio),
            ("mercuryDuplicateRatio", self.mercury_duplicate_ratio),
        ] {
            check((0.0..=1.0).contains(&ratio), key, "a ratio 0..=1", ratio)?;
        }
        for (key, ms) in [
            ("latencyMs", self.latency_ms),
            ("webhookDelayMs", self.webhook_delay_ms),
            ("mercuryDelayMs", self.mercury_delay_ms),
            (
                "mercuryAuthTimeoutMs",
                self.mercury_auth_timeout_ms.unwrap_or_default(),
            ),
        ] {
            check(
                ms <= MAX_DELAY_MS,
                key,
                format!("milliseconds 0..={MAX_DELAY_MS}"),
                ms,
            )?;
        }
        if let Some(status) = self.mercury_refuse_upgrade {
            check(
                (400..=599).contains(&status),
                "mercuryRefuseUpgrade",
                "an error status 400..=599 (or null to accept upgrades)",
                status,
            )?;
        }
        if let Some(secs) = self.retry_after_seconds {
            check(
                secs <= MAX_RETRY_AFTER_SECONDS,
                "retryAfterSeconds",
                format!("seconds 0..={MAX_RETRY_AFTER_SECONDS}"),
                secs,
            )?;
        }
        if let Some(raw) = &self.retry_after_raw {
            check(
                raw.chars().all(|c| c == ' ' || c.is_ascii_graphic()),
                "retryAfterRaw",
                "printable ASCII (a header value)",
                format!("{raw:?}"),
            )?;
        }
        Ok(())
    }

    /// The `Retry-After` header value to send, if any.
    pub fn retry_after_header(&self) -> Option<String> {
        match &self.retry_after_raw {
            Some(raw) if raw.is_empty() => None,
            Some(raw) => Some(raw.clone()),
            None => Some(self.retry_after_seconds.unwrap_or(60).to_string()),
        }
    }
}

/// A scripted failure: the next `remaining` requests matching method and path prefix fail.
#[derive(Debug, Clone)]
pub struct FailRule {
    /// HTTP method (`*` or empty for any).
    pub method: String,
    /// Path prefix (with or without the `/v1` part).
    pub path_prefix: String,
    /// Status to answer.
    pub status: u16,
    /// How many more requests to fail.
    pub remaining: u32,
}

impl FailRule {
    /// Checks a rule: `method` is `*` or one of [`FAIL_METHODS`], `path_prefix` starts with
    /// `/`, `status` is an error status `400..=599` and `remaining` is at least 1.
    ///
    /// # Errors
    /// The first field out of range, named as in the control API's `failNext`.
    pub fn validate(&self) -> Result<(), FaultError> {
        check(
            self.method == "*"
                || FAIL_METHODS
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(&self.method)),
            "failNext.method",
            format!("`*` or an HTTP method ({})", FAIL_METHODS.join(", ")),
            format!("{:?}", self.method),
        )?;
        check(
            self.path_prefix.starts_with('/'),
            "failNext.path",
            "a path prefix starting with `/` (e.g. `/v1/messages` or `/messages`)",
            format!("{:?}", self.path_prefix),
        )?;
        check(
            (400..=599).contains(&self.status),
            "failNext.status",
            "an error status 400..=599",
            self.status,
        )?;
        check(
            self.remaining >= 1,
            "failNext.count",
            "at least 1",
            self.remaining,
        )
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self.method.is_empty()
            || self.method == "*"
            || self.method.eq_ignore_ascii_case(method);
        let prefix = self.path_prefix.as_str();
        let path_ok = path.starts_with(prefix)
            || (!prefix.starts_with("/v1") && path.starts_with(&format!("/v1{prefix}")));
        method_ok && path_ok
    }
}

/// Webhook delivery plan for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPlan {
    /// Skip the delivery.
    pub drop: bool,
    /// Send it twice.
    pub duplicate: bool,
    /// Wait this long first.
    pub delay: Duration,
}

/// Mercury plan for one event on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPlan {
    /// Send it twice.
    pub duplicate: bool,
    /// Wait this long first.
    pub delay: Duration,
}

/// Mutable fault state: configuration, scripted failures, rate windows, RNG.
#[derive(Debug)]
pub struct FaultState {
    /// Current configuration.
    pub faults: Faults,
    /// Pending scripted failures.
    pub rules: Vec<FailRule>,
    windows: HashMap<String, VecDeque<Instant>>,
    rng: StdRng,
}

const SEED: u64 = 0x5EED_CAFE;

impl Default for FaultState {
    fn default() -> Self {
        FaultState {
            faults: Faults::default(),
            rules: Vec::new(),
            windows: HashMap::new(),
            rng: StdRng::seed_from_u64(SEED),
        }
    }
}

impl FaultState {
    /// Replaces the configuration (scripted failures are kept; the RNG is reseeded).
    pub fn set(&mut self, faults: Faults) {
        self.faults = faults;
        self.windows.clear();
        self.rng = StdRng::seed_from_u64(SEED);
    }

    /// Adds a scripted failure (one with a count of 0 is ignored).
    pub fn fail_next(&mut self, method: &str, path_prefix: &str, status: u16, count: u32) {
        self.add_rule(FailRule {
            method: method.to_string(),
            path_prefix: path_prefix.to_string(),
            status,
            remaining: count,
        });
    }

    /// Adds a scripted failure (one with a count of 0 is ignored).
    pub fn add_rule(&mut self, rule: FailRule) {
        if rule.remaining > 0 {
            self.rules.push(rule);
        }
    }

    /// Consumes a matching scripted failure, returning its status.
    pub fn take_failure(&mut self, method: &str, path: &str) -> Option<u16> {
        let idx = self.rules.iter().position(|r| r.matches(method, path))?;
        let rule = &mut self.rules[idx];
        rule.remaining = rule.remaining.saturating_sub(1);
        let status = rule.status;
        if rule.remaining == 0 {
            self.rules.remove(idx);
        }
        Some(status)
    }

    /// Counts a request against `token`'s budget; false when over the limit.
    pub fn admit(&mut self, token: &str, now: Instant) -> bool {
        let Some(limit) = self.faults.rate_limit_per_minute else {
            return true;
        };
        let window = self.windows.entry(token.to_string()).or_default();
        while let Some(first) = window.front() {
            if now.duration_since(*first) >= Duration::from_secs(60) {
                window.pop_front();
            } else {
                break;
            }
        }
        if window.len() >= limit as usize {
            return false;
        }
        window.push_back(now);
        true
    }

    /// Draws the delivery plan for one webhook delivery.
    pub fn plan_delivery(&mut self) -> DeliveryPlan {
        let f = self.faults.clone();
        let drop = f.webhook_drop_ratio > 0.0 && self.rng.gen::<f64>() < f.webhook_drop_ratio;
        let duplicate =
            f.webhook_duplicate_ratio > 0.0 && self.rng.gen::<f64>() < f.webhook_duplicate_ratio;
        let reorder =
            f.webhook_reorder_ratio > 0.0 && self.rng.gen::<f64>() < f.webhook_reorder_ratio;
        let mut delay = Duration::from_millis(f.webhook_delay_ms);
        if reorder {
            delay += Duration::from_millis(f.webhook_delay_ms.max(50) * 3);
        }
        DeliveryPlan {
            drop,
            duplicate,
            delay,
        }
    }

    /// Draws the plan for one Mercury event.
    pub fn plan_event(&mut self) -> EventPlan {
        let ratio = self.faults.mercury_duplicate_ratio;
        EventPlan {
            duplicate: ratio > 0.0 && self.rng.gen::<f64>() < ratio,
            delay: Duration::from_millis(self.faults.mercury_delay_ms),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fail_rules_count_down_and_match_with_or_without_v1() {
        let mut s = FaultState::default();
        s.fail_next("POST", "/messages", 503, 2);
        assert_eq!(s.take_failure("GET", "/v1/messages"), None);
        assert_eq!(s.take_failure("POST", "/v1/messages"), Some(503));
        assert_eq!(s.take_failure("post", "/v1/messages/abc"), Some(503));
        assert_eq!(s.take_failure("POST", "/v1/messages"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_window_rolls_after_a_minute() {
        let mut s = FaultState::default();
        s.set(Faults {
            rate_limit_per_minute: Some(2),
            ..Faults::default()
        });
        let t0 = Instant::now();
        assert!(s.admit("a", t0));
        assert!(s.admit("a", t0));
        assert!(!s.admit("a", t0));
        assert!(s.admit("b", t0));
        assert!(s.admit("a", t0 + Duration::from_secs(61)));
    }

    #[test]
    fn retry_after_header_variants() {
        let mut f = Faults::default();
        assert_eq!(f.retry_after_header().as_deref(), Some("60"));
        f.retry_after_seconds = Some(3);
        assert_eq!(f.retry_after_header().as_deref(), Some("3"));
        f.retry_after_raw = Some("soon".into());
        assert_eq!(f.retry_after_header().as_deref(), Some("soon"));
        f.retry_after_raw = Some(String::new());
        assert_eq!(f.retry_after_header(), None);
    }
}
