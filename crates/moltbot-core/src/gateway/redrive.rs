//! Work that comes back: start-up recovery and the running re-drive task.
//!
//! - **Recovery** (at start): pending messages older than `catchUp.maxAgeMinutes` are skipped
//!   (each logged); the rest that an earlier run of this node left (whatever their lease says:
//!   that run is dead) or whose lease expired are taken and queued in their rooms again.
//! - **Re-drive** (while running): every few seconds, and as soon as a message is set aside,
//!   takes the pending messages that nobody holds and that are due (deferred ones whose next
//!   attempt has come, and work of a process that died), and queues them; it also renews the
//!   leases this process holds on work that is queued or running, so a long agent call or a
//!   deep room queue never loses its lease while the process lives.
//! - **Stranded** messages (their processing stopped on a store error: a full disk, a
//!   database that went away) are still leased to this process, and the renewal above would
//!   keep them so until a restart: a pass takes each one again (a write, so the store must
//!   work) and queues it in its room once its retry is due (the backoff of unreadable messages
//!   on its attempts), until it finishes or is older than `catchUp.maxAgeMinutes`. Stranded
//!   messages of one room whose retries fall due apart may be answered out of order.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::StoreError;

use super::metrics::Dropped;
use super::runtime::Processor;
use super::sink::{InboundSink, Work};

/// How often the re-drive task looks for due work and renews leases when nothing wakes it.
pub(crate) const REDRIVE_EVERY: Duration = Duration::from_secs(5);

/// The most messages one re-drive pass takes.
const REDRIVE_BATCH: usize = 256;

/// Reason recorded for messages too old to answer after downtime.
const TOO_OLD: &str = "older than catchUp.maxAgeMinutes";

/// Reason recorded for a stranded message given up (see the module docs).
pub(crate) const STORE_FAILED_TOO_LONG: &str =
    "the state store kept failing until catchUp.maxAgeMinutes";

impl Processor {
    /// Start-up recovery (see the module docs).
    pub(crate) async fn recover(&self, sink: &InboundSink) -> Result<(), StoreError> {
        let now = self.store.now_ms();
        let max_age =
            i64::try_from(self.channel.catch_up_max_age().as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.saturating_sub(max_age);
        let ledger = self.store.ledger();
        let stale = ledger.skip_stale(self.id(), cutoff, TOO_OLD).await?;
        for id in &stale {
            self.metrics.dropped(Dropped::Skipped(TOO_OLD));
            let room = self.room_of(id).await;
            tracing::info!(channel = self.id(), message_id = %id, room = %room, reason = TOO_OLD, "message not answered");
        }
        let pending = ledger.pending(self.id(), cutoff).await?;
        let (mut taken_over, mut held) = (0usize, 0usize);
        for row in pending {
            let taken = ledger
                .take(
                    self.id(),
                    &row.message_id,
                    &self.lease.owner,
                    Some(&self.lease.node_prefix),
                    self.lease.lease_ms,
                )
                .await?;
            let Some(entry) = taken else {
                held += 1;
                continue;
            };
            taken_over += 1;
            if !entry.deferred {
                self.metrics.taken_over();
            }
            if sink
                .requeue(&entry.room_id, requeued(&entry))
                .await
                .is_err()
            {
                break;
            }
        }
        if taken_over > 0 {
            tracing::info!(
                channel = self.id(),
                count = taken_over,
                "recovering unanswered messages"
            );
        }
        if held > 0 {
            tracing::info!(
                channel = self.id(),
                count = held,
                "unanswered messages are leased to another gateway (another node id); they are taken over if their leases expire"
            );
        }
        Ok(())
    }

    /// The re-drive task (see the module docs), until `shutdown`.
    pub(crate) async fn redrive(self: Arc<Self>, sink: InboundSink, shutdown: CancellationToken) {
        loop {
            let wait = self.next_wake().await;
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.redrive.notified() => {}
                () = shutdown.cancelled() => return,
            }
            if let Err(err) = self
                .store
                .ledger()
                .renew_owned(&self.lease.owner, self.lease.lease_ms)
                .await
            {
                tracing::warn!(channel = self.id(), error = %err, "could not renew leases");
            }
            if let Err(err) = self.redrive_due(&sink).await {
                tracing::warn!(channel = self.id(), error = %err, "re-drive pass failed");
            }
            self.requeue_stranded(&sink).await;
        }
    }

    /// How often the re-drive task runs when nothing wakes it: [`REDRIVE_EVERY`], or a third
    /// of the message lease when that is shorter (replicas with a short `store.leaseSeconds`),
    /// so leases are renewed before they can run out and a dead replica's work is taken over
    /// soon after its leases end.
    pub(crate) fn redrive_every(&self) -> Duration {
        let third = u64::try_from(self.lease.lease_ms / 3).unwrap_or(0);
        REDRIVE_EVERY.min(Duration::from_millis(third.max(10)))
    }

    /// How long until the next deferred message is due, at most [`Self::redrive_every`].
    async fn next_wake(&self) -> Duration {
        let every = self.redrive_every();
        let next = self
            .store
            .ledger()
            .next_due_at(self.id())
            .await
            .ok()
            .flatten();
        match next {
            Some(at) => {
                let ms = at.saturating_sub(self.store.now_ms()).max(0);
                Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(every)
            }
            None => every,
        }
    }

    /// Takes the due messages nobody holds and queues them in their rooms.
    async fn redrive_due(self: &Arc<Self>, sink: &InboundSink) -> Result<(), StoreError> {
        let ledger = self.store.ledger();
        for row in ledger.due(self.id(), REDRIVE_BATCH).await? {
            let taken = ledger
                .take(
                    self.id(),
                    &row.message_id,
                    &self.lease.owner,
                    None,
                    self.lease.lease_ms,
                )
                .await?;
            let Some(entry) = taken else { continue };
            match row.owner.as_deref() {
                Some(previous) if !row.deferred && previous != &*self.lease.owner => {
                    self.metrics.taken_over();
                    tracing::info!(channel = self.id(), message_id = %entry.message_id, room = %entry.room_id, previous_owner = previous, "taking over a message whose lease expired");
                }
                _ => {
                    tracing::debug!(channel = self.id(), message_id = %entry.message_id, attempt = entry.attempts, "re-driving a message");
                }
            }
            if entry.deferred {
                self.fetch_then_requeue(sink, entry);
            } else if sink
                .requeue(&entry.room_id, requeued(&entry))
                .await
                .is_err()
            {
                break;
            }
        }
        Ok(())
    }

    /// Notes that message `id` stopped on a store error and is to be queued again by the next
    /// re-drive pass (see the module docs).
    pub(crate) fn strand(&self, id: &str) {
        let mut stranded = self
            .stranded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !stranded.iter().any(|s| s == id) {
            stranded.push(id.to_string());
        }
    }

    /// Queues the stranded messages again in their rooms, each once its retry is due (the
    /// backoff of unreadable messages on its attempts, so a store that keeps failing does not
    /// have every message fetched and its agent asked again every pass) and once the store
    /// takes the attempt (a write); those the store cannot read or write yet wait for a later
    /// pass; those older than the catch-up age are given up.
    async fn requeue_stranded(&self, sink: &InboundSink) {
        let stranded = std::mem::take(
            &mut *self
                .stranded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if stranded.is_empty() {
            return;
        }
        let max_age =
            i64::try_from(self.channel.catch_up_max_age().as_millis()).unwrap_or(i64::MAX);
        let ledger = self.store.ledger();
        // Those that wait for a later pass, put back at the end under one lock.
        let mut later = Vec::new();
        for id in stranded {
            let entry = match ledger.get(self.id(), &id).await {
                Ok(Some(entry)) if entry.state.is_pending() => entry,
                Ok(_) => continue,
                Err(_) => {
                    later.push(id);
                    continue;
                }
            };
            if self.store.now_ms().saturating_sub(entry.created_at) >= max_age {
                self.metrics.failed();
                tracing::warn!(channel = self.id(), message_id = %id, room = %entry.room_id, reason = STORE_FAILED_TOO_LONG, "message not answered");
                self.finish_id(
                    &id,
                    crate::store::InboundState::Failed,
                    Some(STORE_FAILED_TOO_LONG),
                )
                .await;
                continue;
            }
            let due = entry.updated_at.saturating_add(
                i64::try_from(super::process::retry_delay(entry.attempts).as_millis())
                    .unwrap_or(i64::MAX),
            );
            if self.store.now_ms() < due {
                later.push(id);
                continue;
            }
            let taken = ledger
                .take(
                    self.id(),
                    &id,
                    &self.lease.owner,
                    Some(&self.lease.node_prefix),
                    self.lease.lease_ms,
                )
                .await;
            let entry = match taken {
                Ok(Some(entry)) => entry,
                Ok(None) => continue,
                Err(_) => {
                    later.push(id);
                    continue;
                }
            };
            tracing::info!(channel = self.id(), message_id = %id, room = %entry.room_id, attempt = entry.attempts, "retrying a message stopped by a store error");
            if sink
                .requeue(&entry.room_id, requeued(&entry))
                .await
                .is_err()
            {
                // Shutting down: the lease runs out and the next start takes it.
                return;
            }
        }
        let mut stranded = self
            .stranded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Stranded again during this pass (by a worker) are kept once, after the older ones.
        let newer = std::mem::replace(&mut *stranded, later);
        for id in newer {
            if !stranded.contains(&id) {
                stranded.push(id);
            }
        }
    }

    /// A message set aside because it could not be read is fetched here, outside its room's
    /// queue (the fetch may wait out a 404 or a `Retry-After`): only once it can be read does it
    /// join its room's queue; otherwise it is set aside again (or given up) without the room
    /// ever waiting on it. At most [`REDRIVE_FETCHES`] such fetches run at once.
    fn fetch_then_requeue(self: &Arc<Self>, sink: &InboundSink, entry: crate::store::LedgerEntry) {
        let this = Arc::clone(self);
        let sink = sink.clone();
        tokio::spawn(async move {
            let Ok(_permit) = this.redrive_fetches.acquire().await else {
                return;
            };
            let fetched = this.channel.refetch(&entry.message_id).await;
            let ready = matches!(fetched, Ok(super::Fetched::Ready(_)));
            let (done, result) = tokio::sync::oneshot::channel();
            let _ = done.send(fetched);
            if ready {
                let work = Work::Unfetched {
                    id: entry.message_id.clone(),
                    room_id: entry.room_id.clone(),
                    prefetched: Some(result),
                    fresh: false,
                    deferred: true,
                };
                // A closed sink means shutting down: the lease runs out and the next start
                // takes the message again.
                let _ = sink.requeue(&entry.room_id, work).await;
            } else {
                // Not readable yet, skipped, or refused credentials: recorded as the worker
                // would (`fetch` never returns a message for these).
                let _ = this.fetch(&entry.message_id, Some(result)).await;
            }
        });
    }
}

/// How many set-aside messages the re-drive task fetches at once.
pub(crate) const REDRIVE_FETCHES: usize = 8;

fn requeued(entry: &crate::store::LedgerEntry) -> Work {
    Work::Unfetched {
        id: entry.message_id.clone(),
        room_id: entry.room_id.clone(),
        prefetched: None,
        fresh: false,
        deferred: entry.deferred,
    }
}
