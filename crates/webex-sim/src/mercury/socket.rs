//! The Mercury websocket of one device.
//!
//! Flow (notes §8.2, from JSSDK `internal-plugin-mercury/src/mercury.js` and
//! `socket/socket-base.js`, webex_bot `webex_websocket_client.py`):
//! 1. The upgrade: 404 when the device is unknown (deleted), or the status of the
//!    `mercuryRefuseUpgrade` fault.
//! 2. The first frame must be `{"id","type":"authorization","data":{"token":"Bearer <t>"}}`:
//!    an unknown token closes with 4401, another account's token with 4403, anything else
//!    (or nothing within `mercuryAuthTimeoutMs`, default 10 s) with 1008.
//! 3. Then a `mercury.buffer_state` event (`mercury.registration_status` when the URL has
//!    `mercuryRegistrationStatus=true`; JSSDK `socket-base.js` waits for either), the un-acked events of the device (redelivery), and
//!    live events; `{"type":"ping","id"}` is answered `{"type":"pong","id"}` (unless the
//!    `mercuryIgnorePings` fault is on); `{"type":"ack","messageId"}` clears a pending event.
//!
//! Events go out as text frames when the URL has `outboundWireFormat=text` (JSSDK always adds
//! it), else as binary frames (what webex-rust reads).

use super::activity::envelope;
use super::Out;
use crate::error::ApiError;
use crate::state::{lock, SimState};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// The route of a device's websocket.
pub const PATH: &str = "/mercury/v1/apps/wx2/registrations/{device}/messages";

/// Default wait for the authorization frame.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Close codes (notes §8.2 item 7, JSSDK `mercury.js`).
pub mod close {
    /// Bad token.
    pub const NOT_AUTHORIZED: u16 = 4401;
    /// A token of another account than the device's.
    pub const FORBIDDEN: u16 = 4403;
    /// No (or a malformed) authorization frame.
    pub const POLICY: u16 = 1008;
}

/// The path of `device`'s websocket.
pub fn path_of(device: &Uuid) -> String {
    PATH.replace("{device}", &device.to_string())
}

/// The upgrade handler.
pub async fn upgrade(
    State(state): State<Arc<SimState>>,
    Path(device): Path<String>,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    let refuse = lock(&state.faults).faults.mercury_refuse_upgrade;
    if let Some(status) = refuse {
        return ApiError::from_status(status).into_response();
    }
    let Some(device) = Uuid::parse_str(&device)
        .ok()
        .filter(|d| state.mercury.owner_of(d).is_some())
    else {
        return ApiError::not_found().into_response();
    };
    let flag = |key: &str, value: &str| {
        query.as_deref().is_some_and(|q| {
            url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == key && v == value)
        })
    };
    let text = flag("outboundWireFormat", "text");
    let ready = if flag("mercuryRegistrationStatus", "true") {
        "mercury.registration_status"
    } else {
        "mercury.buffer_state"
    };
    ws.on_upgrade(move |socket| run(state, device, text, ready, socket))
}

fn frame(text: bool, json: String) -> Message {
    if text {
        Message::Text(json.into())
    } else {
        Message::Binary(json.into_bytes().into())
    }
}

fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.to_string().into(),
    }))
}

fn parse(msg: &Message) -> Option<Value> {
    match msg {
        Message::Text(t) => serde_json::from_str(t.as_str()).ok(),
        Message::Binary(b) => serde_json::from_slice(b).ok(),
        _ => None,
    }
}

/// Checks the authorization frame: `Ok(())`, or the close code and reason to answer.
fn authorize(
    state: &SimState,
    device: &Uuid,
    first: Option<Value>,
) -> Result<(), (u16, &'static str)> {
    let first = first.ok_or((close::POLICY, "Authorization frame expected"))?;
    if first.get("type").and_then(Value::as_str) != Some("authorization") {
        return Err((close::POLICY, "Authorization frame expected"));
    }
    let token = first
        .pointer("/data/token")
        .and_then(Value::as_str)
        .and_then(|t| t.strip_prefix("Bearer "))
        .ok_or((close::POLICY, "Authorization frame without a bearer token"))?;
    let who = state
        .world()
        .person_by_token(token.trim())
        .map(|p| p.uuid)
        .ok_or((close::NOT_AUTHORIZED, "NotAuthorized"))?;
    if state.mercury.owner_of(device) != Some(who) {
        return Err((close::FORBIDDEN, "Forbidden"));
    }
    Ok(())
}

async fn run(
    state: Arc<SimState>,
    device: Uuid,
    text: bool,
    ready: &'static str,
    socket: WebSocket,
) {
    let (mut sink, mut stream) = socket.split();
    let timeout = lock(&state.faults)
        .faults
        .mercury_auth_timeout_ms
        .map_or(AUTH_TIMEOUT, Duration::from_millis);
    let first = match tokio::time::timeout(timeout, stream.next()).await {
        Ok(Some(Ok(msg))) => parse(&msg),
        Ok(_) => return,
        Err(_) => None,
    };
    if let Err((code, reason)) = authorize(&state, &device, first) {
        let _ = sink.send(close_frame(code, reason)).await;
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    // JSSDK's calling plugin reads `data.bufferState.locus`; the values are a guess.
    let (_, buffer_state) = envelope(
        ready,
        json!({ "bufferState": { "conversation": "UNAVAILABLE", "locus": "UNAVAILABLE" } }),
        0,
    );
    let Some(conn) = state.mercury.attach(&device, tx, buffer_state) else {
        let _ = sink.send(close_frame(4404, "Device deleted")).await;
        return;
    };
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Frame(json)) => {
                    if sink.send(frame(text, json)).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close(code, reason)) => {
                    let _ = sink.send(close_frame(code, &reason)).await;
                    break;
                }
                // Dropping both halves without a close frame resets the connection.
                Some(Out::Drop) | None => break,
            },
            incoming = stream.next() => {
                let Some(Ok(msg)) = incoming else { break };
                if matches!(msg, Message::Close(_)) {
                    break;
                }
                let Some(value) = parse(&msg) else { continue };
                match value.get("type").and_then(Value::as_str) {
                    Some("ping") => {
                        state.mercury.count_ping();
                        if lock(&state.faults).faults.mercury_ignore_pings {
                            continue;
                        }
                        let id = value.get("id").cloned().unwrap_or(Value::Null);
                        let pong = json!({ "type": "pong", "id": id }).to_string();
                        if sink.send(frame(text, pong)).await.is_err() {
                            break;
                        }
                    }
                    Some("ack") => {
                        if let Some(id) = value.get("messageId").and_then(Value::as_str) {
                            state.mercury.ack(&device, id);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    state.mercury.detach(&device, conn);
}
