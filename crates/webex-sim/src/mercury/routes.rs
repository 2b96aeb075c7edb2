//! HTTP side of Mercury: the U2C catalog, WDM devices and the conversation-service lookups.
//! Every route takes the bot's bearer token like `/v1` (401 without), honours scripted
//! failures (`failNext` with a path such as `/wdm/api/v1/devices`) and is recorded in the
//! request log under its full path.

use super::activity::conversation_base;
use super::{socket, Device};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::ids::{encode, Kind};
use crate::middleware::{bearer, Caller};
use crate::model::World;
use crate::state::{lock, RecordedRequest, SimState};
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;
use uuid::Uuid;

/// The U2C base clients are pointed at: `<base>/u2c/api/v1`.
pub fn u2c_base(base_url: &str) -> String {
    format!("{base_url}/u2c/api/v1")
}

/// The WDM base the catalog names: `<base>/wdm/api/v1`.
pub fn wdm_base(base_url: &str) -> String {
    format!("{base_url}/wdm/api/v1")
}

/// The cluster the catalog's `hostCatalog` ids name. JSSDK's `buildHydraMessageId` maps
/// `urn:TEAM:us-east-2_a` to `us`, the cluster in every id this emulator issues.
pub const CLUSTER: &str = "urn:TEAM:us-east-2_a";

/// The Mercury routes (HTTP ones behind bearer auth, the websocket without: it authenticates
/// with its first frame).
pub fn router(state: Arc<SimState>) -> Router<Arc<SimState>> {
    let http = Router::new()
        .route("/u2c/api/v1/catalog", get(catalog))
        .route("/u2c/api/v1/limited/catalog", get(catalog))
        .route(
            "/wdm/api/v1/devices",
            get(list_devices).post(create_device).delete(delete_all),
        )
        .route(
            "/wdm/api/v1/devices/{id}",
            get(get_device).put(refresh_device).delete(delete_device),
        )
        .route("/conversation/api/v1/messages/{id}", get(lookup_message))
        .route(
            "/conversation/api/v1/attachment/actions/{id}",
            get(lookup_action),
        )
        .route_layer(axum::middleware::from_fn_with_state(state, authenticate));
    http.route(socket::PATH, get(socket::upgrade))
}

/// Scripted failures, bearer auth and the request log for the Mercury HTTP routes.
async fn authenticate(
    State(state): State<Arc<SimState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let seq = state
        .next_request_seq
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let at_ms = u64::try_from(now_ms()).unwrap_or_default();
    let caller =
        bearer(req.headers()).and_then(|t| state.world().person_by_token(&t).map(|p| p.uuid));
    let injected = lock(&state.faults).take_failure(&method, &path);
    let resp = match (injected, caller) {
        (Some(status), _) => ApiError::from_status(status).into_response(),
        (None, Some(uuid)) => {
            req.extensions_mut().insert(Caller(uuid));
            next.run(req).await
        }
        (None, None) => ApiError::unauthorized().into_response(),
    };
    lock(&state.log).push(RecordedRequest {
        seq,
        method,
        path,
        query,
        status: resp.status().as_u16(),
        caller: caller.map(|u| encode(Kind::People, &u)),
        at_ms,
    });
    resp
}

/// `GET /u2c/api/v1/catalog?format=hostmap` (and `/limited/catalog`): `serviceLinks` with
/// `wdm`, `conversation`, `hydra` and `u2c` on this server, and a `hostCatalog` whose entry
/// ids carry [`CLUSTER`] (shape per the notes §8.2; JSSDK `services` plugin reads both).
async fn catalog(State(state): State<Arc<SimState>>) -> Json<Value> {
    let base = &state.base_url;
    let host = base.trim_start_matches("http://").to_string();
    let services = ["wdm", "conversation", "hydra", "u2c", "mercuryConnection"];
    let entries: Vec<Value> = services
        .iter()
        .map(|s| json!({ "host": host, "ttl": -1, "priority": 5, "id": format!("{CLUSTER}:{s}") }))
        .collect();
    Json(json!({
        "serviceLinks": {
            "wdm": wdm_base(base),
            "conversation": conversation_base(base),
            "hydra": format!("{base}/v1/"),
            "u2c": u2c_base(base),
        },
        "hostCatalog": { host: entries },
        "format": "hostmap",
    }))
}

/// A device as WDM renders it: the client's fields echoed, plus `url`, `webSocketUrl`,
/// `userId`, `creationTime`, `modificationTime` and `services`.
pub fn render_device(base_url: &str, d: &Device) -> Value {
    let mut out = serde_json::Map::new();
    out.extend(d.fields.clone());
    let ws_base = base_url.replacen("http://", "ws://", 1);
    out.insert(
        "url".into(),
        json!(format!("{}/devices/{}", wdm_base(base_url), d.uuid)),
    );
    out.insert(
        "webSocketUrl".into(),
        json!(format!("{ws_base}{}", socket::path_of(&d.uuid))),
    );
    out.insert("userId".into(), json!(d.owner.to_string()));
    out.insert("creationTime".into(), json!(World::ts(d.created_ms)));
    out.insert("modificationTime".into(), json!(World::ts(d.modified_ms)));
    out.insert(
        "services".into(),
        json!({
            "wdmServiceUrl": wdm_base(base_url),
            "conversationServiceUrl": conversation_base(base_url),
            "hydraServiceUrl": format!("{base_url}/v1"),
        }),
    );
    Value::Object(out)
}

/// `GET /wdm/api/v1/devices`: `{"devices":[...]}`, the caller's only.
async fn list_devices(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
) -> Json<Value> {
    let devices: Vec<Value> = state
        .mercury
        .devices_of(&me)
        .iter()
        .map(|d| render_device(&state.base_url, d))
        .collect();
    Json(json!({ "devices": devices }))
}

fn body_fields(body: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::bad_request(
            "The device body must be a JSON object.",
        )),
    }
}

/// `POST /wdm/api/v1/devices`: registers a device (fields defaulted as JSSDK's
/// `internal-plugin-device/src/config.js` sends them), answers 200 with it.
async fn create_device(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let mut fields = body_fields(&body)?;
    for (k, v) in [
        ("deviceType", "WEB"),
        ("model", "web-js-sdk"),
        ("localizedModel", "webex-js-sdk"),
        ("systemName", "WEBEX_JS_SDK"),
        ("systemVersion", "1.0.0"),
    ] {
        fields.entry(k).or_insert_with(|| json!(v));
    }
    let device = state.mercury.create(me, fields, now_ms());
    Ok(Json(render_device(&state.base_url, &device)))
}

fn device_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found())
}

/// `GET /wdm/api/v1/devices/{id}`: 404 unless the caller's.
async fn get_device(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let d = state
        .mercury
        .device(&me, &device_id(&id)?)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(render_device(&state.base_url, &d)))
}

/// `PUT /wdm/api/v1/devices/{id}`: JSSDK's `device.refresh()`; merges the body, bumps
/// `modificationTime`.
async fn refresh_device(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let fields = body_fields(&body)?;
    let d = state
        .mercury
        .refresh(&me, &device_id(&id)?, fields, now_ms())
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(render_device(&state.base_url, &d)))
}

/// `DELETE /wdm/api/v1/devices/{id}`: 204, or 404 unless the caller's.
async fn delete_device(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match state.mercury.delete(Some(&me), Some(&device_id(&id)?)) {
        0 => Err(ApiError::not_found()),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

/// `DELETE /wdm/api/v1/devices`: deletes all the caller's devices (the webex-node-bot-framework
/// `removeDeviceRegistrationsOnStart` remedy for "excessive device registrations"); 204.
async fn delete_all(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
) -> StatusCode {
    state.mercury.delete(Some(&me), None);
    StatusCode::NO_CONTENT
}

/// `GET /conversation/api/v1/messages/{activityUuid}`: the lookup webex_bot does from an
/// activity's `target.url`; answers the REST ids (never the text) of a message the caller
/// may see, 404 otherwise.
async fn lookup_message(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let uuid = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let world = state.world();
    let viewer = world.person(&me).ok_or_else(ApiError::unauthorized)?;
    let m = world
        .message(&uuid)
        .filter(|m| world.can_see(viewer, m))
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(json!({
        "id": encode(Kind::Message, &m.uuid),
        "roomId": encode(Kind::Room, &m.room),
        "personId": encode(Kind::People, &m.author),
        "created": World::ts(m.created_ms),
    })))
}

/// `GET /conversation/api/v1/attachment/actions/{activityUuid}`: the same lookup for a
/// `cardAction` activity; the submitter or a member of the room may read it.
async fn lookup_action(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let uuid = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let world = state.world();
    let a = crate::routes::actions::visible(&world, &me, &uuid).ok_or_else(ApiError::not_found)?;
    Ok(Json(json!({
        "id": encode(Kind::AttachmentAction, &a.uuid),
        "messageId": encode(Kind::Message, &a.message),
        "roomId": encode(Kind::Room, &a.room),
        "personId": encode(Kind::People, &a.person),
        "created": World::ts(a.created_ms),
    })))
}
