//! `moltbot message send --channel webex`: a proactive message without the gateway.
//!
//! The target is parsed with [`parse_target`] (email -> `toPersonEmail`, person id ->
//! `toPersonId`, otherwise `roomId`), long text is split with [`chunk_markdown`] per
//! `textChunkLimit`, and a file URL goes with the first message (Webex takes one file per
//! message). Webex refuses a bot's first 1:1 message to someone who never wrote to it; that
//! 403 is explained in words (spec section 6, seed "First Contact Requirement").

use std::time::Duration;

use moltbot_core::plugin::{SendReport, SendRequest};
use webex_api::{CreateMessage, MessageTarget, WebexClient};

use crate::chunk::chunk_markdown;
use crate::config::WebexConfig;
use crate::ops::cause::classify;
use crate::target::{parse_target, Target};

/// Timeout of one HTTP attempt when sending.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts per call (the Webex client's default).
const SEND_ATTEMPTS: u32 = 4;

/// Sends `request` with a client built from `config`; returns the sent message ids or the
/// error to show (one or more lines, no secret).
pub async fn send(config: &WebexConfig, request: SendRequest<'_>) -> Result<SendReport, String> {
    // POST is retried only on 429 and connect errors (which prove nothing was sent).
    if request.card.is_some() && config.mode == crate::config::Mode::Polling {
        return Err(format!(
            "Nothing was sent: {}.",
            crate::cards::POLLING_EXPLANATION
        ));
    }
    let client =
        super::client(config, SEND_TIMEOUT, SEND_ATTEMPTS).map_err(|failure| failure.message)?;
    send_with(&client, config.text_chunk_limit, request).await
}

/// Like [`send`], with a given client and chunk limit (characters).
pub async fn send_with(
    client: &WebexClient,
    chunk_limit: usize,
    request: SendRequest<'_>,
) -> Result<SendReport, String> {
    let target = parse_target(request.to).map_err(|err| format!("--to: {err}"))?;
    let described = describe(&target);
    if let Some(card) = request.card {
        // A card goes in one message, its text the fallback.
        let message = CreateMessage::to(wire_target(&target))
            .with_markdown(request.text.to_string())
            .with_attachment(crate::outgoing::card_attachment(card));
        return match client.create_message(&message).await {
            Ok(sent) => Ok(SendReport {
                target: described,
                message_ids: vec![sent.id],
                room_id: Some(sent.room_id).filter(|r| !r.is_empty()),
            }),
            Err(err) => Err(explain(client, &target, &described, &err)),
        };
    }
    let mut chunks = chunk_markdown(request.text, chunk_limit);
    if chunks.is_empty() {
        if request.file.is_none() {
            return Err("nothing to send: the message text is empty (give text or --file)".into());
        }
        chunks.push(String::new());
    }
    let total = chunks.len();
    let mut message_ids = Vec::with_capacity(total);
    let mut room_id = None;
    for (index, chunk) in chunks.into_iter().enumerate() {
        let mut message = CreateMessage::to(wire_target(&target));
        if !chunk.is_empty() {
            message = if request.markdown {
                message.with_markdown(chunk)
            } else {
                message.with_text(chunk)
            };
        }
        if index == 0 {
            if let Some(file) = request.file {
                message = message.with_file(file.trim());
            }
        }
        match client.create_message(&message).await {
            Ok(sent) => {
                room_id = Some(sent.room_id).filter(|r| !r.is_empty());
                message_ids.push(sent.id);
            }
            Err(err) => {
                let mut text = explain(client, &target, &described, &err);
                if !message_ids.is_empty() {
                    text.push_str(&format!(
                        "\nSent {} of {total} parts before the failure: {}",
                        message_ids.len(),
                        message_ids.join(", ")
                    ));
                }
                return Err(text);
            }
        }
    }
    Ok(SendReport {
        target: described,
        message_ids,
        room_id,
    })
}

fn wire_target(target: &Target) -> MessageTarget {
    match target {
        Target::Email(email) => MessageTarget::PersonEmail(email.clone()),
        Target::PersonId(id) => MessageTarget::PersonId(id.clone()),
        Target::RoomId(id) => MessageTarget::Room(id.clone()),
    }
}

/// The target in words, e.g. `alice@example.com`, `person <id>`, `room <id>`.
fn describe(target: &Target) -> String {
    match target {
        Target::Email(email) => email.clone(),
        Target::PersonId(id) => format!("person {id}"),
        Target::RoomId(id) => format!("room {id}"),
    }
}

/// The error text for a failed `POST /messages` to `target`.
fn explain(
    client: &WebexClient,
    target: &Target,
    described: &str,
    err: &webex_api::Error,
) -> String {
    let to_person = matches!(target, Target::Email(_) | Target::PersonId(_));
    match err.status() {
        Some(403) if to_person => format!(
            "The bot cannot start a conversation with {described}: Webex bots can only message \
             people who messaged them first (see First Contact Requirement in \
             docs/channels/webex.md).\nWebex said: {err}"
        ),
        Some(403) | Some(404) if !to_person => format!(
            "Webex refused the message to {described}: the bot is not a member of that space, \
             or the id is not a room id.\nWebex said: {err}"
        ),
        Some(404) => format!(
            "Webex does not know {described}: check the email or person id.\nWebex said: {err}"
        ),
        Some(401) => format!(
            "Webex refused the bot token (HTTP 401): {}.\nWebex said: {err}",
            crate::ops::cause::TOKEN_FIX
        ),
        _ => {
            let api = client.base_url().as_str().trim_end_matches('/').to_string();
            let failure = classify(err, &api, SEND_TIMEOUT.as_millis());
            let fix = failure
                .fix
                .map(|fix| format!("\nFix: {fix}"))
                .unwrap_or_default();
            format!(
                "Sending to {described} failed: {}: {}{fix}",
                failure.cause.as_str(),
                failure.message
            )
        }
    }
}
