//! The outbox: every reply operation, recorded before it is carried out, so it happens once.
//!
//! A reply is made of parts (text chunks today; a file or a card later), each carried out by one
//! operation: `create` (post a message), `edit` and `delete` (act on a message posted before,
//! `target_id`), `upload` (post a local file). Every operation is stored `pending` before the
//! first one runs. The sender counts an attempt right before each operation and marks it `sent`
//! right after, so after a crash:
//! - `sent` operations are never carried out again;
//! - `pending` operations with `attempts == 0` were never tried and are safe to run;
//! - `pending` operations with `attempts > 0` were in flight when the process died: the sender
//!   decides (today: run them again, the documented duplicate window).
//!
//! Recording a reply for the same inbound message twice (recovery re-running the agent) returns
//! the operations already stored instead of adding new ones.

use super::StoreError;

text_enum! {
    /// Delivery state of an outbox operation.
    pub enum OutboxState {
        /// Not carried out yet (see `attempts` for whether it was started).
        Pending => "pending",
        /// Accepted by the chat network.
        Sent => "sent",
        /// Attempted, outcome unknown (e.g. timeout, crash mid-send).
        Unknown => "unknown",
        /// Failed for good; see the error.
        Failed => "failed",
    }
}

text_enum! {
    /// What an outbox operation does.
    pub enum OutboxOpKind {
        /// Post a new message.
        Create => "create",
        /// Edit a message posted before (`target_id`).
        Edit => "edit",
        /// Delete a message posted before (`target_id`).
        Delete => "delete",
        /// Post a local file (multipart upload).
        Upload => "upload",
    }
}

text_enum! {
    /// What kind of content an outbox operation carries.
    pub enum OutboxPartKind {
        /// Markdown text.
        Text => "text",
        /// A file (its body is a JSON description: URL or local path, name, type).
        File => "file",
        /// An adaptive card (its body is the card JSON, with the text fallback).
        Card => "card",
    }
}

/// One operation of a reply, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxPart {
    /// What to do.
    pub op: OutboxOpKind,
    /// What it carries.
    pub part: OutboxPartKind,
    /// The content: markdown for text, JSON for files and cards.
    pub body: String,
    /// The message an edit or delete acts on.
    pub target_id: Option<String>,
}

impl OutboxPart {
    /// A new message with markdown `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            op: OutboxOpKind::Create,
            part: OutboxPartKind::Text,
            body: text.into(),
            target_id: None,
        }
    }
}

/// A reply to store before carrying it out: its destination and its operations in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxReply {
    /// The channel sending it.
    pub channel: String,
    /// The inbound message this answers (`None` for proactive messages).
    pub inbound_message_id: Option<String>,
    /// The destination room (or other target the channel understands).
    pub room_id: String,
    /// The thread parent message, when replying in a thread.
    pub parent_id: Option<String>,
    /// The operations, in order.
    pub parts: Vec<OutboxPart>,
}

/// One stored outbox operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Row id, used to mark the operation.
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
    pub part_index: u32,
    /// What to do.
    pub op: OutboxOpKind,
    /// What it carries.
    pub part: OutboxPartKind,
    /// The content.
    pub body: String,
    /// The message an edit or delete acts on.
    pub target_id: Option<String>,
    /// The id the chat network gave the message.
    pub remote_message_id: Option<String>,
    /// Delivery state.
    pub state: OutboxState,
    /// How many attempts were started.
    pub attempts: u32,
    /// The last error.
    pub error: Option<String>,
    /// When it was stored (unix ms).
    pub created_at: i64,
    /// When it last changed (unix ms).
    pub updated_at: i64,
}

impl OutboxEntry {
    /// Part `part_index` of `reply` as just stored under row id `id` at `now`: pending, with
    /// `attempts` started (what a backend returns from storing a reply without reading it back).
    pub fn stored(
        id: i64,
        reply: &OutboxReply,
        part_index: u32,
        part: &OutboxPart,
        attempts: u32,
        now: i64,
    ) -> Self {
        Self {
            id,
            channel: reply.channel.clone(),
            inbound_message_id: reply.inbound_message_id.clone(),
            room_id: reply.room_id.clone(),
            parent_id: reply.parent_id.clone(),
            part_index,
            op: part.op,
            part: part.part,
            body: part.body.clone(),
            target_id: part.target_id.clone(),
            remote_message_id: None,
            state: OutboxState::Pending,
            attempts,
            error: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// "Operation `op_id` was carried out", with what follows from it, in one commit (see
/// [`OutboxRepo::record_sent`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRecord {
    /// The operation carried out.
    pub op_id: i64,
    /// The id the chat network gave the message.
    pub remote_message_id: String,
    /// The next operation of the reply, whose attempt starts now.
    pub begin_next: Option<i64>,
    /// The inbound message to mark `replied` (the reply's last operation): `(channel, id)`.
    pub finish_message: Option<(String, String)>,
}

/// The outbox; get it with [`Store::outbox`](super::Store::outbox).
#[async_trait::async_trait]
pub trait OutboxRepo: Send + Sync {
    /// Stores every operation of `reply` as `pending` and returns them in order. If operations
    /// are already stored for the same inbound message, stores nothing and returns those.
    async fn enqueue(&self, reply: &OutboxReply) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Counts an attempt of operation `id` (call right before carrying it out); returns the
    /// attempt number, or `None` if there is no such operation.
    async fn begin_attempt(&self, id: i64) -> Result<Option<u32>, StoreError>;

    /// Marks an operation sent, starts the next one's attempt and marks the inbound message
    /// replied, as [`SentRecord`] says, in one commit. Returns whether the operation exists;
    /// when it does not, nothing is written.
    async fn record_sent(&self, sent: &SentRecord) -> Result<bool, StoreError>;

    /// Sets the state (and error) of operation `id`; returns whether it exists.
    async fn mark(
        &self,
        id: i64,
        state: OutboxState,
        error: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// The `pending` operations of `channel`, in the order they were stored.
    async fn pending(&self, channel: &str) -> Result<Vec<OutboxEntry>, StoreError>;

    /// The operations answering inbound message `inbound_message_id`, in order.
    async fn for_inbound(
        &self,
        channel: &str,
        inbound_message_id: &str,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Operation `id`, if it exists.
    async fn get(&self, id: i64) -> Result<Option<OutboxEntry>, StoreError>;

    /// When `channel` last had an operation accepted (unix ms), for status output.
    async fn last_sent_at(&self, channel: &str) -> Result<Option<i64>, StoreError>;

    /// Deletes operations no longer pending last updated before `older_than` (unix ms), with
    /// their bodies; returns how many.
    /// At most `limit` rows go in one call (a unit of work), so a large backlog is deleted in
    /// small commits that let the message path in between.
    async fn prune_finished(&self, older_than: i64, limit: usize) -> Result<usize, StoreError>;
}
