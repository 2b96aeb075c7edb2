//! `/messages`: create, list, list direct, get, edit, delete.
//!
//! Rules follow developer.webex.com/docs/api/v1/messages and the OpenAPI description:
//! `POST` answers 200; one destination; text/markdown capped at 7439 bytes; one file; one card;
//! bots list group rooms only with `mentionedPeople=me` (else 403 "Failed to get activity.");
//! `max` may not exceed 100 with `mentionedPeople`; edits need `roomId` and stop at 10.

use super::{parse_body, Query};
use crate::delivery::{dispatch, Event};
use crate::error::{ApiError, MSG_FAILED_ACTIVITY};
use crate::files::{StoredFile, MAX_FILE_BYTES};
use crate::ids::{content_id, encode, resolve, Kind};
use crate::markdown::{render as render_md, MentionRef};
use crate::middleware::Caller;
use crate::model::{Message, Person, PersonType, RoomType, World};
use crate::pagination::{list_response, next_url, Cursor};
use crate::render::{self, MessageView};
use crate::state::SimState;
use axum::body::Bytes;
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use uuid::Uuid;

/// Maximum bytes of `text` or `markdown`.
pub const MAX_MESSAGE_BYTES: usize = 7439;
/// Maximum edits of one message ("The maximum currently supported is 10 edits per message",
/// OpenAPI `PUT /messages/{messageId}`).
pub const MAX_EDITS: u32 = 10;
/// The 400 past [`MAX_EDITS`]: the docs say "a message stating the edit limit has been reached";
/// the exact wording is a guess.
pub const MSG_EDIT_LIMIT: &str =
    "The edit limit has been reached: a message can be edited at most 10 times.";
/// The 400 for editing a message with files or a card: the docs say "a message stating that the
/// feature is currently unsupported"; the exact wording is a guess.
pub const MSG_EDIT_UNSUPPORTED: &str =
    "Editing a message with files or attachments is currently unsupported.";
/// The 400 for a `PUT` with both `markdown` and `html` ("If this attribute \[markdown\] is set
/// ensure that the request does NOT contain an `html` attribute"); the wording is a guess.
pub const MSG_EDIT_HTML: &str =
    "A request with markdown must not contain html: remove html from the message before editing it.";
/// Adaptive card content type.
pub const CARD_CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";
/// The answer when a bot tries to open a 1:1 with someone who never wrote to it.
///
/// Webex's public docs do not spell out this error; the rule itself is the product contract
/// (spec `webex-channel.md` §6, "Sending to someone who never messaged the bot fails with the
/// first-contact explanation"), and 403 is how Webex refuses bot actions it does not allow
/// (cf. "Failed to get activity." for bot message listing). Disable it with
/// `SimServer::set_first_contact_rule(false)` to model orgs where bots may message anyone.
pub const MSG_FIRST_CONTACT: &str =
    "Bots cannot start a 1:1 conversation: the person must message the bot first.";

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateMessage {
    room_id: Option<String>,
    parent_id: Option<String>,
    to_person_id: Option<String>,
    to_person_email: Option<String>,
    text: Option<String>,
    markdown: Option<String>,
    files: Option<Vec<String>>,
    attachments: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EditMessage {
    room_id: Option<String>,
    text: Option<String>,
    markdown: Option<String>,
    /// Only checked for presence: a body with `markdown` must not carry `html`.
    html: Option<Value>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn check_length(text: &Option<String>, markdown: &Option<String>) -> Result<(), ApiError> {
    for s in [text, markdown].into_iter().flatten() {
        if s.len() > MAX_MESSAGE_BYTES {
            return Err(ApiError::bad_request(format!(
                "Message length ({} bytes) exceeds the maximum of {MAX_MESSAGE_BYTES} bytes.",
                s.len()
            )));
        }
    }
    Ok(())
}

/// Rendered content: `(text, html, mentioned people, mentioned groups)`.
type Content = (Option<String>, Option<String>, Vec<Uuid>, Vec<String>);

fn render_content(world: &World, text: Option<String>, markdown: &Option<String>) -> Content {
    let Some(md) = markdown else {
        return (text, None, Vec::new(), Vec::new());
    };
    let r = render_md(md, |m| {
        let p = match m {
            MentionRef::Email(e) => world.person_by_email(e),
            MentionRef::Id(id) => resolve(Kind::People, id).and_then(|u| world.person(&u)),
        }?;
        Some((
            p.uuid,
            encode(Kind::People, &p.uuid),
            p.display_name.clone(),
        ))
    });
    (
        Some(text.unwrap_or(r.text)),
        Some(r.html),
        r.mentioned_people,
        r.mentioned_groups,
    )
}

/// The webhook event for `m`.
pub fn message_event(world: &World, m: &Message, event: &'static str, actor: Uuid) -> Event {
    let room_type = world
        .room(&m.room)
        .map(|r| r.kind)
        .unwrap_or(RoomType::Group);
    let author = world.person(&m.author);
    let mut data = json!({
        "id": encode(Kind::Message, &m.uuid),
        "roomId": encode(Kind::Room, &m.room),
        "roomType": room_type.as_str(),
        "personId": encode(Kind::People, &m.author),
        "personEmail": author.map(|p| p.email.clone()).unwrap_or_default(),
        "created": World::ts(m.created_ms),
    });
    if let Some(parent) = &m.parent {
        data["parentId"] = json!(encode(Kind::Message, parent));
    }
    if !m.mentioned_people.is_empty() {
        let ids: Vec<String> = m
            .mentioned_people
            .iter()
            .map(|u| encode(Kind::People, u))
            .collect();
        data["mentionedPeople"] = json!(ids);
    }
    if !m.mentioned_groups.is_empty() {
        data["mentionedGroups"] = json!(m.mentioned_groups);
    }
    Event {
        resource: "messages",
        event,
        actor,
        room: m.room,
        room_type,
        person: m.author,
        person_email: author.map(|p| p.email.clone()).unwrap_or_default(),
        mentioned: m.mentioned_people.clone(),
        card_author: None,
        message: Some(m.uuid),
        has_files: !m.files.is_empty(),
        data,
    }
}

fn validate_attachments(attachments: &[Value]) -> Result<(), ApiError> {
    if attachments.len() > 1 {
        return Err(ApiError::bad_request(
            "Only one attachment (card) is supported per message.",
        ));
    }
    for a in attachments {
        if a.get("contentType").and_then(Value::as_str) != Some(CARD_CONTENT_TYPE) {
            return Err(ApiError::bad_request(format!(
                "Attachment contentType must be {CARD_CONTENT_TYPE}."
            )));
        }
        let content = a.get("content").filter(|c| c.is_object());
        let is_card = content.and_then(|c| c.get("type")).and_then(Value::as_str)
            == Some("AdaptiveCard")
            && content.and_then(|c| c.get("version")).is_some();
        if !is_card {
            return Err(ApiError::bad_request(
                "Attachment content must be an AdaptiveCard with a type and version.",
            ));
        }
    }
    Ok(())
}

/// Resolves the destination room, creating a 1:1 room when allowed.
fn destination(
    state: &SimState,
    world: &mut World,
    me: &Person,
    req: &CreateMessage,
) -> Result<(Uuid, Option<Uuid>, Option<String>), ApiError> {
    if let Some(room_id) = &req.room_id {
        let room = resolve(Kind::Room, room_id)
            .and_then(|u| world.room(&u))
            .filter(|r| r.has_member(&me.uuid))
            .ok_or_else(ApiError::not_found)?;
        return Ok((room.uuid, None, None));
    }
    let target = match (&req.to_person_id, &req.to_person_email) {
        (Some(id), _) => resolve(Kind::People, id).and_then(|u| world.person(&u)),
        (None, Some(email)) => world.person_by_email(email),
        (None, None) => None,
    }
    .cloned();
    let refuse_first_contact =
        me.kind == PersonType::Bot && state.first_contact_rule.load(Ordering::Relaxed);
    let Some(target) = target else {
        if refuse_first_contact {
            return Err(ApiError::forbidden(MSG_FIRST_CONTACT));
        }
        return Err(ApiError::not_found());
    };
    if target.uuid == me.uuid {
        return Err(ApiError::bad_request(
            "Cannot send a 1:1 message to yourself.",
        ));
    }
    let to_id = req.to_person_id.as_ref().map(|_| target.uuid);
    let to_email = req.to_person_email.clone();
    if let Some(room) = world.direct_room_between(&me.uuid, &target.uuid) {
        return Ok((room.uuid, to_id, to_email));
    }
    if refuse_first_contact {
        return Err(ApiError::forbidden(MSG_FIRST_CONTACT));
    }
    let room = world.create_direct_room(me.uuid, target.uuid);
    Ok((room.uuid, to_id, to_email))
}

/// Largest JSON body of `POST /messages` read (Webex caps text and markdown at 7439 bytes each;
/// the rest is room for a card).
pub const MAX_JSON_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The answer when a message carries more than one file (JSON `files` or multipart parts): the
/// OpenAPI description says "currently only one file may be included with the message"; Webex's
/// exact wording is not documented (a guess).
pub const MSG_ONE_FILE: &str = "Only one file is allowed per message.";

/// The answer when a JSON `files` entry is not a URL: the OpenAPI description says "The
/// public URL to a binary file to be posted into the room" (a local file goes as multipart);
/// Webex's exact wording is not documented (a guess).
pub const MSG_FILE_URL: &str =
    "files must be public http(s) URLs; send a local file as multipart/form-data.";

/// Whether a JSON `files` entry is an `http(s)://` URL with a host.
fn is_public_url(file: &str) -> bool {
    let lower = file.get(..8).unwrap_or(file).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &file[8..]
    } else if lower.starts_with("http://") {
        &file[7..]
    } else {
        return false;
    };
    rest.split(['/', '?', '#'])
        .next()
        .is_some_and(|host| !host.is_empty())
}

/// A file read from the multipart `files` part.
struct Upload {
    name: String,
    content_type: String,
    bytes: Bytes,
}

/// Whether `req` is `multipart/form-data` (the way to send a local file).
fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(MAX_FILE_BYTES);
    }
    ApiError::bad_request(format!(
        "Unable to parse the multipart body: {}",
        e.body_text()
    ))
}

/// 413 for a file over `limit`. Webex documents the 100 MB limit, not the status it answers
/// past it: 413 Payload Too Large is a guess.
fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("The file is larger than the maximum of {limit} bytes per attachment."),
    )
}

/// Reads a multipart `POST /messages`: the text fields `roomId`, `toPersonId`, `toPersonEmail`,
/// `text`, `markdown`, `parentId` (empty values count as absent; other fields are ignored, a
/// guess) and at most one `files` part (its file name, `file` when absent, and content type,
/// `application/octet-stream` when absent), as developer.webex.com/docs/basics "Message
/// Attachments" sends them with `curl --form files=@...;type=...`.
async fn read_multipart(
    state: &Arc<SimState>,
    req: Request,
) -> Result<(CreateMessage, Option<Upload>), ApiError> {
    let limit = state.world().file_settings.max_file_bytes;
    let mut form = Multipart::from_request(req, state)
        .await
        .map_err(|e| ApiError::bad_request(format!("Unable to read the multipart body: {e}")))?;
    let mut message = CreateMessage::default();
    let mut upload: Option<Upload> = None;
    while let Some(mut field) = form.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "files" {
            if upload.is_some() {
                return Err(ApiError::bad_request(MSG_ONE_FILE));
            }
            let file_name = field
                .file_name()
                .filter(|n| !n.is_empty())
                .unwrap_or("file")
                .to_string();
            let content_type = field
                .content_type()
                .filter(|t| !t.is_empty())
                .unwrap_or("application/octet-stream")
                .to_string();
            let mut bytes = bytes::BytesMut::new();
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                if (bytes.len() + chunk.len()) as u64 > limit {
                    return Err(too_large(limit));
                }
                bytes.extend_from_slice(&chunk);
            }
            upload = Some(Upload {
                name: file_name,
                content_type,
                bytes: bytes.freeze(),
            });
            continue;
        }
        let value = field.text().await.map_err(multipart_error)?;
        let value = non_empty(Some(value));
        match name.as_str() {
            "roomId" => message.room_id = value,
            "toPersonId" => message.to_person_id = value,
            "toPersonEmail" => message.to_person_email = value,
            "text" => message.text = value,
            "markdown" => message.markdown = value,
            "parentId" => message.parent_id = value,
            _ => {}
        }
    }
    Ok((message, upload))
}

/// `POST /messages`: a JSON body, or `multipart/form-data` with one `files` part (a local file,
/// stored and served at `<sim>/v1/contents/<id>`). A JSON `files: [url]` is recorded as given:
/// the emulator fetches nothing (Webex would download the public URL and serve a content URL).
pub async fn create(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    req: Request,
) -> Result<Response, ApiError> {
    let (req, upload) = if is_multipart(&req) {
        read_multipart(&state, req).await?
    } else {
        let body = axum::body::to_bytes(req.into_body(), MAX_JSON_BODY_BYTES)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("The request body is larger than {MAX_JSON_BODY_BYTES} bytes."),
                )
            })?;
        (parse_body::<CreateMessage>(&body)?, None)
    };
    let destinations = [
        req.room_id.is_some(),
        req.to_person_id.is_some(),
        req.to_person_email.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if destinations != 1 {
        return Err(ApiError::bad_request(
            "Exactly one of roomId, toPersonId or toPersonEmail must be specified.",
        ));
    }
    let text = non_empty(req.text.clone());
    let markdown = non_empty(req.markdown.clone());
    let mut files = req.files.clone().unwrap_or_default();
    let attachments = req.attachments.clone().unwrap_or_default();
    if text.is_none()
        && markdown.is_none()
        && files.is_empty()
        && attachments.is_empty()
        && upload.is_none()
    {
        return Err(ApiError::bad_request(
            "A message needs text, markdown, files or attachments.",
        ));
    }
    check_length(&text, &markdown)?;
    if files.len() + usize::from(upload.is_some()) > 1 {
        return Err(ApiError::bad_request(MSG_ONE_FILE));
    }
    if let Some(bad) = files.iter().find(|f| !is_public_url(f)) {
        return Err(ApiError::bad_request(format!(
            "{MSG_FILE_URL} Got {bad:?}."
        )));
    }
    validate_attachments(&attachments)?;

    let mut world = state.world();
    let me_p = world
        .person(&me)
        .cloned()
        .ok_or_else(ApiError::unauthorized)?;
    let (room, to_id, to_email) = destination(&state, &mut world, &me_p, &req)?;
    let parent = match &req.parent_id {
        None => None,
        Some(pid) => {
            let parent = resolve(Kind::Message, pid)
                .and_then(|u| world.message(&u))
                .filter(|m| m.room == room)
                .ok_or_else(ApiError::not_found)?;
            if parent.parent.is_some() {
                return Err(ApiError::bad_request(
                    "Cannot reply to a reply: use the id of the thread's first message as parentId.",
                ));
            }
            Some(parent.uuid)
        }
    };
    let (text, html, mentioned_people, mentioned_groups) = render_content(&world, text, &markdown);
    let created_ms = world.clock.tick();
    let seq = world.next_seq;
    world.next_seq += 1;
    let uuid = Uuid::new_v4();
    if let Some(upload) = upload {
        files.push(format!(
            "{}/v1/contents/{}",
            state.base_url,
            content_id(&uuid, 0)
        ));
        let scan = world.file_settings.new_file_scan;
        world.files.push(StoredFile {
            message: uuid,
            index: 0,
            room,
            name: upload.name,
            content_type: upload.content_type,
            bytes: upload.bytes,
            scan,
            fetches: 0,
        });
    }
    let message = Message {
        uuid,
        seq,
        room,
        parent,
        author: me,
        text,
        markdown,
        html,
        files,
        attachments,
        mentioned_people,
        mentioned_groups,
        created_ms,
        updated_ms: None,
        edits: 0,
        to_person_id: to_id,
        to_person_email: to_email,
    };
    if let Some(r) = world.room_mut(&room) {
        r.last_activity_ms = created_ms;
    }
    world.messages.push(message.clone());
    let event = message_event(&world, &message, "created", me);
    dispatch(&state, &world, &event);
    Ok(Json(render::message(&world, &message, MessageView::Created)).into_response())
}

/// `GET /messages`: newest first, `Link` paging.
pub async fn list(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let room_id = q
        .get("roomId")
        .ok_or_else(|| ApiError::bad_request("roomId is required."))?;
    let world = state.world();
    let viewer = world
        .person(&me)
        .cloned()
        .ok_or_else(ApiError::unauthorized)?;
    let room = resolve(Kind::Room, room_id)
        .and_then(|u| world.room(&u))
        .filter(|r| r.has_member(&me))
        .ok_or_else(ApiError::not_found)?;
    let mentioned = q.all("mentionedPeople");
    for m in &mentioned {
        if m != "me" && resolve(Kind::People, m) != Some(me) {
            return Err(ApiError::bad_request(
                "Only me or the person ID of the current user may be specified in mentionedPeople.",
            ));
        }
    }
    if viewer.kind == PersonType::Bot && room.kind == RoomType::Group && mentioned.is_empty() {
        return Err(ApiError::forbidden(MSG_FAILED_ACTIVITY));
    }
    let max = q.max(50, if mentioned.is_empty() { 1000 } else { 100 })?;
    let before_ms = match q.get("before") {
        Some(b) => Some(
            crate::clock::parse_ms(b)
                .ok_or_else(|| ApiError::bad_request(format!("Invalid before value '{b}'.")))?,
        ),
        None => None,
    };
    let mut before_seq = match q.get("beforeMessage") {
        Some(id) => Some(
            resolve(Kind::Message, id)
                .and_then(|u| world.message(&u))
                .filter(|m| m.room == room.uuid)
                .map(|m| m.seq)
                .ok_or_else(ApiError::not_found)?,
        ),
        None => None,
    };
    match q.cursor()? {
        Some(Cursor::BeforeSeq(s)) => before_seq = Some(before_seq.map_or(s, |b| b.min(s))),
        Some(Cursor::Offset(_)) => return Err(ApiError::bad_request("Invalid cursor.")),
        None => {}
    }
    let parent = match q.get("parentId") {
        Some(id) => Some(resolve(Kind::Message, id).ok_or_else(ApiError::not_found)?),
        None => None,
    };
    let mut page: Vec<&Message> = world
        .messages
        .iter()
        .rev()
        .filter(|m| m.room == room.uuid)
        .filter(|m| world.can_see(&viewer, m))
        .filter(|m| mentioned.is_empty() || m.mentioned_people.contains(&me))
        .filter(|m| before_seq.is_none_or(|s| m.seq < s))
        .filter(|m| before_ms.is_none_or(|b| m.created_ms < b))
        .filter(|m| parent.is_none_or(|p| m.parent == Some(p)))
        .take(max + 1)
        .collect();
    let more = page.len() > max;
    page.truncate(max);
    let next = match (more, page.last()) {
        (true, Some(last)) => Some(next_url(
            &state.base_url,
            "/v1/messages",
            &q.pairs,
            Cursor::BeforeSeq(last.seq),
        )),
        _ => None,
    };
    let items = page
        .into_iter()
        .map(|m| render::message(&world, m, MessageView::Listed))
        .collect();
    Ok(list_response(items, next))
}

/// `GET /messages/direct?personId=|personEmail=`.
pub async fn direct(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let world = state.world();
    let other = match (q.get("personId"), q.get("personEmail")) {
        (Some(id), None) => resolve(Kind::People, id).and_then(|u| world.person(&u)),
        (None, Some(email)) => world.person_by_email(email),
        _ => {
            return Err(ApiError::bad_request(
                "Exactly one of personId or personEmail must be specified.",
            ))
        }
    }
    .ok_or_else(ApiError::not_found)?;
    let parent = match q.get("parentId") {
        Some(id) => Some(resolve(Kind::Message, id).ok_or_else(ApiError::not_found)?),
        None => None,
    };
    let items = match world.direct_room_between(&me, &other.uuid) {
        None => Vec::new(),
        Some(room) => world
            .messages
            .iter()
            .rev()
            .filter(|m| m.room == room.uuid)
            .filter(|m| parent.is_none_or(|p| m.parent == Some(p)))
            .map(|m| render::message(&world, m, MessageView::Direct))
            .collect(),
    };
    Ok(list_response(items, None))
}

fn visible_message(world: &World, me: &Uuid, id: &str) -> Result<Message, ApiError> {
    let viewer = world.person(me).ok_or_else(ApiError::unauthorized)?;
    resolve(Kind::Message, id)
        .and_then(|u| world.message(&u))
        .filter(|m| world.can_see(viewer, m))
        .cloned()
        .ok_or_else(ApiError::not_found)
}

/// `GET /messages/{id}`.
pub async fn get_one(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let world = state.world();
    let m = visible_message(&world, &me, &id)?;
    Ok(Json(render::message(&world, &m, MessageView::Listed)).into_response())
}

/// `PUT /messages/{id}`: the author edits text/markdown (OpenAPI "Edit a Message"): `roomId` is
/// required and must be the message's room (400), a body with `markdown` must not carry `html`
/// (400), only the author may edit (403), messages with files or a card cannot be edited (400),
/// and at most [`MAX_EDITS`] times (400); the `refuseEdits` fault refuses every edit like a
/// message with files. Fires `messages:updated`; the answer has `updated`.
pub async fn edit(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: EditMessage = parse_body(&body)?;
    let room_id = req
        .room_id
        .ok_or_else(|| ApiError::bad_request("roomId is required."))?;
    if req.markdown.is_some() && req.html.is_some() {
        return Err(ApiError::bad_request(MSG_EDIT_HTML));
    }
    let text = non_empty(req.text);
    let markdown = non_empty(req.markdown);
    if text.is_none() && markdown.is_none() {
        return Err(ApiError::bad_request("text or markdown is required."));
    }
    check_length(&text, &markdown)?;
    let mut world = state.world();
    let current = visible_message(&world, &me, &id)?;
    if resolve(Kind::Room, &room_id) != Some(current.room) {
        return Err(ApiError::bad_request(
            "roomId does not match the message's room.",
        ));
    }
    if current.author != me {
        return Err(ApiError::forbidden(
            "Only the author of a message can edit it.",
        ));
    }
    let refused = crate::state::lock(&state.faults).faults.refuse_edits;
    if refused || !current.files.is_empty() || !current.attachments.is_empty() {
        return Err(ApiError::bad_request(MSG_EDIT_UNSUPPORTED));
    }
    if current.edits >= MAX_EDITS {
        return Err(ApiError::bad_request(MSG_EDIT_LIMIT));
    }
    let (text, html, mentioned_people, mentioned_groups) = render_content(&world, text, &markdown);
    let now = world.clock.tick();
    let Some(m) = world.messages.iter_mut().find(|m| m.uuid == current.uuid) else {
        return Err(ApiError::not_found());
    };
    m.text = text;
    m.markdown = markdown;
    m.html = html;
    m.mentioned_people = mentioned_people;
    m.mentioned_groups = mentioned_groups;
    m.updated_ms = Some(now);
    m.edits += 1;
    let updated = m.clone();
    let event = message_event(&world, &updated, "updated", me);
    dispatch(&state, &world, &event);
    Ok(Json(render::message(&world, &updated, MessageView::Listed)).into_response())
}

/// `DELETE /messages/{id}`: the author (or a moderator) deletes; 204.
pub async fn delete(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut world = state.world();
    let m = visible_message(&world, &me, &id)?;
    let is_moderator = world
        .room(&m.room)
        .and_then(|r| r.members.iter().find(|x| x.person == me))
        .is_some_and(|x| x.is_moderator);
    if m.author != me && !is_moderator {
        return Err(ApiError::forbidden(
            "Only the author or a moderator can delete a message.",
        ));
    }
    let event = message_event(&world, &m, "deleted", me);
    world.messages.retain(|x| x.uuid != m.uuid);
    // Its files go with it: their content URLs answer 404 from now on (a guess; Webex does not
    // document what a deleted message's content URL answers).
    world.files.retain(|f| f.message != m.uuid);
    dispatch(&state, &world, &event);
    Ok(StatusCode::NO_CONTENT.into_response())
}
