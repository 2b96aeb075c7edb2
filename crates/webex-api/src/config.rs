//! Client configuration and the bearer token wrapper.
//!
//! The token lives in [`ApiToken`], whose `Debug` and `Display` never show it, so a config that
//! ends up in a log line or an error message leaks nothing.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::observe::RequestObserver;

/// The default API base, `https://webexapis.com/v1`.
pub const DEFAULT_BASE_URL: &str = "https://webexapis.com/v1";

/// The default client-side budget, in requests per minute: Webex's published figure, "around 300
/// requests per minute" for most APIs (<https://developer.webex.com/blog/rate-limiting-and-the-webex-api>).
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 300;

/// The default bucket: how many requests a quiet client sends back to back.
pub const DEFAULT_BURST: u32 = 50;

/// A Webex bearer token. Its `Debug`/`Display` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The secret itself; only for building the `Authorization` header.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the token is empty (after trimming whitespace).
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// A hint safe to print: the first and last four characters (`Y2lz…abcd`) for tokens of at
    /// least 16 characters, `…` otherwise.
    pub fn redacted(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() < 16 {
            return "…".to_string();
        }
        let head: String = chars[..4].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}…{tail}")
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiToken({})", self.redacted())
    }
}

impl fmt::Display for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl From<String> for ApiToken {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for ApiToken {
    fn from(value: &str) -> Self {
        Self(value.to_string())
    }
}

/// Everything a [`crate::WebexClient`] needs. Build it with [`ClientConfig::new`] and adjust the
/// public fields.
#[derive(Clone)]
pub struct ClientConfig {
    /// API base, e.g. `https://webexapis.com/v1` or an emulator's `http://127.0.0.1:PORT/v1`.
    pub base_url: Url,
    /// The bearer token (bot or user).
    pub token: ApiToken,
    /// Client-side budget shared by every call of the client: at most this many requests in any
    /// 60 s window (default [`DEFAULT_REQUESTS_PER_MINUTE`]). Must be at least 1. After a 429 the
    /// client lowers its effective budget and raises it back slowly (see the crate README).
    pub requests_per_minute: u32,
    /// The token bucket: how many requests may go out back to back before the steady rate
    /// applies (default [`DEFAULT_BURST`]; at most half of `requests_per_minute` is used). The
    /// steady rate is `requests_per_minute - burst` a minute, so that no 60 s window ever holds
    /// more than `requests_per_minute` requests.
    pub burst: u32,
    /// `User-Agent` header value.
    pub user_agent: String,
    /// Timeout of one HTTP attempt (connect + response + body).
    pub timeout: Duration,
    /// Attempts for idempotent calls on 5xx and network errors (including the first).
    pub max_attempts: u32,
    /// First backoff delay between retries; doubled each attempt, with jitter.
    pub backoff_base: Duration,
    /// How many 429 answers one call accepts before giving up with
    /// [`crate::Error::RateLimited`].
    pub max_rate_limit_retries: u32,
    /// Called after every HTTP attempt (for metrics).
    pub observer: Option<Arc<dyn RequestObserver>>,
}

impl ClientConfig {
    /// A config for `token` against the public Webex API with default limits.
    pub fn new(token: impl Into<ApiToken>) -> Self {
        Self {
            base_url: default_base_url(),
            token: token.into(),
            requests_per_minute: DEFAULT_REQUESTS_PER_MINUTE,
            burst: DEFAULT_BURST,
            user_agent: format!("webex-api-rs/{}", env!("CARGO_PKG_VERSION")),
            timeout: Duration::from_secs(30),
            max_attempts: 4,
            backoff_base: Duration::from_millis(250),
            max_rate_limit_retries: 10,
            observer: None,
        }
    }

    /// Sets the API base (e.g. an emulator).
    pub fn with_base_url(mut self, base_url: Url) -> Self {
        self.base_url = base_url;
        self
    }

    /// Sets the API base from text (e.g. the `apiBaseUrl` config key); must be http(s).
    pub fn with_base_url_str(self, base_url: &str) -> crate::Result<Self> {
        let url = Url::parse(base_url.trim())
            .map_err(|e| crate::Error::InvalidUrl(format!("{base_url}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(crate::Error::InvalidUrl(format!(
                "{base_url}: the API base must be http or https"
            )));
        }
        Ok(self.with_base_url(url))
    }

    /// Sets the budget in requests per minute.
    pub fn with_requests_per_minute(mut self, rpm: u32) -> Self {
        self.requests_per_minute = rpm;
        self
    }

    /// Sets the bucket size (requests sent back to back when the client was quiet).
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Sets the metrics observer.
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }
}

fn default_base_url() -> Url {
    // A literal known to be valid (checked by `defaults_match_the_contract`), not outside input.
    #[allow(clippy::expect_used)]
    Url::parse(DEFAULT_BASE_URL).expect("DEFAULT_BASE_URL is a valid URL")
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url.as_str())
            .field("token", &self.token)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("burst", &self.burst)
            .field("user_agent", &self.user_agent)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("backoff_base", &self.backoff_base)
            .field("max_rate_limit_retries", &self.max_rate_limit_retries)
            .field("observer", &self.observer.as_ref().map(|_| "set"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let secret = "Y2lzY29zcGFyazovL3VzL1RPS0VOL3NlY3JldC12YWx1ZS1abcd";
        let config = ClientConfig::new(secret);
        let debug = format!("{config:?}");
        assert!(!debug.contains(secret), "{debug}");
        assert!(debug.contains("Y2lz…abcd"), "{debug}");
        assert_eq!(format!("{}", ApiToken::new("short")), "…");
    }

    #[test]
    fn base_url_from_text() {
        let config = ClientConfig::new("t")
            .with_base_url_str("http://127.0.0.1:8080/v1")
            .unwrap();
        assert_eq!(config.base_url.as_str(), "http://127.0.0.1:8080/v1");
        assert!(ClientConfig::new("t")
            .with_base_url_str("not a url")
            .is_err());
        assert!(ClientConfig::new("t")
            .with_base_url_str("ftp://example.com/v1")
            .is_err());
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = ClientConfig::new("t");
        assert_eq!(config.base_url.as_str(), "https://webexapis.com/v1");
        assert_eq!(config.requests_per_minute, 300);
        assert_eq!(config.burst, 50);
        assert_eq!(config.max_attempts, 4);
    }
}
