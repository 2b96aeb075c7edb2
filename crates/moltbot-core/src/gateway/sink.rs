//! Where receivers put what they receive: the durable claim, then the hand-over.
//!
//! A receiver first [`claims`](InboundSink::claim) a message id: the id is written to the store
//! before the receiver acknowledges anything (answers the webhook, moves its polling cursor), so
//! whichever path sees a message first owns it and every other sighting is a no-op. It then
//! fetches and normalises the message and [`delivers`](InboundSink::deliver) it, or
//! [`skips`](InboundSink::skip) it with a reason (the bot's own message, too old, gone).

use std::sync::Arc;

use crate::dispatch::{DispatchError, Dispatcher};
use crate::store::{InboundState, RecordOutcome, Store, StoreError};

use super::channel::InboundMessage;
use super::metrics::{ChannelMetrics, Dropped};

/// What a room's worker gets: a message, or the id of one still to be fetched.
#[derive(Debug)]
pub(crate) enum Work {
    /// A normalised message.
    Ready(Box<InboundMessage>),
    /// A claimed message the worker fetches itself (`Channel::refetch`), so messages keep
    /// their arrival order within the room even though fetching takes time.
    Unfetched {
        /// The message id.
        id: String,
    },
}

/// The receivers' handle into the gateway. Cheap to clone.
#[derive(Clone)]
pub struct InboundSink {
    channel: String,
    store: Store,
    dispatcher: Arc<Dispatcher<String, Work>>,
    metrics: ChannelMetrics,
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
    ) -> Self {
        Self {
            channel,
            store,
            dispatcher,
            metrics,
        }
    }

    /// The store this sink writes to (receivers keep their cursors there).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Durably records message `id` as received. Returns only after the write is committed.
    pub async fn claim(
        &self,
        id: &str,
        room_id: &str,
        created_at_ms: i64,
    ) -> Result<Claim, StoreError> {
        let outcome = self
            .store
            .inbound()
            .record(&self.channel, id, room_id, created_at_ms)
            .await?;
        Ok(match outcome {
            RecordOutcome::Inserted => Claim::New,
            RecordOutcome::AlreadySeen(_) => {
                self.metrics.duplicate();
                Claim::Duplicate
            }
        })
    }

    /// Hands a claimed, normalised message to the gateway (waits while its room's queue is full).
    pub async fn deliver(&self, message: InboundMessage) -> Result<(), DispatchError> {
        self.metrics.received();
        self.dispatcher
            .dispatch(message.room_id.clone(), Work::Ready(Box::new(message)))
            .await
    }

    /// Hands over a claimed message that still has to be fetched (a webhook delivery carries
    /// only ids). It takes its place in `room_id`'s queue now; the room's worker fetches it
    /// with [`Channel::refetch`](super::Channel::refetch) when its turn comes.
    pub async fn deliver_unfetched(&self, id: &str, room_id: &str) -> Result<(), DispatchError> {
        self.metrics.received();
        self.dispatcher
            .dispatch(room_id.to_string(), Work::Unfetched { id: id.to_string() })
            .await
    }

    /// Marks a claimed message as deliberately not processed. `reason` is kept with the record
    /// and counted as a [`Dropped::Skipped`] reason, so it must be a stable phrase (no ids).
    pub async fn skip(&self, id: &str, reason: &'static str) -> Result<(), StoreError> {
        self.metrics.dropped(Dropped::Skipped(reason));
        self.store
            .inbound()
            .mark(&self.channel, id, InboundState::Skipped, Some(reason))
            .await
            .map(|_| ())
    }
}
