//! State shared by the Webex receivers (webhook, polling) and the sender.

use std::sync::OnceLock;

use moltbot_core::gateway::InboundSink;
use webex_api::WebexClient;

use crate::config::WebexConfig;

/// The channel id, also the `channel` column in the store.
pub const CHANNEL: &str = "webex";

/// Who the bot is, learned from `GET /people/me` when the channel connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    /// The bot's person id.
    pub id: String,
    /// The bot's first email.
    pub email: Option<String>,
    /// The bot's display name.
    pub display_name: String,
}

/// Everything the receivers and the sender share. Created once per gateway run.
pub struct WebexShared {
    /// The API client (one shared rate budget).
    pub client: WebexClient,
    /// The validated channel config.
    pub config: WebexConfig,
    /// Set by `connect`.
    pub bot: OnceLock<BotIdentity>,
    /// When `connect` first verified the token (unix ms, this machine's clock). On the very
    /// first start the polling cursor begins here rather than at the newest activity listed
    /// later, so a webhook delivery answered 503 between `connect` and the receivers' start
    /// is still found by the first catch-up.
    pub connected_at_ms: OnceLock<i64>,
    /// Set when the gateway starts the receivers; webhook deliveries before that get 503.
    pub sink: OnceLock<InboundSink>,
    /// Opened once the start-up catch-up has delivered what arrived while the gateway was
    /// down, so webhook messages (claimed at once) are delivered after those, in order.
    pub caught_up: CatchUpGate,
}

/// A one-way gate: closed until [`CatchUpGate::open`], then open for good.
#[derive(Debug)]
pub struct CatchUpGate(tokio::sync::watch::Sender<bool>);

impl Default for CatchUpGate {
    fn default() -> Self {
        Self(tokio::sync::watch::Sender::new(false))
    }
}

impl CatchUpGate {
    /// A gate that is already open (receivers that need no catch-up, tests).
    pub fn opened() -> Self {
        let gate = Self::default();
        gate.open();
        gate
    }

    /// Opens the gate (idempotent).
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    /// Whether the gate is open.
    pub fn is_open(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until the gate is open.
    pub async fn wait(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }
}

impl std::fmt::Debug for WebexShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebexShared")
            .field("bot", &self.bot.get())
            .finish_non_exhaustive()
    }
}

impl WebexShared {
    /// The bot identity; `None` before `connect` succeeded.
    pub fn bot(&self) -> Option<&BotIdentity> {
        self.bot.get()
    }
}
