//! The demo web chat page, served at `/`: plain HTML, JS and CSS compiled into the binary (no
//! build step, no external assets).
//!
//! The page lists the demo users with their tokens from the loopback-only `GET /_sim/people`,
//! then behaves like a Webex client: `GET /v1/rooms`, `GET /v1/messages` (polled every 500 ms)
//! and `POST /v1/messages` with the chosen user's Bearer token. In a space, `@Name` at the
//! start of a message becomes a `<@personEmail:...|Name>` mention of the bot with that name.
//!
//! Like a Webex client it also: attaches a local file (multipart `POST /v1/messages` with one
//! `files` part); shows message `html` rebuilt from an allowlist of tags (never as raw
//! innerHTML; only http/https/mailto links); shows files as download links fetched with the
//! token (waiting out 423 + `Retry-After`, saying so for 410 and 428, with "Download anyway"
//! for 428), image files with a preview; renders adaptive cards (text blocks, fact sets,
//! inputs, `Action.Submit` buttons that `POST /v1/attachment/actions` as the user,
//! `Action.OpenUrl` links); marks edited messages "edited" and shows deleted ones as "Message
//! deleted" in place.

use crate::state::SimState;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const STYLE_CSS: &str = include_str!("style.css");

/// Only same-origin scripts, styles and requests; no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
connect-src 'self'; img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// Path of the page.
pub const PAGE_PATH: &str = "/";

/// The routes of the page and its assets.
pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route(
            PAGE_PATH,
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/chat/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/chat/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}
