//! The receive pipeline both receivers share: claim the id, get the message, normalise it,
//! hand it over (or skip it).

use std::sync::Arc;
use std::time::Duration;

use moltbot_core::gateway::{
    Claim, ConversationKind, EarlyFetch, InboundMessage, InboundSink, SenderInfo, OWN_MESSAGE,
};
use webex_api::models::{Message, RoomType};
use webex_api::same_entity;

use crate::mention::strip_bot_mention;
use crate::shared::{BotIdentity, WebexShared, CHANNEL};

/// How often and how long a `GET /messages/{id}` that answers 404 is retried: Webex can
/// deliver a webhook before the message is readable.
const NOT_FOUND_RETRIES: [Duration; 4] = [
    Duration::from_millis(200),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// Why a message could not be taken in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The store failed: the message must not be acknowledged.
    #[error("state store: {0}")]
    Store(#[from] moltbot_core::store::StoreError),
    /// The Webex API failed (the message stays recorded as received and is retried on start).
    #[error("webex api: {0}")]
    Api(#[from] webex_api::Error),
    /// The gateway is shutting down (the message stays recorded and is processed on start).
    #[error("gateway is shutting down")]
    Closed,
    /// The channel has not learnt the bot's identity yet (`connect` did not run).
    #[error("not connected to Webex yet")]
    NotConnected,
}

/// Milliseconds since the epoch of a message's `created` (0 when absent).
pub fn created_ms(message: &Message) -> i64 {
    message
        .created
        .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Turns a Webex message into the gateway's form; `None` for the bot's own messages.
pub fn normalize(bot: &BotIdentity, message: &Message) -> Option<InboundMessage> {
    if same_entity(&message.person_id, &bot.id) {
        return None;
    }
    let kind = match message.room_type {
        Some(RoomType::Group) => ConversationKind::Group,
        _ => ConversationKind::Direct,
    };
    let raw_text = message
        .text
        .as_deref()
        .or(message.markdown.as_deref())
        .unwrap_or_default();
    let (text, mentions_bot) = match kind {
        ConversationKind::Group => {
            let stripped = strip_bot_mention(
                raw_text,
                message.html.as_deref(),
                &bot.id,
                &bot.display_name,
            );
            let mentioned = stripped.mentioned_bot
                || message
                    .mentioned_people
                    .iter()
                    .any(|p| same_entity(p, &bot.id));
            (stripped.text, mentioned)
        }
        ConversationKind::Direct => (raw_text.trim().to_string(), true),
    };
    let sender = SenderInfo {
        id: message.person_id.clone(),
        email: Some(message.person_email.trim().to_lowercase()).filter(|e| !e.is_empty()),
        display_name: None,
    };
    let mut inbound = InboundMessage::new(
        CHANNEL,
        message.id.clone(),
        message.room_id.clone(),
        kind,
        sender,
        text,
    );
    inbound.mentions_bot = mentions_bot;
    inbound.thread_parent = message.parent_id.clone();
    inbound.created_at_ms = created_ms(message);
    inbound.files = message.files.clone();
    Some(inbound)
}

/// Polling path: the message was listed in full. Claims it; if new, delivers or skips it.
/// Returns whether it was new.
pub async fn ingest_listed(
    shared: &WebexShared,
    sink: &InboundSink,
    message: &Message,
) -> Result<bool, IngestError> {
    let Some(bot) = shared.bot() else {
        return Err(IngestError::NotConnected);
    };
    if same_entity(&message.person_id, &bot.id) {
        // The bot's own replies are never answered: not even recorded (no store write).
        sink.ignore_own(&message.id);
        return Ok(false);
    }
    let claim = sink
        .claim_listed(&message.id, &message.room_id, created_ms(message))
        .await?;
    if claim == Claim::Duplicate {
        return Ok(false);
    }
    deliver_or_skip(shared, sink, message).await?;
    Ok(true)
}

/// `GET /messages/{id}`, retrying a 404 a few times over about 4 s.
pub async fn fetch_with_retry(
    shared: &WebexShared,
    message_id: &str,
) -> Result<Message, webex_api::Error> {
    let mut delays = NOT_FOUND_RETRIES.iter();
    loop {
        match shared.client.get_message(message_id).await {
            Err(err) if err.is_not_found() => match delays.next() {
                Some(delay) => tokio::time::sleep(*delay).await,
                None => return Err(err),
            },
            other => return other,
        }
    }
}

async fn deliver_or_skip(
    shared: &WebexShared,
    sink: &InboundSink,
    message: &Message,
) -> Result<(), IngestError> {
    let Some(bot) = shared.bot() else {
        return Err(IngestError::NotConnected);
    };
    match normalize(bot, message) {
        Some(inbound) => sink.deliver(inbound).await.map_err(|_| IngestError::Closed),
        None => {
            sink.skip(&message.id, &message.room_id, OWN_MESSAGE)
                .await?;
            Ok(())
        }
    }
}

/// Queues a freshly claimed message `id` of `room_id` to be fetched by its room's worker: at
/// once when the start-up catch-up is done, else once it is (so messages the catch-up finds
/// keep their place ahead of later ones). `early`: its fetch, started before the claim
/// ([`InboundSink::fetch_early`]). Never fails: a gateway shutting down keeps the id recorded
/// as received, and the next start processes it.
pub async fn hand_over(
    shared: &Arc<WebexShared>,
    sink: &InboundSink,
    id: &str,
    room_id: &str,
    early: Option<EarlyFetch>,
) {
    if shared.caught_up.is_open() {
        if let Err(err) = sink.deliver_fetching(id, room_id, early).await {
            tracing::info!(channel = CHANNEL, message_id = %id, error = %err, "not queued");
        }
        return;
    }
    let (shared, sink) = (Arc::clone(shared), sink.clone());
    let (id, room_id) = (id.to_string(), room_id.to_string());
    tokio::spawn(async move {
        shared.caught_up.wait().await;
        if let Err(err) = sink.deliver_fetching(&id, &room_id, early).await {
            tracing::info!(channel = CHANNEL, message_id = %id, error = %err, "not queued");
        }
    });
}
