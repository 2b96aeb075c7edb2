//! Webex-shaped API errors.
//!
//! Handlers return [`ApiError`]; its response carries an [`ErrorMarker`] extension and no body.
//! The tracking middleware (see `middleware.rs`) then writes Webex's JSON error body
//! `{"message", "errors":[{"description"}], "trackingId"}` with the same tracking id it puts in
//! the `trackingid` header, so every error body and header agree.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The message Webex gives for a missing or unknown access token.
pub const MSG_UNAUTHORIZED: &str =
    "The request requires a valid access token set in the Authorization request header.";
/// Webex's generic message for unknown resources.
pub const MSG_NOT_FOUND: &str = "The requested resource could not be found.";
/// The message Webex gives with a 429 (its `Retry-After` header says how long to wait), as seen
/// in tonybaloney/hubot-spark#20.
pub const MSG_TOO_MANY_REQUESTS: &str = "The user has sent too many requests in a given amount of \
     time. Please refer to the Retry-After response header to wait before making a new request.";
/// The message Webex gives when a bot lists a group room without `mentionedPeople=me`
/// (403; see WebexCommunity/WebexPythonSDK#235 and jbogarin/go-cisco-webex-teams#9).
pub const MSG_FAILED_ACTIVITY: &str = "Failed to get activity.";

/// An error answered with Webex's JSON error body.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human-readable message (also used as the single `errors[].description`).
    pub message: String,
    /// Optional raw `Retry-After` header value (429 answers).
    pub retry_after: Option<String>,
}

/// Response extension telling the tracking middleware to render an error body.
#[derive(Debug, Clone)]
pub struct ErrorMarker(pub String);

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401 with Webex's wording.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, MSG_UNAUTHORIZED)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404 with Webex's generic wording.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, MSG_NOT_FOUND)
    }

    /// An error for an arbitrary status code, with the standard reason phrase as message.
    pub fn from_status(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = match status.as_u16() {
            404 => MSG_NOT_FOUND.to_string(),
            401 => MSG_UNAUTHORIZED.to_string(),
            429 => MSG_TOO_MANY_REQUESTS.to_string(),
            _ => status.canonical_reason().unwrap_or("Error").to_string(),
        };
        Self::new(status, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = self.status.into_response();
        if let Some(value) = self
            .retry_after
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            resp.headers_mut().insert("retry-after", value);
        }
        resp.extensions_mut().insert(ErrorMarker(self.message));
        resp
    }
}

/// Builds Webex's JSON error body.
pub fn error_body(message: &str, tracking_id: &str) -> serde_json::Value {
    serde_json::json!({
        "message": message,
        "errors": [{ "description": message }],
        "trackingId": tracking_id,
    })
}
