//! The loopback-only control API under `/_sim` (see README.md).

use crate::error::ApiError;
use crate::faults::{FailRule, FaultError, Faults};
use crate::files::Scan;
use crate::ids::{resolve, Kind};
use crate::model::{is_email, PersonType};
use crate::render::{self, MessageView};
use crate::routes::{parse_body, Query};
use crate::state::{lock, SimState};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The `/_sim` router.
pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/people", get(list_people).post(add_person))
        .route("/rooms", post(add_room))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/faults", post(set_faults))
        .route("/messages", get(messages))
        .route("/reset", post(reset))
        .route("/webhooks/disable", post(disable_webhooks))
        .route("/contents", get(contents))
        .route("/contents/scan", post(contents_scan))
        .route("/contents/limit", post(contents_limit))
        .route("/mercury", get(mercury))
        .route("/mercury/drop", post(mercury_drop))
        .route("/mercury/close", post(mercury_close))
        .fallback(|| async { ApiError::not_found() })
        .layer(axum::middleware::from_fn(loopback_only))
}

/// Refuses control calls from anything but a loopback address.
async fn loopback_only(req: Request, next: Next) -> Response {
    let remote = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match remote {
        Some(ip) if !ip.is_loopback() => {
            ApiError::forbidden("The control API is only available from loopback addresses.")
                .into_response()
        }
        _ => next.run(req).await,
    }
}

/// The keys `T` reads: those of `T::default()` serialized (so the list follows the struct).
fn known_keys<T: Serialize + Default>() -> Vec<String> {
    match serde_json::to_value(T::default()) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Refuses the keys of `obj` that are not in `known` with a 400 naming every one of them, so a
/// misspelt key (`rateLimit` for `rateLimitPerMinute`) fails loudly instead of doing nothing.
fn refuse_unknown_keys(
    obj: &Map<String, Value>,
    known: &[String],
    what: &str,
) -> Result<(), ApiError> {
    let unknown: Vec<String> = obj
        .keys()
        .filter(|k| !known.contains(k))
        .map(|k| format!("`{k}`"))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let mut known: Vec<&str> = known.iter().map(String::as_str).collect();
    known.sort_unstable();
    let known = if known.is_empty() {
        "none (send no body, or `{}`)".to_string()
    } else {
        known.join(", ")
    };
    Err(ApiError::bad_request(format!(
        "Unknown key{} in {what}: {}. Known keys: {known}.",
        if unknown.len() == 1 { "" } else { "s" },
        unknown.join(", "),
    )))
}

/// A 400 for the value at `key` (a path such as `failNext.status` or `members[0]`) in `what`.
fn invalid(key: &str, what: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Invalid `{key}` in {what}: {reason}."))
}

/// A 400 for a fault value outside its range, naming the key and the range.
fn out_of_range(e: &FaultError, what: &str) -> ApiError {
    invalid(
        e.key,
        what,
        format!("must be {}, got {}", e.expected, e.got),
    )
}

/// Deserializes `value` (found at `prefix` in `what`, the root when empty), naming the key path
/// of a type error (`latencyMs`, `members[0]`) and the type expected there.
fn typed<T: DeserializeOwned>(value: Value, prefix: &str, what: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let key = match (prefix, inner.as_str()) {
            (p, ".") => p.to_string(),
            ("", i) => i.to_string(),
            (p, i) if i.starts_with('[') => format!("{p}{i}"),
            (p, i) => format!("{p}.{i}"),
        };
        invalid(&key, what, e.into_inner())
    })
}

/// Parses a control body as a JSON object, refusing unknown keys (see [`refuse_unknown_keys`])
/// and naming the key of a type error (see [`typed`]).
fn parse_strict<T>(body: &[u8], what: &str) -> Result<T, ApiError>
where
    T: DeserializeOwned + Serialize + Default,
{
    let value: Value = parse_body(body)?;
    let Some(obj) = value.as_object() else {
        return Err(ApiError::bad_request(format!(
            "{what} must be a JSON object."
        )));
    };
    refuse_unknown_keys(obj, &known_keys::<T>(), what)?;
    typed(value, "", what)
}

/// For calls that take no body: refuses anything but no body or `{}`, naming the keys sent.
fn refuse_body(body: &[u8], what: &str) -> Result<(), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match parse_body::<Value>(body)? {
        Value::Object(obj) => refuse_unknown_keys(&obj, &[], what),
        _ => Err(ApiError::bad_request(format!(
            "{what} must be empty or `{{}}`."
        ))),
    }
}

#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct NewPerson {
    email: Option<String>,
    display_name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    token: Option<String>,
}

async fn add_person(State(state): State<Arc<SimState>>, body: Bytes) -> Result<Response, ApiError> {
    const WHAT: &str = "the /_sim/people body";
    let req: NewPerson = parse_strict(&body, WHAT)?;
    let email = req
        .email
        .ok_or_else(|| ApiError::bad_request("email is required."))?;
    if !is_email(&email) {
        return Err(invalid(
            "email",
            WHAT,
            format!("{email:?} is not an email address (expected local@domain)"),
        ));
    }
    let kind = match req.kind.as_deref() {
        None | Some("person") => PersonType::Person,
        Some("bot") => PersonType::Bot,
        Some(other) => {
            return Err(invalid(
                "type",
                WHAT,
                format!("{other:?} is neither \"person\" nor \"bot\""),
            ))
        }
    };
    let name = req.display_name.unwrap_or_else(|| email.clone());
    let mut world = state.world();
    if let Some(token) = req.token.as_deref() {
        if world
            .person_by_token(token)
            .is_some_and(|p| p.email != email.to_lowercase())
        {
            return Err(ApiError::bad_request("token is already in use."));
        }
    }
    let p = world.add_person(&email, &name, kind, req.token.as_deref());
    Ok(Json(json!({ "person": render::person(&world, &p), "token": p.token })).into_response())
}

/// `GET /_sim/people`: everyone with their token, for local demo clients such as the chat page
/// (loopback only, like the rest of the control API; tokens are never logged).
async fn list_people(State(state): State<Arc<SimState>>) -> Response {
    let world = state.world();
    let items: Vec<Value> = world
        .people
        .iter()
        .map(|p| {
            let mut v = render::person(&world, p);
            v["token"] = json!(p.token);
            v
        })
        .collect();
    Json(json!({ "items": items })).into_response()
}

#[derive(Deserialize, Serialize, Default)]
struct NewRoom {
    title: Option<String>,
    #[serde(default)]
    members: Vec<String>,
}

async fn add_room(State(state): State<Arc<SimState>>, body: Bytes) -> Result<Response, ApiError> {
    let req: NewRoom = parse_strict(&body, "the /_sim/rooms body")?;
    let title = req
        .title
        .ok_or_else(|| ApiError::bad_request("title is required."))?;
    let mut world = state.world();
    let mut uuids = Vec::new();
    for email in &req.members {
        let p = world
            .person_by_email(email)
            .ok_or_else(|| ApiError::bad_request(format!("Unknown member '{email}'.")))?;
        uuids.push(p.uuid);
    }
    let Some((creator, rest)) = uuids.split_first() else {
        return Err(ApiError::bad_request(
            "members must name at least one person.",
        ));
    };
    let room = world.create_group_room(&title, *creator, rest);
    Ok(Json(render::room(&world, &room, None)).into_response())
}

async fn requests(State(state): State<Arc<SimState>>) -> Response {
    let items = lock(&state.log).clone();
    Json(json!({ "items": items })).into_response()
}

async fn clear_requests(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    refuse_body(&body, "the DELETE /_sim/requests body")?;
    lock(&state.log).clear();
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, Serialize, Default)]
struct FailNext {
    method: Option<String>,
    path: Option<String>,
    status: Option<u16>,
    count: Option<u32>,
}

async fn set_faults(State(state): State<Arc<SimState>>, body: Bytes) -> Result<Response, ApiError> {
    const WHAT: &str = "the /_sim/faults body";
    let mut value: Value = parse_body(&body)?;
    let Some(obj) = value.as_object_mut() else {
        return Err(ApiError::bad_request(format!(
            "{WHAT} must be a JSON object."
        )));
    };
    let mut known = known_keys::<Faults>();
    known.extend(["failNext".to_string(), "firstContactRule".to_string()]);
    refuse_unknown_keys(obj, &known, WHAT)?;
    let fail_next = obj.remove("failNext");
    let first_contact = obj.remove("firstContactRule");
    let has_faults = !obj.is_empty();
    let faults: Faults = typed(value, "", WHAT)?;
    faults.validate().map_err(|e| out_of_range(&e, WHAT))?;
    let rule = match fail_next {
        None => None,
        Some(Value::Object(rule)) => {
            refuse_unknown_keys(&rule, &known_keys::<FailNext>(), "failNext")?;
            let f: FailNext = typed(Value::Object(rule), "failNext", WHAT)?;
            let rule = FailRule {
                method: f.method.unwrap_or_else(|| "*".to_string()),
                path_prefix: f.path.unwrap_or_else(|| "/".to_string()),
                status: f
                    .status
                    .ok_or_else(|| invalid("failNext.status", WHAT, "is required (400..=599)"))?,
                remaining: f.count.unwrap_or(1),
            };
            rule.validate().map_err(|e| out_of_range(&e, WHAT))?;
            Some(rule)
        }
        Some(other) => {
            return Err(invalid(
                "failNext",
                WHAT,
                format!("expected an object {{method, path, status, count}}, got {other}"),
            ))
        }
    };
    let first_contact = first_contact
        .map(|flag| {
            flag.as_bool()
                .ok_or_else(|| invalid("firstContactRule", WHAT, "expected a boolean"))
        })
        .transpose()?;
    // Everything is checked: apply it all.
    if let Some(flag) = first_contact {
        state.first_contact_rule.store(flag, Ordering::Relaxed);
    }
    let mut fs = lock(&state.faults);
    if has_faults {
        fs.set(faults);
    }
    if let Some(rule) = rule {
        fs.add_rule(rule);
    }
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

async fn messages(
    State(state): State<Arc<SimState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let room_id = q
        .get("roomId")
        .ok_or_else(|| ApiError::bad_request("roomId is required."))?;
    let world = state.world();
    let room = resolve(Kind::Room, room_id)
        .filter(|uuid| world.rooms.iter().any(|r| &r.uuid == uuid))
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                format!("No room with roomId {room_id:?}."),
            )
        })?;
    let items: Vec<Value> = world
        .messages
        .iter()
        .filter(|m| m.room == room)
        .map(|m| render::message(&world, m, MessageView::Listed))
        .collect();
    Ok(Json(json!({ "items": items })).into_response())
}

async fn reset(State(state): State<Arc<SimState>>, body: Bytes) -> Result<Response, ApiError> {
    refuse_body(&body, "the /_sim/reset body")?;
    state
        .reset()
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// `POST /_sim/webhooks/disable`: every webhook becomes `inactive`, as Webex leaves a webhook
/// after 100 failed deliveries within five minutes. Answers `{"disabled": <how many were
/// active>}`.
async fn disable_webhooks(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    refuse_body(&body, "the /_sim/webhooks/disable body")?;
    let disabled = crate::delivery::disable_all(&mut state.world());
    Ok(Json(json!({ "disabled": disabled })).into_response())
}

/// `GET /_sim/contents`: `{"items": [FileInfo]}`, every uploaded file oldest first (without
/// the bytes).
async fn contents(State(state): State<Arc<SimState>>) -> Response {
    let items = state.world().file_infos(&state.base_url);
    Json(json!({ "items": items })).into_response()
}

/// The `/_sim/contents/scan` body.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ScanBody {
    /// A content URL or id; absent: the state of files uploaded from now on.
    content_id: Option<String>,
    /// `clean`, `scanning`, `infected` or `unscannable`.
    state: Option<String>,
    /// `scanning` only: how many requests get 423 (default 1).
    times: Option<u32>,
    /// `scanning` only: the `Retry-After` seconds (default 1).
    retry_after_seconds: Option<u64>,
}

/// `POST /_sim/contents/scan` `{contentId?, state, times?, retryAfterSeconds?}`: sets the
/// anti-malware state of one file, or (without `contentId`) of every file uploaded from now on.
/// 204; 404 for a `contentId` that names no file.
async fn contents_scan(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    const WHAT: &str = "the /_sim/contents/scan body";
    let req: ScanBody = parse_strict(&body, WHAT)?;
    let is_scanning = req.state.as_deref() == Some("scanning");
    if !is_scanning && (req.times.is_some() || req.retry_after_seconds.is_some()) {
        return Err(invalid(
            "state",
            WHAT,
            "`times` and `retryAfterSeconds` go with \"scanning\" only",
        ));
    }
    let scan = match req.state.as_deref() {
        Some("clean") => Scan::Clean,
        Some("infected") => Scan::Infected,
        Some("unscannable") => Scan::Unscannable,
        Some("scanning") => {
            let times = req.times.unwrap_or(1);
            if times == 0 {
                return Err(invalid("times", WHAT, "must be at least 1"));
            }
            let secs = req
                .retry_after_seconds
                .unwrap_or(crate::files::DEFAULT_SCAN_RETRY_AFTER_SECONDS);
            if secs > crate::faults::MAX_RETRY_AFTER_SECONDS {
                return Err(invalid(
                    "retryAfterSeconds",
                    WHAT,
                    format!(
                        "must be seconds 0..={}, got {secs}",
                        crate::faults::MAX_RETRY_AFTER_SECONDS
                    ),
                ));
            }
            Scan::scanning(times, secs)
        }
        other => {
            return Err(invalid(
                "state",
                WHAT,
                format!(
                    "expected \"clean\", \"scanning\", \"infected\" or \"unscannable\", got {}",
                    other.map_or_else(|| "nothing".to_string(), |s| format!("{s:?}"))
                ),
            ))
        }
    };
    let mut world = state.world();
    match req.content_id.as_deref() {
        None => world.file_settings.new_file_scan = scan,
        Some(reference) => {
            let file = world.file_mut(reference).ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::NOT_FOUND,
                    format!("No file with contentId {reference:?}."),
                )
            })?;
            file.scan = scan;
        }
    }
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// The `/_sim/contents/limit` body.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct LimitBody {
    /// The largest file accepted, bytes (1..=100 MiB).
    max_file_bytes: Option<u64>,
}

/// `POST /_sim/contents/limit` `{maxFileBytes}`: lowers the per-file limit (Webex's is 100 MB),
/// so a test can send a file over it without sending 100 MB. 204.
async fn contents_limit(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    const WHAT: &str = "the /_sim/contents/limit body";
    let req: LimitBody = parse_strict(&body, WHAT)?;
    let max = crate::files::MAX_FILE_BYTES;
    let n = req
        .max_file_bytes
        .ok_or_else(|| invalid("maxFileBytes", WHAT, format!("is required (1..={max})")))?;
    if n == 0 || n > max {
        return Err(invalid(
            "maxFileBytes",
            WHAT,
            format!("must be bytes 1..={max}, got {n}"),
        ));
    }
    state.world().file_settings.max_file_bytes = n;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// `GET /_sim/mercury`: `{"devices":[{id, owner, name?, connected, pending}], "connections",
/// "acks", "pings"}`.
async fn mercury(State(state): State<Arc<SimState>>) -> Json<Value> {
    let hub = &state.mercury;
    let devices: Vec<Value> = hub
        .infos(None)
        .into_iter()
        .map(|d| {
            json!({ "id": d.id, "owner": d.owner, "name": d.name,
                    "connected": d.connected, "pending": d.pending })
        })
        .collect();
    Json(json!({
        "devices": devices,
        "connections": hub.connections(),
        "acks": hub.acks(),
        "pings": hub.pings(),
    }))
}

/// `POST /_sim/mercury/drop`: drops every websocket without a close frame; answers
/// `{"dropped": n}`.
async fn mercury_drop(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    refuse_body(&body, "the /_sim/mercury/drop body")?;
    let dropped = state.mercury.broadcast(crate::mercury::Out::Drop);
    Ok(Json(json!({ "dropped": dropped })).into_response())
}

/// The `/_sim/mercury/close` body.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct CloseBody {
    /// Close code, `1000..=4999`.
    code: u16,
    /// Close reason.
    reason: String,
}

/// `POST /_sim/mercury/close` `{"code": 4401, "reason": "..."}`: closes every websocket with
/// that code; answers `{"closed": n}`.
async fn mercury_close(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    const WHAT: &str = "the /_sim/mercury/close body";
    let value: Value = parse_body(&body)?;
    let Some(obj) = value.as_object() else {
        return Err(ApiError::bad_request(format!(
            "{WHAT} must be a JSON object."
        )));
    };
    refuse_unknown_keys(obj, &known_keys::<CloseBody>(), WHAT)?;
    let close: CloseBody = typed(value, "", WHAT)?;
    if !(1000..=4999).contains(&close.code) {
        return Err(ApiError::bad_request(format!(
            "`code` must be a websocket close code 1000..=4999; got {}",
            close.code
        )));
    }
    let closed = state
        .mercury
        .broadcast(crate::mercury::Out::Close(close.code, close.reason));
    Ok(Json(json!({ "closed": closed })).into_response())
}
