//! Inbound messages: the dedupe record and processing state of every message a channel receives.
//!
//! A channel calls [`Inbound::record_blocking`] (or [`Inbound::record`]) with the message id
//! before it acknowledges the message (answers the webhook, advances the polling cursor). The
//! first caller gets [`RecordOutcome::Inserted`] and processes the message; every later caller
//! (webhook redelivery, the other receiver in `both` mode, a restart) gets
//! [`RecordOutcome::AlreadySeen`]. Messages left `received`/`processing` by a crash are found
//! again with [`Inbound::pending_blocking`].

use rusqlite::{params, OptionalExtension, Row};

use super::{write_transaction, Store, StoreError};

text_enum! {
    /// Where an inbound message is in its processing.
    pub enum InboundState {
        /// Recorded, not yet picked up.
        Received => "received",
        /// Being processed (access check, agent, reply).
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

/// The result of [`Inbound::record_blocking`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// First sighting: the caller owns processing the message.
    Inserted,
    /// Already recorded, in this state: do not process it again.
    AlreadySeen(InboundState),
}

/// One row of `inbound_messages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// The channel (plugin id) that received it.
    pub channel: String,
    /// The message id assigned by the chat network.
    pub message_id: String,
    /// The room (conversation) it was posted in.
    pub room_id: String,
    /// Processing state.
    pub state: InboundState,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    /// The message's own timestamp (unix ms).
    pub created_at: i64,
    /// When it was first recorded (unix ms).
    pub received_at: i64,
    /// When its state last changed (unix ms).
    pub updated_at: i64,
    /// How many times processing started.
    pub attempts: u32,
}

impl InboundMessage {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            channel: r.get("channel")?,
            message_id: r.get("message_id")?,
            room_id: r.get("room_id")?,
            state: r.get("state")?,
            reason: r.get("reason")?,
            created_at: r.get("created_at")?,
            received_at: r.get("received_at")?,
            updated_at: r.get("updated_at")?,
            attempts: r.get("attempts")?,
        })
    }
}

const COLUMNS: &str =
    "channel, message_id, room_id, state, reason, created_at, received_at, updated_at, attempts";

/// Access to the `inbound_messages` table; get it with [`Store::inbound`].
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub(super) store: &'a Store,
}

impl Inbound<'_> {
    /// Records message `message_id` of `channel` as `received` unless it is already known.
    /// Idempotent and atomic, also across processes: exactly one caller gets
    /// [`RecordOutcome::Inserted`]. `created_at` is the message's own timestamp (unix ms).
    pub fn record_blocking(
        &self,
        channel: &str,
        message_id: &str,
        room_id: &str,
        created_at: i64,
    ) -> Result<RecordOutcome, StoreError> {
        let now = self.store.now_ms();
        self.store.call_blocking(|conn| {
            write_transaction(conn, |tx| {
                let inserted = tx.execute(
                    "INSERT INTO inbound_messages
                         (channel, message_id, room_id, state, created_at, received_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                     ON CONFLICT (channel, message_id) DO NOTHING",
                    params![
                        channel,
                        message_id,
                        room_id,
                        InboundState::Received,
                        created_at,
                        now
                    ],
                )?;
                if inserted > 0 {
                    return Ok(RecordOutcome::Inserted);
                }
                let state = tx.query_row(
                    "SELECT state FROM inbound_messages WHERE channel = ?1 AND message_id = ?2",
                    params![channel, message_id],
                    |r| r.get(0),
                )?;
                Ok(RecordOutcome::AlreadySeen(state))
            })
        })
    }

    /// Sets the state (and reason) of a recorded message; moving to `processing` counts an
    /// attempt. Returns whether the message was known.
    pub fn mark_blocking(
        &self,
        channel: &str,
        message_id: &str,
        state: InboundState,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = self.store.now_ms();
        let attempt = u32::from(state == InboundState::Processing);
        self.store.call_blocking(|conn| {
            let n = conn.execute(
                "UPDATE inbound_messages
                 SET state = ?3, reason = ?4, updated_at = ?5, attempts = attempts + ?6
                 WHERE channel = ?1 AND message_id = ?2",
                params![channel, message_id, state, reason, now, attempt],
            )?;
            Ok(n > 0)
        })
    }

    /// Messages of `channel` still `received` or `processing` whose own timestamp is after
    /// `newer_than` (unix ms), oldest first: what a restart must finish.
    pub fn pending_blocking(
        &self,
        channel: &str,
        newer_than: i64,
    ) -> Result<Vec<InboundMessage>, StoreError> {
        self.store.call_blocking(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM inbound_messages
                 WHERE channel = ?1 AND state IN ('received', 'processing') AND created_at > ?2
                 ORDER BY created_at, received_at, message_id"
            ))?;
            let rows = stmt.query_map(params![channel, newer_than], InboundMessage::from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Marks the pending messages of `channel` whose own timestamp is at or before `older_than`
    /// as `skipped` with `reason` (too old to answer after downtime); returns how many.
    pub fn skip_stale_blocking(
        &self,
        channel: &str,
        older_than: i64,
        reason: &str,
    ) -> Result<usize, StoreError> {
        let now = self.store.now_ms();
        self.store.call_blocking(|conn| {
            Ok(conn.execute(
                "UPDATE inbound_messages SET state = ?3, reason = ?4, updated_at = ?5
                 WHERE channel = ?1 AND state IN ('received', 'processing') AND created_at <= ?2",
                params![channel, older_than, InboundState::Skipped, reason, now],
            )?)
        })
    }

    /// The state of a message, or `None` if it was never recorded.
    pub fn state_of_blocking(
        &self,
        channel: &str,
        message_id: &str,
    ) -> Result<Option<InboundState>, StoreError> {
        self.store.call_blocking(|conn| {
            Ok(conn
                .query_row(
                    "SELECT state FROM inbound_messages WHERE channel = ?1 AND message_id = ?2",
                    params![channel, message_id],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    /// The full record of a message, or `None` if it was never recorded.
    pub fn get_blocking(
        &self,
        channel: &str,
        message_id: &str,
    ) -> Result<Option<InboundMessage>, StoreError> {
        self.store.call_blocking(|conn| {
            Ok(conn
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM inbound_messages
                         WHERE channel = ?1 AND message_id = ?2"
                    ),
                    params![channel, message_id],
                    InboundMessage::from_row,
                )
                .optional()?)
        })
    }

    /// How many messages of `channel` are recorded, only those in `state` if given.
    pub fn count_blocking(
        &self,
        channel: &str,
        state: Option<InboundState>,
    ) -> Result<u64, StoreError> {
        self.store.call_blocking(|conn| {
            Ok(conn.query_row(
                "SELECT COUNT(*) FROM inbound_messages
                 WHERE channel = ?1 AND (?2 IS NULL OR state = ?2)",
                params![channel, state],
                |r| r.get(0),
            )?)
        })
    }

    /// When `channel` last recorded an inbound message (unix ms), for status output.
    pub fn last_received_at_blocking(&self, channel: &str) -> Result<Option<i64>, StoreError> {
        self.store.call_blocking(|conn| {
            Ok(conn.query_row(
                "SELECT MAX(received_at) FROM inbound_messages WHERE channel = ?1",
                params![channel],
                |r| r.get(0),
            )?)
        })
    }

    /// Deletes finished (`replied`, `skipped`, `failed`) records last updated before
    /// `older_than` (unix ms), keeping the table small; returns how many.
    pub fn prune_finished_blocking(&self, older_than: i64) -> Result<usize, StoreError> {
        self.store.call_blocking(|conn| {
            Ok(conn.execute(
                "DELETE FROM inbound_messages
                 WHERE state IN ('replied', 'skipped', 'failed') AND updated_at < ?1",
                params![older_than],
            )?)
        })
    }

    /// Async form of [`Inbound::record_blocking`].
    pub async fn record(
        &self,
        channel: &str,
        message_id: &str,
        room_id: &str,
        created_at: i64,
    ) -> Result<RecordOutcome, StoreError> {
        let [channel, message_id, room_id] = [channel, message_id, room_id].map(str::to_owned);
        self.store
            .run(move |s| {
                s.inbound()
                    .record_blocking(&channel, &message_id, &room_id, created_at)
            })
            .await
    }

    /// Async form of [`Inbound::mark_blocking`].
    pub async fn mark(
        &self,
        channel: &str,
        message_id: &str,
        state: InboundState,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        let [channel, message_id] = [channel, message_id].map(str::to_owned);
        let reason = reason.map(str::to_owned);
        self.store
            .run(move |s| {
                s.inbound()
                    .mark_blocking(&channel, &message_id, state, reason.as_deref())
            })
            .await
    }

    /// Async form of [`Inbound::pending_blocking`].
    pub async fn pending(
        &self,
        channel: &str,
        newer_than: i64,
    ) -> Result<Vec<InboundMessage>, StoreError> {
        let channel = channel.to_owned();
        self.store
            .run(move |s| s.inbound().pending_blocking(&channel, newer_than))
            .await
    }

    /// Async form of [`Inbound::skip_stale_blocking`].
    pub async fn skip_stale(
        &self,
        channel: &str,
        older_than: i64,
        reason: &str,
    ) -> Result<usize, StoreError> {
        let [channel, reason] = [channel, reason].map(str::to_owned);
        self.store
            .run(move |s| {
                s.inbound()
                    .skip_stale_blocking(&channel, older_than, &reason)
            })
            .await
    }

    /// Async form of [`Inbound::state_of_blocking`].
    pub async fn state_of(
        &self,
        channel: &str,
        message_id: &str,
    ) -> Result<Option<InboundState>, StoreError> {
        let [channel, message_id] = [channel, message_id].map(str::to_owned);
        self.store
            .run(move |s| s.inbound().state_of_blocking(&channel, &message_id))
            .await
    }

    /// Async form of [`Inbound::get_blocking`].
    pub async fn get(
        &self,
        channel: &str,
        message_id: &str,
    ) -> Result<Option<InboundMessage>, StoreError> {
        let [channel, message_id] = [channel, message_id].map(str::to_owned);
        self.store
            .run(move |s| s.inbound().get_blocking(&channel, &message_id))
            .await
    }

    /// Async form of [`Inbound::count_blocking`].
    pub async fn count(
        &self,
        channel: &str,
        state: Option<InboundState>,
    ) -> Result<u64, StoreError> {
        let channel = channel.to_owned();
        self.store
            .run(move |s| s.inbound().count_blocking(&channel, state))
            .await
    }

    /// Async form of [`Inbound::last_received_at_blocking`].
    pub async fn last_received_at(&self, channel: &str) -> Result<Option<i64>, StoreError> {
        let channel = channel.to_owned();
        self.store
            .run(move |s| s.inbound().last_received_at_blocking(&channel))
            .await
    }

    /// Async form of [`Inbound::prune_finished_blocking`].
    pub async fn prune_finished(&self, older_than: i64) -> Result<usize, StoreError> {
        self.store
            .run(move |s| s.inbound().prune_finished_blocking(older_than))
            .await
    }
}
