//! The emulator's data: people, rooms, memberships, messages, webhooks, card actions.
//!
//! Everything lives in one [`World`] behind a mutex; operations here are synchronous and
//! never do I/O, so they can be used both by the HTTP handlers and by the library helpers.

use crate::clock::{format_ms, Clock};
use std::collections::VecDeque;
use uuid::Uuid;

/// Person account type, as in the `Person.type` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonType {
    /// A human.
    Person,
    /// A bot account.
    Bot,
}

impl PersonType {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PersonType::Person => "person",
            PersonType::Bot => "bot",
        }
    }
}

/// A person or bot. `Debug` leaves the token out.
#[derive(Clone)]
pub struct Person {
    /// Internal uuid (encoded as a PEOPLE id on the wire).
    pub uuid: Uuid,
    /// Email address (lowercase).
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Person or bot.
    pub kind: PersonType,
    /// Bearer token.
    pub token: String,
    /// Creation time, epoch ms.
    pub created_ms: i64,
}

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("uuid", &self.uuid)
            .field("email", &self.email)
            .field("display_name", &self.display_name)
            .field("kind", &self.kind)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Room type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomType {
    /// 1:1 room.
    Direct,
    /// Group room (space).
    Group,
}

impl RoomType {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomType::Direct => "direct",
            RoomType::Group => "group",
        }
    }
}

/// A person's membership in a room.
#[derive(Debug, Clone)]
pub struct Member {
    /// The member.
    pub person: Uuid,
    /// Joined at, epoch ms.
    pub created_ms: i64,
    /// Moderator flag.
    pub is_moderator: bool,
}

/// A room.
#[derive(Debug, Clone)]
pub struct Room {
    /// Internal uuid.
    pub uuid: Uuid,
    /// Title (direct rooms are titled after the other person when rendered).
    pub title: String,
    /// Direct or group.
    pub kind: RoomType,
    /// Locked (moderated).
    pub is_locked: bool,
    /// Creator.
    pub creator: Uuid,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Last activity (creation or latest message), epoch ms.
    pub last_activity_ms: i64,
    /// Members in join order.
    pub members: Vec<Member>,
}

impl Room {
    /// Whether `person` is a member.
    pub fn has_member(&self, person: &Uuid) -> bool {
        self.members.iter().any(|m| &m.person == person)
    }
}

/// A message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Internal uuid.
    pub uuid: Uuid,
    /// Creation sequence number (total order).
    pub seq: u64,
    /// Room.
    pub room: Uuid,
    /// Thread parent.
    pub parent: Option<Uuid>,
    /// Author.
    pub author: Uuid,
    /// Plain text.
    pub text: Option<String>,
    /// Markdown as sent.
    pub markdown: Option<String>,
    /// Rendered html (when markdown was sent).
    pub html: Option<String>,
    /// File URLs.
    pub files: Vec<String>,
    /// Card attachments as sent.
    pub attachments: Vec<serde_json::Value>,
    /// Mentioned people.
    pub mentioned_people: Vec<Uuid>,
    /// Mentioned groups (`all`).
    pub mentioned_groups: Vec<String>,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Last edit time.
    pub updated_ms: Option<i64>,
    /// Number of edits so far.
    pub edits: u32,
    /// `toPersonId` used when sending (echoed in the create response only).
    pub to_person_id: Option<Uuid>,
    /// `toPersonEmail` used when sending (echoed in the create response only).
    pub to_person_email: Option<String>,
}

/// A webhook registration.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// Internal uuid.
    pub uuid: Uuid,
    /// Name.
    pub name: String,
    /// Target URL.
    pub target_url: String,
    /// Resource (`messages`, `attachmentActions`, `memberships`, `rooms`, `all`).
    pub resource: String,
    /// Event (`created`, `updated`, `deleted`, `all`).
    pub event: String,
    /// Filter string as registered (`k=v&k2=v2`).
    pub filter: Option<String>,
    /// Signing secret.
    pub secret: Option<String>,
    /// `active` or `inactive`.
    pub status: String,
    /// Owner (the token's person).
    pub owner: Uuid,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Times of recent failed deliveries (for auto-deactivation).
    pub failures: VecDeque<tokio::time::Instant>,
    /// When deliveries last disabled it (`status: inactive` after too many failures).
    pub disabled_at: Option<tokio::time::Instant>,
    /// Re-activated within five minutes of being disabled: as at Webex, its next failed
    /// delivery disables it again (cleared by a successful one).
    pub fragile: bool,
}

/// A card submission (`attachmentActions`).
#[derive(Debug, Clone)]
pub struct AttachmentAction {
    /// Internal uuid.
    pub uuid: Uuid,
    /// The message carrying the card.
    pub message: Uuid,
    /// The room of that message.
    pub room: Uuid,
    /// Who submitted.
    pub person: Uuid,
    /// The inputs as submitted.
    pub inputs: serde_json::Value,
    /// Creation time, epoch ms.
    pub created_ms: i64,
}

/// All emulator data.
#[derive(Debug)]
pub struct World {
    /// The single organization everyone belongs to.
    pub org: Uuid,
    /// The application id reported in webhook envelopes.
    pub app: Uuid,
    /// People and bots.
    pub people: Vec<Person>,
    /// Rooms.
    pub rooms: Vec<Room>,
    /// Messages in creation order.
    pub messages: Vec<Message>,
    /// Webhooks.
    pub webhooks: Vec<Webhook>,
    /// Card submissions.
    pub actions: Vec<AttachmentAction>,
    /// Files uploaded with messages (multipart `POST /messages`).
    pub files: Vec<crate::files::StoredFile>,
    /// The file size limit and the scan state of new uploads.
    pub file_settings: crate::files::FileSettings,
    /// Timestamp source.
    pub clock: Clock,
    /// Next message sequence number.
    pub next_seq: u64,
}

impl Default for World {
    fn default() -> Self {
        World {
            org: Uuid::new_v4(),
            app: Uuid::new_v4(),
            people: Vec::new(),
            rooms: Vec::new(),
            messages: Vec::new(),
            webhooks: Vec::new(),
            actions: Vec::new(),
            files: Vec::new(),
            file_settings: crate::files::FileSettings::default(),
            clock: Clock::default(),
            next_seq: 1,
        }
    }
}

/// Generates a token that looks like a Webex access token.
/// Whether `s` looks like an email address: `local@domain`, both parts non-empty, one `@`, no
/// whitespace (surrounding whitespace is trimmed, as [`World::add_person`] does).
pub fn is_email(s: &str) -> bool {
    let s = s.trim();
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

fn new_token(org: &Uuid) -> String {
    let a = Uuid::new_v4().simple().to_string();
    let b = Uuid::new_v4().simple().to_string();
    format!("{a}{b}_PF84_{org}")
}

impl World {
    /// Adds a person or bot, or returns the existing account with that email.
    pub fn add_person(
        &mut self,
        email: &str,
        display_name: &str,
        kind: PersonType,
        token: Option<&str>,
    ) -> Person {
        let email = email.trim().to_lowercase();
        if let Some(p) = self.people.iter().find(|p| p.email == email) {
            return p.clone();
        }
        let person = Person {
            uuid: Uuid::new_v4(),
            email,
            display_name: display_name.to_string(),
            kind,
            token: token
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| new_token(&self.org)),
            created_ms: self.clock.tick(),
        };
        self.people.push(person.clone());
        person
    }

    /// Finds a person by uuid.
    pub fn person(&self, uuid: &Uuid) -> Option<&Person> {
        self.people.iter().find(|p| &p.uuid == uuid)
    }

    /// Finds a person by email (case-insensitive).
    pub fn person_by_email(&self, email: &str) -> Option<&Person> {
        let email = email.trim().to_lowercase();
        self.people.iter().find(|p| p.email == email)
    }

    /// Finds a person by bearer token.
    pub fn person_by_token(&self, token: &str) -> Option<&Person> {
        self.people.iter().find(|p| p.token == token)
    }

    /// Finds a room.
    pub fn room(&self, uuid: &Uuid) -> Option<&Room> {
        self.rooms.iter().find(|r| &r.uuid == uuid)
    }

    /// Finds a room mutably.
    pub fn room_mut(&mut self, uuid: &Uuid) -> Option<&mut Room> {
        self.rooms.iter_mut().find(|r| &r.uuid == uuid)
    }

    /// Finds a message, newest first: the messages looked up (a bot fetching what a webhook
    /// just announced, a reply's parent) are nearly always among the last created, and a
    /// long-running emulator holds many.
    pub fn message(&self, uuid: &Uuid) -> Option<&Message> {
        self.messages.iter().rev().find(|m| &m.uuid == uuid)
    }

    /// Creates a group room with `creator` and `members` (creator included automatically).
    pub fn create_group_room(&mut self, title: &str, creator: Uuid, members: &[Uuid]) -> Room {
        let now = self.clock.tick();
        let mut room = Room {
            uuid: Uuid::new_v4(),
            title: title.to_string(),
            kind: RoomType::Group,
            is_locked: false,
            creator,
            created_ms: now,
            last_activity_ms: now,
            members: Vec::new(),
        };
        for person in std::iter::once(&creator).chain(members.iter()) {
            if !room.has_member(person) {
                room.members.push(Member {
                    person: *person,
                    created_ms: now,
                    is_moderator: false,
                });
            }
        }
        self.rooms.push(room.clone());
        room
    }

    /// The direct room between two people, if any.
    pub fn direct_room_between(&self, a: &Uuid, b: &Uuid) -> Option<&Room> {
        self.rooms
            .iter()
            .find(|r| r.kind == RoomType::Direct && r.has_member(a) && r.has_member(b) && a != b)
    }

    /// Creates the direct room between `creator` and `other`.
    pub fn create_direct_room(&mut self, creator: Uuid, other: Uuid) -> Room {
        let now = self.clock.tick();
        let room = Room {
            uuid: Uuid::new_v4(),
            title: String::new(),
            kind: RoomType::Direct,
            is_locked: false,
            creator,
            created_ms: now,
            last_activity_ms: now,
            members: vec![
                Member {
                    person: creator,
                    created_ms: now,
                    is_moderator: false,
                },
                Member {
                    person: other,
                    created_ms: now,
                    is_moderator: false,
                },
            ],
        };
        self.rooms.push(room.clone());
        room
    }

    /// Whether `viewer` may read `message`.
    ///
    /// Members see everything in their rooms, except that bots see group-room messages only
    /// when they wrote them or are @mentioned in them ("in group spaces, bots must be
    /// @mentioned to access the message", developer.webex.com/docs/bots).
    pub fn can_see(&self, viewer: &Person, message: &Message) -> bool {
        let Some(room) = self.room(&message.room) else {
            return false;
        };
        if !room.has_member(&viewer.uuid) {
            return false;
        }
        if viewer.kind == PersonType::Bot && room.kind == RoomType::Group {
            return message.author == viewer.uuid
                || message.mentioned_people.contains(&viewer.uuid);
        }
        true
    }

    /// Title of `room` as seen by `viewer` (direct rooms show the other person's name).
    pub fn room_title_for(&self, room: &Room, viewer: Option<&Uuid>) -> String {
        if room.kind == RoomType::Group {
            return room.title.clone();
        }
        room.members
            .iter()
            .find(|m| Some(&m.person) != viewer)
            .and_then(|m| self.person(&m.person))
            .map(|p| p.display_name.clone())
            .unwrap_or_else(|| room.title.clone())
    }

    /// Formats epoch ms the Webex way.
    pub fn ts(ms: i64) -> String {
        format_ms(ms)
    }
}
