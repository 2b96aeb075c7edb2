//! [`PairingRepo`] on SQLite: tables `pairing_requests` and `approved_identities`.
//!
//! Each step that changes more than one row runs in one write closure, so it is atomic (the
//! writer's `BEGIN IMMEDIATE` transaction also holds off other processes).

use rusqlite::{params, Connection, Params, Row};

use super::SqliteBackend;
use crate::store::text_enum::parse_text;
use crate::store::{
    Approval, ApprovalSource, ApprovedIdentity, CodeApproval, IdentityKey, NewApproval,
    NewPairingRequest, PairingRepo, PairingRequest, PairingStatus, RequestInsert, StoreError,
};

const REQUEST_COLUMNS: &str = "channel, code, person_id, email, display_name, requested_at, \
     expires_at, status, resolved_at, reply_sent, notified_at";

const IDENTITY_COLUMNS: &str = "channel, person_id, email, display_name, approved_at, source, \
     request_code, notify_pending, notified_at";

fn request_from_row(r: &Row<'_>) -> Result<PairingRequest, StoreError> {
    Ok(PairingRequest {
        channel: r.get("channel")?,
        code: r.get("code")?,
        person_id: r.get("person_id")?,
        email: r.get("email")?,
        display_name: r.get("display_name")?,
        requested_at: r.get("requested_at")?,
        expires_at: r.get("expires_at")?,
        status: parse_text("pairing request status", &r.get::<_, String>("status")?)?,
        resolved_at: r.get("resolved_at")?,
        reply_sent: r.get("reply_sent")?,
        notified_at: r.get("notified_at")?,
    })
}

fn identity_from_row(r: &Row<'_>) -> Result<ApprovedIdentity, StoreError> {
    Ok(ApprovedIdentity {
        channel: r.get("channel")?,
        person_id: r.get("person_id")?,
        email: r.get("email")?,
        display_name: r.get("display_name")?,
        approved_at: r.get("approved_at")?,
        source: parse_text::<ApprovalSource>("approval source", &r.get::<_, String>("source")?)?,
        request_code: r.get("request_code")?,
        notify_pending: r.get("notify_pending")?,
        notified_at: r.get("notified_at")?,
    })
}

/// Every row `sql` returns, read with `read`.
fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    read: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(read(row)?);
    }
    Ok(out)
}

/// The first row `sql` returns, read with `read`.
fn query_first<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    read: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    rows.next()?.map(read).transpose()
}

/// Marks the channel's pending requests whose code has run out as expired.
fn expire_stale(conn: &Connection, channel: &str, now: i64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE pairing_requests SET status = 'expired', resolved_at = expires_at
         WHERE channel = ?1 AND status = 'pending' AND expires_at <= ?2",
        params![channel, now],
    )?)
}

fn request_by_code(
    conn: &Connection,
    channel: &str,
    code: &str,
) -> Result<Option<PairingRequest>, StoreError> {
    query_first(
        conn,
        &format!("SELECT {REQUEST_COLUMNS} FROM pairing_requests WHERE channel = ?1 AND code = ?2"),
        params![channel, code],
        request_from_row,
    )
}

/// The identity of `channel` matching `key` (a person id match first), with its row id.
fn find_identity(
    conn: &Connection,
    channel: &str,
    key: &IdentityKey,
) -> Result<Option<(i64, ApprovedIdentity)>, StoreError> {
    query_first(
        conn,
        &format!(
            "SELECT id, {IDENTITY_COLUMNS} FROM approved_identities
             WHERE channel = ?1 AND (person_id = ?2 OR email = ?3)
             ORDER BY CASE WHEN person_id = ?2 THEN 0 ELSE 1 END, id
             LIMIT 1"
        ),
        params![channel, key.person_id, key.email],
        |r| Ok((r.get("id")?, identity_from_row(r)?)),
    )
}

/// Fills the missing person id / email of identity `id` and replaces its display name when one
/// is given (skipped if another row already holds that id or email).
fn fill_identity(
    conn: &Connection,
    id: i64,
    person_id: Option<&str>,
    email: Option<&str>,
    display_name: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE OR IGNORE approved_identities
         SET person_id = COALESCE(person_id, ?2),
             email = COALESCE(email, ?3),
             display_name = COALESCE(?4, display_name)
         WHERE id = ?1
           AND ((person_id IS NULL AND ?2 IS NOT NULL)
             OR (email IS NULL AND ?3 IS NOT NULL)
             OR (?4 IS NOT NULL AND display_name IS NOT ?4))",
        params![id, person_id, email, display_name],
    )?;
    Ok(())
}

/// Records `approval` on `channel` (see [`PairingRepo`]); returns the stored identity and
/// whether it already existed.
fn record_approval(
    conn: &Connection,
    channel: &str,
    approval: &NewApproval,
    now: i64,
) -> Result<(ApprovedIdentity, bool), StoreError> {
    let key = approval.key();
    let already = if let Some((id, _)) = find_identity(conn, channel, &key)? {
        fill_identity(
            conn,
            id,
            approval.person_id.as_deref(),
            approval.email.as_deref(),
            approval.display_name.as_deref(),
        )?;
        true
    } else {
        conn.execute(
            "INSERT INTO approved_identities
                 (channel, person_id, email, display_name, approved_at, source, request_code,
                  notify_pending)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)",
            params![
                channel,
                approval.person_id,
                approval.email,
                approval.display_name,
                now,
                approval.source.as_str(),
                approval.request_code
            ],
        )?;
        false
    };
    let (_, identity) = find_identity(conn, channel, &key)?.ok_or_else(|| StoreError::Decode {
        what: "approved identity",
        detail: "the identity just recorded cannot be read back".to_owned(),
    })?;
    Ok((identity, already))
}

#[async_trait::async_trait]
impl PairingRepo for SqliteBackend {
    async fn insert_request_if_room(
        &self,
        request: &NewPairingRequest,
        max_pending: usize,
        now: i64,
    ) -> Result<RequestInsert, StoreError> {
        let request = request.clone();
        self.write(move |conn| {
            let channel = request.channel.as_str();
            expire_stale(conn, channel, now)?;
            let existing = query_first(
                conn,
                &format!(
                    "SELECT {REQUEST_COLUMNS} FROM pairing_requests
                     WHERE channel = ?1 AND person_id = ?2 AND status = 'pending'"
                ),
                params![channel, request.person_id],
                request_from_row,
            )?;
            if let Some(existing) = existing {
                return Ok(RequestInsert::Existing(existing));
            }
            let pending: i64 = conn.query_row(
                "SELECT COUNT(*) FROM pairing_requests WHERE channel = ?1 AND status = 'pending'",
                params![channel],
                |r| r.get(0),
            )?;
            if usize::try_from(pending).unwrap_or(usize::MAX) >= max_pending {
                return Ok(RequestInsert::LimitReached);
            }
            let inserted = conn.execute(
                "INSERT INTO pairing_requests
                     (channel, code, person_id, email, display_name, requested_at, expires_at,
                      status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending')
                 ON CONFLICT (channel, code) DO NOTHING",
                params![
                    channel,
                    request.code,
                    request.person_id,
                    request.email,
                    request.display_name,
                    request.requested_at,
                    request.expires_at
                ],
            )?;
            if inserted == 0 {
                return Ok(RequestInsert::CodeTaken);
            }
            let created = request_by_code(conn, channel, &request.code)?.ok_or_else(|| {
                StoreError::Decode {
                    what: "pairing request",
                    detail: "the request just stored cannot be read back".to_owned(),
                }
            })?;
            Ok(RequestInsert::Created(created))
        })
        .await
    }

    async fn mark_reply_sent(&self, channel: &str, code: &str) -> Result<bool, StoreError> {
        let (channel, code) = (channel.to_owned(), code.to_owned());
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE pairing_requests SET reply_sent = 1 WHERE channel = ?1 AND code = ?2",
                params![channel, code],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn get(&self, channel: &str, code: &str) -> Result<Option<PairingRequest>, StoreError> {
        let (channel, code) = (channel.to_owned(), code.to_owned());
        self.read(move |conn| request_by_code(conn, &channel, &code))
            .await
    }

    async fn list_pending(
        &self,
        channel: Option<&str>,
        now: i64,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        let channel = channel.map(str::to_owned);
        self.read(move |conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {REQUEST_COLUMNS} FROM pairing_requests
                     WHERE (?1 IS NULL OR channel = ?1) AND status = 'pending'
                       AND expires_at > ?2
                     ORDER BY requested_at, channel, code"
                ),
                params![channel, now],
                request_from_row,
            )
        })
        .await
    }

    async fn approve_code(
        &self,
        channel: &str,
        code: &str,
        now: i64,
    ) -> Result<CodeApproval, StoreError> {
        let (channel, code) = (channel.to_owned(), code.to_owned());
        self.write(move |conn| {
            expire_stale(conn, &channel, now)?;
            let Some(request) = request_by_code(conn, &channel, &code)? else {
                return Ok(CodeApproval::Unknown);
            };
            if !request.status.is_approvable() {
                return Ok(CodeApproval::Refused(request.status));
            }
            conn.execute(
                "UPDATE pairing_requests
                 SET status = 'approved', resolved_at = COALESCE(resolved_at, ?3)
                 WHERE channel = ?1 AND code = ?2",
                params![channel, code, now],
            )?;
            let (identity, already_approved) =
                record_approval(conn, &channel, &NewApproval::of_request(&request), now)?;
            Ok(CodeApproval::Approved(Approval {
                identity,
                had_pending_request: request.status == PairingStatus::Pending,
                already_approved,
            }))
        })
        .await
    }

    async fn approve_identity(
        &self,
        channel: &str,
        key: &IdentityKey,
        now: i64,
    ) -> Result<Approval, StoreError> {
        let (channel, key) = (channel.to_owned(), key.clone());
        self.write(move |conn| {
            expire_stale(conn, &channel, now)?;
            let latest = query_first(
                conn,
                &format!(
                    "SELECT {REQUEST_COLUMNS} FROM pairing_requests
                     WHERE channel = ?1 AND (person_id = ?2 OR email = ?3)
                     ORDER BY CASE status WHEN 'pending' THEN 0 ELSE 1 END, requested_at DESC
                     LIMIT 1"
                ),
                params![channel, key.person_id, key.email],
                request_from_row,
            )?;
            let approved = conn.execute(
                "UPDATE pairing_requests SET status = 'approved', resolved_at = ?4
                 WHERE channel = ?1 AND status = 'pending' AND (person_id = ?2 OR email = ?3)",
                params![channel, key.person_id, key.email, now],
            )?;
            let approval = NewApproval::of_identity(&key, latest.as_ref());
            let (identity, already_approved) = record_approval(conn, &channel, &approval, now)?;
            Ok(Approval {
                identity,
                had_pending_request: approved > 0,
                already_approved,
            })
        })
        .await
    }

    async fn deny(
        &self,
        channel: &str,
        code: Option<&str>,
        key: &IdentityKey,
        now: i64,
    ) -> Result<usize, StoreError> {
        let (channel, code, key) = (channel.to_owned(), code.map(str::to_owned), key.clone());
        self.write(move |conn| {
            Ok(conn.execute(
                "UPDATE pairing_requests SET status = 'denied', resolved_at = ?5
                 WHERE channel = ?1 AND status = 'pending' AND expires_at > ?5
                   AND (code = ?2 OR person_id = ?3 OR email = ?4)",
                params![channel, code, key.person_id, key.email, now],
            )?)
        })
        .await
    }

    async fn revoke(&self, channel: &str, key: &IdentityKey) -> Result<bool, StoreError> {
        let (channel, key) = (channel.to_owned(), key.clone());
        self.write(move |conn| {
            let n = conn.execute(
                "DELETE FROM approved_identities
                 WHERE channel = ?1 AND (person_id = ?2 OR email = ?3)",
                params![channel, key.person_id, key.email],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn find_identity(
        &self,
        channel: &str,
        key: &IdentityKey,
    ) -> Result<Option<ApprovedIdentity>, StoreError> {
        let (channel, key) = (channel.to_owned(), key.clone());
        self.read_now(move |conn| Ok(find_identity(conn, &channel, &key)?.map(|(_, found)| found)))
    }

    async fn complete_identity(&self, channel: &str, key: &IdentityKey) -> Result<(), StoreError> {
        let (channel, key) = (channel.to_owned(), key.clone());
        self.write(move |conn| {
            if let Some((id, _)) = find_identity(conn, &channel, &key)? {
                fill_identity(
                    conn,
                    id,
                    key.person_id.as_deref(),
                    key.email.as_deref(),
                    None,
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn list_approved(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<ApprovedIdentity>, StoreError> {
        let channel = channel.map(str::to_owned);
        self.read(move |conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {IDENTITY_COLUMNS} FROM approved_identities
                     WHERE (?1 IS NULL OR channel = ?1)
                     ORDER BY approved_at, id"
                ),
                params![channel],
                identity_from_row,
            )
        })
        .await
    }

    async fn pending_notifications(
        &self,
        channel: &str,
    ) -> Result<Vec<ApprovedIdentity>, StoreError> {
        let channel = channel.to_owned();
        self.read(move |conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {IDENTITY_COLUMNS} FROM approved_identities
                     WHERE channel = ?1 AND notify_pending = 1
                     ORDER BY approved_at, id"
                ),
                params![channel],
                identity_from_row,
            )
        })
        .await
    }

    async fn mark_notified(
        &self,
        channel: &str,
        key: &IdentityKey,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (channel, key) = (channel.to_owned(), key.clone());
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE approved_identities SET notify_pending = 0, notified_at = ?4
                 WHERE channel = ?1 AND notify_pending = 1
                   AND (person_id = ?2 OR email = ?3)",
                params![channel, key.person_id, key.email, now],
            )?;
            conn.execute(
                "UPDATE pairing_requests SET notified_at = ?4
                 WHERE channel = ?1 AND status = 'approved' AND notified_at IS NULL
                   AND (person_id = ?2 OR email = ?3)",
                params![channel, key.person_id, key.email, now],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn prune_resolved(&self, older_than: i64, now: i64) -> Result<usize, StoreError> {
        self.write(move |conn| {
            Ok(conn.execute(
                "DELETE FROM pairing_requests
                 WHERE requested_at < ?1 AND (status != 'pending' OR expires_at <= ?2)",
                params![older_than, now],
            )?)
        })
        .await
    }
}
