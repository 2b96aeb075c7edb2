//! [`LedgerRepo`] on SQLite.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{outbox, sessions, text_col, SqliteBackend};
use crate::store::{
    renew_below_ms, AnswerRecord, Claim, ClaimOutcome, InboundState, LedgerEntry, LedgerRepo,
    OutboxEntry, StoreError,
};

const COLUMNS: &str = "channel, message_id, room_id, state, reason, created_at, received_at, \
                       updated_at, attempts, next_attempt_at, owner, lease_until, deferred";

const PENDING: &str = "state IN ('received', 'processing')";

fn entry(r: &Row<'_>) -> rusqlite::Result<LedgerEntry> {
    Ok(LedgerEntry {
        channel: r.get("channel")?,
        message_id: r.get("message_id")?,
        room_id: r.get("room_id")?,
        state: text_col(r, "state")?,
        reason: r.get("reason")?,
        created_at: r.get("created_at")?,
        received_at: r.get("received_at")?,
        updated_at: r.get("updated_at")?,
        attempts: r.get("attempts")?,
        next_attempt_at: r.get("next_attempt_at")?,
        owner: r.get("owner")?,
        lease_until: r.get("lease_until")?,
        deferred: r.get("deferred")?,
    })
}

fn select(conn: &Connection, channel: &str, id: &str) -> Result<Option<LedgerEntry>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM ledger WHERE channel = ?1 AND message_id = ?2"
        ))?
        .query_row(params![channel, id], entry)
        .optional()?)
}

#[async_trait::async_trait]
impl LedgerRepo for SqliteBackend {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        let now = self.now_ms();
        let claim = claim.clone();
        self.write(move |conn| {
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO ledger (channel, message_id, room_id, state, created_at,
                         received_at, updated_at, attempts, owner, lease_until)
                     VALUES (?1, ?2, ?3, 'received', ?4, ?5, ?5, 1, ?6, ?7)
                     ON CONFLICT (channel, message_id) DO NOTHING",
                )?
                .execute(params![
                    claim.channel,
                    claim.message_id,
                    claim.room_id,
                    claim.created_at,
                    now,
                    claim.owner,
                    now.saturating_add(claim.lease_ms)
                ])?;
            if inserted > 0 {
                return Ok(ClaimOutcome::Claimed);
            }
            let state = conn
                .prepare_cached("SELECT state FROM ledger WHERE channel = ?1 AND message_id = ?2")?
                .query_row(params![claim.channel, claim.message_id], |r| {
                    text_col(r, "state")
                })?;
            Ok(ClaimOutcome::AlreadySeen(state))
        })
        .await
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
        let [channel, message_id, owner] = [channel, message_id, owner].map(str::to_owned);
        let prefix = owner_prefix.map(str::to_owned);
        self.write(move |conn| {
            let taken = conn
                .prepare_cached(&format!(
                    "UPDATE ledger SET owner = ?3, lease_until = ?4, attempts = attempts + 1,
                         updated_at = ?5
                     WHERE channel = ?1 AND message_id = ?2 AND {PENDING}
                       AND (lease_until <= ?5
                            OR (?6 IS NOT NULL AND substr(owner, 1, length(?6)) = ?6))"
                ))?
                .execute(params![
                    channel,
                    message_id,
                    owner,
                    now.saturating_add(lease_ms),
                    now,
                    prefix
                ])?;
            if taken == 0 {
                return Ok(None);
            }
            select(conn, &channel, &message_id)
        })
        .await
    }

    async fn renew_owned(&self, owner: &str, lease_ms: i64) -> Result<usize, StoreError> {
        let now = self.now_ms();
        let owner = owner.to_owned();
        let renew_below = now.saturating_add(renew_below_ms(lease_ms));
        // Looked for on a reader first: the re-drive task renews every few seconds, and most
        // passes find nothing to renew, which then costs no write unit (nor a writer wake-up).
        let owner_read = owner.clone();
        let due = self
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT EXISTS(SELECT 1 FROM ledger
                         WHERE owner = ?1 AND lease_until > ?2 AND lease_until <= ?3 AND {PENDING})"
                    ))?
                    .query_row(params![owner_read, now, renew_below], |r| {
                        r.get::<_, bool>(0)
                    })?)
            })
            .await?;
        if !due {
            return Ok(0);
        }
        self.write(move |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "UPDATE ledger SET lease_until = ?2
                     WHERE owner = ?1 AND lease_until > ?3 AND lease_until <= ?4 AND {PENDING}"
                ))?
                .execute(params![
                    owner,
                    now.saturating_add(lease_ms),
                    now,
                    renew_below
                ])?)
        })
        .await
    }

    async fn record_answer(&self, answer: &AnswerRecord) -> Result<Vec<OutboxEntry>, StoreError> {
        let now = self.now_ms();
        let answer = answer.clone();
        // Grouped: the answers of a burst's rooms share commits (`Engine::write_grouped`).
        self.write_grouped(move |conn| {
            // Only a message still `received` takes an answer: once one is recorded (or the
            // message is finished, or unknown) the stored operations are returned as they are.
            let state = conn
                .prepare_cached("SELECT state FROM ledger WHERE channel = ?1 AND message_id = ?2")?
                .query_row(params![answer.channel, answer.message_id], |r| {
                    text_col::<InboundState>(r, "state")
                })
                .optional()?;
            if state != Some(InboundState::Received) {
                return outbox::select_reply(conn, &answer.channel, &answer.message_id);
            }
            conn.prepare_cached(
                "UPDATE ledger SET state = 'processing', updated_at = ?3
                 WHERE channel = ?1 AND message_id = ?2",
            )?
            .execute(params![answer.channel, answer.message_id, now])?;
            if let Some(append) = &answer.session {
                sessions::append_turns(conn, append, now)?;
            }
            outbox::insert_reply(conn, &answer.reply, answer.begin_first, now)
        })
        .await
    }

    async fn finish(
        &self,
        channel: &str,
        message_id: &str,
        state: InboundState,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let [channel, message_id] = [channel, message_id].map(str::to_owned);
        let reason = reason.map(str::to_owned);
        self.write(move |conn| {
            finish_row(conn, &channel, &message_id, state, reason.as_deref(), now)
        })
        .await
    }

    async fn defer(
        &self,
        channel: &str,
        message_id: &str,
        next_attempt_at: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let [channel, message_id, reason] = [channel, message_id, reason].map(str::to_owned);
        self.write(move |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "UPDATE ledger SET next_attempt_at = ?3, reason = ?4, lease_until = 0,
                         deferred = 1, updated_at = ?5
                     WHERE channel = ?1 AND message_id = ?2 AND {PENDING}"
                ))?
                .execute(params![channel, message_id, next_attempt_at, reason, now])?
                > 0)
        })
        .await
    }

    async fn due(&self, channel: &str, limit: usize) -> Result<Vec<LedgerEntry>, StoreError> {
        let now = self.now_ms();
        let channel = channel.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM ledger
                 WHERE channel = ?1 AND {PENDING} AND next_attempt_at <= ?2 AND lease_until <= ?2
                 ORDER BY created_at, received_at, message_id LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![channel, now, limit], entry)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn next_due_at(&self, channel: &str) -> Result<Option<i64>, StoreError> {
        let channel = channel.to_owned();
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT MIN(MAX(next_attempt_at, lease_until)) FROM ledger
                     WHERE channel = ?1 AND {PENDING} AND deferred = 1"
                ))?
                .query_row(params![channel], |r| r.get(0))?)
        })
        .await
    }

    async fn first_ahead(
        &self,
        channel: &str,
        message_id: &str,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let [channel, message_id] = [channel, message_id].map(str::to_owned);
        self.read_now(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT o.channel, o.message_id, o.room_id, o.state, o.reason,
                         o.created_at, o.received_at, o.updated_at, o.attempts,
                         o.next_attempt_at, o.owner, o.lease_until, o.deferred
                     FROM ledger m JOIN ledger o ON o.channel = m.channel AND o.room_id = m.room_id
                     WHERE m.channel = ?1 AND m.message_id = ?2
                       AND o.state IN ('received', 'processing') AND o.deferred = 0
                       AND (o.created_at, o.received_at, o.message_id)
                           < (m.created_at, m.received_at, m.message_id)
                     ORDER BY o.created_at, o.received_at, o.message_id LIMIT 1",
                )?
                .query_row(params![channel, message_id], entry)
                .optional()?)
        })
    }

    async fn pending(
        &self,
        channel: &str,
        newer_than: i64,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let channel = channel.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM ledger
                 WHERE channel = ?1 AND {PENDING} AND created_at > ?2
                 ORDER BY created_at, received_at, message_id"
            ))?;
            let rows = stmt.query_map(params![channel, newer_than], entry)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn skip_stale(
        &self,
        channel: &str,
        older_than: i64,
        reason: &str,
    ) -> Result<Vec<String>, StoreError> {
        let now = self.now_ms();
        let [channel, reason] = [channel, reason].map(str::to_owned);
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "UPDATE ledger SET state = 'skipped', reason = ?3, updated_at = ?4,
                     lease_until = 0
                 WHERE channel = ?1 AND {PENDING} AND created_at <= ?2
                 RETURNING message_id"
            ))?;
            let rows = stmt.query_map(params![channel, older_than, reason, now], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }

    async fn get(
        &self,
        channel: &str,
        message_id: &str,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let [channel, message_id] = [channel, message_id].map(str::to_owned);
        self.read_now(move |conn| select(conn, &channel, &message_id))
    }

    async fn count(&self, channel: &str, state: Option<InboundState>) -> Result<u64, StoreError> {
        let channel = channel.to_owned();
        self.read(move |conn| {
            Ok(conn.query_row(
                "SELECT COUNT(*) FROM ledger WHERE channel = ?1 AND (?2 IS NULL OR state = ?2)",
                params![channel, state.map(InboundState::as_str)],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn last_received_at(&self, channel: &str) -> Result<Option<i64>, StoreError> {
        let channel = channel.to_owned();
        self.read(move |conn| {
            Ok(conn.query_row(
                "SELECT MAX(received_at) FROM ledger WHERE channel = ?1",
                params![channel],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn prune_finished(&self, older_than: i64, limit: usize) -> Result<usize, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write(move |conn| {
            Ok(conn.execute(
                "DELETE FROM ledger WHERE id IN (
                     SELECT id FROM ledger
                     WHERE state IN ('replied', 'skipped', 'failed') AND updated_at < ?1
                     ORDER BY id LIMIT ?2)",
                params![older_than, limit],
            )?)
        })
        .await
    }
}

/// Sets a final state and releases the lease (also the last step of "sent and replied").
pub(super) fn finish_row(
    conn: &Connection,
    channel: &str,
    message_id: &str,
    state: InboundState,
    reason: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE ledger SET state = ?3, reason = ?4, updated_at = ?5, lease_until = 0
             WHERE channel = ?1 AND message_id = ?2",
        )?
        .execute(params![channel, message_id, state.as_str(), reason, now])?
        > 0)
}
