//! `/attachment/actions`: card submissions (`POST` answers 202 per the OpenAPI description)
//! and lookups. Submitting fires `attachmentActions:created` webhooks.

use super::parse_body;
use crate::delivery::{dispatch, Event};
use crate::error::ApiError;
use crate::ids::{resolve, Kind};
use crate::middleware::Caller;
use crate::model::{AttachmentAction, World};
use crate::render;
use crate::state::SimState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Submit {
    #[serde(rename = "type")]
    kind: Option<String>,
    message_id: Option<String>,
    inputs: Option<Value>,
}

/// Records a submission by `person` on `message_id` and fires webhooks.
pub fn submit(
    state: &Arc<SimState>,
    world: &mut World,
    person: Uuid,
    message_id: &str,
    inputs: Value,
) -> Result<AttachmentAction, ApiError> {
    let message = resolve(Kind::Message, message_id)
        .and_then(|u| world.message(&u))
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    let room = world
        .room(&message.room)
        .filter(|r| r.has_member(&person))
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    if message.attachments.is_empty() {
        return Err(ApiError::bad_request("The message has no card attachment."));
    }
    let action = AttachmentAction {
        uuid: Uuid::new_v4(),
        message: message.uuid,
        room: room.uuid,
        person,
        inputs,
        created_ms: world.clock.tick(),
    };
    world.actions.push(action.clone());
    let email = world
        .person(&person)
        .map(|p| p.email.clone())
        .unwrap_or_default();
    let event = Event {
        resource: "attachmentActions",
        event: "created",
        actor: person,
        room: room.uuid,
        room_type: room.kind,
        person,
        person_email: email,
        mentioned: Vec::new(),
        card_author: Some(message.author),
        message: Some(message.uuid),
        has_files: false,
        data: render::action(&action, false),
    };
    dispatch(state, world, &event);
    Ok(action)
}

/// `POST /attachment/actions`.
pub async fn create(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: Submit = parse_body(&body)?;
    if req.kind.as_deref() != Some("submit") {
        return Err(ApiError::bad_request("type must be submit."));
    }
    let message_id = req
        .message_id
        .ok_or_else(|| ApiError::bad_request("messageId is required."))?;
    let inputs = req
        .inputs
        .filter(Value::is_object)
        .ok_or_else(|| ApiError::bad_request("inputs must be an object."))?;
    let mut world = state.world();
    let action = submit(&state, &mut world, me, &message_id, inputs)?;
    Ok((StatusCode::ACCEPTED, Json(render::action(&action, true))).into_response())
}

/// Action `uuid` if `me` may read it: its submitter or a member of its room.
pub fn visible<'w>(world: &'w World, me: &Uuid, uuid: &Uuid) -> Option<&'w AttachmentAction> {
    world
        .actions
        .iter()
        .find(|a| &a.uuid == uuid)
        .filter(|a| &a.person == me || world.room(&a.room).is_some_and(|r| r.has_member(me)))
}

/// `GET /attachment/actions/{id}`: the submitter or the card's author may read it.
pub async fn get_one(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let world = state.world();
    let uuid = resolve(Kind::AttachmentAction, &id).ok_or_else(ApiError::not_found)?;
    let action = visible(&world, &me, &uuid).ok_or_else(ApiError::not_found)?;
    Ok(Json(render::action(action, true)).into_response())
}
