//! The Webex webhook receiver: one axum route on `webhook.path`.
//!
//! Per delivery (spec §3): the raw body is read with a 1 MiB cap (413 beyond, refused while
//! streaming, never buffered whole), its `X-Spark-Signature` checked in constant time (401 with
//! `{"error":"missing X-Spark-Signature"}` or `{"error":"invalid X-Spark-Signature"}`, and
//! nothing else happens), then the JSON envelope parsed (400 when malformed).
//!
//! `messages:created` is claimed in the state store *before* the answer: 200 only once the id
//! is durably recorded (500 on a store error, 503 before the gateway started; the start-up
//! catch-up and the safety poll find such messages). The id is then queued in its room; the
//! room's worker fetches the message (`Channel::refetch`): the text in a webhook is never
//! trusted (it has none).
//! Other resources and events are acknowledged with 200 and ignored.

pub mod envelope;
pub mod register;
pub mod signature;
pub mod watch;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use moltbot_core::gateway::{Claim, EarlyFetch, InboundSink};
use webex_api::same_entity;

use crate::shared::{WebexShared, CHANNEL};

use self::envelope::Envelope;
use self::signature::{SignatureError, SIGNATURE_HEADER};

pub use self::register::{reconcile, ReconcileReport};

/// The largest delivery accepted (1 MiB); larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every request of the route shares.
#[derive(Clone)]
struct Receiver {
    shared: Arc<WebexShared>,
    /// The webhook secret (never logged).
    secret: Arc<str>,
}

/// The axum router serving POST `path` (the configured webhook.path).
///
/// `secret` is the webhook secret registered with Webex (see [`register::reconcile`]). A `path`
/// without a leading `/` gets one; `{`/`}` are matched literally. A path with a segment that
/// starts with `:` or `*` cannot be routed by axum: the default `/webex/webhook` is served
/// instead, with an error in the log (config validation should refuse such paths).
pub fn router(shared: Arc<WebexShared>, path: &str, secret: String) -> Router {
    let state = Receiver {
        shared,
        secret: Arc::from(secret),
    };
    Router::new()
        .route(&route_path(path), post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The route pattern axum needs for the literal `path`.
fn route_path(path: &str) -> String {
    let trimmed = path.trim();
    let path = if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    };
    if path
        .split('/')
        .any(|segment| segment.starts_with(':') || segment.starts_with('*'))
    {
        tracing::error!(
            channel = CHANNEL,
            path = %path,
            fallback = crate::config::DEFAULT_WEBHOOK_PATH,
            "webhook path segments must not start with ':' or '*'; serving the default path"
        );
        return crate::config::DEFAULT_WEBHOOK_PATH.to_string();
    }
    // axum 0.8 patterns use `{name}` captures; `{{`/`}}` are literal braces.
    path.replace('{', "{{").replace('}', "}}")
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// How a delivery was handled, as the body of its 200 answer (`{"status": ...}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handled {
    Accepted,
    Duplicate,
    OwnMessage,
    Ignored,
}

impl Handled {
    /// The JSON body, written out once: every delivery gets one of these, so no `Value` is
    /// built or serialised per request.
    fn body(self) -> &'static str {
        match self {
            Handled::Accepted => r#"{"status":"accepted"}"#,
            Handled::Duplicate => r#"{"status":"duplicate"}"#,
            Handled::OwnMessage => r#"{"status":"own message"}"#,
            Handled::Ignored => r#"{"status":"ignored"}"#,
        }
    }
}

fn json_status(handled: Handled) -> Response {
    (
        StatusCode::OK,
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        handled.body(),
    )
        .into_response()
}

/// The POST handler.
async fn receive(
    State(rx): State<Receiver>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                tracing::warn!(
                    channel = CHANNEL,
                    limit = MAX_BODY_BYTES,
                    "webhook body too large; refused"
                );
                return json_error(status, "request body larger than 1 MiB");
            }
            tracing::warn!(channel = CHANNEL, error = %rejection.body_text(), "could not read webhook body");
            return json_error(status, "could not read request body");
        }
    };
    let header = headers.get(SIGNATURE_HEADER).map(|v| v.as_bytes());
    if let Err(err) = signature::verify(&rx.secret, &body, header) {
        match err {
            SignatureError::Missing => {
                tracing::warn!(
                    channel = CHANNEL,
                    "webhook delivery without X-Spark-Signature; refused"
                )
            }
            SignatureError::Invalid => {
                tracing::warn!(
                    channel = CHANNEL,
                    "webhook delivery with a wrong X-Spark-Signature; refused"
                )
            }
        }
        return json_error(StatusCode::UNAUTHORIZED, &err.to_string());
    }
    let envelope: Envelope = match serde_json::from_slice(&body) {
        Ok(envelope) => envelope,
        Err(err) => {
            tracing::warn!(channel = CHANNEL, error = %err, "malformed webhook payload");
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("malformed webhook payload: {err}"),
            );
        }
    };
    match (envelope.resource.as_str(), envelope.event.as_str()) {
        ("messages", "created") => on_message_created(&rx, &envelope).await,
        ("attachmentActions", "created") => on_attachment_action(&rx, &envelope).await,
        _ => {
            tracing::debug!(channel = CHANNEL, kind = %envelope.kind(), "webhook event not handled; ignored");
            json_status(Handled::Ignored)
        }
    }
}

/// `messages:created`: claim the id durably, answer, then fetch and deliver in the background.
async fn on_message_created(rx: &Receiver, envelope: &Envelope) -> Response {
    let Some(id) = envelope.data_id() else {
        tracing::warn!(
            channel = CHANNEL,
            "messages:created delivery without data.id"
        );
        return json_error(StatusCode::BAD_REQUEST, "data.id is missing");
    };
    let Some(sink) = rx.shared.sink.get() else {
        // The start-up catch-up (and the safety poll) pick the message up from the API.
        tracing::info!(channel = CHANNEL, message_id = %id, "webhook delivery before the gateway is ready; answering 503");
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "gateway is not ready yet");
    };
    let data = envelope.data.as_ref();
    let room_id = data.and_then(|d| d.room_id.as_deref()).unwrap_or_default();
    let created_ms = envelope.data_created_ms().unwrap_or_else(now_ms);
    let author = data
        .and_then(|d| d.person_id.as_deref())
        .unwrap_or_default();
    if rx
        .shared
        .bot()
        .is_some_and(|bot| same_entity(author, &bot.id))
    {
        // The bot's own replies come back as `messages:created`: nothing to fetch, answer or
        // even record (a redelivery is recognised the same way).
        sink.ignore_own(id);
        return json_status(Handled::OwnMessage);
    }
    claim_and_queue(rx, sink, id, room_id, created_ms).await
}

/// Scheduler turns the webhook handler gives up before its claim's commit when its message is
/// the only one being fetched ([`EarlyFetch::is_alone`]), so the early fetch's `GET` is on the
/// wire first: one for the fetch task to hand its request to the HTTP client, one for the
/// client's connection task to write it. Seen with `perf trace` on the bench's steady run
/// (bench/README.md, seventh session): with one turn the `GET` left after the commit for every
/// message (~150-250 µs later), with two before it for every message.
const FETCH_HANDOFF_TURNS: usize = 2;

/// Claims `id` (a message, or a card submission's action id) durably, then queues it in
/// `room_id` for its room's worker to fetch; the answer to Webex says which happened (a 500
/// when the store failed, so nothing is acknowledged that is not recorded).
async fn claim_and_queue(
    rx: &Receiver,
    sink: &InboundSink,
    id: &str,
    room_id: &str,
    created_ms: i64,
) -> Response {
    // The message's read runs beside the claim's store write, so the commit is not on the
    // path from delivery to reply (cancelled when the claim finds a duplicate). The claim's
    // commit may run on this very thread (an idle store writes on its caller's thread), so
    // the fetch and the HTTP connection's task that writes its request are let run first
    // ([`FETCH_HANDOFF_TURNS`]) when nothing else is being fetched; in a burst the fetch
    // waits its turn anyway, and the answer to this delivery (which Webex may be waiting for
    // before the next) goes first.
    let early = sink.fetch_early(id);
    if early.as_ref().is_some_and(EarlyFetch::is_alone) {
        for _ in 0..FETCH_HANDOFF_TURNS {
            tokio::task::yield_now().await;
        }
    }
    match sink.claim(id, room_id, created_ms).await {
        Err(err) => {
            tracing::error!(channel = CHANNEL, message_id = %id, error = %err, "could not record webhook delivery; answering 500");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "state store unavailable")
        }
        Ok(Claim::Duplicate) => {
            tracing::debug!(channel = CHANNEL, message_id = %id, "already seen; ignored");
            json_status(Handled::Duplicate)
        }
        Ok(Claim::New) => {
            crate::inbound::hand_over(&rx.shared, sink, id, room_id, early).await;
            json_status(Handled::Accepted)
        }
    }
}

/// `attachmentActions:created` (a card was submitted): claimed like a message (the action id is
/// the ledger key, so a redelivery is a duplicate), answered, then queued in the card's room;
/// the room's worker reads it back (`cards::refetch`). Webex does not retry a delivery that
/// failed and has no list of card submissions, so a 500 here (store down) loses it.
async fn on_attachment_action(rx: &Receiver, envelope: &Envelope) -> Response {
    let Some(id) = envelope.data_id() else {
        tracing::warn!(
            channel = CHANNEL,
            "attachmentActions:created delivery without data.id"
        );
        return json_error(StatusCode::BAD_REQUEST, "data.id is missing");
    };
    let Some(sink) = rx.shared.sink.get() else {
        tracing::warn!(channel = CHANNEL, action = %id, "card submission delivered before the gateway is ready; answering 503 (Webex does not redeliver it)");
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "gateway is not ready yet");
    };
    let data = envelope.data.as_ref();
    let room_id = data.and_then(|d| d.room_id.as_deref()).unwrap_or_default();
    let created_ms = envelope.data_created_ms().unwrap_or_else(now_ms);
    claim_and_queue(rx, sink, id, room_id, created_ms).await
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use std::sync::OnceLock;
    use tower::ServiceExt;

    const SECRET: &str = "hook-secret";
    const PATH: &str = "/webex/webhook";

    fn shared() -> Arc<WebexShared> {
        // Nothing in these tests reaches the API: port 9 (discard) is never answered.
        let client = webex_api::WebexClient::new(
            webex_api::ClientConfig::new("test-token")
                .with_base_url_str("http://127.0.0.1:9/v1")
                .unwrap(),
        )
        .unwrap();
        Arc::new(WebexShared {
            client,
            config: crate::config::WebexConfig::default(),
            bot: OnceLock::new(),
            sink: OnceLock::new(),
            connected_at_ms: OnceLock::new(),
            caught_up: crate::shared::CatchUpGate::opened(),
        })
    }

    fn app() -> Router {
        router(shared(), PATH, SECRET.to_string())
    }

    fn post(body: impl Into<Body>, signature: Option<&str>) -> Request<Body> {
        let mut req = Request::post(PATH).header("content-type", "application/json");
        if let Some(sig) = signature {
            req = req.header("X-Spark-Signature", sig);
        }
        req.body(body.into()).unwrap()
    }

    fn signed(body: &str) -> Request<Body> {
        post(
            body.to_string(),
            Some(&signature::sign(SECRET, body.as_bytes())),
        )
    }

    async fn call(app: Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024)
            .await
            .unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    const MESSAGE: &str = r#"{"id":"wh","name":"moltbot","resource":"messages","event":"created","data":{"id":"msg-1","roomId":"room-1","personId":"p","created":"2026-01-01T00:00:00.000Z"}}"#;

    #[tokio::test]
    async fn seed_curl_check_gets_missing_signature() {
        // `curl -X POST .../webex/webhook -d '{"test": true}'` from the seed doc.
        let (status, body) = call(app(), post(r#"{"test": true}"#, None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body,
            serde_json::json!({"error": "missing X-Spark-Signature"})
        );
    }

    #[tokio::test]
    async fn wrong_or_undecodable_signature_is_invalid() {
        let wrong = signature::sign("other-secret", MESSAGE.as_bytes());
        for sig in [wrong.as_str(), "zz-not-hex", ""] {
            let (status, body) = call(app(), post(MESSAGE, Some(sig))).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "signature {sig:?}");
            assert_eq!(
                body,
                serde_json::json!({"error": "invalid X-Spark-Signature"})
            );
        }
    }

    #[tokio::test]
    async fn signature_covers_the_exact_bytes() {
        let sig = signature::sign(SECRET, MESSAGE.as_bytes());
        let altered = MESSAGE.replace("msg-1", "msg-2");
        let (status, body) = call(app(), post(altered, Some(&sig))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "invalid X-Spark-Signature");
        // Same JSON, different whitespace: also refused.
        let spaced = MESSAGE.replace(",", ", ");
        let (status, _) = call(app(), post(spaced, Some(&sig))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn oversized_body_gets_413_even_unsigned() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        let (status, body) = call(app(), post(big, None)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"], "request body larger than 1 MiB");
    }

    #[tokio::test]
    async fn exactly_one_mib_is_read() {
        // A signed 1 MiB body of valid JSON (padded with spaces) passes the size check.
        let mut text = String::from(r#"{"resource":"rooms","event":"created"}"#);
        text.push_str(&" ".repeat(MAX_BODY_BYTES - text.len()));
        let (status, body) = call(app(), signed(&text)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ignored");
    }

    #[tokio::test]
    async fn endless_stream_is_cut_off_not_buffered() {
        let chunk = Bytes::from(vec![b'a'; 64 * 1024]);
        let stream = futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
        let req = post(Body::from_stream(stream), Some("00"));
        let (status, _) =
            tokio::time::timeout(std::time::Duration::from_secs(20), call(app(), req))
                .await
                .expect("an endless body must be refused at the limit");
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn malformed_json_is_400() {
        for body in [
            "{not json",
            r#"{"test": true}"#,
            r#"{"resource":"messages","event":"created","data":{"id":5}}"#,
        ] {
            let (status, json) = call(app(), signed(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "body {body}");
            assert!(
                json["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("malformed webhook payload"),
                "{json}"
            );
        }
    }

    #[tokio::test]
    async fn handled_events_without_data_id_are_400() {
        for body in [
            r#"{"resource":"messages","event":"created"}"#,
            r#"{"resource":"messages","event":"created","data":{"roomId":"r"}}"#,
            r#"{"resource":"attachmentActions","event":"created","data":{}}"#,
        ] {
            let (status, json) = call(app(), signed(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "body {body}");
            assert_eq!(json["error"], "data.id is missing");
        }
    }

    #[tokio::test]
    async fn unhandled_events_are_acknowledged_and_ignored() {
        for body in [
            r#"{"resource":"memberships","event":"created","data":{"id":"m"}}"#,
            r#"{"resource":"messages","event":"deleted","data":{"id":"m"}}"#,
            r#"{"resource":"messages","event":"updated","unknownField":[1,2]}"#,
        ] {
            let (status, json) = call(app(), signed(body)).await;
            assert_eq!(status, StatusCode::OK, "body {body}");
            assert_eq!(json["status"], "ignored");
        }
    }

    #[tokio::test]
    async fn message_before_the_gateway_started_is_503() {
        let (status, json) = call(app(), signed(MESSAGE)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(json["error"], "gateway is not ready yet");
    }

    #[tokio::test]
    async fn only_post_on_the_configured_path() {
        let resp = app()
            .oneshot(Request::get(PATH).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        let req = Request::post("/other").body(Body::from(MESSAGE)).unwrap();
        let resp = app().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn handled_bodies_are_the_json_they_name() {
        for (handled, status) in [
            (Handled::Accepted, "accepted"),
            (Handled::Duplicate, "duplicate"),
            (Handled::OwnMessage, "own message"),
            (Handled::Ignored, "ignored"),
        ] {
            let body: serde_json::Value = serde_json::from_str(handled.body()).unwrap();
            assert_eq!(body, serde_json::json!({ "status": status }));
        }
    }

    #[test]
    fn route_paths_are_literal_and_never_panic() {
        assert_eq!(route_path("/webex/webhook"), "/webex/webhook");
        assert_eq!(route_path("hooks/webex"), "/hooks/webex");
        assert_eq!(route_path(""), "/");
        assert_eq!(route_path("/a/{id}"), "/a/{{id}}");
        assert_eq!(route_path("/a/:id"), crate::config::DEFAULT_WEBHOOK_PATH);
        assert_eq!(route_path("/a/*rest"), crate::config::DEFAULT_WEBHOOK_PATH);
        for path in ["/a/{id}", "x", "", "/a/:b", "/{*x}", "/{", "/}"] {
            let _ = router(shared(), path, String::new());
        }
    }

    #[tokio::test]
    async fn braces_in_the_path_match_literally() {
        let app = router(shared(), "/hook/{x}", SECRET.to_string());
        let mut req = post(r#"{"test": true}"#, None);
        *req.uri_mut() = "/hook/%7Bx%7D".parse().unwrap();
        let (status, _) = call(app.clone(), req).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let mut req = post(r#"{"test": true}"#, None);
        *req.uri_mut() = "/hook/{x}".parse().unwrap();
        let (status, json) = call(app, req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(json["error"], "missing X-Spark-Signature");
    }
}
