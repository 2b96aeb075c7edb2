//! Pairing: DM requests from unknown senders, and the identities the owner approved.
//!
//! Under `dmPolicy: "pairing"` a DM from an unknown sender calls [`Pairing::request_blocking`]:
//! - [`PairingOutcome::Created`]: a new request with a fresh code; the caller sends the one
//!   pairing reply and then calls [`Pairing::mark_reply_sent_blocking`];
//! - [`PairingOutcome::Existing`]: the sender already has a pending request; its code is reused
//!   and no new reply is sent (unless `reply_sent` is still false, e.g. after a crash);
//! - [`PairingOutcome::LimitReached`]: the channel already has the maximum number of pending
//!   requests; the message is ignored and logged.
//!
//! The owner approves from the CLI (another process) with [`Pairing::approve_code_blocking`] or
//! [`Pairing::approve_identity_blocking`]. Approval marks the identity `notify_pending`; the
//! running gateway polls [`Pairing::pending_notifications`], sends each approved person the
//! approval DM and calls [`Pairing::mark_notified`], so approval takes effect without a
//! restart. Access checks call [`Pairing::is_approved`], which matches the person id or the
//! email. Approvals grant DM access only.
//!
//! Emails are stored lowercased; person ids exactly as given (callers should pass the channel's
//! canonical spelling). Codes are stored uppercase and looked up case-insensitively.

use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::{write_transaction, Store, StoreError};
use crate::access::{generate_pairing_code, normalize_pairing_code, Identity, PAIRING_CODE_TTL_MS};

/// How many pending requests a channel may have at once (spec: at most 3).
pub const DEFAULT_MAX_PENDING: usize = 3;

text_enum! {
    /// The state of a pairing request.
    pub enum PairingStatus {
        /// Waiting for the owner.
        Pending => "pending",
        /// Approved (by code, or by `pair` with the sender's id or email).
        Approved => "approved",
        /// Denied by the owner.
        Denied => "denied",
        /// Not answered within the code's lifetime.
        Expired => "expired",
    }
}

text_enum! {
    /// How an identity came to be approved.
    pub enum ApprovalSource {
        /// `pairing approve <channel> <CODE>`.
        Pairing => "pairing",
        /// `pair <channel> <personId|email>`.
        PairCommand => "pair-command",
    }
}

/// One row of `pairing_requests`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingRequest {
    /// The channel (plugin id) the DM came in on.
    pub channel: String,
    /// The pairing code (uppercase).
    pub code: String,
    /// The sender's person id.
    pub person_id: String,
    /// The sender's email (lowercased), when known.
    pub email: Option<String>,
    /// The sender's display name, when known.
    pub display_name: Option<String>,
    /// When the request was made (unix ms).
    pub requested_at: i64,
    /// When its code stops working (unix ms).
    pub expires_at: i64,
    /// Its state.
    pub status: PairingStatus,
    /// When it was approved, denied or expired (unix ms).
    pub resolved_at: Option<i64>,
    /// Whether the pairing reply was sent.
    pub reply_sent: bool,
    /// When the approval DM was sent (unix ms).
    pub notified_at: Option<i64>,
}

impl PairingRequest {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            channel: r.get("channel")?,
            code: r.get("code")?,
            person_id: r.get("person_id")?,
            email: r.get("email")?,
            display_name: r.get("display_name")?,
            requested_at: r.get("requested_at")?,
            expires_at: r.get("expires_at")?,
            status: r.get("status")?,
            resolved_at: r.get("resolved_at")?,
            reply_sent: r.get("reply_sent")?,
            notified_at: r.get("notified_at")?,
        })
    }

    /// The email if known, else the person id: how to name the sender to a person.
    pub fn label(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.person_id)
    }
}

const REQUEST_COLUMNS: &str = "channel, code, person_id, email, display_name, requested_at, \
     expires_at, status, resolved_at, reply_sent, notified_at";

/// One row of `approved_identities`: someone allowed to DM the bot on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedIdentity {
    /// The channel.
    pub channel: String,
    /// The person id, when known (always known when approved through a request).
    pub person_id: Option<String>,
    /// The email (lowercased), when known.
    pub email: Option<String>,
    /// The display name, when known.
    pub display_name: Option<String>,
    /// When they were approved (unix ms).
    pub approved_at: i64,
    /// How they were approved.
    pub source: ApprovalSource,
    /// The code of the request that was approved, if there was one.
    pub request_code: Option<String>,
    /// Whether the approval DM is still to be sent.
    pub notify_pending: bool,
    /// When the approval DM was sent (unix ms).
    pub notified_at: Option<i64>,
}

impl ApprovedIdentity {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            channel: r.get("channel")?,
            person_id: r.get("person_id")?,
            email: r.get("email")?,
            display_name: r.get("display_name")?,
            approved_at: r.get("approved_at")?,
            source: r.get("source")?,
            request_code: r.get("request_code")?,
            notify_pending: r.get("notify_pending")?,
            notified_at: r.get("notified_at")?,
        })
    }

    /// The email if known, else the person id: how to name the person to a person (and the
    /// identity to give [`Pairing::mark_notified`]).
    pub fn label(&self) -> &str {
        self.email
            .as_deref()
            .or(self.person_id.as_deref())
            .unwrap_or_default()
    }
}

const IDENTITY_COLUMNS: &str = "channel, person_id, email, display_name, approved_at, source, \
     request_code, notify_pending, notified_at";

/// The result of [`Pairing::request_blocking`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingOutcome {
    /// A new request: send the pairing reply, then call [`Pairing::mark_reply_sent_blocking`].
    Created(PairingRequest),
    /// The sender already has this pending request: reuse its code, send no new reply.
    Existing(PairingRequest),
    /// The channel already has the maximum number of pending requests: ignore the message.
    LimitReached,
}

/// The result of an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The approved identity as stored.
    pub identity: ApprovedIdentity,
    /// Whether a pending request was approved by this call (`false` for `pair` of someone who
    /// never asked, or re-approving an approved code).
    pub had_pending_request: bool,
    /// Whether the identity was already approved before this call (then no new approval DM is
    /// queued).
    pub already_approved: bool,
}

/// Why an approval failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PairingError {
    /// No request of the channel has this code.
    #[error("unknown pairing code {code} for {channel}")]
    UnknownCode {
        /// The channel.
        channel: String,
        /// The code as given (trimmed, uppercased).
        code: String,
    },
    /// The request expired before it was approved.
    #[error("pairing code {code} for {channel} has expired")]
    Expired {
        /// The channel.
        channel: String,
        /// The code.
        code: String,
    },
    /// The request was denied.
    #[error("pairing code {code} for {channel} was denied")]
    Denied {
        /// The channel.
        channel: String,
        /// The code.
        code: String,
    },
    /// The identity to approve is empty.
    #[error("expected a person id or an email, got {input:?}")]
    InvalidIdentity {
        /// What was given.
        input: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Access to `pairing_requests` and `approved_identities`; get it with [`Store::pairing`].
#[derive(Debug, Clone, Copy)]
pub struct Pairing<'a> {
    pub(super) store: &'a Store,
}

/// A trimmed, lowercased, non-empty email.
fn clean_email(email: Option<&str>) -> Option<String> {
    email
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
}

/// A trimmed, non-empty text.
fn clean_text(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Marks the channel's pending requests whose code has run out as expired.
fn expire_stale(tx: &Transaction<'_>, channel: &str, now: i64) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "UPDATE pairing_requests SET status = 'expired', resolved_at = expires_at
         WHERE channel = ?1 AND status = 'pending' AND expires_at <= ?2",
        params![channel, now],
    )?)
}

fn request_by_code(
    tx: &Transaction<'_>,
    channel: &str,
    code: &str,
) -> Result<Option<PairingRequest>, StoreError> {
    Ok(tx
        .query_row(
            &format!(
                "SELECT {REQUEST_COLUMNS} FROM pairing_requests WHERE channel = ?1 AND code = ?2"
            ),
            params![channel, code],
            PairingRequest::from_row,
        )
        .optional()?)
}

/// The approved identity of `channel` matching `person_id` or `email` (a person id match
/// first), with its row id.
fn find_identity(
    conn: &rusqlite::Connection,
    channel: &str,
    person_id: Option<&str>,
    email: Option<&str>,
) -> Result<Option<(i64, ApprovedIdentity)>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT id, {IDENTITY_COLUMNS} FROM approved_identities
                 WHERE channel = ?1 AND (person_id = ?2 OR email = ?3)
                 ORDER BY CASE WHEN person_id = ?2 THEN 0 ELSE 1 END, id
                 LIMIT 1"
            ),
            params![channel, person_id, email],
            |r| Ok((r.get("id")?, ApprovedIdentity::from_row(r)?)),
        )
        .optional()?)
}

/// Fills the missing person id / email / display name of identity `id` (skipped if another
/// row already holds that id or email).
fn fill_identity(
    conn: &rusqlite::Connection,
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

/// Records `person_id`/`email` as approved (or completes the existing record); returns the
/// stored identity and whether it already existed.
#[allow(clippy::too_many_arguments)] // one row's worth of columns
fn upsert_identity(
    tx: &Transaction<'_>,
    channel: &str,
    person_id: Option<&str>,
    email: Option<&str>,
    display_name: Option<&str>,
    source: ApprovalSource,
    request_code: Option<&str>,
    now: i64,
) -> Result<(ApprovedIdentity, bool), StoreError> {
    let already = if let Some((id, _)) = find_identity(tx, channel, person_id, email)? {
        fill_identity(tx, id, person_id, email, display_name)?;
        true
    } else {
        tx.execute(
            "INSERT INTO approved_identities
                 (channel, person_id, email, display_name, approved_at, source, request_code,
                  notify_pending)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)",
            params![
                channel,
                person_id,
                email,
                display_name,
                now,
                source,
                request_code
            ],
        )?;
        false
    };
    let (_, identity) = find_identity(tx, channel, person_id, email)?
        .ok_or(StoreError::from(rusqlite::Error::QueryReturnedNoRows))?;
    Ok((identity, already))
}

impl Pairing<'_> {
    /// Records a pairing request from `person_id` (a DM from an unknown sender) on `channel`,
    /// allowing at most `max_pending` pending requests per channel (use
    /// [`DEFAULT_MAX_PENDING`]). Requests whose code has run out are expired first; all of it
    /// happens in one immediate transaction, so concurrent DMs cannot exceed the limit or get
    /// two codes.
    pub fn request_blocking(
        &self,
        channel: &str,
        person_id: &str,
        email: Option<&str>,
        display_name: Option<&str>,
        max_pending: usize,
    ) -> Result<PairingOutcome, StoreError> {
        let now = self.store.now_ms();
        let email = clean_email(email);
        let display_name = clean_text(display_name);
        self.store.call_blocking(|conn| {
            write_transaction(conn, |tx| {
                expire_stale(tx, channel, now)?;
                let existing = tx
                    .query_row(
                        &format!(
                            "SELECT {REQUEST_COLUMNS} FROM pairing_requests
                             WHERE channel = ?1 AND person_id = ?2 AND status = 'pending'"
                        ),
                        params![channel, person_id],
                        PairingRequest::from_row,
                    )
                    .optional()?;
                if let Some(existing) = existing {
                    return Ok(PairingOutcome::Existing(existing));
                }
                let pending: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM pairing_requests
                     WHERE channel = ?1 AND status = 'pending'",
                    params![channel],
                    |r| r.get(0),
                )?;
                if usize::try_from(pending).unwrap_or(usize::MAX) >= max_pending {
                    return Ok(PairingOutcome::LimitReached);
                }
                // A new code collides with a stored one with probability (rows / 2^40); try
                // again until it does not (the loop ends with probability 1).
                loop {
                    let code = generate_pairing_code();
                    let inserted = tx.execute(
                        "INSERT INTO pairing_requests
                             (channel, code, person_id, email, display_name, requested_at,
                              expires_at, status)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending')
                         ON CONFLICT (channel, code) DO NOTHING",
                        params![
                            channel,
                            code,
                            person_id,
                            email,
                            display_name,
                            now,
                            now.saturating_add(PAIRING_CODE_TTL_MS)
                        ],
                    )?;
                    if inserted > 0 {
                        let created = request_by_code(tx, channel, &code)?
                            .ok_or(StoreError::from(rusqlite::Error::QueryReturnedNoRows))?;
                        return Ok(PairingOutcome::Created(created));
                    }
                }
            })
        })
    }

    /// Records that the pairing reply for `code` was sent; returns whether the request exists.
    pub fn mark_reply_sent_blocking(&self, channel: &str, code: &str) -> Result<bool, StoreError> {
        let code = code.trim().to_ascii_uppercase();
        self.store.call_blocking(|conn| {
            let n = conn.execute(
                "UPDATE pairing_requests SET reply_sent = 1 WHERE channel = ?1 AND code = ?2",
                params![channel, code],
            )?;
            Ok(n > 0)
        })
    }

    /// The request with `code` (case-insensitive), in any state.
    pub fn get_blocking(
        &self,
        channel: &str,
        code: &str,
    ) -> Result<Option<PairingRequest>, StoreError> {
        let code = code.trim().to_ascii_uppercase();
        self.store.call_blocking(|conn| {
            Ok(conn
                .query_row(
                    &format!(
                        "SELECT {REQUEST_COLUMNS} FROM pairing_requests
                         WHERE channel = ?1 AND code = ?2"
                    ),
                    params![channel, code],
                    PairingRequest::from_row,
                )
                .optional()?)
        })
    }

    /// Pending, unexpired requests of `channel` (of every channel if `None`), oldest first.
    pub fn list_pending_blocking(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        let now = self.store.now_ms();
        self.store.call_blocking(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {REQUEST_COLUMNS} FROM pairing_requests
                 WHERE (?1 IS NULL OR channel = ?1) AND status = 'pending' AND expires_at > ?2
                 ORDER BY requested_at, channel, code"
            ))?;
            let rows = stmt.query_map(params![channel, now], PairingRequest::from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Approves the request with `code` (case-insensitive): the sender may DM the bot, and the
    /// approval DM is queued (see [`Pairing::pending_notifications_blocking`]). Approving an
    /// already approved code again succeeds (and re-approves a revoked identity).
    pub fn approve_code_blocking(
        &self,
        channel: &str,
        code: &str,
    ) -> Result<Approval, PairingError> {
        let now = self.store.now_ms();
        let Some(code) = normalize_pairing_code(code) else {
            return Err(PairingError::UnknownCode {
                channel: channel.to_owned(),
                code: code.trim().to_uppercase(),
            });
        };
        self.store.call_blocking(|conn| {
            write_transaction(conn, |tx| {
                expire_stale(tx, channel, now)?;
                let err = |make: fn(String, String) -> PairingError| {
                    Ok(Err(make(channel.to_owned(), code.clone())))
                };
                let Some(request) = request_by_code(tx, channel, &code)? else {
                    return err(|channel, code| PairingError::UnknownCode { channel, code });
                };
                match request.status {
                    PairingStatus::Expired => {
                        return err(|channel, code| PairingError::Expired { channel, code })
                    }
                    PairingStatus::Denied => {
                        return err(|channel, code| PairingError::Denied { channel, code })
                    }
                    PairingStatus::Pending | PairingStatus::Approved => {}
                }
                tx.execute(
                    "UPDATE pairing_requests
                     SET status = 'approved', resolved_at = COALESCE(resolved_at, ?3)
                     WHERE channel = ?1 AND code = ?2",
                    params![channel, code, now],
                )?;
                let (identity, already_approved) = upsert_identity(
                    tx,
                    channel,
                    Some(&request.person_id),
                    request.email.as_deref(),
                    request.display_name.as_deref(),
                    ApprovalSource::Pairing,
                    Some(&code),
                    now,
                )?;
                Ok(Ok(Approval {
                    identity,
                    had_pending_request: request.status == PairingStatus::Pending,
                    already_approved,
                }))
            })
        })?
    }

    /// Approves `identity` (a person id or email, optionally `<channel>:`-prefixed) directly,
    /// as `moltbot pair` does. Pending requests from that person are approved with it; the
    /// person id or email missing from `identity` is taken from their latest request, if any.
    /// Someone who never asked is approved too (`had_pending_request` is then `false`).
    pub fn approve_identity_blocking(
        &self,
        channel: &str,
        identity: &str,
    ) -> Result<Approval, PairingError> {
        let now = self.store.now_ms();
        let Some(parsed) = Identity::parse(channel, identity) else {
            return Err(PairingError::InvalidIdentity {
                input: identity.to_owned(),
            });
        };
        self.store
            .call_blocking(|conn| {
                write_transaction(conn, |tx| {
                    expire_stale(tx, channel, now)?;
                    let (pid, mail) = (parsed.person_id(), parsed.email());
                    let latest = tx
                        .query_row(
                            &format!(
                                "SELECT {REQUEST_COLUMNS} FROM pairing_requests
                             WHERE channel = ?1 AND (person_id = ?2 OR email = ?3)
                             ORDER BY CASE status WHEN 'pending' THEN 0 ELSE 1 END,
                                      requested_at DESC
                             LIMIT 1"
                            ),
                            params![channel, pid, mail],
                            PairingRequest::from_row,
                        )
                        .optional()?;
                    let approved = tx.execute(
                        "UPDATE pairing_requests SET status = 'approved', resolved_at = ?4
                     WHERE channel = ?1 AND status = 'pending' AND (person_id = ?2 OR email = ?3)",
                        params![channel, pid, mail, now],
                    )?;
                    let person_id = pid.or(latest.as_ref().map(|r| r.person_id.as_str()));
                    let email = mail.or(latest.as_ref().and_then(|r| r.email.as_deref()));
                    let display_name = latest.as_ref().and_then(|r| r.display_name.as_deref());
                    let pending_code = latest
                        .as_ref()
                        .filter(|r| r.status == PairingStatus::Pending)
                        .map(|r| r.code.as_str());
                    let (identity, already_approved) = upsert_identity(
                        tx,
                        channel,
                        person_id,
                        email,
                        display_name,
                        ApprovalSource::PairCommand,
                        pending_code,
                        now,
                    )?;
                    Ok(Approval {
                        identity,
                        had_pending_request: approved > 0,
                        already_approved,
                    })
                })
            })
            .map_err(PairingError::from)
    }

    /// Denies the pending, unexpired requests of `channel` matching `target`: a code
    /// (case-insensitive), a person id or an email. Returns how many were denied. The sender
    /// is not told; a later DM starts a new request.
    pub fn deny_blocking(&self, channel: &str, target: &str) -> Result<usize, StoreError> {
        let now = self.store.now_ms();
        let code = normalize_pairing_code(target);
        let identity = Identity::parse(channel, target);
        let (pid, mail) = match &identity {
            Some(i) => (i.person_id(), i.email()),
            None => (None, None),
        };
        self.store.call_blocking(|conn| {
            Ok(conn.execute(
                "UPDATE pairing_requests SET status = 'denied', resolved_at = ?5
                 WHERE channel = ?1 AND status = 'pending' AND expires_at > ?5
                   AND (code = ?2 OR person_id = ?3 OR email = ?4)",
                params![channel, code, pid, mail, now],
            )?)
        })
    }

    /// Removes the approval of `identity` (person id or email, optionally
    /// `<channel>:`-prefixed) on `channel`; returns whether there was one.
    pub fn revoke_blocking(&self, channel: &str, identity: &str) -> Result<bool, StoreError> {
        let Some(parsed) = Identity::parse(channel, identity) else {
            return Ok(false);
        };
        self.store.call_blocking(|conn| {
            let n = conn.execute(
                "DELETE FROM approved_identities
                 WHERE channel = ?1 AND (person_id = ?2 OR email = ?3)",
                params![channel, parsed.person_id(), parsed.email()],
            )?;
            Ok(n > 0)
        })
    }

    /// Whether the sender (`person_id`, and `email` if known) is approved on `channel`, by
    /// either. When an identity approved by email alone is matched, the sender's person id is
    /// recorded with it (and the email with an identity approved by id alone), so approved
    /// identities end up with both.
    pub fn is_approved_blocking(
        &self,
        channel: &str,
        person_id: &str,
        email: Option<&str>,
    ) -> Result<bool, StoreError> {
        let person_id = Some(person_id.trim()).filter(|p| !p.is_empty());
        let email = clean_email(email);
        if person_id.is_none() && email.is_none() {
            return Ok(false);
        }
        self.store.call_blocking(|conn| {
            let Some((id, found)) = find_identity(conn, channel, person_id, email.as_deref())?
            else {
                return Ok(false);
            };
            if (found.person_id.is_none() && person_id.is_some())
                || (found.email.is_none() && email.is_some())
            {
                fill_identity(conn, id, person_id, email.as_deref(), None)?;
            }
            Ok(true)
        })
    }

    /// Approved identities of `channel` (of every channel if `None`), oldest first.
    pub fn list_approved_blocking(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<ApprovedIdentity>, StoreError> {
        self.store.call_blocking(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {IDENTITY_COLUMNS} FROM approved_identities
                 WHERE (?1 IS NULL OR channel = ?1)
                 ORDER BY approved_at, id"
            ))?;
            let rows = stmt.query_map(params![channel], ApprovedIdentity::from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Approved identities of `channel` whose approval DM is still to be sent, oldest first.
    pub fn pending_notifications_blocking(
        &self,
        channel: &str,
    ) -> Result<Vec<ApprovedIdentity>, StoreError> {
        self.store.call_blocking(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {IDENTITY_COLUMNS} FROM approved_identities
                 WHERE channel = ?1 AND notify_pending = 1
                 ORDER BY approved_at, id"
            ))?;
            let rows = stmt.query_map(params![channel], ApprovedIdentity::from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Records that the approval DM to `identity` (person id or email, e.g.
    /// [`ApprovedIdentity::label`]) was sent (or given up on); returns whether one was pending.
    pub fn mark_notified_blocking(
        &self,
        channel: &str,
        identity: &str,
    ) -> Result<bool, StoreError> {
        let now = self.store.now_ms();
        let Some(parsed) = Identity::parse(channel, identity) else {
            return Ok(false);
        };
        let (pid, mail) = (parsed.person_id(), parsed.email());
        self.store.call_blocking(|conn| {
            write_transaction(conn, |tx| {
                let n = tx.execute(
                    "UPDATE approved_identities SET notify_pending = 0, notified_at = ?4
                     WHERE channel = ?1 AND notify_pending = 1
                       AND (person_id = ?2 OR email = ?3)",
                    params![channel, pid, mail, now],
                )?;
                tx.execute(
                    "UPDATE pairing_requests SET notified_at = ?4
                     WHERE channel = ?1 AND status = 'approved' AND notified_at IS NULL
                       AND (person_id = ?2 OR email = ?3)",
                    params![channel, pid, mail, now],
                )?;
                Ok(n > 0)
            })
        })
    }

    /// Deletes requests that are no longer pending and were made before `older_than` (unix
    /// ms), keeping the table small; returns how many.
    pub fn prune_resolved_blocking(&self, older_than: i64) -> Result<usize, StoreError> {
        let now = self.store.now_ms();
        self.store.call_blocking(|conn| {
            Ok(conn.execute(
                "DELETE FROM pairing_requests
                 WHERE requested_at < ?1 AND (status != 'pending' OR expires_at <= ?2)",
                params![older_than, now],
            )?)
        })
    }
}

impl Pairing<'_> {
    /// Async form of [`Pairing::request_blocking`].
    pub async fn request(
        &self,
        channel: &str,
        person_id: &str,
        email: Option<&str>,
        display_name: Option<&str>,
        max_pending: usize,
    ) -> Result<PairingOutcome, StoreError> {
        let [channel, person_id] = [channel, person_id].map(str::to_owned);
        let [email, display_name] = [email, display_name].map(|s| s.map(str::to_owned));
        self.store
            .run(move |s| {
                s.pairing().request_blocking(
                    &channel,
                    &person_id,
                    email.as_deref(),
                    display_name.as_deref(),
                    max_pending,
                )
            })
            .await
    }

    /// Async form of [`Pairing::mark_reply_sent_blocking`].
    pub async fn mark_reply_sent(&self, channel: &str, code: &str) -> Result<bool, StoreError> {
        let [channel, code] = [channel, code].map(str::to_owned);
        self.store
            .run(move |s| s.pairing().mark_reply_sent_blocking(&channel, &code))
            .await
    }

    /// Async form of [`Pairing::get_blocking`].
    pub async fn get(
        &self,
        channel: &str,
        code: &str,
    ) -> Result<Option<PairingRequest>, StoreError> {
        let [channel, code] = [channel, code].map(str::to_owned);
        self.store
            .run(move |s| s.pairing().get_blocking(&channel, &code))
            .await
    }

    /// Async form of [`Pairing::list_pending_blocking`].
    pub async fn list_pending(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        let channel = channel.map(str::to_owned);
        self.store
            .run(move |s| s.pairing().list_pending_blocking(channel.as_deref()))
            .await
    }

    /// Async form of [`Pairing::approve_code_blocking`].
    pub async fn approve_code(&self, channel: &str, code: &str) -> Result<Approval, PairingError> {
        let [channel, code] = [channel, code].map(str::to_owned);
        self.store
            .run(move |s| Ok(s.pairing().approve_code_blocking(&channel, &code)))
            .await?
    }

    /// Async form of [`Pairing::approve_identity_blocking`].
    pub async fn approve_identity(
        &self,
        channel: &str,
        identity: &str,
    ) -> Result<Approval, PairingError> {
        let [channel, identity] = [channel, identity].map(str::to_owned);
        self.store
            .run(move |s| Ok(s.pairing().approve_identity_blocking(&channel, &identity)))
            .await?
    }

    /// Async form of [`Pairing::deny_blocking`].
    pub async fn deny(&self, channel: &str, target: &str) -> Result<usize, StoreError> {
        let [channel, target] = [channel, target].map(str::to_owned);
        self.store
            .run(move |s| s.pairing().deny_blocking(&channel, &target))
            .await
    }

    /// Async form of [`Pairing::revoke_blocking`].
    pub async fn revoke(&self, channel: &str, identity: &str) -> Result<bool, StoreError> {
        let [channel, identity] = [channel, identity].map(str::to_owned);
        self.store
            .run(move |s| s.pairing().revoke_blocking(&channel, &identity))
            .await
    }

    /// Async form of [`Pairing::is_approved_blocking`].
    pub async fn is_approved(
        &self,
        channel: &str,
        person_id: &str,
        email: Option<&str>,
    ) -> Result<bool, StoreError> {
        let [channel, person_id] = [channel, person_id].map(str::to_owned);
        let email = email.map(str::to_owned);
        self.store
            .run(move |s| {
                s.pairing()
                    .is_approved_blocking(&channel, &person_id, email.as_deref())
            })
            .await
    }

    /// Async form of [`Pairing::list_approved_blocking`].
    pub async fn list_approved(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<ApprovedIdentity>, StoreError> {
        let channel = channel.map(str::to_owned);
        self.store
            .run(move |s| s.pairing().list_approved_blocking(channel.as_deref()))
            .await
    }

    /// Async form of [`Pairing::pending_notifications_blocking`].
    pub async fn pending_notifications(
        &self,
        channel: &str,
    ) -> Result<Vec<ApprovedIdentity>, StoreError> {
        let channel = channel.to_owned();
        self.store
            .run(move |s| s.pairing().pending_notifications_blocking(&channel))
            .await
    }

    /// Async form of [`Pairing::mark_notified_blocking`].
    pub async fn mark_notified(&self, channel: &str, identity: &str) -> Result<bool, StoreError> {
        let [channel, identity] = [channel, identity].map(str::to_owned);
        self.store
            .run(move |s| s.pairing().mark_notified_blocking(&channel, &identity))
            .await
    }

    /// Async form of [`Pairing::prune_resolved_blocking`].
    pub async fn prune_resolved(&self, older_than: i64) -> Result<usize, StoreError> {
        self.store
            .run(move |s| s.pairing().prune_resolved_blocking(older_than))
            .await
    }
}
