//! Request bodies and list filters.

use serde::Serialize;

use crate::models::{RoomSortBy, RoomType, WebhookEvent, WebhookResource, WebhookStatus};

/// Where a new message goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum MessageTarget {
    /// A room (space or 1:1) by id.
    #[serde(rename = "roomId")]
    Room(String),
    /// A 1:1 with a person, by person id.
    #[serde(rename = "toPersonId")]
    PersonId(String),
    /// A 1:1 with a person, by email.
    #[serde(rename = "toPersonEmail")]
    PersonEmail(String),
}

/// Body of `POST /messages`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateMessage {
    /// Destination.
    #[serde(flatten)]
    pub target: MessageTarget,
    /// Plain text (alternative text when `markdown` is set). At most 7439 bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Markdown. At most 7439 bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub markdown: Option<String>,
    /// Public file URLs (Webex accepts one per message).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Adaptive card attachments, verbatim.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<serde_json::Value>,
    /// Reply in the thread of this message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
}

impl CreateMessage {
    /// An empty message to `target`; set the content with the `with_*` methods.
    pub fn to(target: MessageTarget) -> Self {
        Self {
            target,
            text: None,
            markdown: None,
            files: Vec::new(),
            attachments: Vec::new(),
            parent_id: None,
        }
    }

    /// A markdown message.
    pub fn markdown(target: MessageTarget, markdown: impl Into<String>) -> Self {
        Self::to(target).with_markdown(markdown)
    }

    /// A plain text message.
    pub fn text(target: MessageTarget, text: impl Into<String>) -> Self {
        Self::to(target).with_text(text)
    }

    /// Sets `markdown`.
    pub fn with_markdown(mut self, markdown: impl Into<String>) -> Self {
        self.markdown = Some(markdown.into());
        self
    }

    /// Sets `text`.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Adds a file URL.
    pub fn with_file(mut self, url: impl Into<String>) -> Self {
        self.files.push(url.into());
        self
    }

    /// Adds an attachment (adaptive card).
    pub fn with_attachment(mut self, attachment: serde_json::Value) -> Self {
        self.attachments.push(attachment);
        self
    }

    /// Sets the thread parent.
    pub fn with_parent(mut self, parent_id: impl Into<String>) -> Self {
        self.parent_id = Some(parent_id.into());
        self
    }
}

/// Body of `PUT /messages/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EditMessage {
    /// The message's room (required by Webex).
    pub room_id: String,
    /// New plain text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// New markdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub markdown: Option<String>,
}

/// Filter of `GET /messages`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListMessages {
    /// Room to read (required).
    pub room_id: String,
    /// Only messages mentioning these people (`me` for the caller).
    pub mentioned_people: Vec<String>,
    /// Only messages before this time (RFC 3339).
    pub before: Option<String>,
    /// Only messages before this message id.
    pub before_message: Option<String>,
    /// Only replies to this thread parent.
    pub parent_id: Option<String>,
    /// Page size.
    pub max: Option<u32>,
}

impl ListMessages {
    /// All messages of a room.
    pub fn in_room(room_id: impl Into<String>) -> Self {
        Self {
            room_id: room_id.into(),
            ..Self::default()
        }
    }

    /// Only messages mentioning the caller (`mentionedPeople=me`), as bots must use in spaces.
    pub fn mentioning_me(mut self) -> Self {
        self.mentioned_people = vec!["me".to_string()];
        self
    }

    /// Sets the page size.
    pub fn with_max(mut self, max: u32) -> Self {
        self.max = Some(max);
        self
    }

    pub(crate) fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = vec![("roomId", self.room_id.clone())];
        if !self.mentioned_people.is_empty() {
            query.push(("mentionedPeople", self.mentioned_people.join(",")));
        }
        push_opt(&mut query, "before", &self.before);
        push_opt(&mut query, "beforeMessage", &self.before_message);
        push_opt(&mut query, "parentId", &self.parent_id);
        if let Some(max) = self.max {
            query.push(("max", max.to_string()));
        }
        query
    }
}

/// The other side of `GET /messages/direct`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectPeer {
    /// By person id.
    PersonId(String),
    /// By email.
    PersonEmail(String),
}

impl DirectPeer {
    pub(crate) fn query(&self) -> (&'static str, String) {
        match self {
            DirectPeer::PersonId(id) => ("personId", id.clone()),
            DirectPeer::PersonEmail(email) => ("personEmail", email.clone()),
        }
    }
}

/// Filter of `GET /rooms`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListRooms {
    /// Only rooms of this type.
    pub room_type: Option<RoomType>,
    /// Sort order.
    pub sort_by: Option<RoomSortBy>,
    /// Page size (1..=1000).
    pub max: Option<u32>,
}

impl ListRooms {
    /// Most recently active first, as the poller wants.
    pub fn by_last_activity() -> Self {
        Self {
            sort_by: Some(RoomSortBy::LastActivity),
            ..Self::default()
        }
    }

    pub(crate) fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(room_type) = &self.room_type {
            query.push(("type", room_type.as_str().to_string()));
        }
        if let Some(sort_by) = &self.sort_by {
            query.push(("sortBy", sort_by.as_str().to_string()));
        }
        if let Some(max) = self.max {
            query.push(("max", max.to_string()));
        }
        query
    }
}

/// Body of `POST /webhooks`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateWebhook {
    /// Name.
    pub name: String,
    /// Delivery URL.
    pub target_url: String,
    /// Resource.
    pub resource: WebhookResource,
    /// Event.
    pub event: WebhookEvent,
    /// Filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Signing secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Body of `PUT /webhooks/{id}`. Set `status: Some(WebhookStatus::Active)` to re-activate a
/// webhook Webex disabled.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateWebhook {
    /// Name (required by Webex).
    pub name: String,
    /// Delivery URL (required by Webex).
    pub target_url: String,
    /// Signing secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// `active` re-activates a disabled webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<WebhookStatus>,
}

fn push_opt(query: &mut Vec<(&'static str, String)>, key: &'static str, value: &Option<String>) {
    if let Some(value) = value {
        query.push((key, value.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_message_serializes_target_flat() {
        let body = CreateMessage::markdown(MessageTarget::PersonEmail("a@b.c".into()), "**hi**")
            .with_parent("p1")
            .with_file("https://x/y.png");
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"toPersonEmail":"a@b.c","markdown":"**hi**","parentId":"p1",
                "files":["https://x/y.png"]})
        );
    }

    #[test]
    fn list_messages_query_includes_mentions() {
        let query = ListMessages::in_room("r")
            .mentioning_me()
            .with_max(50)
            .query();
        assert_eq!(
            query,
            vec![
                ("roomId", "r".to_string()),
                ("mentionedPeople", "me".to_string()),
                ("max", "50".to_string())
            ]
        );
    }
}
