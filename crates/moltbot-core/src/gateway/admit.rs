//! Access control and pairing for one message, before the agent sees it.

use crate::access::{decide, Conversation, Decision, DropReason, Sender};
use crate::error::chain;
use crate::store::{PairingOutcome, DEFAULT_MAX_PENDING};

use super::channel::{ConversationKind, InboundMessage, OutgoingMessage, SendTarget};
use super::metrics::Dropped;
use super::runtime::Processor;

/// What to do with a message after the access check.
pub(crate) enum Admission {
    /// Hand it to the agent.
    Admit,
    /// Not for the agent; the reason is recorded with the message.
    Handled(String),
}

/// What the access policy decides for `message`, without acting on it (no pairing request, no
/// drop recorded): approvals are read from the store only where they count
/// ([`AccessPolicy::approval_matters`](crate::access::AccessPolicy::approval_matters)).
pub(crate) async fn check(p: &Processor, message: &InboundMessage) -> Decision {
    let policy = p.channel.access_policy();
    let sender = sender_of(message);
    let conversation = match message.kind {
        ConversationKind::Direct => Conversation::direct(),
        ConversationKind::Group => Conversation::group(message.mentions_bot),
    };
    let approved = if policy.approval_matters(&conversation) {
        is_approved(p, message).await
    } else {
        false
    };
    decide(&policy, &sender, &conversation, approved)
}

/// The sender of `message` as access control sees them.
pub(crate) fn sender_of(message: &InboundMessage) -> Sender {
    Sender::new(message.sender.id.clone(), message.sender.email.clone())
}

/// Whether the sender of `message` was approved through pairing on this channel (`false`, logged,
/// when the store cannot be read).
pub(crate) async fn is_approved(p: &Processor, message: &InboundMessage) -> bool {
    let channel = p.channel.id();
    p.store
        .pairing()
        .is_approved(channel, &message.sender.id, message.sender.email.as_deref())
        .await
        .unwrap_or_else(|err| {
            tracing::error!(channel, error = %err, "cannot read approvals; treating sender as not approved");
            false
        })
}

/// Acts on the access `decision` for `message` (see [`check`]): admits it, records and logs a
/// drop, or runs the pairing flow for an unknown DM sender.
pub(crate) async fn admit(
    p: &Processor,
    message: &InboundMessage,
    decision: Decision,
) -> Admission {
    match decision {
        Decision::Admit => Admission::Admit,
        Decision::Drop(reason) => drop_message(p, message, reason),
        Decision::Pair => pair(p, message).await,
    }
}

fn drop_message(p: &Processor, message: &InboundMessage, reason: DropReason) -> Admission {
    tracing::debug!(
        channel = p.channel.id(),
        message_id = %message.id,
        sender = %message.sender.email.as_deref().unwrap_or(&message.sender.id),
        reason = reason.as_str(),
        "message dropped"
    );
    p.metrics.dropped(Dropped::Access(reason));
    Admission::Handled(reason.as_str().to_string())
}

/// The text of the one pairing reply an unknown DM sender gets.
pub(crate) fn pairing_reply(channel: &str, code: &str, who: &str) -> String {
    format!(
        "Hi! I don't know you yet, so I can't answer. Your pairing code is **{code}**.\n\n\
Ask the owner of this bot to approve you with:\n\n\
`moltbot pairing approve {channel} {code}`\n\n\
(request from {who}; the code is valid for one hour)"
    )
}

async fn pair(p: &Processor, message: &InboundMessage) -> Admission {
    let channel = p.channel.id();
    let sender = p.channel.resolve_sender(&message.sender).await;
    let outcome = p
        .store
        .pairing()
        .request(
            channel,
            &sender.id,
            sender.email.as_deref(),
            sender.display_name.as_deref(),
            DEFAULT_MAX_PENDING,
        )
        .await;
    let request = match outcome {
        Ok(PairingOutcome::Created(request)) => request,
        // A repeat DM reuses the pending code; the reply goes out only if it never did
        // (a crash between recording the request and sending the reply).
        Ok(PairingOutcome::Existing(request)) if request.reply_sent => {
            tracing::debug!(channel, code = %request.code, "pairing request already pending; no new reply");
            p.metrics.dropped(Dropped::PairingPending);
            return Admission::Handled("pairing request pending".into());
        }
        Ok(PairingOutcome::Existing(request)) => request,
        Ok(PairingOutcome::LimitReached) => {
            tracing::info!(
                channel,
                sender = %message.sender.email.as_deref().unwrap_or(&message.sender.id),
                max = DEFAULT_MAX_PENDING,
                "pairing request ignored: too many pending requests"
            );
            return drop_message(p, message, DropReason::PairingLimitReached);
        }
        Err(err) => {
            tracing::error!(channel, error = %err, "cannot record pairing request");
            return Admission::Handled(format!("pairing store error: {err}"));
        }
    };
    let text = pairing_reply(channel, &request.code, request.label());
    let reply = OutgoingMessage::markdown(SendTarget::Room(message.room_id.clone()), text);
    match p.channel.send(&reply).await {
        Ok(_) => {
            if let Err(err) = p
                .store
                .pairing()
                .mark_reply_sent(channel, &request.code)
                .await
            {
                tracing::warn!(channel, error = %err, "pairing reply sent but not recorded");
            }
            tracing::info!(channel, code = %request.code, sender = %request.label(), name = request.display_name.as_deref().map(crate::agent::speakers::printable_name).unwrap_or_default(), "pairing requested");
        }
        Err(err) => {
            tracing::error!(channel, error = %chain(&err), "could not send the pairing reply");
        }
    }
    p.metrics.dropped(Dropped::PairingRequested);
    Admission::Handled("pairing requested".into())
}
