//! `Link: <url>; rel="next"` pagination with opaque cursors.

use crate::error::ApiError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

/// A position in a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// Skip this many items of a stable ordering.
    Offset(usize),
    /// Messages with a sequence number below this.
    BeforeSeq(u64),
}

impl Cursor {
    /// Opaque text form.
    pub fn encode(self) -> String {
        let raw = match self {
            Cursor::Offset(n) => format!("o:{n}"),
            Cursor::BeforeSeq(n) => format!("s:{n}"),
        };
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Parses the opaque form; malformed cursors are a 400.
    pub fn decode(text: &str) -> Result<Cursor, ApiError> {
        let bad = || ApiError::bad_request("Invalid cursor.");
        let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let (kind, n) = raw.split_once(':').ok_or_else(bad)?;
        match kind {
            "o" => n.parse().map(Cursor::Offset).map_err(|_| bad()),
            "s" => n.parse().map(Cursor::BeforeSeq).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

/// Builds the next-page URL: the same path and parameters, plus `cursor`.
pub fn next_url(base_url: &str, path: &str, params: &[(String, String)], cursor: Cursor) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params.iter().filter(|(k, _)| k != "cursor") {
        ser.append_pair(k, v);
    }
    ser.append_pair("cursor", &cursor.encode());
    format!("{base_url}{path}?{}", ser.finish())
}

/// A `{"items": [...]}` answer with an optional `Link` header.
pub fn list_response(items: Vec<Value>, next: Option<String>) -> Response {
    let mut resp = (StatusCode::OK, axum::Json(json!({ "items": items }))).into_response();
    if let Some(url) = next {
        if let Ok(v) = HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cursors_roundtrip_and_reject_garbage() {
        for c in [Cursor::Offset(7), Cursor::BeforeSeq(42)] {
            assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        }
        assert!(Cursor::decode("!!").is_err());
    }
}
