//! Card submissions (`attachmentActions`), however they arrive (a webhook delivery or a
//! websocket `cardAction` event): both end here, so both take the same path.
//!
//! Webex delivers card submissions only by webhook or websocket; there is no list endpoint
//! (developer.webex.com/docs/api/v1/attachment-actions), so a polling-only bot never sees them.

use std::sync::Arc;

use moltbot_core::error::chain;

use crate::shared::{WebexShared, CHANNEL};

/// A card was submitted: attachment action `action_id` (a REST id). Fetches it
/// (`GET /attachment/actions/{id}`) and logs who submitted which inputs (the values at debug
/// only: they may be personal). Never fails: a fetch error is logged.
pub async fn submitted(shared: Arc<WebexShared>, action_id: String) {
    match shared.client.attachment_action(&action_id).await {
        Ok(action) => {
            let fields: Vec<&str> = action
                .inputs
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            tracing::info!(
                channel = CHANNEL,
                action = %action.id,
                person = %action.person_id,
                room = %action.room_id,
                card_message_id = %action.message_id,
                inputs = ?fields,
                "card submitted (card actions are not routed to the agent yet)"
            );
            tracing::debug!(channel = CHANNEL, action = %action.id, inputs = %action.inputs, "card inputs");
        }
        Err(err) => {
            tracing::warn!(channel = CHANNEL, action = %action_id, error = %chain(&err), "could not fetch the card submission");
        }
    }
}
