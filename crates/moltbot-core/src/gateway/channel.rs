//! The runtime half of a channel plugin: what the gateway needs from a chat network.
//!
//! A channel receives messages (webhook, polling, both: the gateway does not know which) and
//! hands each one to an [`InboundSink`](super::InboundSink); it sends what the gateway gives it.
//! The gateway owns everything that is the same for every network: the exactly-once ledger,
//! access policy, pairing, the agent, per-room ordering and the outbound ledger.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::access::AccessPolicy;
pub use crate::agent::{ConversationKind, SenderInfo};

/// A boxed future, as returned by the object-safe channel trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A received message, normalised by its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// The channel id (e.g. the plugin's channel name).
    pub channel: String,
    /// The network's message id (the dedupe key).
    pub id: String,
    /// The room it was posted in.
    pub room_id: String,
    /// 1:1 or group.
    pub kind: ConversationKind,
    /// The sender.
    pub sender: SenderInfo,
    /// The text, with the bot's own mention removed.
    pub text: String,
    /// Whether the message mentions the bot.
    pub mentions_bot: bool,
    /// The thread parent, when the message was posted in a thread.
    pub thread_parent: Option<String>,
    /// The message's own time (unix ms).
    pub created_at_ms: i64,
    /// URLs of attached files (downloaded only on demand).
    pub files: Vec<String>,
}

/// Where to send a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendTarget {
    /// A room the bot is in.
    Room(String),
    /// A person, by id (a 1:1 chat).
    Person(String),
    /// A person, by email (a 1:1 chat).
    Email(String),
}

/// One message to send: a chunk of a reply, or a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The destination.
    pub target: SendTarget,
    /// Markdown text.
    pub markdown: String,
    /// Thread parent, for replies in a thread.
    pub parent_id: Option<String>,
    /// A file URL to attach.
    pub file: Option<String>,
}

/// A channel failure, with whether trying again later may help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ChannelError {
    /// What went wrong (never holds a secret).
    pub message: String,
    /// Whether the same call may succeed later (rate limit, 5xx, network).
    pub retryable: bool,
    /// Whether the call may have taken effect although it failed (a send whose outcome is
    /// unknown, e.g. a 5xx or timeout after the request was written).
    pub maybe_delivered: bool,
}

impl ChannelError {
    /// A permanent failure.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            maybe_delivered: false,
        }
    }

    /// A failure worth retrying later.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            maybe_delivered: false,
        }
    }
}

/// What the gateway gives a channel when it starts.
#[derive(Clone)]
pub struct ChannelContext {
    /// Where received messages go.
    pub sink: super::InboundSink,
    /// Cancelled when the gateway shuts down: receivers stop taking new messages.
    pub shutdown: CancellationToken,
    /// Tell the gateway the channel is receiving (and caught up); `/readyz` waits for it.
    pub ready: ReadySignal,
}

/// A channel's "I am receiving" signal (see [`ChannelContext::ready`]).
#[derive(Clone, Debug)]
pub struct ReadySignal(std::sync::Arc<tokio::sync::watch::Sender<bool>>);

impl ReadySignal {
    pub(crate) fn new() -> Self {
        Self(std::sync::Arc::new(tokio::sync::watch::Sender::new(false)))
    }

    /// Marks the channel ready (idempotent; a restarted receiver may call it again).
    pub fn mark_ready(&self) {
        self.0.send_replace(true);
    }

    /// Waits until [`mark_ready`](Self::mark_ready) was called.
    pub(crate) async fn wait(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|ready| *ready).await;
    }
}

/// A running channel.
pub trait Channel: Send + Sync + 'static {
    /// The channel id (`webex`). Also the `channel` column of the store.
    fn id(&self) -> &str;

    /// Prepares the channel: verify credentials, learn the bot's identity, register webhooks.
    /// `http_addr` is the address the gateway's HTTP server is bound to, when it runs one.
    /// Errors here stop the gateway with one clear line.
    fn connect(
        &self,
        http_addr: Option<std::net::SocketAddr>,
    ) -> BoxFuture<'_, Result<(), ChannelError>>;

    /// Receives until `ctx.shutdown` is cancelled, handing every message to `ctx.sink`.
    /// Returning an error makes the gateway restart it with backoff.
    fn run(self: Arc<Self>, ctx: ChannelContext) -> BoxFuture<'static, Result<(), ChannelError>>;

    /// Fetches a message by id again (crash recovery of messages recorded but not answered).
    /// `Ok(None)` when it no longer exists or should not be processed (e.g. the bot's own).
    fn refetch<'a>(
        &'a self,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<InboundMessage>, ChannelError>>;

    /// The access policy from this channel's config.
    fn access_policy(&self) -> AccessPolicy;

    /// Messages older than this, found after downtime, are marked seen and not answered.
    fn catch_up_max_age(&self) -> std::time::Duration;

    /// The address the gateway's HTTP server should listen on for this channel (webhooks,
    /// health, metrics), if the channel wants one.
    fn http_listen(&self) -> Option<std::net::SocketAddr> {
        None
    }

    /// Routes this channel serves on the gateway's HTTP server (e.g. its webhook), if any.
    fn router(&self) -> Option<axum::Router> {
        None
    }

    /// Splits reply text into chunks the network accepts.
    fn chunk(&self, markdown: &str) -> Vec<String>;

    /// Sends one message; returns the network's id for it.
    fn send<'a>(
        &'a self,
        message: &'a OutgoingMessage,
    ) -> BoxFuture<'a, Result<String, ChannelError>>;
}
