//! What the gateway sends, as Webex requests: text, a file (URL or multipart upload), a card.
//!
//! - One file per message (developer.webex.com/docs/basics, "Message Attachments"; the
//!   OpenAPI `files`: "only one file may be included with the message"), at most 100 MB.
//! - A card is one `attachments` entry `{"contentType":
//!   "application/vnd.microsoft.card.adaptive", "content": {card}}`, one per message, with the
//!   message's markdown as the fallback text (developer.webex.com/docs/buttons-and-cards).
//!
//! Cards are checked before a reply carrying one is recorded ([`check_card`]): the checks every
//! adaptive card must pass (core's `check_adaptive_card`), a `version` Webex renders (1.3 at
//! most: "Support for Version 1.3 properties", buttons-and-cards "What's New"), and a size.

use moltbot_core::gateway::{OutgoingMessage, SendTarget};
use serde_json::{json, Value};
use webex_api::{CreateMessage, MessageTarget};

/// The `contentType` of an adaptive card attachment.
pub const CARD_CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";

/// The newest adaptive card schema Webex renders, `(major, minor)`: 1.3
/// (developer.webex.com/docs/buttons-and-cards, "What's New: Support for Version 1.3
/// properties"; 1.4 and later are reported not to render).
pub const MAX_CARD_VERSION: (u32, u32) = (1, 3);

/// Largest card sent, in bytes of its JSON (the `content` as serialized). Webex documents no
/// figure (webex-api-notes.md §2.1: "Card size limit: unverified"; nothing on
/// developer.webex.com/docs/buttons-and-cards or in the OpenAPI). This is the conservative
/// figure documented for adaptive cards in another chat: Microsoft Teams' limit of about
/// 28 KB for a bot message with a card (the figure cited in MicrosoftDocs/AdaptiveCards#271
/// and microsoft/BotFramework-Services#228). A card this size is already several screens.
pub const MAX_CARD_BYTES: usize = 28 * 1024;

/// Checks `card` before it is recorded: an adaptive card (object, `type: "AdaptiveCard"`,
/// `version` `major.minor`, `body` array), of a version Webex renders ([`MAX_CARD_VERSION`]),
/// at most [`MAX_CARD_BYTES`] serialized.
///
/// # Errors
/// The reason, for the log line (e.g. `version 1.5 is newer than 1.3, the newest Webex renders`).
pub fn check_card(card: &Value) -> Result<(), String> {
    let (major, minor) = moltbot_core::gateway::check_adaptive_card(card)?;
    if (major, minor) > MAX_CARD_VERSION {
        return Err(format!(
            "version {major}.{minor} is newer than {}.{}, the newest Webex renders",
            MAX_CARD_VERSION.0, MAX_CARD_VERSION.1
        ));
    }
    let size = card.to_string().len();
    if size > MAX_CARD_BYTES {
        return Err(format!(
            "the card is {size} bytes of JSON, more than {MAX_CARD_BYTES} (the limit moltbot keeps for Webex cards)"
        ));
    }
    Ok(())
}

/// The `attachments` entry of `card`.
pub fn card_attachment(card: &Value) -> Value {
    json!({ "contentType": CARD_CONTENT_TYPE, "content": card })
}

/// The `POST /messages` request for `message`: its target, its markdown when not empty, its
/// thread, its file URL and its card.
pub fn create_message(message: &OutgoingMessage) -> CreateMessage {
    let target = match &message.target {
        SendTarget::Room(id) => MessageTarget::Room(id.clone()),
        SendTarget::Person(id) => MessageTarget::PersonId(id.clone()),
        SendTarget::Email(email) => MessageTarget::PersonEmail(email.clone()),
    };
    let mut create = CreateMessage::to(target);
    if !message.markdown.is_empty() {
        create = create.with_markdown(message.markdown.clone());
    }
    if let Some(parent) = &message.parent_id {
        create = create.with_parent(parent.clone());
    }
    if let Some(file) = &message.file {
        create = create.with_file(file.clone());
    }
    if let Some(card) = &message.card {
        create = create.with_attachment(card_attachment(card));
    }
    create
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn card(version: &str) -> Value {
        json!({"type": "AdaptiveCard", "version": version, "body": [{"type": "TextBlock", "text": "hi"}]})
    }

    #[test]
    fn cards_webex_renders_pass() {
        assert_eq!(check_card(&card("1.0")), Ok(()));
        assert_eq!(check_card(&card("1.3")), Ok(()));
    }

    #[test]
    fn newer_versions_wrong_types_and_large_cards_are_refused() {
        assert!(check_card(&card("1.4"))
            .unwrap_err()
            .contains("newer than 1.3"));
        assert!(check_card(&card("2.0")).is_err());
        let wrong = json!({"type": "MessageCard", "version": "1.0", "body": []});
        assert!(check_card(&wrong).unwrap_err().contains("AdaptiveCard"));
        let big = json!({"type": "AdaptiveCard", "version": "1.3",
            "body": [{"type": "TextBlock", "text": "x".repeat(MAX_CARD_BYTES)}]});
        assert!(check_card(&big).unwrap_err().contains("bytes of JSON"));
    }

    #[test]
    fn a_card_message_has_its_attachment_and_fallback_and_a_file_message_no_markdown() {
        let m = OutgoingMessage::markdown(SendTarget::Room("R".into()), "fallback")
            .with_card(card("1.3"));
        let body = serde_json::to_value(create_message(&m)).unwrap();
        assert_eq!(body["markdown"], "fallback");
        assert_eq!(body["attachments"][0]["contentType"], CARD_CONTENT_TYPE);
        assert_eq!(body["attachments"][0]["content"], card("1.3"));
        let f = OutgoingMessage::markdown(SendTarget::Room("R".into()), "")
            .with_file("https://e.com/a.pdf");
        let body = serde_json::to_value(create_message(&f)).unwrap();
        assert!(body.get("markdown").is_none(), "{body}");
        assert_eq!(body["files"], json!(["https://e.com/a.pdf"]));
    }
}
