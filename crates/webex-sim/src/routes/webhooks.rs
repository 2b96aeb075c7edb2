//! `/webhooks`: CRUD. Webhooks are visible to, and fire for, their creator only.

use super::{paginate_offset, parse_body, Query};
use crate::delivery::{filter_keys, parse_filter};
use crate::error::ApiError;
use crate::ids::{resolve, Kind};
use crate::middleware::Caller;
use crate::model::Webhook;
use crate::render;
use crate::state::SimState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use std::collections::VecDeque;
use std::sync::Arc;
use uuid::Uuid;

const RESOURCES: &[&str] = &[
    "messages",
    "memberships",
    "rooms",
    "attachmentActions",
    "all",
];
const EVENTS: &[&str] = &["created", "updated", "deleted", "all"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateWebhook {
    name: Option<String>,
    target_url: Option<String>,
    resource: Option<String>,
    event: Option<String>,
    filter: Option<String>,
    secret: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateWebhook {
    name: Option<String>,
    target_url: Option<String>,
    secret: Option<String>,
    status: Option<String>,
}

fn required(v: Option<String>, name: &str) -> Result<String, ApiError> {
    v.filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{name} is required.")))
}

fn check_url(url: &str) -> Result<(), ApiError> {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        _ => Err(ApiError::bad_request(format!("Invalid targetUrl '{url}'."))),
    }
}

/// `GET /webhooks`.
pub async fn list(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let max = q.max(100, 1000)?;
    let world = state.world();
    let items = world
        .webhooks
        .iter()
        .filter(|w| w.owner == me)
        .map(|w| render::webhook(&world, w))
        .collect();
    paginate_offset(&state, "/v1/webhooks", &q, items, max)
}

/// `POST /webhooks`.
pub async fn create(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CreateWebhook = parse_body(&body)?;
    let name = required(req.name, "name")?;
    let target_url = required(req.target_url, "targetUrl")?;
    let resource = required(req.resource, "resource")?;
    let event = required(req.event, "event")?;
    check_url(&target_url)?;
    if !RESOURCES.contains(&resource.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Unsupported resource '{resource}'."
        )));
    }
    if !EVENTS.contains(&event.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Unsupported event '{event}'."
        )));
    }
    let filter = req.filter.filter(|f| !f.trim().is_empty());
    if let Some(f) = &filter {
        let allowed = filter_keys(&resource);
        for (k, _) in parse_filter(f) {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "Unsupported filter '{k}' for resource '{resource}'."
                )));
            }
        }
    }
    let mut world = state.world();
    let created_ms = world.clock.tick();
    let hook = Webhook {
        uuid: Uuid::new_v4(),
        name,
        target_url,
        resource,
        event,
        filter,
        secret: req.secret.filter(|s| !s.is_empty()),
        status: "active".to_string(),
        owner: me,
        created_ms,
        failures: VecDeque::new(),
        disabled_at: None,
        fragile: false,
    };
    world.webhooks.push(hook.clone());
    Ok(Json(render::webhook(&world, &hook)).into_response())
}

fn find_index(world: &crate::model::World, me: &Uuid, id: &str) -> Result<usize, ApiError> {
    let uuid = resolve(Kind::Webhook, id).ok_or_else(ApiError::not_found)?;
    world
        .webhooks
        .iter()
        .position(|w| w.uuid == uuid && &w.owner == me)
        .ok_or_else(ApiError::not_found)
}

/// `GET /webhooks/{id}`.
pub async fn get_one(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let world = state.world();
    let i = find_index(&world, &me, &id)?;
    Ok(Json(render::webhook(&world, &world.webhooks[i])).into_response())
}

/// `PUT /webhooks/{id}`: name and targetUrl required; `status: "active"` reactivates.
pub async fn update(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: UpdateWebhook = parse_body(&body)?;
    let name = required(req.name, "name")?;
    let target_url = required(req.target_url, "targetUrl")?;
    check_url(&target_url)?;
    let status = match req.status.as_deref() {
        None => None,
        Some(s @ ("active" | "inactive")) => Some(s.to_string()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid status '{other}'; expected active or inactive."
            )))
        }
    };
    let mut world = state.world();
    let i = find_index(&world, &me, &id)?;
    let w = &mut world.webhooks[i];
    w.name = name;
    w.target_url = target_url;
    if let Some(secret) = req.secret {
        w.secret = Some(secret).filter(|s| !s.is_empty());
    }
    match status.as_deref() {
        Some("active") => crate::delivery::reactivate(w),
        Some(other) => w.status = other.to_string(),
        None => {}
    }
    let w = w.clone();
    Ok(Json(render::webhook(&world, &w)).into_response())
}

/// `DELETE /webhooks/{id}`: 204.
pub async fn delete(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut world = state.world();
    let i = find_index(&world, &me, &id)?;
    world.webhooks.remove(i);
    Ok(StatusCode::NO_CONTENT.into_response())
}
