//! [`PairingRepo`] on PostgreSQL: tables `pairing_requests` and `approved_identities`.
//!
//! Every step that writes runs in one transaction that first takes the advisory lock of its
//! channel, so steps on one channel run one after the other in every process (what SQLite's
//! single writer gives the other backend): the pending limit and "one request per sender"
//! hold however many gateways and CLIs act at once.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{
    changed, count, execute, lock, parse_text, query, query_one, query_opt, PostgresBackend,
};
use crate::store::{
    Approval, ApprovedIdentity, CodeApproval, IdentityKey, NewApproval, NewPairingRequest,
    PairingRepo, PairingRequest, PairingStatus, RequestInsert, StoreError,
};

const REQUEST_COLUMNS: &str = "channel, code, person_id, email, display_name, requested_at, \
     expires_at, status, resolved_at, reply_sent, notified_at";

const IDENTITY_COLUMNS: &str = "channel, person_id, email, display_name, approved_at, source, \
     request_code, notify_pending, notified_at";

fn request_from_row(r: &Row) -> Result<PairingRequest, StoreError> {
    Ok(PairingRequest {
        channel: r.try_get("channel")?,
        code: r.try_get("code")?,
        person_id: r.try_get("person_id")?,
        email: r.try_get("email")?,
        display_name: r.try_get("display_name")?,
        requested_at: r.try_get("requested_at")?,
        expires_at: r.try_get("expires_at")?,
        status: parse_text("pairing request status", r.try_get("status")?)?,
        resolved_at: r.try_get("resolved_at")?,
        reply_sent: r.try_get("reply_sent")?,
        notified_at: r.try_get("notified_at")?,
    })
}

fn identity_from_row(r: &Row) -> Result<ApprovedIdentity, StoreError> {
    Ok(ApprovedIdentity {
        channel: r.try_get("channel")?,
        person_id: r.try_get("person_id")?,
        email: r.try_get("email")?,
        display_name: r.try_get("display_name")?,
        approved_at: r.try_get("approved_at")?,
        source: parse_text("approval source", r.try_get("source")?)?,
        request_code: r.try_get("request_code")?,
        notify_pending: r.try_get("notify_pending")?,
        notified_at: r.try_get("notified_at")?,
    })
}

/// Locks `channel`'s pairing state for the rest of the transaction.
async fn lock_channel(tx: &impl GenericClient, channel: &str) -> Result<(), StoreError> {
    lock(tx, &format!("pairing:{channel}")).await
}

/// Marks the channel's pending requests whose code has run out as expired.
async fn expire_stale(c: &impl GenericClient, channel: &str, now: i64) -> Result<u64, StoreError> {
    execute(
        c,
        "UPDATE pairing_requests SET status = 'expired', resolved_at = expires_at
         WHERE channel = $1 AND status = 'pending' AND expires_at <= $2",
        &[&channel, &now],
    )
    .await
}

async fn request_by_code(
    c: &impl GenericClient,
    channel: &str,
    code: &str,
) -> Result<Option<PairingRequest>, StoreError> {
    query_opt(
        c,
        &format!("SELECT {REQUEST_COLUMNS} FROM pairing_requests WHERE channel = $1 AND code = $2"),
        &[&channel, &code],
    )
    .await?
    .as_ref()
    .map(request_from_row)
    .transpose()
}

/// The identity of `channel` matching `key` (a person id match first), with its row id.
async fn find_identity(
    c: &impl GenericClient,
    channel: &str,
    key: &IdentityKey,
) -> Result<Option<(i64, ApprovedIdentity)>, StoreError> {
    query_opt(
        c,
        &format!(
            "SELECT id, {IDENTITY_COLUMNS} FROM approved_identities
             WHERE channel = $1 AND (person_id = $2 OR email = $3)
             ORDER BY CASE WHEN person_id = $2 THEN 0 ELSE 1 END, id
             LIMIT 1"
        ),
        &[&channel, &key.person_id, &key.email],
    )
    .await?
    .map(|r| Ok((r.try_get("id")?, identity_from_row(&r)?)))
    .transpose()
}

/// Fills the missing person id / email of identity `id` (each skipped if another identity of
/// the channel holds that value) and replaces its display name when one is given.
async fn fill_identity(
    c: &impl GenericClient,
    id: i64,
    person_id: Option<&str>,
    email: Option<&str>,
    display_name: Option<&str>,
) -> Result<(), StoreError> {
    execute(
        c,
        "UPDATE approved_identities a
         SET person_id = COALESCE(a.person_id, CASE WHEN NOT EXISTS (
                 SELECT 1 FROM approved_identities o
                 WHERE o.channel = a.channel AND o.person_id = $2::text) THEN $2::text END),
             email = COALESCE(a.email, CASE WHEN NOT EXISTS (
                 SELECT 1 FROM approved_identities o
                 WHERE o.channel = a.channel AND o.email = $3::text) THEN $3::text END),
             display_name = COALESCE($4::text, a.display_name)
         WHERE a.id = $1
           AND ((a.person_id IS NULL AND $2::text IS NOT NULL)
             OR (a.email IS NULL AND $3::text IS NOT NULL)
             OR ($4::text IS NOT NULL AND a.display_name IS DISTINCT FROM $4::text))",
        &[&id, &person_id, &email, &display_name],
    )
    .await?;
    Ok(())
}

/// Records `approval` on `channel` (see [`PairingRepo`]); returns the stored identity and
/// whether it already existed.
async fn record_approval(
    c: &impl GenericClient,
    channel: &str,
    approval: &NewApproval,
    now: i64,
) -> Result<(ApprovedIdentity, bool), StoreError> {
    let key = approval.key();
    let already = if let Some((id, _)) = find_identity(c, channel, &key).await? {
        fill_identity(
            c,
            id,
            approval.person_id.as_deref(),
            approval.email.as_deref(),
            approval.display_name.as_deref(),
        )
        .await?;
        true
    } else {
        execute(
            c,
            "INSERT INTO approved_identities
                 (channel, person_id, email, display_name, approved_at, source, request_code,
                  notify_pending)
             VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE)",
            &[
                &channel,
                &approval.person_id,
                &approval.email,
                &approval.display_name,
                &now,
                &approval.source.as_str(),
                &approval.request_code,
            ],
        )
        .await?;
        false
    };
    let (_, identity) =
        find_identity(c, channel, &key)
            .await?
            .ok_or_else(|| StoreError::Decode {
                what: "approved identity",
                detail: "the identity just recorded cannot be read back".to_owned(),
            })?;
    Ok((identity, already))
}

fn requests(rows: &[Row]) -> Result<Vec<PairingRequest>, StoreError> {
    rows.iter().map(request_from_row).collect()
}

fn identities(rows: &[Row]) -> Result<Vec<ApprovedIdentity>, StoreError> {
    rows.iter().map(identity_from_row).collect()
}

#[async_trait::async_trait]
impl PairingRepo for PostgresBackend {
    async fn insert_request_if_room(
        &self,
        request: &NewPairingRequest,
        max_pending: usize,
        now: i64,
    ) -> Result<RequestInsert, StoreError> {
        let channel = request.channel.as_str();
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        lock_channel(&tx, channel).await?;
        expire_stale(&tx, channel, now).await?;
        let existing = query_opt(
            &tx,
            &format!(
                "SELECT {REQUEST_COLUMNS} FROM pairing_requests
                 WHERE channel = $1 AND person_id = $2 AND status = 'pending'"
            ),
            &[&channel, &request.person_id],
        )
        .await?;
        if let Some(existing) = existing {
            let existing = request_from_row(&existing)?;
            tx.commit().await?;
            return Ok(RequestInsert::Existing(existing));
        }
        let pending: i64 = query_one(
            &tx,
            "SELECT COUNT(*) FROM pairing_requests WHERE channel = $1 AND status = 'pending'",
            &[&channel],
        )
        .await?
        .try_get(0)?;
        if usize::try_from(count(pending)).unwrap_or(usize::MAX) >= max_pending {
            tx.commit().await?;
            return Ok(RequestInsert::LimitReached);
        }
        let inserted = execute(
            &tx,
            "INSERT INTO pairing_requests
                 (channel, code, person_id, email, display_name, requested_at, expires_at,
                  status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')
             ON CONFLICT (channel, code) DO NOTHING",
            &[
                &channel,
                &request.code,
                &request.person_id,
                &request.email,
                &request.display_name,
                &request.requested_at,
                &request.expires_at,
            ],
        )
        .await?;
        if inserted == 0 {
            tx.commit().await?;
            return Ok(RequestInsert::CodeTaken);
        }
        let created = request_by_code(&tx, channel, &request.code)
            .await?
            .ok_or_else(|| StoreError::Decode {
                what: "pairing request",
                detail: "the request just stored cannot be read back".to_owned(),
            })?;
        tx.commit().await?;
        Ok(RequestInsert::Created(created))
    }

    async fn mark_reply_sent(&self, channel: &str, code: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "UPDATE pairing_requests SET reply_sent = TRUE WHERE channel = $1 AND code = $2",
            &[&channel, &code],
        )
        .await?
            > 0)
    }

    async fn get(&self, channel: &str, code: &str) -> Result<Option<PairingRequest>, StoreError> {
        let c = self.client().await?;
        request_by_code(&c, channel, code).await
    }

    async fn list_pending(
        &self,
        channel: Option<&str>,
        now: i64,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        let c = self.client().await?;
        requests(
            &query(
                &c,
                &format!(
                    "SELECT {REQUEST_COLUMNS} FROM pairing_requests
                     WHERE ($1::text IS NULL OR channel = $1) AND status = 'pending'
                       AND expires_at > $2
                     ORDER BY requested_at, channel, code"
                ),
                &[&channel, &now],
            )
            .await?,
        )
    }

    async fn approve_code(
        &self,
        channel: &str,
        code: &str,
        now: i64,
    ) -> Result<CodeApproval, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        lock_channel(&tx, channel).await?;
        expire_stale(&tx, channel, now).await?;
        let Some(request) = request_by_code(&tx, channel, code).await? else {
            tx.commit().await?;
            return Ok(CodeApproval::Unknown);
        };
        if !request.status.is_approvable() {
            tx.commit().await?;
            return Ok(CodeApproval::Refused(request.status));
        }
        execute(
            &tx,
            "UPDATE pairing_requests
             SET status = 'approved', resolved_at = COALESCE(resolved_at, $3)
             WHERE channel = $1 AND code = $2",
            &[&channel, &code, &now],
        )
        .await?;
        let (identity, already_approved) =
            record_approval(&tx, channel, &NewApproval::of_request(&request), now).await?;
        tx.commit().await?;
        Ok(CodeApproval::Approved(Approval {
            identity,
            had_pending_request: request.status == PairingStatus::Pending,
            already_approved,
        }))
    }

    async fn approve_identity(
        &self,
        channel: &str,
        key: &IdentityKey,
        now: i64,
    ) -> Result<Approval, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        lock_channel(&tx, channel).await?;
        expire_stale(&tx, channel, now).await?;
        let latest = query_opt(
            &tx,
            &format!(
                "SELECT {REQUEST_COLUMNS} FROM pairing_requests
                 WHERE channel = $1 AND (person_id = $2 OR email = $3)
                 ORDER BY CASE status WHEN 'pending' THEN 0 ELSE 1 END, requested_at DESC
                 LIMIT 1"
            ),
            &[&channel, &key.person_id, &key.email],
        )
        .await?
        .as_ref()
        .map(request_from_row)
        .transpose()?;
        let approved = execute(
            &tx,
            "UPDATE pairing_requests SET status = 'approved', resolved_at = $4
             WHERE channel = $1 AND status = 'pending' AND (person_id = $2 OR email = $3)",
            &[&channel, &key.person_id, &key.email, &now],
        )
        .await?;
        let approval = NewApproval::of_identity(key, latest.as_ref());
        let (identity, already_approved) = record_approval(&tx, channel, &approval, now).await?;
        tx.commit().await?;
        Ok(Approval {
            identity,
            had_pending_request: approved > 0,
            already_approved,
        })
    }

    async fn deny(
        &self,
        channel: &str,
        code: Option<&str>,
        key: &IdentityKey,
        now: i64,
    ) -> Result<usize, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        lock_channel(&tx, channel).await?;
        let n = execute(
            &tx,
            "UPDATE pairing_requests SET status = 'denied', resolved_at = $5
             WHERE channel = $1 AND status = 'pending' AND expires_at > $5
               AND (code = $2 OR person_id = $3 OR email = $4)",
            &[&channel, &code, &key.person_id, &key.email, &now],
        )
        .await?;
        tx.commit().await?;
        Ok(changed(n))
    }

    async fn revoke(&self, channel: &str, key: &IdentityKey) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        lock_channel(&tx, channel).await?;
        let n = execute(
            &tx,
            "DELETE FROM approved_identities
             WHERE channel = $1 AND (person_id = $2 OR email = $3)",
            &[&channel, &key.person_id, &key.email],
        )
        .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn find_identity(
        &self,
        channel: &str,
        key: &IdentityKey,
    ) -> Result<Option<ApprovedIdentity>, StoreError> {
        let c = self.client().await?;
        Ok(find_identity(&c, channel, key)
            .await?
            .map(|(_, found)| found))
    }

    async fn complete_identity(&self, channel: &str, key: &IdentityKey) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        lock_channel(&tx, channel).await?;
        if let Some((id, _)) = find_identity(&tx, channel, key).await? {
            fill_identity(
                &tx,
                id,
                key.person_id.as_deref(),
                key.email.as_deref(),
                None,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_approved(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<ApprovedIdentity>, StoreError> {
        let c = self.client().await?;
        identities(
            &query(
                &c,
                &format!(
                    "SELECT {IDENTITY_COLUMNS} FROM approved_identities
                     WHERE ($1::text IS NULL OR channel = $1)
                     ORDER BY approved_at, id"
                ),
                &[&channel],
            )
            .await?,
        )
    }

    async fn pending_notifications(
        &self,
        channel: &str,
    ) -> Result<Vec<ApprovedIdentity>, StoreError> {
        let c = self.client().await?;
        identities(
            &query(
                &c,
                &format!(
                    "SELECT {IDENTITY_COLUMNS} FROM approved_identities
                     WHERE channel = $1 AND notify_pending
                     ORDER BY approved_at, id"
                ),
                &[&channel],
            )
            .await?,
        )
    }

    async fn mark_notified(
        &self,
        channel: &str,
        key: &IdentityKey,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        lock_channel(&tx, channel).await?;
        let n = execute(
            &tx,
            "UPDATE approved_identities SET notify_pending = FALSE, notified_at = $4
             WHERE channel = $1 AND notify_pending
               AND (person_id = $2 OR email = $3)",
            &[&channel, &key.person_id, &key.email, &now],
        )
        .await?;
        execute(
            &tx,
            "UPDATE pairing_requests SET notified_at = $4
             WHERE channel = $1 AND status = 'approved' AND notified_at IS NULL
               AND (person_id = $2 OR email = $3)",
            &[&channel, &key.person_id, &key.email, &now],
        )
        .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn prune_resolved(&self, older_than: i64, now: i64) -> Result<usize, StoreError> {
        let c = self.client().await?;
        let n = execute(
            &c,
            "DELETE FROM pairing_requests
             WHERE requested_at < $1 AND (status <> 'pending' OR expires_at <= $2)",
            &[&older_than, &now],
        )
        .await?;
        Ok(changed(n))
    }
}
