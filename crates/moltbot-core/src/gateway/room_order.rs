//! Room order across replicas sharing a store.
//!
//! Within one process the dispatcher keeps a room's messages in arrival order. Replicas behind
//! a load balancer each receive some of a room's webhook deliveries, and a replica that takes
//! over a dead one's work queues it behind what it already has; so before a replica processes
//! message M of room R it looks in the shared ledger for the oldest message of R ahead of M
//! ([`LedgerRepo::first_ahead`](crate::store::LedgerRepo::first_ahead): ledger order is the
//! message's own timestamp, then its arrival) that is still pending:
//!
//! - leased to this process: it is not ahead in this room's queue (that queue runs one message
//!   at a time), so it was queued behind M (taken over by the re-drive task) or left pending:
//!   it is processed first, right here in the room's worker (its queued copy then finds it
//!   finished);
//! - leased to another live owner (its lease is renewed): M waits, looking again every
//!   [`POLL`]. No wait is circular: the oldest pending message of a room has nothing ahead
//!   of it, and its holder processes it (its worker for the room is free, or is waiting in
//!   this check, which finds that message first and processes it). A replica that dies holds
//!   the room no longer than its leases; a safety bound, [`MAX_WAIT`], lets M go on (logged)
//!   should a live holder never finish;
//! - its lease expired (its owner died): this replica takes it over (the ordinary
//!   expired-lease takeover, [`LedgerRepo::take`](crate::store::LedgerRepo::take)) and
//!   processes it first, here;
//! - nothing ahead: M goes on.
//!
//! A message set aside as unreadable (deferred) never holds its room, and does not wait.
//! Without an election (SQLite: one gateway per store) the check is skipped: it costs nothing.

use std::time::Duration;

use super::runtime::Processor;
use super::sink::Work;

/// How often a message waiting for an older one of its room looks again.
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// The longest a message waits for an older one of its room that a live replica holds
/// (longer than any agent call is expected to take), after which it goes on out of order.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(300);

impl Processor {
    /// Waits until no older message of `id`'s room is pending under another live owner,
    /// processing first the older ones this process holds or whose owner died (see the module
    /// documentation). Returns at once without replicas. A store error ends the wait (logged):
    /// order is a courtesy, losing the message is not an option.
    pub(crate) async fn keep_room_order(&self, id: &str) {
        if self.options.leader_lease.is_none() {
            return;
        }
        let ledger = self.store.ledger();
        let started = tokio::time::Instant::now();
        let mut waiting_for: Option<String> = None;
        // What was processed here first: if one is still pending after that, go on.
        let mut done_here: Vec<String> = Vec::new();
        loop {
            let ahead = match ledger.first_ahead(self.id(), id).await {
                Ok(Some(ahead)) => ahead,
                Ok(None) => return,
                Err(err) => {
                    tracing::warn!(channel = self.id(), message_id = %id, error = %err, "cannot check the room's order; going on");
                    return;
                }
            };
            if done_here.contains(&ahead.message_id) {
                return;
            }
            let now = self.store.now_ms();
            let mine = ahead.owner.as_deref() == Some(&*self.lease.owner);
            if !mine && ahead.lease_until > now {
                if waiting_for.as_deref() != Some(&ahead.message_id) {
                    tracing::debug!(channel = self.id(), message_id = %id, ahead = %ahead.message_id, owner = ahead.owner.as_deref().unwrap_or("-"), "an older message of the room is processed by another replica; waiting for it");
                    waiting_for = Some(ahead.message_id.clone());
                }
                if started.elapsed() >= MAX_WAIT {
                    tracing::warn!(channel = self.id(), message_id = %id, room = %ahead.room_id, ahead = %ahead.message_id, waited = ?MAX_WAIT, "an older message of the room is still held by another replica; going on without it");
                    return;
                }
                let left = u64::try_from(ahead.lease_until.saturating_sub(now)).unwrap_or(0);
                tokio::time::sleep(POLL.min(Duration::from_millis(left.max(1)))).await;
                continue;
            }
            if !mine {
                // Its owner died (or let it go): the ordinary takeover, then it goes first.
                match ledger
                    .take(
                        self.id(),
                        &ahead.message_id,
                        &self.lease.owner,
                        None,
                        self.lease.lease_ms,
                    )
                    .await
                {
                    Ok(Some(entry)) => {
                        self.metrics.taken_over();
                        tracing::info!(channel = self.id(), message_id = %entry.message_id, room = %entry.room_id, previous_owner = ahead.owner.as_deref().unwrap_or("-"), before = %id, "taking over an older message of the room whose lease expired");
                    }
                    // Someone else took it first: look again.
                    Ok(None) => continue,
                    Err(err) => {
                        tracing::warn!(channel = self.id(), message_id = %id, error = %err, "cannot take over an older message of the room; going on");
                        return;
                    }
                }
            }
            done_here.push(ahead.message_id.clone());
            let work = Work::Unfetched {
                id: ahead.message_id.clone(),
                room_id: ahead.room_id.clone(),
                prefetched: None,
                fresh: false,
                deferred: false,
            };
            Box::pin(self.process_work(work)).await;
            if mine {
                // Its queued copy, when its turn comes, has nothing left to do.
                lock(&self.answered_early).insert(ahead.message_id);
            }
        }
    }
}

impl Processor {
    /// Whether message `id`, this process's own, was already processed ahead of its turn by
    /// [`Self::keep_room_order`] (then its queued copy is dropped; answered once either way,
    /// this spares the agent a second question). Forgets `id`.
    pub(crate) fn was_answered_early(&self, id: &str) -> bool {
        if self.options.leader_lease.is_none() {
            return false;
        }
        let mut early = lock(&self.answered_early);
        !early.is_empty() && early.remove(id)
    }
}

fn lock<X>(m: &std::sync::Mutex<X>) -> std::sync::MutexGuard<'_, X> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
