//! Card submissions (`attachmentActions`), however they arrive (a webhook delivery or a
//! websocket `cardAction` event): both claim the attachment action's id in the ledger like a
//! message id (Webex ids are unique across kinds), so a redelivery or the other receiver is a
//! duplicate and a crash recovers it; the room's worker then reads it back through
//! [`Channel::refetch`](moltbot_core::gateway::Channel::refetch), which recognises the id's kind
//! ([`is_card_submission`]) and comes here ([`refetch`]).
//!
//! Webex delivers card submissions only by webhook or websocket; there is no list endpoint
//! (developer.webex.com/docs/api/v1/attachment-actions), so a polling-only bot never sees them:
//! [`POLLING_EXPLANATION`] is what a person or the operator is told then.

use moltbot_core::gateway::{
    CardSubmission, ChannelError, ConversationKind, Fetched, InboundMessage, SenderInfo,
    OWN_MESSAGE,
};
use webex_api::models::RoomType;
use webex_api::{same_entity, WebexId};

use crate::shared::{WebexShared, CHANNEL};

/// Why cards that expect an answer are refused in polling mode.
pub const POLLING_EXPLANATION: &str = "Webex delivers card submissions (poll votes, form \
    answers) only by webhook or websocket, and has no endpoint to list them, so a bot in \
    polling mode never sees them: set channels.webex.mode to \"webhook\", \"both\" or \
    \"websocket\" to use cards that expect an answer";

/// Whether `id` is an attachment action's id (`ciscospark://…/ATTACHMENT_ACTION/…`), i.e. a
/// claimed card submission rather than a message.
pub fn is_card_submission(id: &str) -> bool {
    WebexId::decode(id).is_some_and(|decoded| decoded.kind == "ATTACHMENT_ACTION")
}

/// Reads card submission `action_id` (`GET /attachment/actions/{id}`, then `GET /rooms/{id}`
/// for the room's kind and `GET /people/{id}` for the submitter's email, which the access
/// policy may need) and turns it into the gateway's form: the submitter as sender, the
/// card's room, the readable line as text, the inputs as [`CardSubmission`]. It counts as
/// addressed to the bot (a card the bot posted), so a space's `mention` policy lets it
/// through. Errors map as for messages ([`crate::fetch::outcome_of_call`]).
///
/// # Errors
/// Only a refused token (kind [`Auth`](moltbot_core::gateway::ChannelErrorKind::Auth)).
pub async fn refetch(shared: &WebexShared, action_id: &str) -> Result<Fetched, ChannelError> {
    let Some(bot) = shared.bot() else {
        return Ok(Fetched::not_yet("not connected to Webex yet"));
    };
    let action = match shared.client.attachment_action(action_id).await {
        Ok(action) => action,
        Err(err) => {
            return crate::fetch::outcome_of_call(
                &format!("GET /attachment/actions/{action_id}"),
                err,
            )
        }
    };
    if same_entity(&action.person_id, &bot.id) {
        return Ok(Fetched::skip(OWN_MESSAGE));
    }
    let kind = match shared.client.get_room(&action.room_id).await {
        Ok(room) => match room.room_type {
            Some(RoomType::Group) => ConversationKind::Group,
            _ => ConversationKind::Direct,
        },
        Err(err) => {
            return crate::fetch::outcome_of_call(&format!("GET /rooms/{}", action.room_id), err)
        }
    };
    let inputs = if action.inputs.is_object() {
        action.inputs.clone()
    } else {
        serde_json::json!({})
    };
    let card = CardSubmission::new(action.message_id.clone(), inputs);
    // The access policy decides on emails too, and an action carries only the person's id.
    let sender = match shared.client.person(&action.person_id).await {
        Ok(person) => SenderInfo {
            id: action.person_id.clone(),
            email: person
                .emails
                .first()
                .map(|e| e.trim().to_lowercase())
                .filter(|e| !e.is_empty()),
            display_name: Some(person.display_name).filter(|n| !n.is_empty()),
        },
        Err(err) => {
            return crate::fetch::outcome_of_call(&format!("GET /people/{}", action.person_id), err)
        }
    };
    let fields: Vec<&str> = card
        .inputs
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    tracing::info!(channel = CHANNEL, action = %action.id, room = %action.room_id, card_message_id = %action.message_id, inputs = ?fields, "card submitted");
    let mut inbound = InboundMessage::new(
        CHANNEL,
        action.id.clone(),
        action.room_id.clone(),
        kind,
        sender,
        card.text_line(),
    );
    inbound.mentions_bot = true;
    inbound.created_at_ms = action.created.map_or(0, crate::polling::cursor::to_ms);
    inbound.card = Some(card);
    Ok(Fetched::ready(inbound))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_action_ids_are_told_from_message_ids() {
        let action = WebexId::encode("us", "ATTACHMENT_ACTION", "1b2c");
        let message = WebexId::encode("us", "MESSAGE", "1b2c");
        assert!(is_card_submission(&action));
        assert!(!is_card_submission(&message));
        assert!(!is_card_submission("not-an-id"));
        assert!(!is_card_submission(""));
    }
}
