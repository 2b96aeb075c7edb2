//! Webex resource models (serde, camelCase).
//!
//! Every struct is `#[serde(default)]`: fields Webex leaves out become empty, unknown fields are
//! ignored, unknown enum values land in an `Other` variant. The field list follows
//! `webex-messaging.json` (the official OpenAPI description).

mod enums;
pub mod timestamp;

pub use enums::{PersonType, RoomSortBy, RoomType, WebhookEvent, WebhookResource, WebhookStatus};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A person or bot (`GET /people/{id}`, `/people/me`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Person {
    /// Person id.
    pub id: String,
    /// Email addresses.
    pub emails: Vec<String>,
    /// Full name.
    pub display_name: String,
    /// Nickname.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nick_name: Option<String>,
    /// First name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Avatar URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// Organization id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// Account type (`person`, `bot`, `appuser`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub person_type: Option<PersonType>,
    /// Presence status (only within the caller's org).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Creation time.
    #[serde(with = "timestamp::option", skip_serializing_if = "Option::is_none")]
    pub created: Option<OffsetDateTime>,
}

impl Person {
    /// The first email address, if any.
    pub fn primary_email(&self) -> Option<&str> {
        self.emails.first().map(String::as_str)
    }
}

/// A message (`GET /messages/{id}`, list items, `POST /messages` answers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Message {
    /// Message id.
    pub id: String,
    /// Room id.
    pub room_id: String,
    /// `direct` or `group`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_type: Option<RoomType>,
    /// Recipient person id (on 1:1 sends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_person_id: Option<String>,
    /// Recipient email (on 1:1 sends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_person_email: Option<String>,
    /// Plain text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Markdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub markdown: Option<String>,
    /// HTML rendering (holds `<spark-mention>` tags in group rooms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// File URLs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Author person id.
    pub person_id: String,
    /// Author email.
    pub person_email: String,
    /// Mentioned person ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mentioned_people: Vec<String>,
    /// Mentioned groups (e.g. `all`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mentioned_groups: Vec<String>,
    /// Thread parent message id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Adaptive card attachments, verbatim.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<serde_json::Value>,
    /// Creation time.
    #[serde(with = "timestamp::option", skip_serializing_if = "Option::is_none")]
    pub created: Option<OffsetDateTime>,
    /// Last edit time.
    #[serde(with = "timestamp::option", skip_serializing_if = "Option::is_none")]
    pub updated: Option<OffsetDateTime>,
    /// Whether the file is a recorded voice clip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_voice_clip: Option<bool>,
}

/// A room (space or 1:1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Room {
    /// Room id.
    pub id: String,
    /// Title.
    pub title: String,
    /// `direct` or `group`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub room_type: Option<RoomType>,
    /// Moderated.
    pub is_locked: bool,
    /// Team id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// Time of the last activity.
    #[serde(with = "timestamp::option", skip_serializing_if = "Option::is_none")]
    pub last_activity: Option<OffsetDateTime>,
    /// Creator person id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator_id: Option<String>,
    /// Creation time.
    #[serde(with = "timestamp::option", skip_serializing_if = "Option::is_none")]
    pub created: Option<OffsetDateTime>,
}

/// A room membership.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Membership {
    /// Membership id.
    pub id: String,
    /// Room id.
    pub room_id: String,
    /// Person id.
    pub person_id: String,
    /// Person email.
    pub person_email: String,
    /// Person display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_display_name: Option<String>,
    /// Person org id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_org_id: Option<String>,
    /// Moderator.
    pub is_moderator: bool,
    /// `direct` or `group`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_type: Option<RoomType>,
    /// Creation time.
    #[serde(with = "timestamp::option", skip_serializing_if = "Option::is_none")]
    pub created: Option<OffsetDateTime>,
}

/// A webhook registration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Webhook {
    /// Webhook id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Delivery URL.
    pub target_url: String,
    /// Watched resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<WebhookResource>,
    /// Watched event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<WebhookEvent>,
    /// Filter, e.g. `roomId=...`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Signing secret (Webex echoes it back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// `active` or `inactive`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<WebhookStatus>,
    /// Creation time.
    #[serde(with = "timestamp::option", skip_serializing_if = "Option::is_none")]
    pub created: Option<OffsetDateTime>,
}

impl std::fmt::Display for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never prints the secret.
        write!(
            f,
            "webhook {} ({} -> {})",
            self.id, self.name, self.target_url
        )
    }
}

/// A card submission (`GET /attachment/actions/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AttachmentAction {
    /// Action id.
    pub id: String,
    /// Who submitted.
    pub person_id: String,
    /// Room of the card.
    pub room_id: String,
    /// Action type (`submit`).
    #[serde(rename = "type")]
    pub action_type: String,
    /// The card's message id.
    pub message_id: String,
    /// The submitted inputs.
    pub inputs: serde_json::Value,
    /// Creation time.
    #[serde(with = "timestamp::option", skip_serializing_if = "Option::is_none")]
    pub created: Option<OffsetDateTime>,
}

/// A list response body, `{"items": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Items<T> {
    /// The items.
    #[serde(default)]
    pub items: Vec<T>,
}

impl<T> Default for Items<T> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

/// One page of a list call: the items and the opaque link to the next page, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// Items of this page.
    pub items: Vec<T>,
    /// The `rel="next"` URL, already checked to point at the API base.
    pub next: Option<url::Url>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_tolerates_missing_and_unknown_fields() {
        let json = r#"{"id":"m1","roomId":"r1","roomType":"team","text":"hi",
            "personId":"p","personEmail":"a@b.c","created":"2015-10-18T14:26:16.000Z",
            "updated":"not a date","brandNewField":{"x":1}}"#;
        let message: Message = serde_json::from_str(json).unwrap();
        assert_eq!(message.room_type, Some(RoomType::Other("team".into())));
        assert_eq!(message.text.as_deref(), Some("hi"));
        assert!(message.created.is_some());
        assert!(message.updated.is_none());
        assert!(message.files.is_empty());
    }

    #[test]
    fn room_and_webhook_parse_openapi_examples() {
        let room: Room = serde_json::from_str(
            r#"{"id":"r","title":"T","type":"group","isLocked":true,
            "lastActivity":"2016-04-21T19:12:48.920Z","creatorId":"c","created":"2016-04-21T19:01:55.966Z"}"#,
        )
        .unwrap();
        assert_eq!(room.room_type, Some(RoomType::Group));
        assert!(room.is_locked);
        assert!(room.last_activity > room.created);
        let hook: Webhook = serde_json::from_str(
            r#"{"id":"w","name":"n","targetUrl":"https://x","resource":"messages","event":"created",
            "status":"inactive","secret":"s3cret"}"#,
        )
        .unwrap();
        assert_eq!(hook.status, Some(WebhookStatus::Inactive));
        assert_eq!(hook.resource, Some(WebhookResource::Messages));
        assert!(!hook.to_string().contains("s3cret"));
    }

    #[test]
    fn items_wrapper_defaults_to_empty() {
        let items: Items<Person> = serde_json::from_str("{}").unwrap();
        assert!(items.items.is_empty());
        let message_roundtrip: Message =
            serde_json::from_str(&serde_json::to_string(&Message::default()).unwrap()).unwrap();
        assert_eq!(message_roundtrip, Message::default());
    }
}
