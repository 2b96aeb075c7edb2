//! Where the commands meet the message path: which messages they take, and their answers.

use crate::access::{Decision, DmPolicy, DropReason};
use crate::agent::ConversationKind;
use crate::store::{OutboxPart, SessionAppend};

use super::super::admit::{is_approved, sender_of};
use super::super::channel::InboundMessage;
use super::super::process::{Origin, ReplyError, Sent};
use super::super::runtime::Processor;
use super::{parse, text, Command};

impl Processor {
    /// The command the chain answers for `message`, given the access policy's `decision` (see
    /// the [module docs](super)): `None` when commands are off for the channel, the text is not
    /// a command, or the sender may not use it (the message then goes on to access control and
    /// the agent as usual).
    pub(crate) fn command_for(
        &self,
        message: &InboundMessage,
        decision: Decision,
    ) -> Option<Command> {
        if !self.channel.commands_enabled() {
            return None;
        }
        let command = parse(&message.text)?.command;
        if decision.is_admit() {
            return Some(command);
        }
        // A DM the policy would answer with a pairing code or drop as not listed, but not one
        // under dmPolicy "disabled": the bot says nothing in DMs then.
        let unlisted_dm = message.kind == ConversationKind::Direct
            && matches!(
                decision,
                Decision::Pair | Decision::Drop(DropReason::DmNotAllowed)
            );
        if command.answered_before_access() && unlisted_dm {
            tracing::info!(channel = self.id(), message_id = %message.id, sender = %message.sender.email.as_deref().unwrap_or(&message.sender.id), ?command, "answering a command from a sender not admitted (it reveals only their own identity)");
            return Some(command);
        }
        None
    }

    /// Answers `command` in `message`'s conversation: the answer is recorded (with the
    /// session emptied in the same commit for `/reset`) and sent like a reply, never through
    /// the agent, and nothing is added to the session.
    pub(crate) async fn answer_command(
        &self,
        message: &InboundMessage,
        origin: Origin,
        command: Command,
    ) -> Result<Sent, ReplyError> {
        tracing::info!(channel = self.id(), message_id = %message.id, room = %message.room_id, ?command, "answering a chat command");
        let session = self.session_of(message);
        let (answer, session) = match command {
            Command::Help => (text::help(message.kind, self.options.history_turns), None),
            Command::Reset => (
                text::reset(message.kind).to_string(),
                Some(SessionAppend::clear(session.as_str())),
            ),
            Command::Status => (self.status(message, session.as_str()).await, None),
            Command::Whoami => {
                let dm = self.dm_access(message).await;
                (text::whoami(self.id(), &message.sender, &dm), None)
            }
            Command::Poll => {
                let args = parse(&message.text).map_or("", |i| i.args);
                let part = match self.poll_command(message, args).await {
                    Ok((fallback, card)) => {
                        super::super::parts::ReplyPart::card(card, fallback).to_outbox()
                    }
                    Err(notice) => OutboxPart::text(notice),
                };
                return self
                    .record_and_send(message, origin, None, vec![part])
                    .await;
            }
        };
        self.record_and_send(message, origin, session, vec![OutboxPart::text(answer)])
            .await
    }

    /// The `/status` answer for the sender of `message` in `session`.
    async fn status(&self, message: &InboundMessage, session: &str) -> String {
        let turns = match self
            .store
            .sessions()
            .history(session, self.options.history_turns)
            .await
        {
            Ok(history) => history.len(),
            Err(err) => {
                tracing::warn!(channel = self.id(), error = %err, "session history unavailable for /status");
                0
            }
        };
        let space = (message.kind == ConversationKind::Group)
            .then(|| text::space_access(&self.channel.access_policy(), &sender_of(message)));
        text::status(&text::StatusFacts {
            agent: self.agent.name(),
            channel: &self.channel.describe(),
            kind: message.kind,
            turns,
            keep_turns: self.options.history_turns,
            dm: &self.dm_access(message).await,
            space,
        })
    }

    /// The standing in direct messages of the sender of `message` (approvals read only where
    /// they count).
    async fn dm_access(&self, message: &InboundMessage) -> String {
        let policy = self.channel.access_policy();
        let pairing = match policy.dm {
            DmPolicy::Pairing | DmPolicy::Allowlist if is_approved(self, message).await => {
                text::DmPairing::Approved
            }
            DmPolicy::Pairing => match self.pending_code(message).await {
                Some(code) => text::DmPairing::Pending {
                    code,
                    shown: message.kind == ConversationKind::Direct,
                },
                None => text::DmPairing::None,
            },
            _ => text::DmPairing::None,
        };
        text::dm_access(&policy, &sender_of(message), self.id(), &pairing)
    }

    /// The pending (unexpired) pairing code of the sender of `message`, if any; `None` too when
    /// the store cannot be read (logged).
    async fn pending_code(&self, message: &InboundMessage) -> Option<String> {
        match self.store.pairing().list_pending(Some(self.id())).await {
            Ok(pending) => pending
                .into_iter()
                .find(|r| r.person_id == message.sender.id)
                .map(|r| r.code),
            Err(err) => {
                tracing::warn!(channel = self.id(), error = %err, "cannot read pending pairing requests for the answer");
                None
            }
        }
    }
}
