//! `/memberships`: list by room (optionally one person) or the caller's own, and add people
//! (firing `memberships:created`, e.g. to tell a bot it was added to a space).

use super::{paginate_offset, parse_body, Query};
use crate::delivery::{dispatch, Event};
use crate::error::ApiError;
use crate::ids::{resolve, Kind};
use crate::middleware::Caller;
use crate::model::{Member, RoomType};
use crate::render;
use crate::state::SimState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use std::sync::Arc;

/// `GET /memberships`.
pub async fn list(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let max = q.max(100, 1000)?;
    let world = state.world();
    let person_filter = match (q.get("personId"), q.get("personEmail")) {
        (Some(id), _) => Some(resolve(Kind::People, id).ok_or_else(ApiError::not_found)?),
        (None, Some(email)) => Some(
            world
                .person_by_email(email)
                .map(|p| p.uuid)
                .ok_or_else(ApiError::not_found)?,
        ),
        (None, None) => None,
    };
    let items = match q.get("roomId") {
        Some(room_id) => {
            let room = resolve(Kind::Room, room_id)
                .and_then(|u| world.room(&u))
                .filter(|r| r.has_member(&me))
                .ok_or_else(ApiError::not_found)?;
            room.members
                .iter()
                .filter(|m| person_filter.is_none_or(|p| p == m.person))
                .filter_map(|m| render::membership(&world, room, &m.person))
                .collect()
        }
        None => {
            if person_filter.is_some() {
                return Err(ApiError::bad_request(
                    "roomId is required when personId or personEmail is specified.",
                ));
            }
            world
                .rooms
                .iter()
                .filter(|r| r.has_member(&me))
                .filter_map(|r| render::membership(&world, r, &me))
                .collect()
        }
    };
    paginate_offset(&state, "/v1/memberships", &q, items, max)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateMembership {
    room_id: Option<String>,
    person_id: Option<String>,
    person_email: Option<String>,
    #[serde(default)]
    is_moderator: bool,
}

/// `POST /memberships`: add a person to a group room the caller belongs to.
pub async fn create(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CreateMembership = parse_body(&body)?;
    let room_id = req
        .room_id
        .ok_or_else(|| ApiError::bad_request("roomId is required."))?;
    let mut world = state.world();
    let room_uuid = resolve(Kind::Room, &room_id)
        .filter(|u| world.room(u).is_some_and(|r| r.has_member(&me)))
        .ok_or_else(ApiError::not_found)?;
    let person = match (req.person_id, req.person_email) {
        (Some(id), _) => resolve(Kind::People, &id).and_then(|u| world.person(&u).map(|p| p.uuid)),
        (None, Some(email)) => world.person_by_email(&email).map(|p| p.uuid),
        (None, None) => {
            return Err(ApiError::bad_request(
                "personId or personEmail is required.",
            ))
        }
    }
    .ok_or_else(ApiError::not_found)?;
    let now = world.clock.tick();
    let room = world.room_mut(&room_uuid).ok_or_else(ApiError::not_found)?;
    if room.kind == RoomType::Direct {
        return Err(ApiError::bad_request("Cannot add people to a 1:1 room."));
    }
    if room.has_member(&person) {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "Person is already a member of the room.",
        ));
    }
    room.members.push(Member {
        person,
        created_ms: now,
        is_moderator: req.is_moderator,
    });
    let room = room.clone();
    let rendered = render::membership(&world, &room, &person).ok_or_else(ApiError::not_found)?;
    let event = Event {
        resource: "memberships",
        event: "created",
        actor: me,
        room: room.uuid,
        room_type: room.kind,
        person,
        person_email: world
            .person(&person)
            .map(|p| p.email.clone())
            .unwrap_or_default(),
        mentioned: Vec::new(),
        card_author: None,
        message: None,
        has_files: false,
        data: rendered.clone(),
    };
    dispatch(&state, &world, &event);
    Ok(Json(rendered).into_response())
}
