//! Approval DMs: approvals happen in the CLI (another process, same store); the gateway notices
//! them within [`GatewayOptions::approval_poll`](super::GatewayOptions) and tells the person.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::error::chain;

use super::channel::{OutgoingMessage, SendTarget};
use super::runtime::Processor;

/// The approval DM.
pub(crate) const APPROVAL_MESSAGE: &str =
    "You're approved! You can message me now, and I'll answer.";

/// Sends pending approval DMs until `shutdown`.
pub(crate) async fn run(p: Arc<Processor>, shutdown: CancellationToken) {
    every(p.options.approval_poll, &shutdown, || notify_pending(&p)).await;
}

/// Runs `chore` every `period` (the first time at once) until `shutdown`; a run that takes
/// longer than `period` delays the next instead of bunching them. For the leader's chores that
/// pick up what other processes (the CLI) wrote in the store.
pub(crate) async fn every<F: std::future::Future<Output = ()>>(
    period: std::time::Duration,
    shutdown: &CancellationToken,
    mut chore: impl FnMut() -> F,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        chore().await;
    }
}

async fn notify_pending(p: &Processor) {
    let channel = p.channel.id();
    let pending = match p.store.pairing().pending_notifications(channel).await {
        Ok(pending) => pending,
        Err(err) => {
            tracing::warn!(channel, error = %err, "cannot read pending approval notices");
            return;
        }
    };
    for identity in pending {
        let target = match (&identity.person_id, &identity.email) {
            (Some(id), _) => SendTarget::Person(id.clone()),
            (None, Some(email)) => SendTarget::Email(email.clone()),
            (None, None) => continue,
        };
        let message = OutgoingMessage::markdown(target, APPROVAL_MESSAGE);
        match p.channel.send(&message).await {
            Ok(_) => tracing::info!(channel, who = %identity.label(), "approval message sent"),
            Err(err) if err.is_retryable() => {
                tracing::warn!(channel, who = %identity.label(), error = %chain(&err), "approval message not sent; will retry");
                continue;
            }
            Err(err) => {
                // E.g. a `pair` of someone who never wrote to the bot: a network may refuse the
                // first contact. They are approved all the same and need no message.
                tracing::warn!(channel, who = %identity.label(), error = %chain(&err), "approval message could not be sent; giving up");
            }
        }
        if let Err(err) = p
            .store
            .pairing()
            .mark_notified(channel, identity.label())
            .await
        {
            tracing::warn!(channel, error = %err, "approval notice not recorded");
        }
    }
}
