//! `GET` and `HEAD /contents/{id}`: the files uploaded with messages.
//!
//! developer.webex.com/docs/basics "Message Attachments" (`shared/spec/webex-api-notes.md` §5):
//! a bearer token is required; `HEAD` gives `Content-Disposition: attachment;
//! filename="example.png"`, `Content-Length` and `Content-Type` without the body. Anti-malware
//! answers (status meanings from the OpenAPI description's responses): 423 Locked with
//! `Retry-After` while the file is scanned, 410 Gone when it is infected or blocked, 428
//! Precondition Required when it cannot be scanned, unless `?allow=unscannable`. Webex does not
//! document the error bodies: the emulator sends its usual error body with the OpenAPI
//! description of the status as message (a guess).
//!
//! Only members of the file's room may fetch it (others get 404, as for messages; a guess). Every
//! GET or HEAD counts against a scanning file's remaining 423s.

use super::Query;
use crate::error::ApiError;
use crate::files::{content_disposition, Scan};
use crate::ids::resolve_content;
use crate::middleware::Caller;
use crate::state::SimState;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use std::sync::Arc;

/// Message of a 423 (the OpenAPI description of 423).
pub const MSG_LOCKED: &str = "The requested resource is temporarily unavailable. A Retry-After \
header may be present that specifies how many seconds you need to wait before attempting the \
request again.";
/// Message of a 410 (the OpenAPI description of 410).
pub const MSG_GONE: &str = "The requested resource is no longer available.";
/// Message of a 428 (the OpenAPI description of 428).
pub const MSG_UNSCANNABLE: &str =
    "File(s) cannot be scanned for malware and need to be force downloaded.";

/// `GET` or `HEAD /contents/{id}[?allow=unscannable]`.
pub async fn fetch(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    method: Method,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let allow_unscannable = Query::parse(raw.as_deref())
        .all("allow")
        .iter()
        .any(|v| v.eq_ignore_ascii_case("unscannable"));
    let (message, index) = resolve_content(&id).ok_or_else(ApiError::not_found)?;
    let mut world = state.world();
    let position = world
        .files
        .iter()
        .position(|f| f.message == message && f.index == index)
        .ok_or_else(ApiError::not_found)?;
    let room = world.files[position].room;
    if !world.room(&room).is_some_and(|r| r.has_member(&me)) {
        return Err(ApiError::not_found());
    }
    let file = &mut world.files[position];
    file.fetches += 1;
    match file.scan {
        Scan::Scanning {
            times,
            retry_after_seconds,
        } if times > 0 => {
            let left = times - 1;
            file.scan = if left == 0 {
                Scan::Clean
            } else {
                Scan::scanning(left, retry_after_seconds)
            };
            let mut e = ApiError::new(StatusCode::LOCKED, MSG_LOCKED);
            e.retry_after = Some(retry_after_seconds.to_string());
            return Err(e);
        }
        Scan::Infected => return Err(ApiError::new(StatusCode::GONE, MSG_GONE)),
        Scan::Unscannable if !allow_unscannable => {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_REQUIRED,
                MSG_UNSCANNABLE,
            ))
        }
        _ => {}
    }
    let disposition = HeaderValue::from_str(&content_disposition(&file.name))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let content_type = HeaderValue::from_str(&file.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let length = file.bytes.len();
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(file.bytes.clone())
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    Ok(response)
}
