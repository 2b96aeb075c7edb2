//! The ledger: the record and processing state of every message a channel receives.
//!
//! A receiver [`claims`](LedgerRepo::claim) a message id before it acknowledges the message
//! (answers the webhook, advances the polling cursor): the first claim inserts the row with a
//! lease held by the claiming process (`owner`, `lease_until`) and wins; every later sighting
//! (webhook redelivery, the other receiver, a restart, another replica) sees it as already
//! recorded. The row then moves through at most two more commits on the message path:
//! [`LedgerRepo::record_answer`] ("the agent answered": processing state, the session's new
//! turns and the reply's outbox operations) and [`OutboxRepo::record_sent`](super::OutboxRepo)
//! ("sent and replied").
//!
//! A message that cannot be read or answered yet is [`deferred`](LedgerRepo::defer): its lease
//! is released and `next_attempt_at` set, and the gateway's re-drive task
//! [`takes`](LedgerRepo::take) it again when it is [`due`](LedgerRepo::due). Leases of work
//! still queued or running are [`renewed`](LedgerRepo::renew_owned) while the owner lives; a
//! lease that expires (the owner died) can be taken by anyone.

use super::{OutboxEntry, OutboxReply, SessionAppend, StoreError};

text_enum! {
    /// Where an inbound message is in its processing.
    pub enum InboundState {
        /// Claimed, not answered yet (possibly deferred; see `next_attempt_at`).
        Received => "received",
        /// The agent's answer is stored; the reply is being sent.
        Processing => "processing",
        /// Answered.
        Replied => "replied",
        /// Deliberately not answered (policy, own message, too old); see the reason.
        Skipped => "skipped",
        /// Processing failed; see the reason.
        Failed => "failed",
    }
}

impl InboundState {
    /// Whether the message still needs processing (`received` or `processing`).
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Received | Self::Processing)
    }
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The channel (plugin id) that received it.
    pub channel: String,
    /// The message id assigned by the chat network.
    pub message_id: String,
    /// The room (conversation) it was posted in.
    pub room_id: String,
    /// Processing state.
    pub state: InboundState,
    /// Why it was skipped, failed or deferred.
    pub reason: Option<String>,
    /// The message's own timestamp (unix ms).
    pub created_at: i64,
    /// When it was first recorded (unix ms).
    pub received_at: i64,
    /// When its row last changed (unix ms).
    pub updated_at: i64,
    /// How many times a process took it (the claim counts as the first).
    pub attempts: u32,
    /// When a deferred message is due again (unix ms; 0 = now).
    pub next_attempt_at: i64,
    /// The process holding (or last holding) its lease.
    pub owner: Option<String>,
    /// Until when the lease holds (unix ms; 0 = released).
    pub lease_until: i64,
    /// Whether it was set aside once (unreadable for a while): its answer is a threaded reply.
    pub deferred: bool,
}

/// A receiver's claim of a message (see [`LedgerRepo::claim`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The channel.
    pub channel: String,
    /// The message id.
    pub message_id: String,
    /// Its room.
    pub room_id: String,
    /// The message's own timestamp (unix ms).
    pub created_at: i64,
    /// The claiming process.
    pub owner: String,
    /// How long the lease holds (ms).
    pub lease_ms: i64,
}

/// The result of [`LedgerRepo::claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// First sighting: the caller owns processing the message.
    Claimed,
    /// Already recorded, in this state: do not process it again.
    AlreadySeen(InboundState),
}

/// "The agent answered" (see [`LedgerRepo::record_answer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerRecord {
    /// The channel.
    pub channel: String,
    /// The message answered.
    pub message_id: String,
    /// The session's new turns (the user's message and the answer), if the session keeps them.
    pub session: Option<SessionAppend>,
    /// The reply's operations.
    pub reply: OutboxReply,
    /// Start the first operation's attempt in the same commit (the sender runs it right away).
    pub begin_first: bool,
}

/// The ledger; get it with [`Store::ledger`](super::Store::ledger).
#[async_trait::async_trait]
pub trait LedgerRepo: Send + Sync {
    /// Records the message as `received`, leased to `claim.owner`, unless it is already known.
    /// Atomic, also across processes: exactly one caller gets [`ClaimOutcome::Claimed`].
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError>;

    /// Takes a pending message for `owner` if its lease expired or was released, or if
    /// `owner_prefix` is given and the current owner starts with it (a previous run of the same
    /// node, which cannot be alive). Counts an attempt; returns the row as taken, or `None`
    /// when it is not pending or someone else holds it.
    async fn take(
        &self,
        channel: &str,
        message_id: &str,
        owner: &str,
        owner_prefix: Option<&str>,
        lease_ms: i64,
    ) -> Result<Option<LedgerEntry>, StoreError>;

    /// Extends to `now + lease_ms` every live lease `owner` holds that has at most two thirds
    /// of `lease_ms` left ([`renew_below_ms`]); returns how many. A lease taken or renewed less
    /// than a third of `lease_ms` ago is left as it is, so a renewal pass over fresh work costs
    /// no write. Callers renew more often than every `2/3 * lease_ms`.
    async fn renew_owned(&self, owner: &str, lease_ms: i64) -> Result<usize, StoreError>;

    /// Records the agent's answer in one commit: the message moves to `processing`, the
    /// session's turns are appended (and trimmed), and the reply's operations are stored (the
    /// first one's attempt started when asked). Only a message still `received` takes an
    /// answer: for one already answered (even with no operations), finished or unknown,
    /// nothing is written and the operations stored for it are returned.
    async fn record_answer(&self, answer: &AnswerRecord) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Sets a final state (`replied`, `skipped`, `failed`) and reason, and releases the lease.
    /// Returns whether the message was known.
    async fn finish(
        &self,
        channel: &str,
        message_id: &str,
        state: InboundState,
        reason: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Sets a pending message aside until `next_attempt_at` (unix ms) with `reason`: releases
    /// its lease and marks it deferred. Returns whether the message was pending.
    async fn defer(
        &self,
        channel: &str,
        message_id: &str,
        next_attempt_at: i64,
        reason: &str,
    ) -> Result<bool, StoreError>;

    /// Pending messages of `channel` that nobody holds and that are due (`next_attempt_at` at
    /// or before now), oldest first, at most `limit`.
    async fn due(&self, channel: &str, limit: usize) -> Result<Vec<LedgerEntry>, StoreError>;

    /// When the next deferred message of `channel` is due (unix ms), if any is waiting.
    async fn next_due_at(&self, channel: &str) -> Result<Option<i64>, StoreError>;

    /// The oldest pending message of `message_id`'s room that comes before it in ledger order
    /// (its own timestamp `created_at`, then `received_at`, then the id), leaving out the
    /// messages set aside as unreadable (`deferred`: they never hold their room up). `None`
    /// when nothing is ahead, or when `message_id` is unknown.
    ///
    /// Replicas sharing a store call it before processing a message, so a room's messages are
    /// answered in order even when different replicas received them: the caller waits while
    /// the message returned is leased to another live owner, and processes it first when it
    /// holds it itself or once its lease has expired (taking it over).
    async fn first_ahead(
        &self,
        channel: &str,
        message_id: &str,
    ) -> Result<Option<LedgerEntry>, StoreError>;

    /// Messages of `channel` still pending whose own timestamp is after `newer_than` (unix
    /// ms), oldest first.
    async fn pending(&self, channel: &str, newer_than: i64)
        -> Result<Vec<LedgerEntry>, StoreError>;

    /// Marks the pending messages of `channel` whose own timestamp is at or before
    /// `older_than` as `skipped` with `reason`; returns their ids.
    async fn skip_stale(
        &self,
        channel: &str,
        older_than: i64,
        reason: &str,
    ) -> Result<Vec<String>, StoreError>;

    /// The full record of a message, or `None` if it was never recorded.
    async fn get(&self, channel: &str, message_id: &str)
        -> Result<Option<LedgerEntry>, StoreError>;

    /// The state of a message, or `None` if it was never recorded.
    async fn state_of(
        &self,
        channel: &str,
        message_id: &str,
    ) -> Result<Option<InboundState>, StoreError> {
        Ok(self.get(channel, message_id).await?.map(|e| e.state))
    }

    /// How many messages of `channel` are recorded, only those in `state` if given.
    async fn count(&self, channel: &str, state: Option<InboundState>) -> Result<u64, StoreError>;

    /// When `channel` last recorded a message (unix ms), for status output.
    async fn last_received_at(&self, channel: &str) -> Result<Option<i64>, StoreError>;

    /// Deletes finished records last updated before `older_than` (unix ms); returns how many.
    /// At most `limit` rows go in one call (a unit of work), so a large backlog is deleted in
    /// small commits that let the message path in between.
    async fn prune_finished(&self, older_than: i64, limit: usize) -> Result<usize, StoreError>;
}

/// How much of a lease of `lease_ms` may be left for [`LedgerRepo::renew_owned`] to renew it:
/// two thirds (a lease with more left was taken or renewed recently).
pub fn renew_below_ms(lease_ms: i64) -> i64 {
    lease_ms.saturating_mul(2) / 3
}
