//! The "Working on it..." placeholder (`agents.defaults.typingDelaySeconds`).
//!
//! When the agent has not answered within the delay, one short placeholder is posted where the
//! answer will go (same room, same thread). When the answer is ready, the reply recorded in the
//! outbox starts with an operation on the placeholder: a `delete` before the answer's `create`s
//! (so the answer itself is a new message and notifies people; an edit may not), or, when the
//! agent failed, an `edit` that turns the placeholder into the apology instead of posting a
//! second message. From then on the outbox makes it exactly-once like any reply.
//!
//! Between posting the placeholder and recording the answer, its id is kept in the store's
//! key/value table (namespace [`NAMESPACE`]), so a run that takes the message over after a
//! crash uses that placeholder instead of posting a second one. One post per turn, no retry:
//! if it fails (a 429, an error) the answer simply comes without a placeholder.

use std::time::Duration;

use crate::agent::{Answer, SenderInfo, SessionKey};
use crate::error::chain;
use crate::store::{OutboxOpKind, OutboxPart};

use super::channel::{InboundMessage, OutgoingMessage, SendTarget};
use super::process::Origin;
use super::runtime::Processor;

/// The placeholder's text.
pub const PLACEHOLDER_TEXT: &str = "Working on it...";

/// Key/value namespace of the placeholders posted for answers not recorded yet
/// (key `<channel>/<inbound message id>`, value the placeholder's message id).
pub(crate) const NAMESPACE: &str = "placeholder";

impl Processor {
    /// The agent's answer to `message`, with the placeholder posted while it thinks, if it
    /// thinks longer than the typing delay: `(answer, placeholder id)`.
    pub(crate) async fn ask_with_placeholder(
        &self,
        message: &InboundMessage,
        origin: Origin,
        sender: &SenderInfo,
        session: &SessionKey,
        attachments: &[crate::agent::Attachment],
    ) -> (Answer, Option<String>) {
        let ask = self.ask_agent(message, sender, session, attachments);
        let Some(delay) = self.typing_delay() else {
            return (ask.await, None);
        };
        let key = self.placeholder_key(message);
        // A placeholder posted by an earlier run that stopped before the answer was recorded.
        if let Some(earlier) = self.store.kv().get(NAMESPACE, &key).await.ok().flatten() {
            return (ask.await, Some(earlier));
        }
        tokio::pin!(ask);
        tokio::select! {
            answer = &mut ask => return (answer, None),
            () = tokio::time::sleep(delay) => {}
        }
        // The agent goes on thinking while the placeholder is posted; both are awaited, so the
        // placeholder's id is known when the answer replaces it.
        let (answer, placeholder) = tokio::join!(ask, self.post_placeholder(message, origin, &key));
        (answer, placeholder)
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
/// placeholder deleted before the answer is posted, or, when the agent `failed`, edited into
/// the apology (its first message; any further one is posted).
pub(crate) fn replace_placeholder(
    mut parts: Vec<OutboxPart>,
    placeholder: String,
    failed: bool,
) -> Vec<OutboxPart> {
    match parts.first_mut() {
        Some(first) if failed && first.op == OutboxOpKind::Create => {
            first.op = OutboxOpKind::Edit;
            first.target_id = Some(placeholder);
            parts
        }
        _ => {
            let mut delete = OutboxPart::text("");
            delete.op = OutboxOpKind::Delete;
            delete.target_id = Some(placeholder);
            parts.insert(0, delete);
            parts
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_deletes_the_placeholder_first() {
        let parts = replace_placeholder(
            vec![OutboxPart::text("a"), OutboxPart::text("b")],
            "P".into(),
            false,
        );
        let ops: Vec<_> = parts
            .iter()
            .map(|p| (p.op, p.target_id.as_deref(), p.body.as_str()))
            .collect();
        assert_eq!(
            ops,
            vec![
                (OutboxOpKind::Delete, Some("P"), ""),
                (OutboxOpKind::Create, None, "a"),
                (OutboxOpKind::Create, None, "b"),
            ]
        );
    }

    #[test]
    fn an_apology_is_the_edited_placeholder() {
        let parts = replace_placeholder(vec![OutboxPart::text("sorry")], "P".into(), true);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].op, OutboxOpKind::Edit);
        assert_eq!(parts[0].target_id.as_deref(), Some("P"));
        assert_eq!(parts[0].body, "sorry");
    }

    #[test]
    fn nothing_to_post_still_removes_the_placeholder() {
        let parts = replace_placeholder(Vec::new(), "P".into(), true);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].op, OutboxOpKind::Delete);
    }
}
