//! [`OutboxRepo`] on SQLite. Bodies live in `outbox_bodies`, written once, so the updates of an
//! operation's state touch only its small row.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{ledger, text_col, SqliteBackend};
use crate::store::{
    InboundState, OutboxEntry, OutboxReply, OutboxRepo, OutboxState, SentRecord, StoreError,
};

const COLUMNS: &str = "o.id, o.channel, o.inbound_message_id, o.room_id, o.parent_id, \
                       o.part_index, o.op, o.part, b.body, o.target_id, o.remote_message_id, \
                       o.state, o.attempts, o.error, o.created_at, o.updated_at";

const FROM: &str = "outbox o JOIN outbox_bodies b ON b.op_id = o.id";

fn entry(r: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: r.get("id")?,
        channel: r.get("channel")?,
        inbound_message_id: r.get("inbound_message_id")?,
        room_id: r.get("room_id")?,
        parent_id: r.get("parent_id")?,
        part_index: r.get("part_index")?,
        op: text_col(r, "op")?,
        part: text_col(r, "part")?,
        body: r.get("body")?,
        target_id: r.get("target_id")?,
        remote_message_id: r.get("remote_message_id")?,
        state: text_col(r, "state")?,
        attempts: r.get("attempts")?,
        error: r.get("error")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

fn select_one(conn: &Connection, id: i64) -> Result<Option<OutboxEntry>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM {FROM} WHERE o.id = ?1"))?
        .query_row(params![id], entry)
        .optional()?)
}

/// The operations answering an inbound message, in order.
pub(super) fn select_reply(
    conn: &Connection,
    channel: &str,
    inbound_message_id: &str,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE o.channel = ?1 AND o.inbound_message_id = ?2
         ORDER BY o.part_index"
    ))?;
    let rows = stmt.query_map(params![channel, inbound_message_id], entry)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Stores a reply's operations (the first one's attempt started when `begin_first`) and returns
/// them as stored, without reading them back.
pub(super) fn insert_reply(
    conn: &Connection,
    reply: &OutboxReply,
    begin_first: bool,
    now: i64,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO outbox (channel, inbound_message_id, room_id, parent_id, part_index, op,
             part, target_id, state, attempts, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10, ?10)",
    )?;
    let mut insert_body =
        conn.prepare_cached("INSERT INTO outbox_bodies (op_id, body) VALUES (?1, ?2)")?;
    let mut stored = Vec::with_capacity(reply.parts.len());
    for (index, part) in reply.parts.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let attempts = u32::from(begin_first && index == 0);
        insert.execute(params![
            reply.channel,
            reply.inbound_message_id,
            reply.room_id,
            reply.parent_id,
            index,
            part.op.as_str(),
            part.part.as_str(),
            part.target_id,
            attempts,
            now
        ])?;
        let id = conn.last_insert_rowid();
        insert_body.execute(params![id, part.body])?;
        stored.push(OutboxEntry::stored(id, reply, index, part, attempts, now));
    }
    Ok(stored)
}

fn begin(conn: &Connection, id: i64, now: i64) -> Result<Option<u32>, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE outbox SET attempts = attempts + 1, updated_at = ?2
             WHERE id = ?1 RETURNING attempts",
        )?
        .query_row(params![id, now], |r| r.get(0))
        .optional()?)
}

#[async_trait::async_trait]
impl OutboxRepo for SqliteBackend {
    async fn enqueue(&self, reply: &OutboxReply) -> Result<Vec<OutboxEntry>, StoreError> {
        let now = self.now_ms();
        let reply = reply.clone();
        self.write(move |conn| {
            if let Some(inbound) = &reply.inbound_message_id {
                let existing = select_reply(conn, &reply.channel, inbound)?;
                if !existing.is_empty() {
                    return Ok(existing);
                }
            }
            insert_reply(conn, &reply, false, now)
        })
        .await
    }

    async fn begin_attempt(&self, id: i64) -> Result<Option<u32>, StoreError> {
        let now = self.now_ms();
        self.write(move |conn| begin(conn, id, now)).await
    }

    async fn record_sent(&self, sent: &SentRecord) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let sent = sent.clone();
        // Grouped, like the answer before it (`Engine::write_grouped`).
        self.write_grouped(move |conn| {
            let found = conn
                .prepare_cached(
                    "UPDATE outbox SET state = 'sent', remote_message_id = ?2, error = NULL,
                         updated_at = ?3
                     WHERE id = ?1",
                )?
                .execute(params![sent.op_id, sent.remote_message_id, now])?
                > 0;
            // An operation that does not exist (pruned, or not this store's) says nothing about
            // the rest of the reply: mark nothing replied on its account.
            if !found {
                return Ok(false);
            }
            if let Some(next) = sent.begin_next {
                begin(conn, next, now)?;
            }
            if let Some((channel, message_id)) = &sent.finish_message {
                ledger::finish_row(conn, channel, message_id, InboundState::Replied, None, now)?;
            }
            Ok(true)
        })
        .await
    }

    async fn mark(
        &self,
        id: i64,
        state: OutboxState,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let error = error.map(str::to_owned);
        self.write(move |conn| {
            Ok(conn.execute(
                "UPDATE outbox SET state = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, state.as_str(), error, now],
            )? > 0)
        })
        .await
    }

    async fn pending(&self, channel: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        let channel = channel.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM {FROM} WHERE o.channel = ?1 AND o.state = 'pending'
                 ORDER BY o.id"
            ))?;
            let rows = stmt.query_map(params![channel], entry)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn for_inbound(
        &self,
        channel: &str,
        inbound_message_id: &str,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let [channel, inbound] = [channel, inbound_message_id].map(str::to_owned);
        self.read_now(move |conn| select_reply(conn, &channel, &inbound))
    }

    async fn get(&self, id: i64) -> Result<Option<OutboxEntry>, StoreError> {
        self.read_now(move |conn| select_one(conn, id))
    }

    async fn last_sent_at(&self, channel: &str) -> Result<Option<i64>, StoreError> {
        let channel = channel.to_owned();
        self.read(move |conn| {
            Ok(conn.query_row(
                "SELECT MAX(updated_at) FROM outbox WHERE channel = ?1 AND state = 'sent'",
                params![channel],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn prune_finished(&self, older_than: i64, limit: usize) -> Result<usize, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write(move |conn| {
            let ids: Vec<i64> = conn
                .prepare_cached(
                    "SELECT id FROM outbox WHERE state != 'pending' AND updated_at < ?1
                     ORDER BY id LIMIT ?2",
                )?
                .query_map(params![older_than, limit], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut body = conn.prepare_cached("DELETE FROM outbox_bodies WHERE op_id = ?1")?;
            let mut op = conn.prepare_cached("DELETE FROM outbox WHERE id = ?1")?;
            for id in &ids {
                body.execute(params![id])?;
                op.execute(params![id])?;
            }
            Ok(ids.len())
        })
        .await
    }
}
