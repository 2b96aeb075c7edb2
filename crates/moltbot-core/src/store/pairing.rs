//! Pairing: DM requests from unknown senders, and the identities the owner approved.
//!
//! Under `dmPolicy: "pairing"` a DM from an unknown sender calls [`Pairing::request`]:
//! - [`PairingOutcome::Created`]: a new request with a fresh code; the caller sends the one
//!   pairing reply and then calls [`Pairing::mark_reply_sent`];
//! - [`PairingOutcome::Existing`]: the sender already has a pending request; its code is reused
//!   and no new reply is sent (unless `reply_sent` is still false, e.g. after a crash);
//! - [`PairingOutcome::LimitReached`]: the channel already has the maximum number of pending
//!   requests; the message is ignored and logged.
//!
//! The owner approves from the CLI (another process) with [`Pairing::approve_code`] or
//! [`Pairing::approve_identity`]. Approval marks the identity `notify_pending`; the running
//! gateway polls [`Pairing::pending_notifications`], sends each approved person the approval DM
//! and calls [`Pairing::mark_notified`], so approval takes effect without a restart. Access
//! checks call [`Pairing::is_approved`], which matches the person id or the email. Approvals
//! grant DM access only.
//!
//! Emails are stored lowercased; person ids exactly as given (callers should pass the channel's
//! canonical spelling). Codes are stored uppercase and looked up case-insensitively.
//!
//! The rules live here, in [`Pairing`]: the time (the store's clock), codes and their lifetime,
//! the pending limit, how codes, emails and identities are normalized, which requests may be
//! approved and what an approval records. A backend implements [`PairingRepo`], whose methods
//! are atomic steps taking those decisions as parameters.

use super::{Backend, BackendError, BackendErrorKind, Clock, StoreError};
use crate::access::{generate_pairing_code, normalize_pairing_code, Identity, PAIRING_CODE_TTL_MS};

/// How many pending requests a channel may have at once (spec: at most 3).
pub const DEFAULT_MAX_PENDING: usize = 3;

/// How many fresh codes [`Pairing::request`] tries before it gives up (each collides with a
/// stored code with probability rows / 2^40, so more than one try is already rare).
const CODE_ATTEMPTS: usize = 16;

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

impl PairingStatus {
    /// Whether a request in this state may be approved by its code: a pending one, or an
    /// approved one again (which restores a revoked approval). Denied and expired codes are
    /// dead; the sender must ask again.
    pub fn is_approvable(self) -> bool {
        matches!(self, PairingStatus::Pending | PairingStatus::Approved)
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

/// One pairing request.
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
    /// The email if known, else the person id: how to name the sender to a person.
    pub fn label(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.person_id)
    }
}

/// Someone allowed to DM the bot on a channel.
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
    /// The email if known, else the person id: how to name the person to a person (and the
    /// identity to give [`Pairing::mark_notified`]).
    pub fn label(&self) -> &str {
        self.email
            .as_deref()
            .or(self.person_id.as_deref())
            .unwrap_or_default()
    }
}

/// The result of [`Pairing::request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingOutcome {
    /// A new request: send the pairing reply, then call [`Pairing::mark_reply_sent`].
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

/// Who a pairing step is about, normalized by core: a person id (as given), an email (trimmed,
/// lowercased), or both.
///
/// This is what "the same person" means in the store: a stored request or identity of the
/// channel matches when its person id equals [`IdentityKey::person_id`] **or** its email equals
/// [`IdentityKey::email`] (a `None` field matches nothing, so an empty key matches nothing).
/// Where one row must be picked, a person id match wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityKey {
    /// The person id to match.
    pub person_id: Option<String>,
    /// The email to match (lowercased).
    pub email: Option<String>,
}

impl IdentityKey {
    fn of(identity: &Identity) -> Self {
        Self {
            person_id: identity.person_id().map(str::to_owned),
            email: identity.email().map(str::to_owned),
        }
    }

    /// Whether the key matches nothing.
    pub fn is_empty(&self) -> bool {
        self.person_id.is_none() && self.email.is_none()
    }
}

/// A request to store, with its code and times decided by core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPairingRequest {
    /// The channel.
    pub channel: String,
    /// The code (uppercase, freshly generated).
    pub code: String,
    /// The sender's person id.
    pub person_id: String,
    /// The sender's email (lowercased), when known.
    pub email: Option<String>,
    /// The sender's display name (trimmed), when known.
    pub display_name: Option<String>,
    /// Now (unix ms).
    pub requested_at: i64,
    /// When the code stops working (unix ms).
    pub expires_at: i64,
}

/// The result of [`PairingRepo::insert_request_if_room`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestInsert {
    /// The request was stored (pending, reply not sent).
    Created(PairingRequest),
    /// The sender already has this pending request; nothing was stored.
    Existing(PairingRequest),
    /// The channel has `max_pending` pending requests; nothing was stored.
    LimitReached,
    /// A request of the channel already has this code; nothing was stored (try another code).
    CodeTaken,
}

/// What an approval records, decided by core from what the backend found (see
/// [`PairingRepo::approve_code`] and [`PairingRepo::approve_identity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApproval {
    /// The person id.
    pub person_id: Option<String>,
    /// The email (lowercased).
    pub email: Option<String>,
    /// The display name.
    pub display_name: Option<String>,
    /// How the identity is approved.
    pub source: ApprovalSource,
    /// The code of the request approved with it.
    pub request_code: Option<String>,
}

impl NewApproval {
    /// Approving `request` by its code: the sender's id, email and name, and the code.
    pub fn of_request(request: &PairingRequest) -> Self {
        Self {
            person_id: Some(request.person_id.clone()),
            email: request.email.clone(),
            display_name: request.display_name.clone(),
            source: ApprovalSource::Pairing,
            request_code: Some(request.code.clone()),
        }
    }

    /// Approving `key` directly (`moltbot pair`): the person id or email `key` lacks, and the
    /// display name, come from `latest`, the person's latest request (their pending one if they
    /// have one); its code is recorded only if it is pending.
    pub fn of_identity(key: &IdentityKey, latest: Option<&PairingRequest>) -> Self {
        Self {
            person_id: key
                .person_id
                .clone()
                .or_else(|| latest.map(|r| r.person_id.clone())),
            email: key
                .email
                .clone()
                .or_else(|| latest.and_then(|r| r.email.clone())),
            display_name: latest.and_then(|r| r.display_name.clone()),
            source: ApprovalSource::PairCommand,
            request_code: latest
                .filter(|r| r.status == PairingStatus::Pending)
                .map(|r| r.code.clone()),
        }
    }

    /// The key matching the identity this approval records.
    pub fn key(&self) -> IdentityKey {
        IdentityKey {
            person_id: self.person_id.clone(),
            email: self.email.clone(),
        }
    }
}

/// The result of [`PairingRepo::approve_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeApproval {
    /// No request of the channel has the code.
    Unknown,
    /// The request is in this state, which is not [approvable](PairingStatus::is_approvable);
    /// nothing was changed.
    Refused(PairingStatus),
    /// Approved.
    Approved(Approval),
}

/// Pairing requests and approved identities, as atomic steps; the rules are in [`Pairing`]
/// (get it with [`Store::pairing`](super::Store::pairing)).
///
/// Every method that takes `now` first **expires** the channel's stale requests where it says
/// so: pending requests with `expires_at <= now` become expired, with `resolved_at` set to their
/// `expires_at`. "Matching a key" is defined on [`IdentityKey`]. **Recording** a
/// [`NewApproval`] `a` on a channel means: if an identity of the channel matches `a.key()`
/// (person id match first), it is completed — its missing person id and email are filled in
/// from `a` (each skipped if another identity of the channel holds that value) and its display
/// name replaced by `a`'s when `a` has one — and it was already approved; otherwise a new
/// identity is stored from `a` with `approved_at = now` and `notify_pending` set. Either way the
/// identity as stored is returned.
#[async_trait::async_trait]
pub trait PairingRepo: Send + Sync {
    /// Atomically, on `request.channel`: expires; then returns
    /// [`Existing`](RequestInsert::Existing) with the pending request of `request.person_id`
    /// if there is one; else [`LimitReached`](RequestInsert::LimitReached) if `max_pending`
    /// (or more) requests are pending; else [`CodeTaken`](RequestInsert::CodeTaken) if a
    /// request of the channel, in any state, has `request.code`; else stores `request`
    /// (pending, reply not sent) and returns it [`Created`](RequestInsert::Created).
    async fn insert_request_if_room(
        &self,
        request: &NewPairingRequest,
        max_pending: usize,
        now: i64,
    ) -> Result<RequestInsert, StoreError>;

    /// Records that the pairing reply for `code` (exact) was sent; returns whether the request
    /// exists.
    async fn mark_reply_sent(&self, channel: &str, code: &str) -> Result<bool, StoreError>;

    /// The request of `channel` with `code` (exact), in any state.
    async fn get(&self, channel: &str, code: &str) -> Result<Option<PairingRequest>, StoreError>;

    /// The requests of `channel` (of every channel if `None`) that are pending with
    /// `expires_at > now`, ordered by `requested_at`, channel, code. Changes nothing.
    async fn list_pending(
        &self,
        channel: Option<&str>,
        now: i64,
    ) -> Result<Vec<PairingRequest>, StoreError>;

    /// Atomically: expires; finds the request of `channel` with `code` (exact):
    /// [`Unknown`](CodeApproval::Unknown) if there is none,
    /// [`Refused`](CodeApproval::Refused) with its state if that is not
    /// [approvable](PairingStatus::is_approvable); otherwise marks it approved (`resolved_at`
    /// kept if set, else `now`), records [`NewApproval::of_request`] of it, and returns the
    /// approval (`had_pending_request`: the request was pending).
    async fn approve_code(
        &self,
        channel: &str,
        code: &str,
        now: i64,
    ) -> Result<CodeApproval, StoreError>;

    /// Atomically: expires; takes the latest request of `channel` matching `key` (a pending one
    /// first, then the newest by `requested_at`); marks every pending request matching `key`
    /// approved (`resolved_at = now`); records [`NewApproval::of_identity`] of `key` and that
    /// request; returns the approval (`had_pending_request`: a request was marked approved).
    async fn approve_identity(
        &self,
        channel: &str,
        key: &IdentityKey,
        now: i64,
    ) -> Result<Approval, StoreError>;

    /// Marks denied (`resolved_at = now`) the requests of `channel` that are pending with
    /// `expires_at > now` and whose code is `code` or that match `key`; returns how many.
    async fn deny(
        &self,
        channel: &str,
        code: Option<&str>,
        key: &IdentityKey,
        now: i64,
    ) -> Result<usize, StoreError>;

    /// Deletes the identities of `channel` matching `key`; returns whether there was one.
    async fn revoke(&self, channel: &str, key: &IdentityKey) -> Result<bool, StoreError>;

    /// The identity of `channel` matching `key` (person id match first). Changes nothing.
    async fn find_identity(
        &self,
        channel: &str,
        key: &IdentityKey,
    ) -> Result<Option<ApprovedIdentity>, StoreError>;

    /// Atomically: fills the missing person id and email of the identity of `channel` matching
    /// `key` (person id match first) from `key`, each skipped if another identity of the
    /// channel holds that value.
    async fn complete_identity(&self, channel: &str, key: &IdentityKey) -> Result<(), StoreError>;

    /// The identities of `channel` (of every channel if `None`), oldest approval first (ties in
    /// the order they were stored).
    async fn list_approved(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<ApprovedIdentity>, StoreError>;

    /// The identities of `channel` with `notify_pending` set, ordered as
    /// [`PairingRepo::list_approved`].
    async fn pending_notifications(
        &self,
        channel: &str,
    ) -> Result<Vec<ApprovedIdentity>, StoreError>;

    /// Atomically: clears `notify_pending` (setting `notified_at = now`) of the identities of
    /// `channel` matching `key` that have it set, and sets `notified_at = now` on the approved
    /// requests matching `key` that have none; returns whether an identity had it set.
    async fn mark_notified(
        &self,
        channel: &str,
        key: &IdentityKey,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Deletes the requests (of every channel) made before `older_than` that are not pending or
    /// have `expires_at <= now`; returns how many.
    async fn prune_resolved(&self, older_than: i64, now: i64) -> Result<usize, StoreError>;
}

/// Pairing, with its rules; get it with [`Store::pairing`](super::Store::pairing).
#[derive(Debug, Clone, Copy)]
pub struct Pairing<'a> {
    pub(super) backend: &'a dyn Backend,
    pub(super) clock: &'a dyn Clock,
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

/// A code as looked up: trimmed and uppercased (codes are case-insensitive).
fn lookup_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

impl<'a> Pairing<'a> {
    fn repo(&self) -> &'a dyn PairingRepo {
        self.backend
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Records a pairing request from `person_id` (a DM from an unknown sender) on `channel`,
    /// allowing at most `max_pending` pending requests per channel (use
    /// [`DEFAULT_MAX_PENDING`]). The request gets a fresh code valid for
    /// [`PAIRING_CODE_TTL_MS`]; requests whose code has run out are expired first. It is one
    /// atomic step, so concurrent DMs (from any number of tasks or processes) cannot exceed the
    /// limit or give one sender two codes.
    pub async fn request(
        &self,
        channel: &str,
        person_id: &str,
        email: Option<&str>,
        display_name: Option<&str>,
        max_pending: usize,
    ) -> Result<PairingOutcome, StoreError> {
        let now = self.now();
        let mut request = NewPairingRequest {
            channel: channel.to_owned(),
            code: String::new(),
            person_id: person_id.to_owned(),
            email: clean_email(email),
            display_name: clean_text(display_name),
            requested_at: now,
            expires_at: now.saturating_add(PAIRING_CODE_TTL_MS),
        };
        for _ in 0..CODE_ATTEMPTS {
            request.code = generate_pairing_code();
            let outcome = self
                .repo()
                .insert_request_if_room(&request, max_pending, now)
                .await?;
            match outcome {
                RequestInsert::Created(r) => return Ok(PairingOutcome::Created(r)),
                RequestInsert::Existing(r) => return Ok(PairingOutcome::Existing(r)),
                RequestInsert::LimitReached => return Ok(PairingOutcome::LimitReached),
                RequestInsert::CodeTaken => {}
            }
        }
        Err(StoreError::Backend(BackendError {
            backend: self.backend.info().name,
            kind: BackendErrorKind::Constraint,
            message: format!(
                "no free pairing code for {channel} after {CODE_ATTEMPTS} random codes"
            ),
        }))
    }

    /// Records that the pairing reply for `code` (case-insensitive) was sent; returns whether
    /// the request exists.
    pub async fn mark_reply_sent(&self, channel: &str, code: &str) -> Result<bool, StoreError> {
        self.repo()
            .mark_reply_sent(channel, &lookup_code(code))
            .await
    }

    /// The request with `code` (case-insensitive), in any state.
    pub async fn get(
        &self,
        channel: &str,
        code: &str,
    ) -> Result<Option<PairingRequest>, StoreError> {
        self.repo().get(channel, &lookup_code(code)).await
    }

    /// Pending, unexpired requests of `channel` (of every channel if `None`), oldest first.
    /// Listing changes nothing; requests past their expiry are left out.
    pub async fn list_pending(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        self.repo().list_pending(channel, self.now()).await
    }

    /// Approves the request with `code` (case-insensitive): the sender may DM the bot, and the
    /// approval DM is queued (see [`Pairing::pending_notifications`]). Approving an already
    /// approved code again succeeds (and re-approves a revoked identity); expired and denied
    /// codes are refused.
    pub async fn approve_code(&self, channel: &str, code: &str) -> Result<Approval, PairingError> {
        let now = self.now();
        let Some(code) = normalize_pairing_code(code) else {
            return Err(PairingError::UnknownCode {
                channel: channel.to_owned(),
                code: code.trim().to_uppercase(),
            });
        };
        let (channel, code) = (channel.to_owned(), code);
        match self.repo().approve_code(&channel, &code, now).await? {
            CodeApproval::Approved(approval) => Ok(approval),
            CodeApproval::Unknown => Err(PairingError::UnknownCode { channel, code }),
            CodeApproval::Refused(PairingStatus::Expired) => {
                Err(PairingError::Expired { channel, code })
            }
            CodeApproval::Refused(_) => Err(PairingError::Denied { channel, code }),
        }
    }

    /// Approves `identity` (a person id or email, optionally `<channel>:`-prefixed) directly,
    /// as `moltbot pair` does. Pending requests from that person are approved with it; the
    /// person id or email missing from `identity` is taken from their latest request, if any.
    /// Someone who never asked is approved too (`had_pending_request` is then `false`).
    pub async fn approve_identity(
        &self,
        channel: &str,
        identity: &str,
    ) -> Result<Approval, PairingError> {
        let now = self.now();
        let Some(parsed) = Identity::parse(channel, identity) else {
            return Err(PairingError::InvalidIdentity {
                input: identity.to_owned(),
            });
        };
        Ok(self
            .repo()
            .approve_identity(channel, &IdentityKey::of(&parsed), now)
            .await?)
    }

    /// Denies the pending, unexpired requests of `channel` matching `target`: a code
    /// (case-insensitive), a person id or an email. Returns how many were denied. The sender
    /// is not told; a later DM starts a new request.
    pub async fn deny(&self, channel: &str, target: &str) -> Result<usize, StoreError> {
        let now = self.now();
        let code = normalize_pairing_code(target);
        let key = Identity::parse(channel, target)
            .map(|i| IdentityKey::of(&i))
            .unwrap_or_default();
        if code.is_none() && key.is_empty() {
            return Ok(0);
        }
        self.repo().deny(channel, code.as_deref(), &key, now).await
    }

    /// Removes the approval of `identity` (person id or email, optionally
    /// `<channel>:`-prefixed) on `channel`; returns whether there was one.
    pub async fn revoke(&self, channel: &str, identity: &str) -> Result<bool, StoreError> {
        let Some(parsed) = Identity::parse(channel, identity) else {
            return Ok(false);
        };
        self.repo().revoke(channel, &IdentityKey::of(&parsed)).await
    }

    /// Whether the sender (`person_id`, and `email` if known) is approved on `channel`, by
    /// either. When an identity approved by email alone is matched, the sender's person id is
    /// recorded with it (and the email with an identity approved by id alone), so approved
    /// identities end up with both.
    pub async fn is_approved(
        &self,
        channel: &str,
        person_id: &str,
        email: Option<&str>,
    ) -> Result<bool, StoreError> {
        let key = IdentityKey {
            person_id: Some(person_id.trim())
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
            email: clean_email(email),
        };
        if key.is_empty() {
            return Ok(false);
        }
        let Some(found) = self.repo().find_identity(channel, &key).await? else {
            return Ok(false);
        };
        let learns = (found.person_id.is_none() && key.person_id.is_some())
            || (found.email.is_none() && key.email.is_some());
        if learns {
            self.repo().complete_identity(channel, &key).await?;
        }
        Ok(true)
    }

    /// Approved identities of `channel` (of every channel if `None`), oldest first.
    pub async fn list_approved(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<ApprovedIdentity>, StoreError> {
        self.repo().list_approved(channel).await
    }

    /// Approved identities of `channel` whose approval DM is still to be sent, oldest first.
    pub async fn pending_notifications(
        &self,
        channel: &str,
    ) -> Result<Vec<ApprovedIdentity>, StoreError> {
        self.repo().pending_notifications(channel).await
    }

    /// Records that the approval DM to `identity` (person id or email, e.g.
    /// [`ApprovedIdentity::label`]) was sent (or given up on); returns whether one was pending.
    pub async fn mark_notified(&self, channel: &str, identity: &str) -> Result<bool, StoreError> {
        let now = self.now();
        let Some(parsed) = Identity::parse(channel, identity) else {
            return Ok(false);
        };
        self.repo()
            .mark_notified(channel, &IdentityKey::of(&parsed), now)
            .await
    }

    /// Deletes requests that are no longer pending (or whose code has run out) and were made
    /// before `older_than` (unix ms), keeping the table small; returns how many.
    pub async fn prune_resolved(&self, older_than: i64) -> Result<usize, StoreError> {
        self.repo().prune_resolved(older_than, self.now()).await
    }
}
