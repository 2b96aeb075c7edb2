//! [`LedgerRepo`] on PostgreSQL. Claims, takes and renewals are single statements (their row
//! locks make concurrent callers in any process agree); "the agent answered" locks the
//! message's row first, so only one answer is ever recorded.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{
    changed, count, execute, limit, outbox, parse_text, query, query_one, query_opt, sessions,
    small, PostgresBackend,
};
use crate::store::{
    renew_below_ms, AnswerRecord, Claim, ClaimOutcome, InboundState, LedgerEntry, LedgerRepo,
    OutboxEntry, StoreError,
};

const COLUMNS: &str = "channel, message_id, room_id, state, reason, created_at, received_at, \
                       updated_at, attempts, next_attempt_at, owner, lease_until, deferred";

const PENDING: &str = "state IN ('received', 'processing')";

/// [`LedgerRepo::first_ahead`]: the pending rows of the room are few (the partial index
/// `ledger_pending` finds the channel's pending rows), so one statement does it.
const FIRST_AHEAD: &str = "SELECT o.channel, o.message_id, o.room_id, o.state, o.reason,
        o.created_at, o.received_at, o.updated_at, o.attempts, o.next_attempt_at, o.owner,
        o.lease_until, o.deferred
     FROM ledger m JOIN ledger o ON o.channel = m.channel AND o.room_id = m.room_id
     WHERE m.channel = $1 AND m.message_id = $2
       AND o.state IN ('received', 'processing') AND NOT o.deferred
       AND (o.created_at, o.received_at, o.message_id)
           < (m.created_at, m.received_at, m.message_id)
     ORDER BY o.created_at, o.received_at, o.message_id LIMIT 1";

fn entry(r: &Row) -> Result<LedgerEntry, StoreError> {
    Ok(LedgerEntry {
        channel: r.try_get("channel")?,
        message_id: r.try_get("message_id")?,
        room_id: r.try_get("room_id")?,
        state: parse_text("ledger state", r.try_get("state")?)?,
        reason: r.try_get("reason")?,
        created_at: r.try_get("created_at")?,
        received_at: r.try_get("received_at")?,
        updated_at: r.try_get("updated_at")?,
        attempts: small("ledger attempts", r.try_get("attempts")?)?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        owner: r.try_get("owner")?,
        lease_until: r.try_get("lease_until")?,
        deferred: r.try_get("deferred")?,
    })
}

fn entries(rows: &[Row]) -> Result<Vec<LedgerEntry>, StoreError> {
    rows.iter().map(entry).collect()
}

fn state(r: &Row) -> Result<InboundState, StoreError> {
    parse_text("ledger state", r.try_get(0)?)
}

#[async_trait::async_trait]
impl LedgerRepo for PostgresBackend {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        let inserted = execute(
            &c,
            "INSERT INTO ledger (channel, message_id, room_id, state, created_at,
                 received_at, updated_at, attempts, owner, lease_until)
             VALUES ($1, $2, $3, 'received', $4, $5, $5, 1, $6, $7)
             ON CONFLICT (channel, message_id) DO NOTHING",
            &[
                &claim.channel,
                &claim.message_id,
                &claim.room_id,
                &claim.created_at,
                &now,
                &claim.owner,
                &now.saturating_add(claim.lease_ms),
            ],
        )
        .await?;
        if inserted > 0 {
            return Ok(ClaimOutcome::Claimed);
        }
        let row = query_one(
            &c,
            "SELECT state FROM ledger WHERE channel = $1 AND message_id = $2",
            &[&claim.channel, &claim.message_id],
        )
        .await?;
        Ok(ClaimOutcome::AlreadySeen(state(&row)?))
    }

    async fn take(
        &self,
        channel: &str,
        message_id: &str,
        owner: &str,
        owner_prefix: Option<&str>,
        lease_ms: i64,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        query_opt(
            &c,
            &format!(
                "UPDATE ledger SET owner = $3, lease_until = $4, attempts = attempts + 1,
                     updated_at = $5
                 WHERE channel = $1 AND message_id = $2 AND {PENDING}
                   AND (lease_until <= $5
                        OR ($6::text IS NOT NULL AND starts_with(owner, $6::text)))
                 RETURNING {COLUMNS}"
            ),
            &[
                &channel,
                &message_id,
                &owner,
                &now.saturating_add(lease_ms),
                &now,
                &owner_prefix,
            ],
        )
        .await?
        .as_ref()
        .map(entry)
        .transpose()
    }

    async fn renew_owned(&self, owner: &str, lease_ms: i64) -> Result<usize, StoreError> {
        let now = self.now_ms();
        let renew_below = now.saturating_add(renew_below_ms(lease_ms));
        let c = self.client().await?;
        let n = execute(
            &c,
            &format!(
                "UPDATE ledger SET lease_until = $2
                 WHERE owner = $1 AND lease_until > $3 AND lease_until <= $4 AND {PENDING}"
            ),
            &[&owner, &now.saturating_add(lease_ms), &now, &renew_below],
        )
        .await?;
        Ok(changed(n))
    }

    async fn record_answer(&self, answer: &AnswerRecord) -> Result<Vec<OutboxEntry>, StoreError> {
        let now = self.now_ms();
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Only a message still `received` takes an answer: once one is recorded (or the
        // message is finished, or unknown) the stored operations are returned as they are.
        let found = query_opt(
            &tx,
            "SELECT state FROM ledger WHERE channel = $1 AND message_id = $2 FOR UPDATE",
            &[&answer.channel, &answer.message_id],
        )
        .await?
        .as_ref()
        .map(state)
        .transpose()?;
        if found != Some(InboundState::Received) {
            let stored = outbox::select_reply(&tx, &answer.channel, &answer.message_id).await?;
            tx.commit().await?;
            return Ok(stored);
        }
        execute(
            &tx,
            "UPDATE ledger SET state = 'processing', updated_at = $3
             WHERE channel = $1 AND message_id = $2",
            &[&answer.channel, &answer.message_id, &now],
        )
        .await?;
        if let Some(append) = &answer.session {
            sessions::append_turns(&tx, append, now).await?;
        }
        let stored = outbox::insert_reply(&tx, &answer.reply, answer.begin_first, now).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn finish(
        &self,
        channel: &str,
        message_id: &str,
        state: InboundState,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        finish_row(&c, channel, message_id, state, reason, now).await
    }

    async fn defer(
        &self,
        channel: &str,
        message_id: &str,
        next_attempt_at: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        Ok(execute(
            &c,
            &format!(
                "UPDATE ledger SET next_attempt_at = $3, reason = $4, lease_until = 0,
                     deferred = TRUE, updated_at = $5
                 WHERE channel = $1 AND message_id = $2 AND {PENDING}"
            ),
            &[&channel, &message_id, &next_attempt_at, &reason, &now],
        )
        .await?
            > 0)
    }

    async fn due(&self, channel: &str, max: usize) -> Result<Vec<LedgerEntry>, StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        entries(
            &query(
                &c,
                &format!(
                    "SELECT {COLUMNS} FROM ledger
                     WHERE channel = $1 AND {PENDING} AND next_attempt_at <= $2
                       AND lease_until <= $2
                     ORDER BY created_at, received_at, message_id LIMIT $3"
                ),
                &[&channel, &now, &limit(max)],
            )
            .await?,
        )
    }

    async fn next_due_at(&self, channel: &str) -> Result<Option<i64>, StoreError> {
        let c = self.client().await?;
        Ok(query_one(
            &c,
            &format!(
                "SELECT MIN(GREATEST(next_attempt_at, lease_until)) FROM ledger
                 WHERE channel = $1 AND {PENDING} AND deferred"
            ),
            &[&channel],
        )
        .await?
        .try_get(0)?)
    }

    async fn first_ahead(
        &self,
        channel: &str,
        message_id: &str,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let c = self.client().await?;
        query_opt(&c, FIRST_AHEAD, &[&channel, &message_id])
            .await?
            .as_ref()
            .map(entry)
            .transpose()
    }

    async fn pending(
        &self,
        channel: &str,
        newer_than: i64,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let c = self.client().await?;
        entries(
            &query(
                &c,
                &format!(
                    "SELECT {COLUMNS} FROM ledger
                     WHERE channel = $1 AND {PENDING} AND created_at > $2
                     ORDER BY created_at, received_at, message_id"
                ),
                &[&channel, &newer_than],
            )
            .await?,
        )
    }

    async fn skip_stale(
        &self,
        channel: &str,
        older_than: i64,
        reason: &str,
    ) -> Result<Vec<String>, StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        query(
            &c,
            &format!(
                "UPDATE ledger SET state = 'skipped', reason = $3, updated_at = $4,
                     lease_until = 0
                 WHERE channel = $1 AND {PENDING} AND created_at <= $2
                 RETURNING message_id"
            ),
            &[&channel, &older_than, &reason, &now],
        )
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
    }

    async fn get(
        &self,
        channel: &str,
        message_id: &str,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let c = self.client().await?;
        query_opt(
            &c,
            &format!("SELECT {COLUMNS} FROM ledger WHERE channel = $1 AND message_id = $2"),
            &[&channel, &message_id],
        )
        .await?
        .as_ref()
        .map(entry)
        .transpose()
    }

    async fn count(&self, channel: &str, state: Option<InboundState>) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let n: i64 = query_one(
            &c,
            "SELECT COUNT(*) FROM ledger WHERE channel = $1 AND ($2::text IS NULL OR state = $2)",
            &[&channel, &state.map(InboundState::as_str)],
        )
        .await?
        .try_get(0)?;
        Ok(count(n))
    }

    async fn last_received_at(&self, channel: &str) -> Result<Option<i64>, StoreError> {
        let c = self.client().await?;
        Ok(query_one(
            &c,
            "SELECT MAX(received_at) FROM ledger WHERE channel = $1",
            &[&channel],
        )
        .await?
        .try_get(0)?)
    }

    async fn prune_finished(&self, older_than: i64, max: usize) -> Result<usize, StoreError> {
        let c = self.client().await?;
        let n = execute(
            &c,
            "DELETE FROM ledger WHERE id IN (
                 SELECT id FROM ledger
                 WHERE state IN ('replied', 'skipped', 'failed') AND updated_at < $1
                 ORDER BY id LIMIT $2)",
            &[&older_than, &limit(max)],
        )
        .await?;
        Ok(changed(n))
    }
}

/// Sets a final state and releases the lease (also the last step of "sent and replied").
pub(super) async fn finish_row(
    c: &impl GenericClient,
    channel: &str,
    message_id: &str,
    state: InboundState,
    reason: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(execute(
        c,
        "UPDATE ledger SET state = $3, reason = $4, updated_at = $5, lease_until = 0
         WHERE channel = $1 AND message_id = $2",
        &[&channel, &message_id, &state.as_str(), &reason, &now],
    )
    .await?
        > 0)
}
