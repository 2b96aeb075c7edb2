//! Typed reply parts (text, file, card) and how each is kept in the outbox.
//!
//! A reply is a list of [`ReplyPart`]s, each carried out by one outbox operation
//! ([`ReplyPart::to_outbox`]): a text chunk is a `create` with its markdown; a URL file a
//! `create` whose body is `{"url": ..}`; a local file an `upload` whose body is `{"name",
//! "contentType", "size", "base64"}` (the bytes themselves, so the part survives a crash and
//! can be sent by any replica sharing the store); a card a `create` whose body is `{"card":
//! {..}, "fallback": "..."}`. [`ReplyPart::from_entry`] reads a stored operation back.

use base64::Engine;
use serde_json::{json, Value};

use crate::agent::{LocalFile, ReplyFile};
use crate::store::{OutboxEntry, OutboxOpKind, OutboxPart, OutboxPartKind};

/// The text a card message shows where cards are not rendered (and in notifications) when the
/// reply has no text of its own to stand in for it.
pub const CARD_FALLBACK: &str = "This message has a card; open it in a Webex app that shows cards.";

/// One message of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyPart {
    /// A message of markdown text.
    Text(String),
    /// A message with one file (Webex takes one file per message).
    File(ReplyFile),
    /// A message with an adaptive card; `fallback` is its text (shown by clients that cannot
    /// render the card, and in notifications).
    Card {
        /// The card's JSON (`{"type": "AdaptiveCard", "version": .., "body": [..]}`).
        card: Value,
        /// The message's markdown.
        fallback: String,
    },
}

/// A stored operation whose body cannot be read back as its part (a corrupt or foreign row).
#[derive(Debug, thiserror::Error)]
#[error("stored reply part {part} (operation {op}) is unreadable: {reason}")]
pub struct PartError {
    part: OutboxPartKind,
    op: OutboxOpKind,
    reason: String,
}

impl ReplyPart {
    /// A card message: `card` with `fallback` text (see [`CARD_FALLBACK`] for a fallback when
    /// there is no text to use).
    pub fn card(card: Value, fallback: impl Into<String>) -> Self {
        ReplyPart::Card {
            card,
            fallback: fallback.into(),
        }
    }

    /// The outbox operation that carries this part out.
    pub fn to_outbox(&self) -> OutboxPart {
        match self {
            ReplyPart::Text(text) => OutboxPart::text(text.clone()),
            ReplyPart::File(ReplyFile::Url(url)) => OutboxPart {
                op: OutboxOpKind::Create,
                part: OutboxPartKind::File,
                body: json!({ "url": url }).to_string(),
                target_id: None,
            },
            ReplyPart::File(ReplyFile::Local(file)) => OutboxPart {
                op: OutboxOpKind::Upload,
                part: OutboxPartKind::File,
                body: json!({
                    "name": file.name,
                    "contentType": file.content_type,
                    "size": file.bytes.len(),
                    "base64": base64::engine::general_purpose::STANDARD.encode(&file.bytes),
                })
                .to_string(),
                target_id: None,
            },
            ReplyPart::Card { card, fallback } => OutboxPart {
                op: OutboxOpKind::Create,
                part: OutboxPartKind::Card,
                body: json!({ "card": card, "fallback": fallback }).to_string(),
                target_id: None,
            },
        }
    }

    /// The part a stored `create` or `upload` operation carries out (text, file or card).
    ///
    /// # Errors
    /// [`PartError`] when the body is not what [`Self::to_outbox`] writes for its kind.
    pub fn from_entry(entry: &OutboxEntry) -> Result<Self, PartError> {
        let fail = |reason: &str| PartError {
            part: entry.part,
            op: entry.op,
            reason: reason.to_string(),
        };
        if entry.part == OutboxPartKind::Text {
            return Ok(ReplyPart::Text(entry.body.clone()));
        }
        let body: Value =
            serde_json::from_str(&entry.body).map_err(|err| fail(&err.to_string()))?;
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
        match (entry.part, entry.op) {
            (OutboxPartKind::File, OutboxOpKind::Upload) => {
                let name = text("name").ok_or_else(|| fail("no name"))?;
                let content_type = text("contentType").ok_or_else(|| fail("no contentType"))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text("base64").ok_or_else(|| fail("no content"))?)
                    .map_err(|err| fail(&err.to_string()))?;
                Ok(ReplyPart::File(ReplyFile::Local(LocalFile::new(
                    name,
                    content_type,
                    bytes,
                ))))
            }
            (OutboxPartKind::File, _) => Ok(ReplyPart::File(ReplyFile::Url(
                text("url").ok_or_else(|| fail("no url"))?,
            ))),
            (OutboxPartKind::Card, _) => Ok(ReplyPart::Card {
                card: body.get("card").cloned().ok_or_else(|| fail("no card"))?,
                fallback: text("fallback").unwrap_or_default(),
            }),
            _ => Err(fail("unknown part")),
        }
    }
}

/// The checks every adaptive card must pass, whatever the channel
/// (<https://adaptivecards.io/explorer/AdaptiveCard.html>): a JSON object with `type`
/// `"AdaptiveCard"`, a `version` string `major.minor`, and a `body` array. Returns the
/// version as `(major, minor)` for channel-specific checks.
///
/// # Errors
/// A short reason for the log line, e.g. `type is "Card", not "AdaptiveCard"`.
pub fn check_adaptive_card(card: &Value) -> Result<(u32, u32), String> {
    let Some(obj) = card.as_object() else {
        return Err("the card is not a JSON object".to_string());
    };
    match obj.get("type") {
        Some(Value::String(t)) if t == "AdaptiveCard" => {}
        Some(other) => return Err(format!("type is {other}, not \"AdaptiveCard\"")),
        None => return Err("type is missing (must be \"AdaptiveCard\")".to_string()),
    }
    let version = match obj.get("version") {
        Some(Value::String(v)) => v,
        Some(other) => return Err(format!("version {other} is not a string like \"1.3\"")),
        None => return Err("version is missing".to_string()),
    };
    let parsed = version
        .split_once('.')
        .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)));
    let Some(parsed) = parsed else {
        return Err(format!("version {version:?} is not major.minor"));
    };
    if !obj.get("body").is_some_and(Value::is_array) {
        return Err("body must be an array of elements".to_string());
    }
    Ok(parsed)
}

/// The card and files of an answer that passed the channel's checks (see [`checked_extras`]).
#[derive(Debug, Default)]
pub(crate) struct Extras {
    /// The whole answer as a file, when the text was cut (see [`Extras::attach_whole_answer`]).
    text_file: Option<LocalFile>,
    card: Option<Value>,
    files: Vec<ReplyFile>,
}

/// The name of the file holding the whole answer of a reply cut to its bound.
pub const WHOLE_REPLY_FILE: &str = "reply.md";

impl Extras {
    /// The answer's text was cut by the channel's bound (`maxReplyMessages`): attach the whole
    /// `answer` (as the agent wrote it) as [`WHOLE_REPLY_FILE`], right after the text, when the
    /// channel uploads files that large (else only logged).
    pub(crate) fn attach_whole_answer(
        &mut self,
        channel: &dyn super::Channel,
        message_id: &str,
        answer: &str,
    ) {
        let size = answer.len() as u64;
        if size > channel.max_upload_bytes() {
            tracing::info!(
                channel = channel.id(),
                message_id,
                bytes = size,
                "the reply was cut; the channel cannot take the whole answer as a file"
            );
            return;
        }
        self.text_file = Some(LocalFile::new(
            WHOLE_REPLY_FILE,
            "text/markdown",
            answer.as_bytes().to_vec(),
        ));
    }
}

/// Whether `card` expects an answer: it holds an `Action.Submit` or `Action.Execute` anywhere
/// (in `actions`, a `selectAction`, an `ActionSet`), whose submission only a channel that
/// receives card submissions can see (<https://adaptivecards.io/explorer/Action.Submit.html>).
pub(crate) fn expects_answer(card: &Value) -> bool {
    match card {
        Value::Object(map) => {
            matches!(
                map.get("type").and_then(Value::as_str),
                Some("Action.Submit" | "Action.Execute")
            ) || map.values().any(expects_answer)
        }
        Value::Array(items) => items.iter().any(expects_answer),
        _ => false,
    }
}

/// Takes the card and files out of `answer`, keeping what `channel` accepts: a card that fails
/// [`Channel::check_card`](super::Channel::check_card) is left out with a warning naming the
/// reason; a local file larger than [`Channel::max_upload_bytes`](super::Channel::max_upload_bytes)
/// is left out with a warning and a notice appended to the answer's text. What is kept is
/// noted in the answer's history (`[card sent]`, `[file sent: name]`). Never fails.
pub(crate) fn checked_extras(
    channel: &dyn super::Channel,
    message_id: &str,
    answer: &mut crate::agent::Answer,
) -> Extras {
    let mut extras = Extras::default();
    let mut notices = Vec::new();
    if let Some(card) = answer.card.take() {
        match channel.check_card(&card) {
            Ok(()) => match channel
                .cards_unavailable()
                .filter(|_| expects_answer(&card))
            {
                None => extras.card = Some(card),
                Some(why) => {
                    tracing::warn!(channel = channel.id(), message_id, reason = %why, "the agent's card expects an answer this channel cannot receive and is not sent; the rest of the reply goes");
                    notices.push(format!("(Card not sent: {why}.)"));
                }
            },
            Err(reason) => {
                let size = card.to_string().len();
                tracing::warn!(channel = channel.id(), message_id, reason = %reason, card_bytes = size, "the agent's card is not valid and is not sent; the rest of the reply goes");
            }
        }
    }
    let limit = channel.max_upload_bytes();
    for file in std::mem::take(&mut answer.files) {
        if let ReplyFile::Local(local) = &file {
            let size = local.bytes.len() as u64;
            if size > limit {
                tracing::warn!(channel = channel.id(), message_id, file = %local.name, bytes = size, limit, "a file of the agent's reply is too large for the channel and is not sent");
                notices.push(format!(
                    "(Not attached: `{}`: larger than this channel sends ({} at most).)",
                    local.name.replace('`', ""),
                    size_text(limit)
                ));
                continue;
            }
        }
        extras.files.push(file);
    }
    if !notices.is_empty() {
        let notices = notices.join("\n");
        answer.text = if answer.text.trim().is_empty() {
            notices
        } else {
            format!("{}\n\n{notices}", answer.text)
        };
    }
    // The history notes what is sent besides the text, in the order it is sent.
    if let Some(history) = answer.history.as_mut() {
        let notes = extras.card.iter().map(|_| "[card sent]".to_string()).chain(
            extras
                .files
                .iter()
                .map(|f| format!("[file sent: {}]", f.name())),
        );
        for note in notes {
            if !history.is_empty() {
                history.push('\n');
            }
            history.push_str(&note);
        }
    }
    extras
}

/// `bytes` for a person: whole MB (MiB) when it is a multiple of one, else bytes.
fn size_text(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes % MIB == 0 {
        format!("{} MB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// The reply's operations: the text `chunks` first (followed by the whole answer as
/// [`WHOLE_REPLY_FILE`] when they were cut), then the card (its fallback the first chunk, or
/// [`CARD_FALLBACK`] when there is no text), then one message per file, in order.
pub(crate) fn reply_operations(chunks: Vec<String>, extras: Extras) -> Vec<OutboxPart> {
    let fallback = chunks
        .first()
        .cloned()
        .unwrap_or_else(|| CARD_FALLBACK.to_string());
    let mut parts: Vec<OutboxPart> = chunks.into_iter().map(OutboxPart::text).collect();
    if let Some(file) = extras.text_file {
        parts.push(ReplyPart::File(ReplyFile::Local(file)).to_outbox());
    }
    if let Some(card) = extras.card {
        parts.push(ReplyPart::card(card, fallback).to_outbox());
    }
    parts.extend(
        extras
            .files
            .into_iter()
            .map(|file| ReplyPart::File(file).to_outbox()),
    );
    parts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::{OutboxReply, OutboxState};

    fn stored(part: &OutboxPart) -> OutboxEntry {
        let reply = OutboxReply {
            channel: "c".into(),
            inbound_message_id: None,
            room_id: "r".into(),
            parent_id: None,
            parts: vec![part.clone()],
        };
        let entry = OutboxEntry::stored(1, &reply, 0, part, 0, 0);
        assert_eq!(entry.state, OutboxState::Pending);
        entry
    }

    #[test]
    fn every_part_reads_back_as_written() {
        let parts = [
            ReplyPart::Text("hi".into()),
            ReplyPart::File(ReplyFile::Url("https://e.com/a.pdf".into())),
            ReplyPart::File(ReplyFile::Local(LocalFile::new(
                "a.bin",
                "application/octet-stream",
                vec![0u8, 255, 10],
            ))),
            ReplyPart::card(json!({"type": "AdaptiveCard"}), "fb"),
        ];
        for part in parts {
            let outbox = part.to_outbox();
            assert_eq!(ReplyPart::from_entry(&stored(&outbox)).unwrap(), part);
        }
        let upload = ReplyPart::File(ReplyFile::Local(LocalFile::new("a", "text/plain", "x")));
        assert_eq!(upload.to_outbox().op, OutboxOpKind::Upload);
    }

    #[test]
    fn text_first_then_the_card_then_the_files() {
        let extras = Extras {
            text_file: None,
            card: Some(json!({"type": "AdaptiveCard"})),
            files: vec![
                ReplyFile::Url("https://e.com/1".into()),
                ReplyFile::Local(LocalFile::new("2", "text/plain", "2")),
            ],
        };
        let ops = reply_operations(vec!["a".into(), "b".into()], extras);
        let kinds: Vec<_> = ops.iter().map(|p| (p.op, p.part)).collect();
        assert_eq!(
            kinds,
            [
                (OutboxOpKind::Create, OutboxPartKind::Text),
                (OutboxOpKind::Create, OutboxPartKind::Text),
                (OutboxOpKind::Create, OutboxPartKind::Card),
                (OutboxOpKind::Create, OutboxPartKind::File),
                (OutboxOpKind::Upload, OutboxPartKind::File),
            ]
        );
        assert_eq!(
            ReplyPart::from_entry(&stored(&ops[2])).unwrap(),
            ReplyPart::card(json!({"type": "AdaptiveCard"}), "a")
        );
        let alone = reply_operations(
            Vec::new(),
            Extras {
                text_file: None,
                card: Some(json!({})),
                files: Vec::new(),
            },
        );
        assert_eq!(
            ReplyPart::from_entry(&stored(&alone[0])).unwrap(),
            ReplyPart::card(json!({}), CARD_FALLBACK)
        );
    }

    #[test]
    fn a_corrupt_body_is_an_error_not_a_panic() {
        let mut part = ReplyPart::card(json!({}), "").to_outbox();
        part.body = "{not json".into();
        let err = ReplyPart::from_entry(&stored(&part)).unwrap_err();
        assert!(
            err.to_string().starts_with("stored reply part card"),
            "{err}"
        );
    }

    #[test]
    fn adaptive_cards_are_checked() {
        let ok = json!({"type": "AdaptiveCard", "version": "1.3", "body": []});
        assert_eq!(check_adaptive_card(&ok), Ok((1, 3)));
        for (card, why) in [
            (json!([]), "not a JSON object"),
            (
                json!({"type": "Card", "version": "1.0", "body": []}),
                "not \"AdaptiveCard\"",
            ),
            (
                json!({"type": "AdaptiveCard", "body": []}),
                "version is missing",
            ),
            (
                json!({"type": "AdaptiveCard", "version": "one", "body": []}),
                "major.minor",
            ),
            (
                json!({"type": "AdaptiveCard", "version": "1.0"}),
                "body must be an array",
            ),
        ] {
            let err = check_adaptive_card(&card).unwrap_err();
            assert!(err.contains(why), "{card}: {err}");
        }
    }

    #[test]
    fn cards_with_a_submit_action_anywhere_expect_an_answer() {
        let show_only = json!({"type": "AdaptiveCard", "version": "1.3", "body": [{"type": "TextBlock", "text": "hi"}],
            "actions": [{"type": "Action.OpenUrl", "url": "https://example.com"}]});
        assert!(!expects_answer(&show_only));
        let submit = json!({"type": "AdaptiveCard", "version": "1.3", "body": [],
            "actions": [{"type": "Action.Submit", "title": "Send"}]});
        assert!(expects_answer(&submit));
        let nested = json!({"type": "AdaptiveCard", "version": "1.3", "body": [
            {"type": "Container", "items": [{"type": "ActionSet", "actions": [{"type": "Action.Execute"}]}]}]});
        assert!(expects_answer(&nested));
        let select = json!({"type": "AdaptiveCard", "version": "1.3", "body": [
            {"type": "ColumnSet", "selectAction": {"type": "Action.Submit"}}]});
        assert!(expects_answer(&select));
    }
}
