//! `/rooms`: list (with `type`, `sortBy`, `max`, Link paging), get, create.

use super::{paginate_offset, parse_body, Query};
use crate::error::ApiError;
use crate::ids::{resolve, Kind};
use crate::middleware::Caller;
use crate::model::RoomType;
use crate::render;
use crate::state::SimState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use std::sync::Arc;

/// `GET /rooms`: rooms the caller is a member of.
pub async fn list(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let max = q.max(100, 1000)?;
    let kind = match q.get("type") {
        None => None,
        Some("direct") => Some(RoomType::Direct),
        Some("group") => Some(RoomType::Group),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid type '{other}'; expected direct or group."
            )))
        }
    };
    let world = state.world();
    let mut rooms: Vec<_> = world
        .rooms
        .iter()
        .filter(|r| r.has_member(&me))
        .filter(|r| kind.is_none_or(|k| r.kind == k))
        .collect();
    match q.get("sortBy") {
        None | Some("created") => rooms.sort_by_key(|r| std::cmp::Reverse(r.created_ms)),
        Some("lastactivity") => rooms.sort_by(|a, b| {
            b.last_activity_ms
                .cmp(&a.last_activity_ms)
                .then(b.created_ms.cmp(&a.created_ms))
        }),
        Some("id") => rooms.sort_by_key(|r| crate::ids::encode(Kind::Room, &r.uuid)),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid sortBy '{other}'; expected id, lastactivity or created."
            )))
        }
    }
    let items = rooms
        .into_iter()
        .map(|r| render::room(&world, r, Some(&me)))
        .collect();
    paginate_offset(&state, "/v1/rooms", &q, items, max)
}

/// `GET /rooms/{id}`: only for members.
pub async fn get_one(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let world = state.world();
    let room = resolve(Kind::Room, &id)
        .and_then(|u| world.room(&u))
        .filter(|r| r.has_member(&me))
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(render::room(&world, room, Some(&me))).into_response())
}

#[derive(Deserialize)]
struct CreateRoom {
    title: Option<String>,
}

/// `POST /rooms`: a group room with the caller as its only member.
pub async fn create(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CreateRoom = parse_body(&body)?;
    let title = req
        .title
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("title is required."))?;
    let mut world = state.world();
    let room = world.create_group_room(&title, me, &[]);
    Ok(Json(render::room(&world, &room, Some(&me))).into_response())
}
