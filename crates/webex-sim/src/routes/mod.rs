//! REST handlers under `/v1`, one module per resource.

pub mod actions;
pub mod contents;
pub mod memberships;
pub mod messages;
pub mod people;
pub mod rooms;
pub mod webhooks;

use crate::error::ApiError;
use crate::pagination::{list_response, next_url, Cursor};
use crate::state::SimState;
use axum::extract::DefaultBodyLimit;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;

/// The `/v1` router.
pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/people/me", get(people::me))
        .route("/people", get(people::list))
        .route("/people/{id}", get(people::get_one))
        .route("/rooms", get(rooms::list).post(rooms::create))
        .route("/rooms/{id}", get(rooms::get_one))
        .route(
            "/memberships",
            get(memberships::list).post(memberships::create),
        )
        .route(
            "/messages",
            get(messages::list)
                .post(messages::create)
                .layer(DefaultBodyLimit::max(
                    // A 100 MB file plus the other fields; the handler enforces the file limit.
                    crate::files::MAX_FILE_BYTES as usize + crate::files::MULTIPART_OVERHEAD_BYTES,
                )),
        )
        .route("/contents/{id}", get(contents::fetch).head(contents::fetch))
        .route("/messages/direct", get(messages::direct))
        .route(
            "/messages/{id}",
            get(messages::get_one)
                .put(messages::edit)
                .delete(messages::delete),
        )
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{id}",
            get(webhooks::get_one)
                .put(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/attachment/actions", post(actions::create))
        .route("/attachment/actions/{id}", get(actions::get_one))
        .fallback(|| async { ApiError::not_found() })
}

/// Parsed query parameters, in order.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// The pairs.
    pub pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    /// First non-empty value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// All values of `key`, comma lists split.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// `max`, defaulting to `default`; 400 unless `1..=upper`.
    pub fn max(&self, default: usize, upper: usize) -> Result<usize, ApiError> {
        let Some(raw) = self.get("max") else {
            return Ok(default);
        };
        let n: f64 = raw
            .parse()
            .map_err(|_| ApiError::bad_request(format!("Invalid max value '{raw}'.")))?;
        if n.fract() != 0.0 || n < 1.0 || n > upper as f64 {
            return Err(ApiError::bad_request(format!(
                "max must be between 1 and {upper}, inclusive."
            )));
        }
        Ok(n as usize)
    }

    /// The decoded `cursor`, if present.
    pub fn cursor(&self) -> Result<Option<Cursor>, ApiError> {
        self.get("cursor").map(Cursor::decode).transpose()
    }
}

/// Parses a JSON request body into `T`, answering 400 the way Webex does on bad input.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("Request body is required."));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("Unable to parse the request body: {e}")))
}

/// Offset-paginates a fully computed list.
pub fn paginate_offset(
    state: &SimState,
    path: &str,
    query: &Query,
    items: Vec<Value>,
    max: usize,
) -> Result<Response, ApiError> {
    let offset = match query.cursor()? {
        Some(Cursor::Offset(n)) => n,
        Some(Cursor::BeforeSeq(_)) => return Err(ApiError::bad_request("Invalid cursor.")),
        None => 0,
    };
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(max).collect();
    let next = (offset + max < total).then(|| {
        next_url(
            &state.base_url,
            path,
            &query.pairs,
            Cursor::Offset(offset + max),
        )
    });
    Ok(list_response(page, next))
}
