//! Typed helpers for tests that read like their story: messages as structs, people as handles
//! that act, and the markers a test uses to say "nothing happened since".
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = webex_sim::SimServer::start().await?;
//! sim.add_bot("molty@webex.bot", "Molty");
//! let hi = sim.user("alice").dm_bot("hi").await;     // alice@example.com, created on demand
//! let team = sim.space("Team", &["alice", "bob"]);    // the bot is a member too
//! sim.user("bob").mention_bot(&team, "status?").await;
//! let replies = sim.bot_replies_in(&hi);              // Vec<SimMessage>, oldest first
//! # let _ = replies; Ok(()) }
//! ```
//!
//! The actions of a [`SimUser`] go through the real REST API as that person (so webhooks fire
//! and the request log records them). They are test helpers: each PANICS with the method, path,
//! status and Webex's error body when the emulator refuses. The `try_` forms
//! ([`SimUser::try_dm`], [`SimUser::try_send`]) return [`SimCallError`] instead, for callers that
//! expect a refusal or retry one.
//!
//! The raw JSON stays at hand for fidelity tests: [`SimMessage::raw`], and the `Value`-returning
//! calls of [`SimServer`] ([`SimServer::send_as`], [`SimServer::call_as`], ...).

use crate::ids::{resolve, Kind};
use crate::model::{PersonType, RoomType};
use crate::render::{self, MessageView};
use crate::server::{SimPerson, SimRoom, SimServer};
use crate::state::{lock, RecordedRequest};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

/// The domain of people [`SimServer::user`] creates from a bare name.
pub const USER_DOMAIN: &str = "example.com";

/// A position in the emulator's messages, in creation order: see [`SimServer::messages_since`].
/// The default is the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageCursor {
    /// The emulator's resets when it was taken (sequence numbers start again at each).
    resets: u64,
    /// The sequence number of the first message not read yet.
    next_seq: u64,
}

/// A message as the emulator renders it (`GET /messages/{id}`), typed. Optional fields are
/// `None` or empty when Webex leaves them out. Equality compares the typed fields only (the
/// raw JSON differs between views: the `POST /messages` answer also echoes `toPersonEmail`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimMessage {
    /// Encoded message id.
    pub id: String,
    /// Encoded room id.
    pub room_id: String,
    /// `direct` (1:1) or `group` (space).
    pub room_type: RoomType,
    /// Author's encoded person id.
    pub person_id: String,
    /// Author's email.
    pub person_email: String,
    /// Plain text (with mentions rendered as the mentioned names).
    pub text: Option<String>,
    /// Markdown as sent.
    pub markdown: Option<String>,
    /// Rendered HTML (when markdown was sent).
    pub html: Option<String>,
    /// Thread parent.
    pub parent_id: Option<String>,
    /// File URLs.
    #[serde(default)]
    pub files: Vec<String>,
    /// Encoded ids of the people @mentioned.
    #[serde(default)]
    pub mentioned_people: Vec<String>,
    /// Group mentions (`all`).
    #[serde(default)]
    pub mentioned_groups: Vec<String>,
    /// Card attachments as sent.
    #[serde(default)]
    pub attachments: Vec<Value>,
    /// Creation time, e.g. `2024-05-01T10:00:00.000Z`.
    pub created: String,
    /// Last edit time.
    pub updated: Option<String>,
    #[serde(skip)]
    raw: RawJson,
}

/// The JSON a [`SimMessage`] was read from; never part of its equality.
#[derive(Debug, Clone, Default)]
struct RawJson(Value);

impl PartialEq for RawJson {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl SimMessage {
    /// Reads a rendered message (any of the emulator's message shapes), keeping the JSON.
    pub fn from_value(raw: Value) -> Result<SimMessage, serde_json::Error> {
        let mut message: SimMessage = serde_json::from_value(raw.clone())?;
        message.raw = RawJson(raw);
        Ok(message)
    }

    /// The JSON exactly as the emulator rendered it.
    pub fn raw(&self) -> &Value {
        &self.raw.0
    }

    /// What a Webex client shows: the markdown as sent, else the text, else `""`.
    pub fn content(&self) -> &str {
        self.markdown
            .as_deref()
            .or(self.text.as_deref())
            .unwrap_or_default()
    }

    /// Whether `person` wrote it.
    pub fn is_by(&self, person: &SimPerson) -> bool {
        self.person_id == person.id
    }
}

/// Anything that names a room: a [`SimRoom`], a [`SimMessage`] (its room), or an id.
pub trait InRoom {
    /// The encoded room id.
    fn room_id(&self) -> &str;
}

impl InRoom for str {
    fn room_id(&self) -> &str {
        self
    }
}

impl InRoom for String {
    fn room_id(&self) -> &str {
        self
    }
}

impl InRoom for SimRoom {
    fn room_id(&self) -> &str {
        &self.id
    }
}

impl InRoom for SimMessage {
    fn room_id(&self) -> &str {
        &self.room_id
    }
}

impl<T: InRoom + ?Sized> InRoom for &T {
    fn room_id(&self) -> &str {
        (**self).room_id()
    }
}

/// Why a call made through the helper API failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SimCallError {
    /// The emulator answered with a non-2xx status.
    #[error("{method} {path} answered {status}: {body}")]
    Refused {
        /// HTTP method.
        method: String,
        /// Path under `/v1`.
        path: String,
        /// The status.
        status: u16,
        /// Webex's error body (`{message, errors, trackingId}`), or the raw text.
        body: Value,
    },
    /// The request did not get an answer (server stopped, connection reset).
    #[error("{method} {path} failed: {message}")]
    Transport {
        /// HTTP method.
        method: String,
        /// Path under `/v1`.
        path: String,
        /// The transport error.
        message: String,
    },
    /// A 2xx answer that is not what the helper expected (e.g. not a message).
    #[error("{method} {path} answered something unexpected ({message}): {body}")]
    Unexpected {
        /// HTTP method.
        method: String,
        /// Path under `/v1`.
        path: String,
        /// What did not fit.
        message: String,
        /// The body.
        body: Value,
    },
}

impl SimCallError {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            SimCallError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether a Webex client would retry: no answer, 429, or 5xx (Webex answers those before
    /// creating anything).
    pub fn is_retryable(&self) -> bool {
        match self {
            SimCallError::Refused { status, .. } => *status == 429 || *status >= 500,
            SimCallError::Transport { .. } => true,
            SimCallError::Unexpected { .. } => false,
        }
    }

    /// The `(status, body)` pair of the `Value`-returning calls (status 0 without an answer).
    pub(crate) fn into_pair(self) -> (u16, Value) {
        match self {
            SimCallError::Refused { status, body, .. } => (status, body),
            SimCallError::Transport { message, .. } => (0, json!({ "message": message })),
            SimCallError::Unexpected { body, .. } => (200, body),
        }
    }
}

/// A point in the request log: calls that arrive later are "since" it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Marker(pub u64);

/// A person of the emulator who acts through the REST API with their own token. Get one with
/// [`SimServer::user`] or [`SimServer::as_user`].
#[derive(Debug, Clone)]
pub struct SimUser<'a> {
    pub(crate) sim: &'a SimServer,
    pub(crate) person: SimPerson,
}

/// Unwraps a helper call, or panics with what the emulator said.
pub(crate) fn expect_ok<T>(result: Result<T, SimCallError>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("webex-sim helper call failed: {err}"),
    }
}

impl SimUser<'_> {
    /// The person.
    pub fn person(&self) -> &SimPerson {
        &self.person
    }

    /// Their encoded person id.
    pub fn id(&self) -> &str {
        &self.person.id
    }

    /// Their email.
    pub fn email(&self) -> &str {
        &self.person.email
    }

    /// `POST /v1/messages` with `body` as this person.
    pub async fn try_send(&self, body: Value) -> Result<SimMessage, SimCallError> {
        let answer = self
            .sim
            .call(&self.person, reqwest::Method::POST, "/messages", Some(body))
            .await?;
        created_message(answer)
    }

    /// Sends `text` to `to` in their 1:1 room (created on first contact).
    pub async fn try_dm(&self, to: &SimPerson, text: &str) -> Result<SimMessage, SimCallError> {
        self.try_send(json!({ "toPersonEmail": to.email, "text": text }))
            .await
    }

    /// Sends `text` to `to` in their 1:1 room. Panics if the emulator refuses.
    pub async fn dm(&self, to: &SimPerson, text: &str) -> SimMessage {
        expect_ok(self.try_dm(to, text).await)
    }

    /// Sends `text` to the emulator's only bot. Panics when there is no bot or several, or if
    /// the emulator refuses.
    pub async fn dm_bot(&self, text: &str) -> SimMessage {
        let bot = self.sim.bot();
        self.dm(&bot, text).await
    }

    /// Posts `markdown` in `room`. Panics if the emulator refuses.
    pub async fn post(&self, room: impl InRoom, markdown: &str) -> SimMessage {
        expect_ok(
            self.try_send(json!({ "roomId": room.room_id(), "markdown": markdown }))
                .await,
        )
    }

    /// Posts a message with the adaptive card `card` (the card JSON itself) in `room`, with
    /// `text` as the fallback clients without cards show. Panics if the emulator refuses.
    pub async fn post_card(&self, room: impl InRoom, text: &str, card: Value) -> SimMessage {
        expect_ok(
            self.try_send(json!({
                "roomId": room.room_id(),
                "markdown": text,
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": card,
                }],
            }))
            .await,
        )
    }

    /// Posts `<@personEmail:BOT|NAME> text` in `room`: `text` with the only bot @mentioned in
    /// front, as a Webex client sends it. Panics as [`Self::dm_bot`] does.
    pub async fn mention_bot(&self, room: impl InRoom, text: &str) -> SimMessage {
        let bot = self.sim.bot();
        let markdown = format!("<@personEmail:{}|{}> {text}", bot.email, bot.display_name);
        self.post(room, &markdown).await
    }

    /// Replies to `parent` in its thread. Panics if the emulator refuses.
    pub async fn reply_in_thread(&self, parent: &SimMessage, markdown: &str) -> SimMessage {
        expect_ok(
            self.try_send(json!({
                "roomId": parent.room_id,
                "parentId": parent.id,
                "markdown": markdown,
            }))
            .await,
        )
    }

    /// Submits the card of `message` with `inputs` (fires `attachmentActions:created`); returns
    /// the attachment action as rendered. Panics if the emulator refuses.
    pub async fn submit_card(&self, message: &SimMessage, inputs: Value) -> Value {
        expect_ok(
            self.sim
                .call(
                    &self.person,
                    reqwest::Method::POST,
                    "/attachment/actions",
                    Some(json!({ "type": "submit", "messageId": message.id, "inputs": inputs })),
                )
                .await,
        )
    }
}

impl SimUser<'_> {
    /// Fills in the card of `message` with `inputs` and presses its first `Action.Submit`, as
    /// a Webex client does (and the chat page): the button's `data` fields are merged into the
    /// inputs (over an input of the same name), then submitted (fires `attachmentActions:created`). Returns the
    /// attachment action as rendered. Panics if the message has no card or the emulator
    /// refuses.
    pub async fn press_submit(&self, message: &SimMessage, inputs: Value) -> Value {
        let data = message
            .attachments
            .iter()
            .filter_map(|a| a.get("content")?.get("actions")?.as_array())
            .flatten()
            .find(|a| a.get("type").and_then(Value::as_str) == Some("Action.Submit"))
            .map(|a| a.get("data").cloned().unwrap_or_else(|| json!({})));
        let Some(data) = data else {
            panic!(
                "the message has no card with an Action.Submit: {:?}",
                message.raw()
            );
        };
        let mut merged = inputs.as_object().cloned().unwrap_or_default();
        if let Some(data) = data.as_object() {
            merged.extend(data.clone());
        }
        self.submit_card(message, Value::Object(merged)).await
    }
}

/// Reads the answer of `POST /messages` as a [`SimMessage`].
pub(crate) fn created_message(answer: Value) -> Result<SimMessage, SimCallError> {
    SimMessage::from_value(answer.clone()).map_err(|e| SimCallError::Unexpected {
        method: "POST".into(),
        path: "/messages".into(),
        message: e.to_string(),
        body: answer,
    })
}

/// `alice` -> `Alice`.
fn display_name_of(local: &str) -> String {
    let mut chars = local.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl SimServer {
    /// The person `name` (`alice` means `alice@example.com`; a name with `@` is an email) as a
    /// [`SimUser`], created as a person (display name `Alice`) when absent.
    pub fn user(&self, name: &str) -> SimUser<'_> {
        let person = match name.split_once('@') {
            Some((local, _)) => self
                .person(name)
                .unwrap_or_else(|| self.add_person(name, &display_name_of(local))),
            None => {
                let email = format!("{name}@{USER_DOMAIN}");
                self.person(&email)
                    .unwrap_or_else(|| self.add_person(&email, &display_name_of(name)))
            }
        };
        SimUser { sim: self, person }
    }

    /// `person` (a person or a bot) as a [`SimUser`].
    pub fn as_user(&self, person: &SimPerson) -> SimUser<'_> {
        SimUser {
            sim: self,
            person: person.clone(),
        }
    }

    /// The emulator's only bot. Panics when there is none or several (name the bot with
    /// [`SimServer::person`] then).
    pub fn bot(&self) -> SimPerson {
        let world = self.state.world();
        let bots: Vec<SimPerson> = world
            .people
            .iter()
            .filter(|p| p.kind == PersonType::Bot)
            .map(SimPerson::from)
            .collect();
        match bots.as_slice() {
            [bot] => bot.clone(),
            [] => panic!("webex-sim has no bot: add one with SimServer::add_bot"),
            many => {
                let emails: Vec<&str> = many.iter().map(|b| b.email.as_str()).collect();
                panic!(
                    "webex-sim has {} bots ({emails:?}): name the one you mean",
                    many.len()
                )
            }
        }
    }

    /// A space titled `title` with `members` (names as for [`SimServer::user`]; the first
    /// creates it) and the only bot. Panics as [`SimServer::bot`] does.
    pub fn space(&self, title: &str, members: &[&str]) -> SimRoom {
        let bot = self.bot();
        let mut emails: Vec<String> = members
            .iter()
            .map(|name| self.user(name).person.email)
            .collect();
        emails.push(bot.email);
        let refs: Vec<&str> = emails.iter().map(String::as_str).collect();
        self.create_room(title, &refs)
    }

    /// Every message of `room`, oldest first (all of them, whoever may see them).
    pub fn messages_in(&self, room: impl InRoom) -> Vec<SimMessage> {
        let Some(room) = resolve(Kind::Room, room.room_id()) else {
            return Vec::new();
        };
        let world = self.state.world();
        world
            .messages
            .iter()
            .filter(|m| m.room == room)
            .map(|m| {
                let raw = render::message(&world, m, MessageView::Listed);
                match SimMessage::from_value(raw) {
                    Ok(message) => message,
                    // The emulator renders every message it stores; failing here is a bug in it.
                    Err(e) => panic!("webex-sim rendered a message SimMessage cannot read: {e}"),
                }
            })
            .collect()
    }

    /// The position after the last message created so far, for [`Self::messages_since`] (to
    /// read only what comes next, without rendering what is there).
    pub fn message_cursor(&self) -> MessageCursor {
        let world = self.state.world();
        MessageCursor {
            resets: self.state.resets.load(Ordering::Relaxed),
            next_seq: world.next_seq,
        }
    }

    /// Every message created after `cursor`, in any room, oldest first (deleted ones are not
    /// there), and the cursor to pass next time ([`MessageCursor::default`] starts at the
    /// first message; so does a cursor taken before a reset). For a watcher that polls a busy
    /// emulator: it renders only the messages newer than `cursor` (found by binary search, the
    /// store keeping messages in creation order), so it holds the emulator's lock for a
    /// moment, where [`Self::messages_in`] scans and renders a whole room, which grows with
    /// every message.
    pub fn messages_since(&self, cursor: MessageCursor) -> (Vec<SimMessage>, MessageCursor) {
        let world = self.state.world();
        let resets = self.state.resets.load(Ordering::Relaxed);
        let from = if cursor.resets == resets {
            cursor.next_seq
        } else {
            0
        };
        let start = world.messages.partition_point(|m| m.seq < from);
        let messages = world.messages[start..]
            .iter()
            .map(|m| {
                let raw = render::message(&world, m, MessageView::Listed);
                match SimMessage::from_value(raw) {
                    Ok(message) => message,
                    // The emulator renders every message it stores; failing here is a bug in it.
                    Err(e) => panic!("webex-sim rendered a message SimMessage cannot read: {e}"),
                }
            })
            .collect();
        let next = MessageCursor {
            resets,
            next_seq: world.next_seq,
        };
        (messages, next)
    }

    /// Every card submission (attachment action), oldest first, as
    /// `GET /v1/attachment/actions/{id}` renders it (`{id, type, messageId, personId, roomId,
    /// inputs, created}`).
    pub fn card_submissions(&self) -> Vec<Value> {
        let world = self.state.world();
        world
            .actions
            .iter()
            .map(|a| render::action(a, true))
            .collect()
    }

    /// The messages `person` wrote in `room`, oldest first.
    pub fn messages_by(&self, person: &SimPerson, room: impl InRoom) -> Vec<SimMessage> {
        self.messages_in(room)
            .into_iter()
            .filter(|m| m.is_by(person))
            .collect()
    }

    /// The only bot's messages in `room`, oldest first. Panics as [`SimServer::bot`] does.
    pub fn bot_replies_in(&self, room: impl InRoom) -> Vec<SimMessage> {
        self.messages_by(&self.bot(), room)
    }

    /// A marker at the current end of the request log: [`Self::calls_since`] and
    /// [`Self::calls_by`] then list only calls that arrived later.
    pub fn mark(&self) -> Marker {
        Marker(self.state.next_request_seq.load(Ordering::Acquire))
    }

    /// The `/v1` calls that arrived after `since` and have been answered, in arrival order
    /// (a call still being answered shows up once it is). Clearing the log forgets them.
    pub fn calls_since(&self, since: Marker) -> Vec<RecordedRequest> {
        let mut calls: Vec<RecordedRequest> = lock(&self.state.log)
            .iter()
            .filter(|r| r.seq >= since.0)
            .cloned()
            .collect();
        calls.sort_by_key(|r| r.seq);
        calls
    }

    /// [`Self::calls_since`] made with `person`'s token.
    pub fn calls_by(&self, person: &SimPerson, since: Marker) -> Vec<RecordedRequest> {
        let mut calls = self.calls_since(since);
        calls.retain(|r| r.caller.as_deref() == Some(person.id.as_str()));
        calls
    }

    /// Webhook deliveries scheduled and not finished: queued, waiting out an injected delay, or
    /// being posted. Zero means every delivery of every event so far has been answered (or has
    /// failed) at its target; dropped deliveries (fault injection) never count.
    pub fn deliveries_in_flight(&self) -> usize {
        self.state.deliveries_in_flight.load(Ordering::Acquire)
    }

    /// Returns once [`Self::deliveries_in_flight`] is zero (at once if it is). Waits as long as
    /// it takes: wrap it in `tokio::time::timeout`.
    pub async fn deliveries_done(&self) {
        loop {
            let idle = self.state.deliveries_idle.notified();
            tokio::pin!(idle);
            // Register before checking, so a drop to zero in between is not missed.
            idle.as_mut().enable();
            if self.deliveries_in_flight() == 0 {
                return;
            }
            idle.await;
        }
    }
}
