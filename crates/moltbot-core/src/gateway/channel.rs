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
use crate::error::BoxError;

/// A boxed future, as returned by the object-safe channel trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A received message, normalised by its channel.
///
/// Non-exhaustive: build it with [`InboundMessage::new`], then set the other fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Set when this event is a card submission rather than a typed message: `text` is then
    /// its readable line ([`CardSubmission::text_line`]) and `id` the submission's own id
    /// (unique like a message id, so the ledger dedupes it the same way).
    pub card: Option<CardSubmission>,
}

/// A submitted card (an adaptive card's `Action.Submit`): which card, and what was filled in.
///
/// Non-exhaustive: build it with [`CardSubmission::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CardSubmission {
    /// The id of the message that carries the card.
    pub card_message_id: String,
    /// The submitted inputs as the network gives them: a JSON object of input id -> value
    /// (the submit action's own `data` fields merged in).
    pub inputs: serde_json::Value,
}

impl CardSubmission {
    /// A submission of the card in message `card_message_id` with `inputs`.
    pub fn new(card_message_id: impl Into<String>, inputs: serde_json::Value) -> Self {
        Self {
            card_message_id: card_message_id.into(),
            inputs,
        }
    }

    /// The readable line the agent (and the session's history) gets for it:
    /// `[card submitted] choice: B, comment: "needs work"` (keys in order, strings quoted
    /// when they contain a space or a comma, other values as JSON; `[card submitted]` alone
    /// for no inputs).
    pub fn text_line(&self) -> String {
        let mut line = String::from("[card submitted]");
        let Some(inputs) = self.inputs.as_object() else {
            return line;
        };
        let fields: Vec<String> = inputs
            .iter()
            .map(|(key, value)| {
                let shown = match value {
                    serde_json::Value::String(s)
                        if !s.is_empty() && !s.contains([' ', ',', '"', '\n']) =>
                    {
                        s.clone()
                    }
                    other => other.to_string(),
                };
                format!("{key}: {shown}")
            })
            .collect();
        if !fields.is_empty() {
            line.push(' ');
            line.push_str(&fields.join(", "));
        }
        line
    }
}

impl InboundMessage {
    /// A message with its identity, conversation, sender and text; it mentions nobody, is not
    /// in a thread, has no files and a `created_at_ms` of 0 until those fields are set.
    pub fn new(
        channel: impl Into<String>,
        id: impl Into<String>,
        room_id: impl Into<String>,
        kind: ConversationKind,
        sender: SenderInfo,
        text: impl Into<String>,
    ) -> Self {
        Self {
            channel: channel.into(),
            id: id.into(),
            room_id: room_id.into(),
            kind,
            sender,
            text: text.into(),
            mentions_bot: false,
            thread_parent: None,
            created_at_ms: 0,
            files: Vec::new(),
            card: None,
        }
    }
}

/// What [`Channel::refetch`] found for a claimed message.
///
/// Non-exhaustive: build it with [`Fetched::ready`], [`Fetched::skip`] or
/// [`Fetched::not_yet`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fetched {
    /// The message, normalised: process it.
    Ready(Box<InboundMessage>),
    /// It must never be processed (the bot's own message, one the bot may not read): it is
    /// recorded as skipped with `reason`.
    Skip {
        /// A stable phrase without ids (it is recorded, logged and becomes the `reason` label
        /// of `moltbot_messages_dropped_total` in snake_case), e.g. `own message`.
        reason: &'static str,
        /// The evidence, for the log line only (e.g. the network's error with its tracking id).
        detail: Option<String>,
    },
    /// It cannot be read now but may be later (not found yet, server error, rate limit,
    /// timeout): it stays pending, is set aside so its room goes on, and is fetched again
    /// until `catchUp.maxAgeMinutes` after its creation.
    NotYet {
        /// The earliest retry the network asked for (a `Retry-After`), if it did; otherwise
        /// the gateway's own backoff decides.
        retry_after: Option<std::time::Duration>,
        /// What happened, for the log line and the ledger row (e.g. the error chain).
        reason: String,
    },
}

impl Fetched {
    /// The message is ready to process.
    pub fn ready(message: InboundMessage) -> Self {
        Fetched::Ready(Box::new(message))
    }

    /// The message is never to be processed, for `reason` (see [`Fetched::Skip`]).
    pub fn skip(reason: &'static str) -> Self {
        Fetched::Skip {
            reason,
            detail: None,
        }
    }

    /// The message cannot be read yet, because of `reason` (see [`Fetched::NotYet`]).
    pub fn not_yet(reason: impl Into<String>) -> Self {
        Fetched::NotYet {
            retry_after: None,
            reason: reason.into(),
        }
    }

    /// Adds the evidence of a [`Skip`](Fetched::Skip); no effect on the other variants.
    #[must_use]
    pub fn with_detail(mut self, evidence: impl Into<String>) -> Self {
        if let Fetched::Skip { detail, .. } = &mut self {
            *detail = Some(evidence.into());
        }
        self
    }

    /// Sets the earliest retry of a [`NotYet`](Fetched::NotYet); no effect on the other
    /// variants.
    #[must_use]
    pub fn with_retry_after(mut self, after: std::time::Duration) -> Self {
        if let Fetched::NotYet { retry_after, .. } = &mut self {
            *retry_after = Some(after);
        }
        self
    }
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

/// One message to send: a chunk of a reply, a notice, a file or a card.
///
/// Non-exhaustive: build it with [`OutgoingMessage::markdown`]. An empty `markdown` means a
/// message without text (a file message).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutgoingMessage {
    /// The destination.
    pub target: SendTarget,
    /// Markdown text.
    pub markdown: String,
    /// Thread parent, for replies in a thread.
    pub parent_id: Option<String>,
    /// A file URL to attach.
    pub file: Option<String>,
    /// An adaptive card to attach (the card JSON itself, `{"type": "AdaptiveCard", ...}`);
    /// `markdown` is then the fallback text clients without cards show.
    pub card: Option<serde_json::Value>,
}

impl OutgoingMessage {
    /// Markdown text to `target`, not in a thread, without a file.
    pub fn markdown(target: SendTarget, markdown: impl Into<String>) -> Self {
        Self {
            target,
            markdown: markdown.into(),
            parent_id: None,
            file: None,
            card: None,
        }
    }

    /// The same message, with the adaptive card `card` attached (`markdown` is its fallback).
    #[must_use]
    pub fn with_card(mut self, card: serde_json::Value) -> Self {
        self.card = Some(card);
        self
    }

    /// The same message, as a reply in the thread of `parent_id`.
    #[must_use]
    pub fn with_parent(mut self, parent_id: impl Into<String>) -> Self {
        self.parent_id = Some(parent_id.into());
        self
    }

    /// The same message, with the file at `url` attached.
    #[must_use]
    pub fn with_file(mut self, url: impl Into<String>) -> Self {
        self.file = Some(url.into());
        self
    }
}

/// What kind of failure a [`ChannelError`] is: what the gateway (or the operator) should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChannelErrorKind {
    /// The same call may succeed later (rate limit, server error, network, not connected yet):
    /// the gateway retries it.
    Transient,
    /// The same call fails the same way again (the network refused the request).
    Permanent,
    /// The network refused the credentials: the operator must fix the token.
    Auth,
    /// The channel's configuration cannot work (an invalid setting, a missing URL).
    Config,
}

impl ChannelErrorKind {
    /// Whether a call that failed this way is worth trying again unchanged.
    pub fn is_retryable(self) -> bool {
        matches!(self, ChannelErrorKind::Transient)
    }

    /// What a failure of this kind is, e.g. `transient channel failure` (also the `Display` of
    /// a [`ChannelError`] without context).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelErrorKind::Transient => "transient channel failure",
            ChannelErrorKind::Permanent => "channel failure",
            ChannelErrorKind::Auth => "channel credentials refused",
            ChannelErrorKind::Config => "channel configuration invalid",
        }
    }
}

impl std::fmt::Display for ChannelErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A channel failure: its [kind](ChannelErrorKind), what the channel was doing, and the
/// network's own error as the [`source`](std::error::Error::source), so its evidence (status,
/// tracking id, the transport error) reaches the log line.
///
/// `Display` is only the context (e.g. `POST /messages failed`); log it with
/// [`crate::error::chain`] to print the sources too. Core never looks inside the source: a plugin
/// wraps its network client's error with [`ChannelError::new`], core stays network-agnostic.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.context.as_deref().unwrap_or(self.kind.as_str()))]
pub struct ChannelError {
    kind: ChannelErrorKind,
    context: Option<String>,
    maybe_delivered: bool,
    #[source]
    source: Option<BoxError>,
}

impl ChannelError {
    /// A failure of `kind` caused by `source` (e.g. the network client's error).
    pub fn new(kind: ChannelErrorKind, source: impl Into<BoxError>) -> Self {
        Self {
            kind,
            context: None,
            maybe_delivered: false,
            source: Some(source.into()),
        }
    }

    /// A failure of `kind` described by `message` alone, without an underlying error.
    pub fn message(kind: ChannelErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            context: Some(message.into()),
            maybe_delivered: false,
            source: None,
        }
    }

    /// A [`Permanent`](ChannelErrorKind::Permanent) failure described by `message`.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::message(ChannelErrorKind::Permanent, message)
    }

    /// A [`Transient`](ChannelErrorKind::Transient) failure described by `message`.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::message(ChannelErrorKind::Transient, message)
    }

    /// Says what the channel was doing (`POST /messages failed`); replaces an earlier context.
    /// Never put a secret in it.
    #[must_use]
    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// Marks whether the call may have taken effect although it failed (a send whose outcome is
    /// unknown, e.g. a server error or timeout after the request was written).
    #[must_use]
    pub fn with_maybe_delivered(mut self, maybe_delivered: bool) -> Self {
        self.maybe_delivered = maybe_delivered;
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ChannelErrorKind {
        self.kind
    }

    /// Whether the same call may succeed later (see [`ChannelErrorKind::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// Whether the call may have taken effect although it failed.
    pub fn maybe_delivered(&self) -> bool {
        self.maybe_delivered
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

    /// Prepares the channel in every process: verify credentials, learn the bot's identity.
    /// `http_addr` is the address the gateway's HTTP server is bound to, when it runs one.
    /// Errors here stop the gateway with one clear line.
    fn connect(
        &self,
        http_addr: Option<std::net::SocketAddr>,
    ) -> BoxFuture<'_, Result<(), ChannelError>>;

    /// The set-up only the process that runs the receivers does, before [`run`](Self::run):
    /// registering webhooks with the network, say. Called after [`connect`](Self::connect)
    /// without a leader election, and at the start of every tenure of the leader with one
    /// (replicas sharing a store), so followers never register anything. Errors stop the
    /// gateway with one clear line, except [`Transient`](ChannelErrorKind::Transient) ones of
    /// a leader, which are retried with the receivers' backoff. Default: nothing.
    fn register(
        &self,
        http_addr: Option<std::net::SocketAddr>,
    ) -> BoxFuture<'_, Result<(), ChannelError>> {
        let _ = http_addr;
        Box::pin(std::future::ready(Ok(())))
    }

    /// With a leader election only, in a replica that did not win the lead at its start (once
    /// that is known, before it reports ready): the receivers (and their start-up catch-up) run
    /// in whichever replica leads, so the channel's routes (its webhook) must hand what they
    /// accept to `sink` from now on, without waiting for a receiver or a catch-up of this
    /// process. A replica that leads from its start is not called: its receivers open the
    /// routes as without an election. Default: nothing.
    fn follow(&self, sink: &super::InboundSink) {
        let _ = sink;
    }

    /// A short word (no spaces or commas) identifying this channel's configuration, without
    /// its secrets: replicas sharing a store publish it, and one whose config differs from the
    /// leader's is reported and does not take the lead (see [`super::replicas`]). Two
    /// processes with the same effective config must get the same word (e.g. a hash of a
    /// canonical form). Default: none (never compared).
    fn config_fingerprint(&self) -> Option<String> {
        None
    }

    /// The network's request budget is shared by `processes` replicas running as the same
    /// bot (at least 1, this one included; re-sent every
    /// [`SYNC_EVERY`](super::replicas::SYNC_EVERY), so it must be cheap when unchanged): the
    /// channel should use `1 / processes` of its configured budget. Default: nothing.
    fn share_budget(&self, processes: u32) {
        let _ = processes;
    }

    /// Another replica running as the same bot was told by the network to pause its requests
    /// for `wait` from now (a 429's `Retry-After`, published with
    /// [`publish_pause`](super::replicas::publish_pause)): this one should pause too. Default:
    /// nothing.
    fn pause_requests(&self, wait: std::time::Duration) {
        let _ = wait;
    }

    /// Receives until `ctx.shutdown` is cancelled, handing every message to `ctx.sink`.
    /// Returning an error makes the gateway restart it with backoff.
    fn run(self: Arc<Self>, ctx: ChannelContext) -> BoxFuture<'static, Result<(), ChannelError>>;

    /// Fetches a claimed message by id (a webhook delivery carries only ids; recovery and the
    /// re-drive task fetch again what they take). [`Fetched`] says whether it is ready, never to
    /// be processed, or not readable yet. `Err` only for what no retry of this one message can
    /// fix: an [`Auth`](ChannelErrorKind::Auth) error stops the channel (the message stays
    /// pending for the next start); any other error is treated as
    /// [`Fetched::NotYet`].
    fn refetch<'a>(&'a self, message_id: &'a str) -> BoxFuture<'a, Result<Fetched, ChannelError>>;

    /// `sender` completed with what the channel can look up about them (their display name),
    /// before the gateway records a pairing request or asks the agent. Best effort: never
    /// fails and never waits long; on any failure the sender is returned as given. The
    /// default returns it unchanged.
    fn resolve_sender<'a>(&'a self, sender: &'a SenderInfo) -> BoxFuture<'a, SenderInfo> {
        Box::pin(std::future::ready(sender.clone()))
    }

    /// The files of `message` (its [`InboundMessage::files`]), downloaded for the agent. Best
    /// effort and bounded: a file that cannot be had comes back as
    /// [`Attachment::unavailable`](crate::agent::Attachment::unavailable) with the reason (too
    /// large, blocked by a malware scan, ...), so the agent can say so; never fails. Called
    /// only for a message that will be answered. The default downloads nothing.
    fn fetch_attachments<'a>(
        &'a self,
        message: &'a InboundMessage,
    ) -> BoxFuture<'a, Vec<crate::agent::Attachment>> {
        let _ = message;
        Box::pin(std::future::ready(Vec::new()))
    }

    /// The access policy from this channel's config.
    fn access_policy(&self) -> AccessPolicy;

    /// Messages older than this, found after downtime, are marked seen and not answered.
    fn catch_up_max_age(&self) -> std::time::Duration;

    /// Whether chat commands (`/help`, `/reset`, ...) are answered by the gateway before the
    /// agent (`channels.<id>.commands.enabled`). When `false`, a `/word` is ordinary text for
    /// the agent. Default: `true`.
    fn commands_enabled(&self) -> bool {
        true
    }

    /// What the channel tells a person who asks `/status` about it: `(label, value)` pairs
    /// shown as `- label: value`, such as `("Receive mode", "webhook")`. Plain text of the
    /// operator's own config; never a secret (the asker may be anyone the access policy
    /// admits). Default: nothing.
    fn describe(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Why this channel cannot take answers to cards (polls, forms) as it runs now, in words
    /// for the person who asked (e.g. a receive mode that never sees card submissions);
    /// `None` when card submissions reach the gateway. Default: the channel has no cards.
    fn cards_unavailable(&self) -> Option<String> {
        Some(format!(
            "the {} channel does not receive card submissions",
            self.id()
        ))
    }

    /// The address the gateway's HTTP server should listen on for this channel (webhooks,
    /// health, metrics), if the channel wants one.
    fn http_listen(&self) -> Option<std::net::SocketAddr> {
        None
    }

    /// The config key that sets the port of [`http_listen`](Self::http_listen), named in the
    /// error when that port is taken. Default: the channel's section, `channels.<id>`.
    fn http_listen_key(&self) -> String {
        format!("channels.{}", self.id())
    }

    /// Routes this channel serves on the gateway's HTTP server (e.g. its webhook), if any.
    fn router(&self) -> Option<axum::Router> {
        None
    }

    /// The output hook: a filter that turns the agent's answer to the person and room in
    /// `ctx` into the message bodies to send (see [`super::ReplyFilter`]). Every agent reply
    /// goes through it; notices the gateway writes itself do not. Default: the whole answer as
    /// one message ([`super::WholeText`]), none when it is blank.
    fn reply_filter(&self, ctx: &super::ReplyContext) -> Box<dyn super::ReplyFilter> {
        let _ = ctx;
        Box::new(super::WholeText::default())
    }

    /// Sends one message; returns the network's id for it.
    fn send<'a>(
        &'a self,
        message: &'a OutgoingMessage,
    ) -> BoxFuture<'a, Result<String, ChannelError>>;

    /// Sends one message carrying the local `file` (uploaded; `message.markdown`, when not
    /// empty, is its text); returns the network's id for it. The default refuses with a
    /// [`Permanent`](ChannelErrorKind::Permanent) error: the reply's other parts still go.
    fn upload<'a>(
        &'a self,
        message: &'a OutgoingMessage,
        file: &'a crate::agent::LocalFile,
    ) -> BoxFuture<'a, Result<String, ChannelError>> {
        let _ = (message, file);
        Box::pin(std::future::ready(Err(ChannelError::permanent(
            "this channel cannot upload files",
        ))))
    }

    /// Largest local file [`upload`](Self::upload) takes, in bytes; a larger file of an
    /// agent's reply is left out before the reply is recorded (logged, with a notice in the
    /// reply). Default: 0 (this channel uploads nothing).
    fn max_upload_bytes(&self) -> u64 {
        0
    }

    /// Checks an adaptive card before a reply carrying it is recorded: `Err(reason)` leaves the
    /// card out (logged with the reason; the text still goes). The default applies the checks
    /// every card must pass ([`super::check_adaptive_card`]); a channel adds its network's
    /// rules (supported versions, size).
    fn check_card(&self, card: &serde_json::Value) -> Result<(), String> {
        super::check_adaptive_card(card).map(|_| ())
    }

    /// Whether [`edit`](Self::edit) and [`delete`](Self::delete) work on this channel. The
    /// gateway posts a "working on it" placeholder (`agents.defaults.typingDelaySeconds`) only
    /// on a channel that can take it away again. Default: `false`.
    fn supports_edits(&self) -> bool {
        false
    }

    /// Replaces the text of message `message_id`, posted before by the bot, with
    /// `message.markdown` (its target names the room); returns the message's id. The default
    /// refuses with a [`Permanent`](ChannelErrorKind::Permanent) error: the gateway then posts
    /// the text as a new message instead.
    fn edit<'a>(
        &'a self,
        message_id: &'a str,
        message: &'a OutgoingMessage,
    ) -> BoxFuture<'a, Result<String, ChannelError>> {
        let _ = (message_id, message);
        Box::pin(std::future::ready(Err(ChannelError::permanent(
            "this channel cannot edit messages",
        ))))
    }

    /// Deletes message `message_id`, posted before by the bot in `room_id`. A message already
    /// gone counts as deleted. The default refuses with a
    /// [`Permanent`](ChannelErrorKind::Permanent) error: the gateway then leaves the message.
    fn delete<'a>(
        &'a self,
        message_id: &'a str,
        room_id: &'a str,
    ) -> BoxFuture<'a, Result<(), ChannelError>> {
        let _ = (message_id, room_id);
        Box::pin(std::future::ready(Err(ChannelError::permanent(
            "this channel cannot delete messages",
        ))))
    }
}

#[cfg(test)]
mod card_tests {
    use super::CardSubmission;
    use serde_json::json;

    #[test]
    fn the_readable_line_names_each_input() {
        let line = |inputs| CardSubmission::new("m1", inputs).text_line();
        assert_eq!(
            line(json!({"choice": "B", "comment": "needs work"})),
            r#"[card submitted] choice: B, comment: "needs work""#
        );
        assert_eq!(
            line(json!({"n": 3, "ok": true, "empty": "", "list": "a,b"})),
            r#"[card submitted] empty: "", list: "a,b", n: 3, ok: true"#
        );
        assert_eq!(line(json!({})), "[card submitted]");
        assert_eq!(line(json!("not an object")), "[card submitted]");
        assert_eq!(
            line(json!({"q": "say \"hi\"\nthen go"})),
            r#"[card submitted] q: "say \"hi\"\nthen go""#
        );
    }
}
