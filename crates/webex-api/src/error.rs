//! The one error type of this crate.
//!
//! Errors keep the evidence: Webex's status, `message` and `trackingId` (quote it to Webex
//! support) are in the `Display` text itself, so any log line or wrapper that prints the error
//! carries them; the raw body is kept when JSON does not parse. They never contain the bearer
//! token.

use std::time::Duration;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to Webex.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Webex answered with a non-success status (after any retries).
    #[error("Webex API error {status}: {message}{}", tracking_suffix(.tracking_id))]
    Api {
        /// HTTP status code.
        status: u16,
        /// Webex's `message` (or the first `errors[].description`, or the status reason).
        message: String,
        /// Webex's `trackingId`, from the body or the `trackingid` header.
        tracking_id: Option<String>,
        /// The raw response body (may be empty).
        body: String,
    },
    /// Webex kept answering 429 and the client gave up retrying.
    #[error("rate limited by Webex; retry after {retry_after:?}{}", tracking_suffix(.tracking_id))]
    RateLimited {
        /// The last wait Webex asked for.
        retry_after: Duration,
        /// The `trackingid` header of the last 429, if Webex sent one.
        tracking_id: Option<String>,
    },
    /// The request could not be sent or the response could not be read.
    #[error("network error talking to Webex: {0}")]
    Network(#[source] reqwest::Error),
    /// The request timed out.
    #[error("request to Webex timed out")]
    Timeout,
    /// The response body was not the JSON we expected.
    #[error("invalid JSON from Webex: {source}")]
    InvalidJson {
        /// The parse error.
        #[source]
        source: serde_json::Error,
        /// The body as received (lossy UTF-8).
        raw: String,
    },
    /// A URL (pagination link, redirect) points away from the configured API base.
    #[error("refusing to follow a URL to a foreign host: {origin}")]
    ForeignHost {
        /// The foreign origin (`scheme://host:port`), without path or query.
        origin: String,
    },
    /// A download exceeded its size cap.
    #[error("download larger than the {limit}-byte limit")]
    TooLarge {
        /// The cap in bytes.
        limit: u64,
    },
    /// The file is still being scanned for malware (Webex answered 423 Locked): ask again after
    /// `retry_after` (its `Retry-After`, 15 s when missing or malformed).
    #[error("the file is still being scanned for malware; retry after {retry_after:?}{}", tracking_suffix(.tracking_id))]
    FileScanning {
        /// How long Webex asked to wait.
        retry_after: Duration,
        /// Webex's tracking id, if any.
        tracking_id: Option<String>,
    },
    /// The file is infected or blocked by policy (Webex answered 410 Gone): it will never be
    /// served.
    #[error("the file was blocked by Webex's malware scan (infected or not allowed){}", tracking_suffix(.tracking_id))]
    FileInfected {
        /// Webex's tracking id, if any.
        tracking_id: Option<String>,
    },
    /// The file could not be scanned for malware, e.g. it is encrypted (Webex answered 428
    /// Precondition Required); it can be fetched anyway with
    /// [`DownloadOptions::allow_unscannable`](crate::DownloadOptions).
    #[error("the file could not be scanned for malware (e.g. it is encrypted){}", tracking_suffix(.tracking_id))]
    FileUnscannable {
        /// Webex's tracking id, if any.
        tracking_id: Option<String>,
    },
    /// A request the client refuses to send (e.g. a file upload with a second file).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A URL given to or built by the client is not valid.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The configuration cannot work (e.g. an empty token, a zero budget).
    #[error("invalid client configuration: {0}")]
    Config(String),
}

fn tracking_suffix(tracking_id: &Option<String>) -> String {
    match tracking_id {
        Some(id) => format!(" (trackingId {id})"),
        None => String::new(),
    }
}

impl Error {
    /// The HTTP status if Webex answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::RateLimited { .. } => Some(429),
            Error::FileScanning { .. } => Some(423),
            Error::FileInfected { .. } => Some(410),
            Error::FileUnscannable { .. } => Some(428),
            _ => None,
        }
    }

    /// Webex's tracking id, if any.
    pub fn tracking_id(&self) -> Option<&str> {
        match self {
            Error::Api { tracking_id, .. }
            | Error::RateLimited { tracking_id, .. }
            | Error::FileScanning { tracking_id, .. }
            | Error::FileInfected { tracking_id }
            | Error::FileUnscannable { tracking_id } => tracking_id.as_deref(),
            _ => None,
        }
    }

    /// Whether this is a 404 (useful when a webhook arrives before the message is readable).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_display_keeps_message_and_tracking_id() {
        let err = Error::Api {
            status: 400,
            message: "Unable to post message".into(),
            tracking_id: Some("ROUTER_123".into()),
            body: String::new(),
        };
        assert_eq!(
            err.to_string(),
            "Webex API error 400: Unable to post message (trackingId ROUTER_123)"
        );
        assert_eq!(err.tracking_id(), Some("ROUTER_123"));
        assert_eq!(err.status(), Some(400));
    }

    #[test]
    fn rate_limited_display_keeps_the_tracking_id() {
        let err = Error::RateLimited {
            retry_after: Duration::from_secs(15),
            tracking_id: Some("ROUTER_429".into()),
        };
        assert_eq!(
            err.to_string(),
            "rate limited by Webex; retry after 15s (trackingId ROUTER_429)"
        );
        assert_eq!(err.tracking_id(), Some("ROUTER_429"));
        assert_eq!(err.status(), Some(429));
    }
}
