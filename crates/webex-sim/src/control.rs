//! The loopback-only control API under `/_sim` (see README.md).

use crate::error::ApiError;
use crate::faults::Faults;
use crate::ids::{resolve, Kind};
use crate::model::PersonType;
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
    Err(ApiError::bad_request(format!(
        "Unknown key{} in {what}: {}. Known keys: {}.",
        if unknown.len() == 1 { "" } else { "s" },
        unknown.join(", "),
        known.join(", ")
    )))
}

/// Parses a control body as a JSON object, refusing unknown keys (see [`refuse_unknown_keys`]).
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
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("Invalid {what}: {e}")))
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
    let req: NewPerson = parse_strict(&body, "the /_sim/people body")?;
    let email = req
        .email
        .filter(|e| e.contains('@'))
        .ok_or_else(|| ApiError::bad_request("email is required."))?;
    let kind = match req.kind.as_deref() {
        None | Some("person") => PersonType::Person,
        Some("bot") => PersonType::Bot,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid type '{other}'; expected person or bot."
            )))
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

async fn clear_requests(State(state): State<Arc<SimState>>) -> Response {
    lock(&state.log).clear();
    axum::http::StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize, Serialize, Default)]
struct FailNext {
    method: Option<String>,
    path: Option<String>,
    status: Option<u16>,
    count: Option<u32>,
}

async fn set_faults(State(state): State<Arc<SimState>>, body: Bytes) -> Result<Response, ApiError> {
    let mut value: Value = parse_body(&body)?;
    let Some(obj) = value.as_object_mut() else {
        return Err(ApiError::bad_request("Expected a JSON object."));
    };
    let mut known = known_keys::<Faults>();
    known.extend(["failNext".to_string(), "firstContactRule".to_string()]);
    refuse_unknown_keys(obj, &known, "the /_sim/faults body")?;
    let fail_next = obj.remove("failNext");
    let first_contact = obj.remove("firstContactRule");
    let has_faults = !obj.is_empty();
    let faults: Faults = serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("Invalid faults: {e}")))?;
    if let Some(Value::Object(rule)) = &fail_next {
        refuse_unknown_keys(rule, &known_keys::<FailNext>(), "failNext")?;
    }
    let fail_next: Option<FailNext> = fail_next
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("Invalid failNext: {e}")))?;
    if let Some(flag) = first_contact {
        let flag = flag
            .as_bool()
            .ok_or_else(|| ApiError::bad_request("firstContactRule must be a boolean."))?;
        state.first_contact_rule.store(flag, Ordering::Relaxed);
    }
    let mut fs = lock(&state.faults);
    if has_faults {
        fs.set(faults);
    }
    if let Some(f) = fail_next {
        let status = f
            .status
            .filter(|s| (100..=599).contains(s))
            .ok_or_else(|| ApiError::bad_request("failNext.status must be an HTTP status."))?;
        fs.fail_next(
            f.method.as_deref().unwrap_or("*"),
            f.path.as_deref().unwrap_or("/"),
            status,
            f.count.unwrap_or(1),
        );
    }
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

async fn messages(
    State(state): State<Arc<SimState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let room = q
        .get("roomId")
        .and_then(|r| resolve(Kind::Room, r))
        .ok_or_else(|| ApiError::bad_request("roomId is required."))?;
    let world = state.world();
    let items: Vec<Value> = world
        .messages
        .iter()
        .filter(|m| m.room == room)
        .map(|m| render::message(&world, m, MessageView::Listed))
        .collect();
    Ok(Json(json!({ "items": items })).into_response())
}

async fn reset(State(state): State<Arc<SimState>>) -> Result<Response, ApiError> {
    state
        .reset()
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
