//! Where receivers put what they receive: the durable claim, then the hand-over.
//!
//! A receiver first [`claims`](InboundSink::claim) a message id: the id is written to the store
//! before the receiver acknowledges anything (answers the webhook, moves its polling cursor), so
//! whichever path sees a message first owns it and every other sighting is a no-op. It then
//! fetches and normalises the message and [`delivers`](InboundSink::deliver) it, or
//! [`skips`](InboundSink::skip) it with a reason (the bot's own message, too old, gone).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::dispatch::{DispatchError, Dispatcher};
use crate::store::{Claim as LedgerClaim, ClaimOutcome, InboundState, Store, StoreError};

use super::channel::InboundMessage;
use super::metrics::{ChannelMetrics, Dropped};

/// The skip reason of the bot's own messages.
pub const OWN_MESSAGE: &str = "own message";

/// What a room's worker gets: a message, or the id of one still to be fetched. Either way its
/// ledger row is leased to this process.
#[derive(Debug)]
pub(crate) enum Work {
    /// A normalised message, just claimed.
    Ready(Box<InboundMessage>),
    /// A leased message the worker fetches itself (`Channel::refetch`), so messages keep
    /// their arrival order within the room even though fetching takes time.
    Unfetched {
        /// The message id.
        id: String,
        /// Its room (the dispatcher's key).
        room_id: String,
        /// Its fetch, started when it was queued (so it overlaps the work ahead of it in the
        /// room); `None` = the worker fetches it when its turn comes.
        prefetched: Option<Prefetched>,
        /// Just claimed by a receiver (no answer can be stored yet), as opposed to taken
        /// again by recovery or the re-drive task.
        fresh: bool,
        /// Set aside before (unreadable for a while): its answer is a threaded reply.
        deferred: bool,
    },
}

/// The result of a fetch started ahead of the message's turn.
pub(crate) type Prefetched =
    tokio::sync::oneshot::Receiver<Result<super::Fetched, super::ChannelError>>;

/// Starts the fetches of queued messages early, a bounded number at a time.
#[derive(Clone)]
pub(crate) struct Prefetcher {
    channel: Arc<dyn super::Channel>,
    permits: Arc<tokio::sync::Semaphore>,
    /// Early fetches started and not finished (or cancelled) yet.
    running: Arc<AtomicUsize>,
}

/// Counts one early fetch as running until dropped (with its task's future, also when the
/// task is aborted before it ran).
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Fetches running ahead of their messages' turn, per channel.
const PREFETCH_CONCURRENCY: usize = 8;

impl Prefetcher {
    pub(crate) fn new(channel: Arc<dyn super::Channel>) -> Self {
        Self {
            channel,
            permits: Arc::new(tokio::sync::Semaphore::new(PREFETCH_CONCURRENCY)),
            running: Arc::default(),
        }
    }

    /// Starts fetching message `id` in the background.
    fn start(&self, id: &str) -> EarlyFetch {
        let (done, result) = tokio::sync::oneshot::channel();
        let this = self.clone();
        let id = id.to_string();
        let alone = self.running.fetch_add(1, Ordering::AcqRel) == 0;
        let running = Running(Arc::clone(&self.running));
        let task = tokio::spawn(async move {
            let _running = running;
            let Ok(_permit) = this.permits.acquire().await else {
                return;
            };
            let fetched = this.channel.refetch(&id).await;
            let _ = done.send(fetched);
        });
        EarlyFetch {
            result: Some(result),
            task: task.abort_handle(),
            alone,
        }
    }
}

/// A message's fetch started before its claim committed ([`InboundSink::fetch_early`]), so the
/// read of the message overlaps the store write. Hand it to
/// [`InboundSink::deliver_fetching`]; dropped unused (the claim found a duplicate), the fetch
/// is cancelled.
#[derive(Debug)]
pub struct EarlyFetch {
    result: Option<Prefetched>,
    task: tokio::task::AbortHandle,
    alone: bool,
}

impl EarlyFetch {
    /// Whether nothing else was waiting when this fetch started: no other early fetch of the
    /// channel running and no message of the channel waiting in a room's queue (a message
    /// being answered, say by a slow agent, does not count). Then a receiver can afford to let
    /// this fetch's request go out before it goes on. Otherwise it should not: a webhook
    /// handler that yields in a burst only delays its answer behind everything that is ready,
    /// and a sender that posts the next delivery only after this answer (webex-sim does) adds
    /// every delivery's delay up along its queue (bench/README.md, "What bounds the burst").
    pub fn is_alone(&self) -> bool {
        self.alone
    }

    fn take(mut self) -> Option<Prefetched> {
        self.result.take()
    }
}

impl Drop for EarlyFetch {
    fn drop(&mut self) {
        if self.result.is_some() {
            self.task.abort();
        }
    }
}

/// Who holds the leases this process takes, and for how long.
#[derive(Debug, Clone)]
pub(crate) struct LeaseHolder {
    /// This process: `<node>/<instance>`.
    pub(crate) owner: std::sync::Arc<str>,
    /// `<node>/`: earlier runs of this node (dead once this one runs) match it.
    pub(crate) node_prefix: std::sync::Arc<str>,
    /// How long a lease holds (ms).
    pub(crate) lease_ms: i64,
}

/// The receivers' handle into the gateway. Cheap to clone.
#[derive(Clone)]
pub struct InboundSink {
    channel: String,
    store: Store,
    dispatcher: Arc<Dispatcher<String, Work>>,
    metrics: ChannelMetrics,
    lease: LeaseHolder,
    prefetcher: Option<Prefetcher>,
}

impl std::fmt::Debug for InboundSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundSink")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// The result of [`InboundSink::claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First sighting: the caller must now deliver or skip it.
    New,
    /// Seen before (by the other receiver, a redelivery, or before a restart): ignore it.
    Duplicate,
}

impl InboundSink {
    pub(crate) fn new(
        channel: String,
        store: Store,
        dispatcher: Arc<Dispatcher<String, Work>>,
        metrics: ChannelMetrics,
        lease: LeaseHolder,
        prefetcher: Option<Prefetcher>,
    ) -> Self {
        Self {
            channel,
            store,
            dispatcher,
            metrics,
            lease,
            prefetcher,
        }
    }

    /// The store this sink writes to (receivers keep their cursors there).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Durably records message `id` as received, leased to this process. Returns only after
    /// the write is committed.
    pub async fn claim(
        &self,
        id: &str,
        room_id: &str,
        created_at_ms: i64,
    ) -> Result<Claim, StoreError> {
        let outcome = self
            .store
            .ledger()
            .claim(&LedgerClaim {
                channel: self.channel.clone(),
                message_id: id.to_owned(),
                room_id: room_id.to_owned(),
                created_at: created_at_ms,
                owner: self.lease.owner.to_string(),
                lease_ms: self.lease.lease_ms,
            })
            .await?;
        Ok(match outcome {
            ClaimOutcome::Claimed => Claim::New,
            ClaimOutcome::AlreadySeen(_) => {
                self.metrics.duplicate();
                Claim::Duplicate
            }
        })
    }

    /// [`claim`](Self::claim) for a message a listing found (a polling pass, the safety poll,
    /// the catch-up), which lists most messages again and again: one already recorded is
    /// recognised by a read, without a write unit. A claim racing in between is still
    /// settled by the write.
    pub async fn claim_listed(
        &self,
        id: &str,
        room_id: &str,
        created_at_ms: i64,
    ) -> Result<Claim, StoreError> {
        if self.store.ledger().get(&self.channel, id).await?.is_some() {
            self.metrics.duplicate();
            return Ok(Claim::Duplicate);
        }
        self.claim(id, room_id, created_at_ms).await
    }

    /// Hands a claimed, normalised message to the gateway (waits while its room's queue is full).
    pub async fn deliver(&self, message: InboundMessage) -> Result<(), DispatchError> {
        self.metrics.received();
        self.dispatcher
            .dispatch(message.room_id.clone(), Work::Ready(Box::new(message)))
            .await
    }

    /// Hands over a claimed message that still has to be fetched (a webhook delivery carries
    /// only ids). It takes its place in `room_id`'s queue now and its fetch
    /// ([`Channel::refetch`](super::Channel::refetch)) starts at once, a few at a time, so it
    /// overlaps the work ahead of it; the room's worker takes the result when its turn comes.
    pub async fn deliver_unfetched(&self, id: &str, room_id: &str) -> Result<(), DispatchError> {
        let early = self.fetch_early(id);
        self.deliver_fetching(id, room_id, early).await
    }

    /// Starts fetching message `id` now, before its claim commits, when this gateway fetches
    /// ahead (`None` otherwise). The webhook receiver uses it: the read of the message then
    /// runs beside the claim's store write instead of after it, which takes the commit off the
    /// path from delivery to reply. A delivery the claim finds to be a duplicate costs one
    /// cancelled fetch.
    pub fn fetch_early(&self, id: &str) -> Option<EarlyFetch> {
        let burst = self.dispatcher.has_waiting();
        self.prefetcher.as_ref().map(|p| {
            let mut early = p.start(id);
            early.alone &= !burst;
            early
        })
    }

    /// [`deliver_unfetched`](Self::deliver_unfetched) with the fetch already started by
    /// [`fetch_early`](Self::fetch_early) (`None`: the room's worker fetches it in its turn).
    pub async fn deliver_fetching(
        &self,
        id: &str,
        room_id: &str,
        early: Option<EarlyFetch>,
    ) -> Result<(), DispatchError> {
        self.metrics.received();
        let prefetched = early.and_then(EarlyFetch::take);
        self.dispatcher
            .dispatch(
                room_id.to_string(),
                Work::Unfetched {
                    id: id.to_string(),
                    room_id: room_id.to_string(),
                    prefetched,
                    fresh: true,
                    deferred: false,
                },
            )
            .await
    }

    /// Queues a message this process took again (recovery, re-drive) in its room.
    pub(crate) async fn requeue(&self, room_id: &str, work: Work) -> Result<(), DispatchError> {
        self.dispatcher.dispatch(room_id.to_string(), work).await
    }

    /// Notes that message `id` is the bot's own (counted as skipped `own message`, logged at
    /// debug) without recording it: the bot's own messages are never answered, so they need no
    /// ledger row and cost no store write.
    pub fn ignore_own(&self, id: &str) {
        self.metrics.dropped(Dropped::Skipped(OWN_MESSAGE));
        tracing::debug!(channel = %self.channel, message_id = %id, reason = OWN_MESSAGE, "message not answered");
    }

    /// Marks a claimed message of `room_id` as deliberately not processed, logged at info with
    /// its id, room and reason. `reason` is kept with the record and counted as a
    /// [`Dropped::Skipped`] reason, so it must be a stable phrase (no ids).
    pub async fn skip(
        &self,
        id: &str,
        room_id: &str,
        reason: &'static str,
    ) -> Result<(), StoreError> {
        self.metrics.dropped(Dropped::Skipped(reason));
        tracing::info!(channel = %self.channel, message_id = %id, room = %room_id, reason, "message not answered");
        self.store
            .ledger()
            .finish(&self.channel, id, InboundState::Skipped, Some(reason))
            .await
            .map(|_| ())
    }
}
