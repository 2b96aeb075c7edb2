//! The "Working on it..." placeholder (`agents.defaults.typingDelaySeconds`).
//!
//! When the agent has not answered within the delay, one short placeholder is posted where the
//! answer will go (same room, same thread). When the answer is ready, the reply recorded in the
//! outbox starts with an operation on the placeholder: a `delete` before the answer's `create`s
//! (so the answer itself is a new message and notifies people; an edit may not), or, when the
//! agent failed, an `edit` that turns the placeholder into the apology instead of posting a
//! second message. From then on the outbox makes it exactly-once like any reply.
//!
//! With `agents.defaults.streaming` the agent is asked through
//! [`Agent::reply_streaming`](crate::agent::Agent::reply_streaming) and, once the placeholder
//! is up, it is edited with the answer so far (reasoning out, the channel's output filter
//! applied, its first message): coalesced ([`STREAM_EDIT_INTERVAL`], [`STREAM_EDIT_MIN_CHARS`],
//! [`MAX_STREAM_EDITS`]), best effort and not recorded (they are cosmetic; the first refused or
//! slow edit ends them, with no retry). A placeholder that was edited keeps the final text:
//! the reply then starts with an `edit` of it rather than a `delete`. One that never was is
//! deleted as without streaming.
//!
//! Between posting the placeholder and recording the answer, its id is kept in the store's
//! key/value table (namespace [`NAMESPACE`]), so a run that takes the message over after a
//! crash uses that placeholder instead of posting a second one. One post per turn, no retry:
//! if it fails (a 429, an error) the answer simply comes without a placeholder.

use std::time::{Duration, Instant};

use crate::agent::{SenderInfo, TextDeltas};
use crate::error::chain;
use crate::store::{OutboxOpKind, OutboxPart, OutboxPartKind};

use super::channel::{InboundMessage, OutgoingMessage, SendTarget};
use super::process::Origin;
use super::reply::{filter_whole, ReplyContext};
use super::runtime::Processor;

/// The placeholder's text.
pub const PLACEHOLDER_TEXT: &str = "Working on it...";

/// Key/value namespace of the placeholders posted for answers not recorded yet
/// (key `<channel>/<inbound message id>`, value the placeholder's message id).
pub(crate) const NAMESPACE: &str = "placeholder";

/// The placeholder posted for one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placeholder {
    /// Its message id.
    pub(crate) id: String,
    /// It shows the streamed answer (edited at least once, never refused): it keeps the final
    /// text instead of giving way to a new message.
    pub(crate) streamed: bool,
}

/// Shortest time between two streaming edits of the placeholder (and between the placeholder
/// and its first edit).
pub const STREAM_EDIT_INTERVAL: Duration = Duration::from_millis(1500);

/// Fewest new characters of output (as the model wrote them, reasoning included) since the
/// last look before the placeholder's text is made again for a streaming edit.
pub const STREAM_EDIT_MIN_CHARS: usize = 200;

/// Most streaming edits of one placeholder. Webex allows 10 edits of a message
/// (<https://developer.webex.com/docs/api/v1/messages/edit-a-message>); two are kept for the
/// final text (and the fallback after a crash).
pub const MAX_STREAM_EDITS: u32 = 8;

/// Longest wait for one streaming edit: one that takes longer (a rate limit's `Retry-After`
/// being waited out) stops the streaming, and the answer is posted the normal way.
pub const STREAM_EDIT_TIMEOUT: Duration = Duration::from_secs(5);

impl Processor {
    /// Runs one turn's `work` (fetching the message's files, reading them, asking the agent:
    /// everything between taking the message and having its answer), with the placeholder
    /// posted when it takes longer than the typing delay, counted from the turn's start, and
    /// (with `agents.defaults.streaming`) edited with the answer as it arrives: `work` is given
    /// the sender of the answer's text ([`TextDeltas`]) when
    /// streaming is on. Returns `(work's output, placeholder)`.
    pub(crate) async fn with_placeholder<T, F, Fut>(
        &self,
        message: &InboundMessage,
        origin: Origin,
        sender: &SenderInfo,
        work: F,
    ) -> (T, Option<Placeholder>)
    where
        F: FnOnce(Option<TextDeltas>) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let Some(delay) = self.typing_delay() else {
            return (work(None).await, None);
        };
        let (deltas, pieces) = if self.options.streaming {
            let (deltas, pieces) = tokio::sync::mpsc::unbounded_channel();
            (Some(deltas), Some(pieces))
        } else {
            (None, None)
        };
        let ask = work(deltas);
        let key = self.placeholder_key(message);
        // A placeholder posted by an earlier run that stopped before the answer was recorded
        // (a message just claimed has none: no read on the message path).
        let earlier = if origin.is_fresh() {
            None
        } else {
            self.store.kv().get(NAMESPACE, &key).await.ok().flatten()
        };
        tokio::pin!(ask);
        if earlier.is_none() {
            tokio::select! {
                answer = &mut ask => return (answer, None),
                () = tokio::time::sleep(delay) => {}
            }
        }
        // The agent goes on thinking while the placeholder is posted (and edited); both are
        // awaited, so the placeholder's id is known when the answer replaces it.
        let posted = async {
            match earlier {
                Some(id) => Some(id),
                None => self.post_placeholder(message, origin, &key).await,
            }
        };
        match pieces {
            None => {
                let (answer, id) = tokio::join!(ask, posted);
                (
                    answer,
                    id.map(|id| Placeholder {
                        id,
                        streamed: false,
                    }),
                )
            }
            Some(pieces) => {
                let context = ReplyContext::new(sender.clone(), message.kind, &message.room_id);
                let shown = self.stream_into(message, &context, posted, pieces);
                tokio::join!(ask, shown)
            }
        }
    }

    /// Edits the placeholder (once `posted`) with the answer's text as its `pieces` arrive,
    /// until they end (the answer is complete): at most every [`STREAM_EDIT_INTERVAL`] with at
    /// least [`STREAM_EDIT_MIN_CHARS`] new characters, at most [`MAX_STREAM_EDITS`] times; the
    /// text shown is what the final answer's first message would be so far (reasoning taken
    /// out, the channel's output filter applied). The first edit that fails, or takes longer
    /// than [`STREAM_EDIT_TIMEOUT`], ends the streaming: no retry, the answer is then posted
    /// the normal way. These edits are cosmetic and not recorded (the final text goes through
    /// the outbox like any reply).
    async fn stream_into(
        &self,
        message: &InboundMessage,
        context: &ReplyContext,
        posted: impl std::future::Future<Output = Option<String>>,
        mut pieces: tokio::sync::mpsc::UnboundedReceiver<String>,
    ) -> Option<Placeholder> {
        let id = posted.await?;
        let mut raw = String::new();
        let mut chars = 0;
        let mut edits = 0;
        let mut shown = String::new();
        // Characters received when the preview was last made (it is made again only after
        // as many new characters as an edit needs: a long reasoning block costs no rework).
        let mut checked = 0;
        let mut last = Instant::now();
        while let Some(piece) = pieces.recv().await {
            raw.push_str(&piece);
            chars += piece.chars().count();
            if edits >= MAX_STREAM_EDITS
                || last.elapsed() < STREAM_EDIT_INTERVAL
                || chars - checked < STREAM_EDIT_MIN_CHARS
            {
                continue;
            }
            checked = chars;
            let Some(text) = self.preview(&raw, context).filter(|t| *t != shown) else {
                continue;
            };
            let outgoing =
                OutgoingMessage::markdown(SendTarget::Room(message.room_id.clone()), &text);
            let edited =
                tokio::time::timeout(STREAM_EDIT_TIMEOUT, self.channel.edit(&id, &outgoing)).await;
            match edited {
                Ok(Ok(_)) => {
                    edits += 1;
                    self.metrics.stream_edit();
                    tracing::debug!(channel = self.id(), message_id = %message.id, placeholder = %id, edit = edits, chars = text.chars().count(), "placeholder edited with the answer so far");
                    shown = text;
                    last = Instant::now();
                }
                Ok(Err(err)) => {
                    tracing::info!(channel = self.id(), message_id = %message.id, placeholder = %id, error = %chain(&err), "streaming edit refused; the answer is posted when complete");
                    return Some(Placeholder {
                        id,
                        streamed: false,
                    });
                }
                Err(_) => {
                    tracing::info!(channel = self.id(), message_id = %message.id, placeholder = %id, timeout = ?STREAM_EDIT_TIMEOUT, "streaming edit too slow (rate limited?); the answer is posted when complete");
                    return Some(Placeholder {
                        id,
                        streamed: false,
                    });
                }
            }
        }
        Some(Placeholder {
            id,
            streamed: edits > 0,
        })
    }

    /// The first message of the answer so far, as it would be posted: `None` while it is empty.
    fn preview(&self, raw: &str, context: &ReplyContext) -> Option<String> {
        let answer = crate::agent::split_reasoning(raw).answer;
        if answer.trim().is_empty() {
            return None;
        }
        filter_whole(self.channel.reply_filter(context), &answer)
            .into_iter()
            .next()
            .filter(|first| !first.trim().is_empty())
    }

    /// The typing delay, when this channel can take a placeholder away again.
    fn typing_delay(&self) -> Option<Duration> {
        self.options
            .typing_delay
            .filter(|_| self.channel.supports_edits())
    }

    fn placeholder_key(&self, message: &InboundMessage) -> String {
        format!("{}/{}", self.id(), message.id)
    }

    /// Posts the placeholder once (no retry); its id, or `None` when it could not be posted.
    async fn post_placeholder(
        &self,
        message: &InboundMessage,
        origin: Origin,
        key: &str,
    ) -> Option<String> {
        let mut outgoing =
            OutgoingMessage::markdown(SendTarget::Room(message.room_id.clone()), PLACEHOLDER_TEXT);
        outgoing.parent_id = super::process::reply_parent(message, origin);
        match self.channel.send(&outgoing).await {
            Ok(id) => {
                tracing::debug!(channel = self.id(), message_id = %message.id, placeholder = %id, "the agent is slow; placeholder posted");
                if let Err(err) = self.store.kv().set(NAMESPACE, key, &id).await {
                    tracing::warn!(channel = self.id(), message_id = %message.id, error = %err, "could not record the placeholder; a crash before the answer would leave it");
                }
                Some(id)
            }
            Err(err) => {
                tracing::warn!(channel = self.id(), message_id = %message.id, error = %chain(&err), "placeholder not posted; the answer comes without it");
                None
            }
        }
    }

    /// Deletes the placeholder an earlier run posted for `message`, if any, when the message
    /// taken over is not answered by the agent after all (no longer admitted). Best effort.
    pub(crate) async fn remove_stale_placeholder(&self, message: &InboundMessage) {
        let key = self.placeholder_key(message);
        let Ok(Some(id)) = self.store.kv().get(NAMESPACE, &key).await else {
            return;
        };
        if let Err(err) = self.channel.delete(&id, &message.room_id).await {
            tracing::warn!(channel = self.id(), message_id = %message.id, placeholder = %id, error = %chain(&err), "could not delete an earlier run's placeholder; it stays");
        }
        self.forget_placeholder(message).await;
    }

    /// Forgets the placeholder of `message` once the reply operations that replace it are
    /// recorded in the outbox.
    pub(crate) async fn forget_placeholder(&self, message: &InboundMessage) {
        let key = self.placeholder_key(message);
        if let Err(err) = self.store.kv().delete(NAMESPACE, &key).await {
            tracing::warn!(channel = self.id(), message_id = %message.id, error = %err, "could not forget the placeholder record");
        }
    }
}

/// The reply operations once the answer is ready, given the `placeholder` posted for it: the
/// placeholder deleted before the answer is posted, or, when the agent `failed` or the
/// placeholder shows the streamed answer, edited into the reply's first message (the apology,
/// or the answer's final text; any further message is posted).
pub(crate) fn replace_placeholder(
    mut parts: Vec<OutboxPart>,
    placeholder: Placeholder,
    failed: bool,
) -> Vec<OutboxPart> {
    let keep = failed || placeholder.streamed;
    match parts.first_mut() {
        // Only a text message can take the placeholder's place (an edit carries no card or file).
        Some(first)
            if keep && first.op == OutboxOpKind::Create && first.part == OutboxPartKind::Text =>
        {
            first.op = OutboxOpKind::Edit;
            first.target_id = Some(placeholder.id);
            parts
        }
        _ => {
            let mut delete = OutboxPart::text("");
            delete.op = OutboxOpKind::Delete;
            delete.target_id = Some(placeholder.id);
            parts.insert(0, delete);
            parts
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(streamed: bool) -> Placeholder {
        Placeholder {
            id: "P".into(),
            streamed,
        }
    }

    /// The operations for the answer "a", "b": `(op, target, body)`.
    fn ops_for_a_b(streamed: bool) -> Vec<(OutboxOpKind, Option<String>, String)> {
        let parts = vec![OutboxPart::text("a"), OutboxPart::text("b")];
        replace_placeholder(parts, shown(streamed), false)
            .into_iter()
            .map(|p| (p.op, p.target_id, p.body))
            .collect()
    }

    fn op(
        kind: OutboxOpKind,
        target: Option<&str>,
        body: &str,
    ) -> (OutboxOpKind, Option<String>, String) {
        (kind, target.map(str::to_string), body.to_string())
    }

    #[test]
    fn an_answer_deletes_the_placeholder_first() {
        assert_eq!(
            ops_for_a_b(false),
            vec![
                op(OutboxOpKind::Delete, Some("P"), ""),
                op(OutboxOpKind::Create, None, "a"),
                op(OutboxOpKind::Create, None, "b"),
            ]
        );
    }

    #[test]
    fn an_apology_is_the_edited_placeholder() {
        let parts = replace_placeholder(vec![OutboxPart::text("sorry")], shown(false), true);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].op, OutboxOpKind::Edit);
        assert_eq!(parts[0].target_id.as_deref(), Some("P"));
        assert_eq!(parts[0].body, "sorry");
    }

    #[test]
    fn a_reply_without_text_deletes_the_placeholder_before_its_card() {
        let card = crate::gateway::ReplyPart::card(serde_json::json!({}), "fb").to_outbox();
        let parts = replace_placeholder(vec![card], shown(true), false);
        let ops: Vec<_> = parts.iter().map(|p| (p.op, p.part)).collect();
        assert_eq!(
            ops,
            [
                (OutboxOpKind::Delete, OutboxPartKind::Text),
                (OutboxOpKind::Create, OutboxPartKind::Card)
            ]
        );
    }

    #[test]
    fn nothing_to_post_still_removes_the_placeholder() {
        let parts = replace_placeholder(Vec::new(), shown(true), true);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].op, OutboxOpKind::Delete);
    }

    #[test]
    fn a_streamed_answer_keeps_its_placeholder_and_posts_the_rest() {
        assert_eq!(
            ops_for_a_b(true),
            vec![
                op(OutboxOpKind::Edit, Some("P"), "a"),
                op(OutboxOpKind::Create, None, "b"),
            ]
        );
    }
}
