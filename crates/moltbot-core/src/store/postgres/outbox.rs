//! [`OutboxRepo`] on PostgreSQL. Bodies live in `outbox_bodies`, written once, as in SQLite.
//! Enqueueing a reply for an inbound message takes that message's advisory lock, so two
//! processes recovering it at once store its operations once.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{
    changed, execute, ledger, limit, lock, parse_text, query, query_one, query_opt, small,
    PostgresBackend,
};
use crate::store::{
    InboundState, OutboxEntry, OutboxReply, OutboxRepo, OutboxState, SentRecord, StoreError,
};

const COLUMNS: &str = "o.id, o.channel, o.inbound_message_id, o.room_id, o.parent_id, \
                       o.part_index, o.op, o.part, b.body, o.target_id, o.remote_message_id, \
                       o.state, o.attempts, o.error, o.created_at, o.updated_at";

const FROM: &str = "outbox o JOIN outbox_bodies b ON b.op_id = o.id";

fn entry(r: &Row) -> Result<OutboxEntry, StoreError> {
    Ok(OutboxEntry {
        id: r.try_get("id")?,
        channel: r.try_get("channel")?,
        inbound_message_id: r.try_get("inbound_message_id")?,
        room_id: r.try_get("room_id")?,
        parent_id: r.try_get("parent_id")?,
        part_index: small("outbox part index", r.try_get("part_index")?)?,
        op: parse_text("outbox op", r.try_get("op")?)?,
        part: parse_text("outbox part", r.try_get("part")?)?,
        body: r.try_get("body")?,
        target_id: r.try_get("target_id")?,
        remote_message_id: r.try_get("remote_message_id")?,
        state: parse_text("outbox state", r.try_get("state")?)?,
        attempts: small("outbox attempts", r.try_get("attempts")?)?,
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn entries(rows: &[Row]) -> Result<Vec<OutboxEntry>, StoreError> {
    rows.iter().map(entry).collect()
}

/// The operations answering an inbound message, in order.
pub(super) async fn select_reply(
    c: &impl GenericClient,
    channel: &str,
    inbound_message_id: &str,
) -> Result<Vec<OutboxEntry>, StoreError> {
    entries(
        &query(
            c,
            &format!(
                "SELECT {COLUMNS} FROM {FROM}
                 WHERE o.channel = $1 AND o.inbound_message_id = $2 ORDER BY o.part_index"
            ),
            &[&channel, &inbound_message_id],
        )
        .await?,
    )
}

/// Stores a reply's operations (the first one's attempt started when `begin_first`) and
/// returns them as stored, one statement per operation (its row and its body).
pub(super) async fn insert_reply(
    c: &impl GenericClient,
    reply: &OutboxReply,
    begin_first: bool,
    now: i64,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut stored = Vec::with_capacity(reply.parts.len());
    for (index, part) in reply.parts.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let attempts = u32::from(begin_first && index == 0);
        let id: i64 = query_one(
            c,
            "WITH op AS (
                 INSERT INTO outbox (channel, inbound_message_id, room_id, parent_id, part_index,
                     op, part, target_id, state, attempts, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $10)
                 RETURNING id)
             INSERT INTO outbox_bodies (op_id, body) SELECT id, $11 FROM op RETURNING op_id",
            &[
                &reply.channel,
                &reply.inbound_message_id,
                &reply.room_id,
                &reply.parent_id,
                &i64::from(index),
                &part.op.as_str(),
                &part.part.as_str(),
                &part.target_id,
                &i64::from(attempts),
                &now,
                &part.body,
            ],
        )
        .await?
        .try_get(0)?;
        stored.push(OutboxEntry::stored(id, reply, index, part, attempts, now));
    }
    Ok(stored)
}

async fn begin(c: &impl GenericClient, id: i64, now: i64) -> Result<Option<u32>, StoreError> {
    query_opt(
        c,
        "UPDATE outbox SET attempts = attempts + 1, updated_at = $2
         WHERE id = $1 RETURNING attempts",
        &[&id, &now],
    )
    .await?
    .map(|r| small("outbox attempts", r.try_get(0)?))
    .transpose()
}

#[async_trait::async_trait]
impl OutboxRepo for PostgresBackend {
    async fn enqueue(&self, reply: &OutboxReply) -> Result<Vec<OutboxEntry>, StoreError> {
        let now = self.now_ms();
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        if let Some(inbound) = &reply.inbound_message_id {
            lock(&tx, &format!("outbox:{}:{inbound}", reply.channel)).await?;
            let existing = select_reply(&tx, &reply.channel, inbound).await?;
            if !existing.is_empty() {
                tx.commit().await?;
                return Ok(existing);
            }
        }
        let stored = insert_reply(&tx, reply, false, now).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn begin_attempt(&self, id: i64) -> Result<Option<u32>, StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        begin(&c, id, now).await
    }

    async fn record_sent(&self, sent: &SentRecord) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let found = execute(
            &tx,
            "UPDATE outbox SET state = 'sent', remote_message_id = $2, error = NULL,
                 updated_at = $3
             WHERE id = $1",
            &[&sent.op_id, &sent.remote_message_id, &now],
        )
        .await?
            > 0;
        // An operation that does not exist (pruned, or not this store's) says nothing about
        // the rest of the reply: mark nothing replied on its account.
        if !found {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(next) = sent.begin_next {
            begin(&tx, next, now).await?;
        }
        if let Some((channel, message_id)) = &sent.finish_message {
            ledger::finish_row(&tx, channel, message_id, InboundState::Replied, None, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn mark(
        &self,
        id: i64,
        state: OutboxState,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        Ok(execute(
            &c,
            "UPDATE outbox SET state = $2, error = $3, updated_at = $4 WHERE id = $1",
            &[&id, &state.as_str(), &error, &now],
        )
        .await?
            > 0)
    }

    async fn pending(&self, channel: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        let c = self.client().await?;
        entries(
            &query(
                &c,
                &format!(
                    "SELECT {COLUMNS} FROM {FROM} WHERE o.channel = $1 AND o.state = 'pending'
                     ORDER BY o.id"
                ),
                &[&channel],
            )
            .await?,
        )
    }

    async fn for_inbound(
        &self,
        channel: &str,
        inbound_message_id: &str,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let c = self.client().await?;
        select_reply(&c, channel, inbound_message_id).await
    }

    async fn get(&self, id: i64) -> Result<Option<OutboxEntry>, StoreError> {
        let c = self.client().await?;
        query_opt(
            &c,
            &format!("SELECT {COLUMNS} FROM {FROM} WHERE o.id = $1"),
            &[&id],
        )
        .await?
        .as_ref()
        .map(entry)
        .transpose()
    }

    async fn last_sent_at(&self, channel: &str) -> Result<Option<i64>, StoreError> {
        let c = self.client().await?;
        Ok(query_one(
            &c,
            "SELECT MAX(updated_at) FROM outbox WHERE channel = $1 AND state = 'sent'",
            &[&channel],
        )
        .await?
        .try_get(0)?)
    }

    async fn prune_finished(&self, older_than: i64, max: usize) -> Result<usize, StoreError> {
        let c = self.client().await?;
        let n = execute(
            &c,
            "WITH gone AS (
                 SELECT id FROM outbox WHERE state <> 'pending' AND updated_at < $1
                 ORDER BY id LIMIT $2),
             bodies AS (DELETE FROM outbox_bodies WHERE op_id IN (SELECT id FROM gone))
             DELETE FROM outbox WHERE id IN (SELECT id FROM gone)",
            &[&older_than, &limit(max)],
        )
        .await?;
        Ok(changed(n))
    }
}
