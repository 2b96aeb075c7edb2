//! Outbound message chunks, recorded before they are sent.
//!
//! A reply is split into chunks and every chunk is stored `pending` before the first is sent
//! ([`Outbound::enqueue_blocking`]). The sender calls [`Outbound::begin_attempt_blocking`] right
//! before each send and [`Outbound::mark_sent_blocking`] right after, so after a crash:
//! - `sent` chunks are never sent again;
//! - `pending` chunks with `attempts == 0` were never tried and are safe to send;
//! - `pending` chunks with `attempts > 0` were in flight when the process died: the sender
//!   decides (typically mark them `unknown` rather than risk a duplicate).
//!
//! Enqueueing the same inbound message again (crash recovery re-running the agent) returns the
//! chunks already stored instead of adding new ones.

use rusqlite::{params, OptionalExtension, Row};

use super::{write_transaction, Store, StoreError};

text_enum! {
    /// Delivery state of an outbound chunk.
    pub enum OutboundState {
        /// Not sent yet (see `attempts` for whether a send was started).
        Pending => "pending",
        /// Accepted by the chat network.
        Sent => "sent",
        /// A send was attempted but its outcome is unknown (e.g. timeout, crash mid-send).
        Unknown => "unknown",
        /// Sending failed for good; see the error.
        Failed => "failed",
    }
}

/// A reply to store before sending: its destination and its chunks in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundReply {
    /// The channel sending it.
    pub channel: String,
    /// The inbound message this answers (`None` for proactive messages).
    pub inbound_message_id: Option<String>,
    /// The destination room (or other target the channel understands).
    pub room_id: String,
    /// The thread parent message, when replying in a thread.
    pub parent_id: Option<String>,
    /// The chunk bodies, in sending order.
    pub chunks: Vec<String>,
}

/// One stored outbound chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundChunk {
    /// Row id, used to mark the chunk.
    pub id: i64,
    /// The channel sending it.
    pub channel: String,
    /// The inbound message this answers.
    pub inbound_message_id: Option<String>,
    /// The destination room.
    pub room_id: String,
    /// The thread parent message.
    pub parent_id: Option<String>,
    /// Position in the reply (0-based).
    pub chunk_index: u32,
    /// The text to send.
    pub body: String,
    /// The id the chat network gave the sent message.
    pub remote_message_id: Option<String>,
    /// Delivery state.
    pub state: OutboundState,
    /// How many sends were started.
    pub attempts: u32,
    /// The last error.
    pub error: Option<String>,
    /// When it was stored (unix ms).
    pub created_at: i64,
    /// When it last changed (unix ms).
    pub updated_at: i64,
}

impl OutboundChunk {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get("id")?,
            channel: r.get("channel")?,
            inbound_message_id: r.get("inbound_message_id")?,
            room_id: r.get("room_id")?,
            parent_id: r.get("parent_id")?,
            chunk_index: r.get("chunk_index")?,
            body: r.get("body")?,
            remote_message_id: r.get("remote_message_id")?,
            state: r.get("state")?,
            attempts: r.get("attempts")?,
            error: r.get("error")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
        })
    }
}

const COLUMNS: &str = "id, channel, inbound_message_id, room_id, parent_id, chunk_index, body, \
                       remote_message_id, state, attempts, error, created_at, updated_at";

/// Access to the `outbound` table; get it with [`Store::outbound`].
#[derive(Debug, Clone, Copy)]
pub struct Outbound<'a> {
    pub(super) store: &'a Store,
}

impl Outbound<'_> {
    /// Stores every chunk of `reply` as `pending` and returns them in order. If chunks are
    /// already stored for the same inbound message, stores nothing and returns those instead.
    pub fn enqueue_blocking(
        &self,
        reply: &OutboundReply,
    ) -> Result<Vec<OutboundChunk>, StoreError> {
        let now = self.store.now_ms();
        self.store.call_blocking(|conn| {
            write_transaction(conn, |tx| {
                if let Some(inbound) = &reply.inbound_message_id {
                    let existing: i64 = tx.query_row(
                        "SELECT COUNT(*) FROM outbound
                         WHERE channel = ?1 AND inbound_message_id = ?2",
                        params![reply.channel, inbound],
                        |r| r.get(0),
                    )?;
                    if existing > 0 {
                        return select_reply(tx, &reply.channel, inbound);
                    }
                }
                let mut insert = tx.prepare(
                    "INSERT INTO outbound (channel, inbound_message_id, room_id, parent_id,
                         chunk_index, body, state, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                )?;
                let mut ids = Vec::with_capacity(reply.chunks.len());
                for (index, body) in reply.chunks.iter().enumerate() {
                    let index = u32::try_from(index).unwrap_or(u32::MAX);
                    insert.execute(params![
                        reply.channel,
                        reply.inbound_message_id,
                        reply.room_id,
                        reply.parent_id,
                        index,
                        body,
                        OutboundState::Pending,
                        now
                    ])?;
                    ids.push(tx.last_insert_rowid());
                }
                let mut chunks = Vec::with_capacity(ids.len());
                for id in ids {
                    chunks.push(select_one(tx, id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?);
                }
                Ok(chunks)
            })
        })
    }

    /// Counts a send attempt of chunk `id` (call right before sending); returns the attempt
    /// number, or `None` if there is no such chunk.
    pub fn begin_attempt_blocking(&self, id: i64) -> Result<Option<u32>, StoreError> {
        let now = self.store.now_ms();
        self.store.call_blocking(|conn| {
            Ok(conn
                .query_row(
                    "UPDATE outbound SET attempts = attempts + 1, updated_at = ?2
                     WHERE id = ?1 RETURNING attempts",
                    params![id, now],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    /// Marks chunk `id` as sent, with the id the chat network gave it; returns whether the
    /// chunk exists.
    pub fn mark_sent_blocking(&self, id: i64, remote_message_id: &str) -> Result<bool, StoreError> {
        let now = self.store.now_ms();
        self.store.call_blocking(|conn| {
            Ok(conn.execute(
                "UPDATE outbound SET state = ?2, remote_message_id = ?3, error = NULL,
                     updated_at = ?4
                 WHERE id = ?1",
                params![id, OutboundState::Sent, remote_message_id, now],
            )? > 0)
        })
    }

    /// Sets the state (and error) of chunk `id`; returns whether the chunk exists.
    pub fn mark_blocking(
        &self,
        id: i64,
        state: OutboundState,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = self.store.now_ms();
        self.store.call_blocking(|conn| {
            Ok(conn.execute(
                "UPDATE outbound SET state = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, state, error, now],
            )? > 0)
        })
    }

    /// The `pending` chunks of `channel`, in the order they were stored.
    pub fn pending_blocking(&self, channel: &str) -> Result<Vec<OutboundChunk>, StoreError> {
        self.store.call_blocking(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM outbound WHERE channel = ?1 AND state = 'pending'
                 ORDER BY id"
            ))?;
            let rows = stmt.query_map(params![channel], OutboundChunk::from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The chunks answering inbound message `inbound_message_id`, in chunk order.
    pub fn for_inbound_blocking(
        &self,
        channel: &str,
        inbound_message_id: &str,
    ) -> Result<Vec<OutboundChunk>, StoreError> {
        self.store
            .call_blocking(|conn| select_reply(conn, channel, inbound_message_id))
    }

    /// Chunk `id`, if it exists.
    pub fn get_blocking(&self, id: i64) -> Result<Option<OutboundChunk>, StoreError> {
        self.store.call_blocking(|conn| select_one(conn, id))
    }

    /// When `channel` last had a chunk accepted (unix ms), for status output.
    pub fn last_sent_at_blocking(&self, channel: &str) -> Result<Option<i64>, StoreError> {
        self.store.call_blocking(|conn| {
            Ok(conn.query_row(
                "SELECT MAX(updated_at) FROM outbound WHERE channel = ?1 AND state = 'sent'",
                params![channel],
                |r| r.get(0),
            )?)
        })
    }

    /// Async form of [`Outbound::enqueue_blocking`].
    pub async fn enqueue(&self, reply: OutboundReply) -> Result<Vec<OutboundChunk>, StoreError> {
        self.store
            .run(move |s| s.outbound().enqueue_blocking(&reply))
            .await
    }

    /// Async form of [`Outbound::begin_attempt_blocking`].
    pub async fn begin_attempt(&self, id: i64) -> Result<Option<u32>, StoreError> {
        self.store
            .run(move |s| s.outbound().begin_attempt_blocking(id))
            .await
    }

    /// Async form of [`Outbound::mark_sent_blocking`].
    pub async fn mark_sent(&self, id: i64, remote_message_id: &str) -> Result<bool, StoreError> {
        let remote = remote_message_id.to_owned();
        self.store
            .run(move |s| s.outbound().mark_sent_blocking(id, &remote))
            .await
    }

    /// Async form of [`Outbound::mark_blocking`].
    pub async fn mark(
        &self,
        id: i64,
        state: OutboundState,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let error = error.map(str::to_owned);
        self.store
            .run(move |s| s.outbound().mark_blocking(id, state, error.as_deref()))
            .await
    }

    /// Async form of [`Outbound::pending_blocking`].
    pub async fn pending(&self, channel: &str) -> Result<Vec<OutboundChunk>, StoreError> {
        let channel = channel.to_owned();
        self.store
            .run(move |s| s.outbound().pending_blocking(&channel))
            .await
    }

    /// Async form of [`Outbound::for_inbound_blocking`].
    pub async fn for_inbound(
        &self,
        channel: &str,
        inbound_message_id: &str,
    ) -> Result<Vec<OutboundChunk>, StoreError> {
        let [channel, inbound] = [channel, inbound_message_id].map(str::to_owned);
        self.store
            .run(move |s| s.outbound().for_inbound_blocking(&channel, &inbound))
            .await
    }

    /// Async form of [`Outbound::get_blocking`].
    pub async fn get(&self, id: i64) -> Result<Option<OutboundChunk>, StoreError> {
        self.store.run(move |s| s.outbound().get_blocking(id)).await
    }

    /// Async form of [`Outbound::last_sent_at_blocking`].
    pub async fn last_sent_at(&self, channel: &str) -> Result<Option<i64>, StoreError> {
        let channel = channel.to_owned();
        self.store
            .run(move |s| s.outbound().last_sent_at_blocking(&channel))
            .await
    }
}

fn select_one(conn: &rusqlite::Connection, id: i64) -> Result<Option<OutboundChunk>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM outbound WHERE id = ?1"),
            params![id],
            OutboundChunk::from_row,
        )
        .optional()?)
}

fn select_reply(
    conn: &rusqlite::Connection,
    channel: &str,
    inbound_message_id: &str,
) -> Result<Vec<OutboundChunk>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM outbound WHERE channel = ?1 AND inbound_message_id = ?2
         ORDER BY chunk_index"
    ))?;
    let rows = stmt.query_map(
        params![channel, inbound_message_id],
        OutboundChunk::from_row,
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
