//! Request middleware.
//!
//! * [`tracking`] (every route): gives each response a `trackingid` header and renders
//!   [`ErrorMarker`] responses (and any empty 4xx/5xx) into Webex's JSON error body.
//! * [`api`] (`/v1` only): latency, scripted failures, bearer auth, per-token rate limit and
//!   the request log.

use crate::clock::now_ms;
use crate::error::{error_body, ApiError, ErrorMarker};
use crate::state::{lock, RecordedRequest, SimState};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use uuid::Uuid;

/// The authenticated caller, inserted into request extensions by [`api`].
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub Uuid);

/// Extracts the bearer token from the `Authorization` header.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_string())
}

/// Adds `trackingid` and renders error bodies.
pub async fn tracking(req: Request, next: Next) -> Response {
    let tracking_id = format!("ROUTER_{}", Uuid::new_v4().to_string().to_uppercase());
    let mut resp = next.run(req).await;
    let status = resp.status();
    let mut marker = resp.extensions_mut().remove::<ErrorMarker>().map(|m| m.0);
    let is_error = status.is_client_error() || status.is_server_error();
    let plain_text = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if marker.is_none() && is_error && plain_text {
        // An axum rejection (e.g. a malformed path): keep its text as the Webex message.
        let body = std::mem::take(resp.body_mut());
        let text = axum::body::to_bytes(body, 64 * 1024)
            .await
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .unwrap_or_default();
        marker = Some(text).filter(|t| !t.is_empty());
    }
    let needs_body = marker.is_some()
        || (is_error && (plain_text || !resp.headers().contains_key(header::CONTENT_TYPE)));
    if needs_body {
        let message = marker.unwrap_or_else(|| ApiError::from_status(status.as_u16()).message);
        let body = error_body(&message, &tracking_id).to_string();
        resp.headers_mut().remove(header::CONTENT_LENGTH);
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=UTF-8"),
        );
        *resp.body_mut() = Body::from(body);
    }
    if let Ok(value) = HeaderValue::from_str(&tracking_id) {
        resp.headers_mut().insert("trackingid", value);
    }
    resp
}

/// Faults, auth, rate limiting and recording for `/v1`.
pub async fn api(State(state): State<Arc<SimState>>, mut req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    // Nested under `/v1`, the router sees the path with that prefix stripped.
    let inner = req.uri().path();
    let path = if inner.starts_with("/v1/") || inner == "/v1" {
        inner.to_string()
    } else {
        format!("/v1{inner}")
    };
    let query = req.uri().query().map(str::to_string);
    let seq = state
        .next_request_seq
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let at_ms = u64::try_from(now_ms()).unwrap_or_default();
    let token = bearer(req.headers());
    let caller = token
        .as_deref()
        .and_then(|t| state.world().person_by_token(t).map(|p| p.uuid));

    let latency = lock(&state.faults).faults.latency_ms;
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }

    let injected = {
        let mut faults = lock(&state.faults);
        faults.take_failure(&method, &path).map(|status| {
            let mut e = ApiError::from_status(status);
            if status == 429 {
                e.retry_after = faults.faults.retry_after_header();
            }
            e
        })
    };

    let resp = if let Some(e) = injected {
        e.into_response()
    } else if let (Some(uuid), Some(token)) = (caller, token.as_deref()) {
        let admitted = {
            let mut faults = lock(&state.faults);
            if faults.admit(token, tokio::time::Instant::now()) {
                None
            } else {
                Some(faults.faults.retry_after_header())
            }
        };
        match admitted {
            Some(retry_after) => {
                let mut e = ApiError::from_status(429);
                e.retry_after = retry_after;
                e.into_response()
            }
            None => {
                req.extensions_mut().insert(Caller(uuid));
                next.run(req).await
            }
        }
    } else {
        ApiError::unauthorized().into_response()
    };

    tracing::debug!(%method, %path, status = resp.status().as_u16(), "webex-sim request");
    let record = RecordedRequest {
        seq,
        method,
        path,
        query,
        status: resp.status().as_u16(),
        caller: caller.map(|u| crate::ids::encode(crate::ids::Kind::People, &u)),
        at_ms,
    };
    lock(&state.log).push(record);
    resp
}
