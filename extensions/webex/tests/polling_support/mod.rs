//! Test harness of the polling tests: a webex-sim, a bot client, and core's real gateway (echo
//! agent) behind a tiny test channel, so the poller gets a real `InboundSink` and answers go
//! back to the sim through the bot's client.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use moltbot_core::access::{AccessPolicy, DmPolicy, GroupPolicy};
use moltbot_core::agent::EchoAgent;
use moltbot_core::gateway::{
    BoxFuture, Channel, ChannelContext, ChannelError, Fetched, Gateway, GatewayOptions,
    InboundSink, OutgoingMessage, SendTarget,
};
use moltbot_core::store::{ManualClock, Store};
use moltbot_testkit::wait;
use moltbot_webex::config::{CatchUpConfig, Mode, WebexConfig};
use moltbot_webex::polling::Poller;
use moltbot_webex::shared::{BotIdentity, WebexShared, CHANNEL};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use webex_api::{ClientConfig, CreateMessage, MessageTarget, WebexClient};
use webex_sim::{RecordedRequest, SimMessage, SimPerson, SimServer};

/// The bot's email in the sim.
pub const BOT_EMAIL: &str = "molty@webex.bot";

/// A gateway channel that hands out its sink and sends replies through the bot's client.
struct TestChannel {
    shared: Arc<WebexShared>,
    sink_tx: Mutex<Option<oneshot::Sender<InboundSink>>>,
    sent: Arc<Mutex<Vec<String>>>,
}

impl Channel for TestChannel {
    fn id(&self) -> &str {
        CHANNEL
    }

    fn connect(
        &self,
        _http_addr: Option<std::net::SocketAddr>,
    ) -> BoxFuture<'_, Result<(), ChannelError>> {
        Box::pin(async { Ok(()) })
    }

    fn run(self: Arc<Self>, ctx: ChannelContext) -> BoxFuture<'static, Result<(), ChannelError>> {
        Box::pin(async move {
            if let Some(tx) = self.sink_tx.lock().unwrap().take() {
                let _ = tx.send(ctx.sink.clone());
            }
            ctx.ready.mark_ready();
            ctx.shutdown.cancelled().await;
            Ok(())
        })
    }

    fn refetch<'a>(&'a self, message_id: &'a str) -> BoxFuture<'a, Result<Fetched, ChannelError>> {
        Box::pin(moltbot_webex::fetch::refetch(&self.shared, message_id))
    }

    fn access_policy(&self) -> AccessPolicy {
        AccessPolicy::new(CHANNEL, DmPolicy::Open, &["*"], GroupPolicy::Open, &["*"])
            .with_same_id(webex_api::same_entity)
    }

    fn catch_up_max_age(&self) -> Duration {
        self.shared.config.catch_up.max_age
    }

    fn send<'a>(
        &'a self,
        message: &'a OutgoingMessage,
    ) -> BoxFuture<'a, Result<String, ChannelError>> {
        Box::pin(async move {
            let target = match &message.target {
                SendTarget::Room(id) => MessageTarget::Room(id.clone()),
                SendTarget::Person(id) => MessageTarget::PersonId(id.clone()),
                SendTarget::Email(email) => MessageTarget::PersonEmail(email.clone()),
            };
            let sent = self
                .shared
                .client
                .create_message(&CreateMessage::markdown(target, message.markdown.clone()))
                .await
                .map_err(|e| ChannelError::transient(e.to_string()))?;
            self.sent.lock().unwrap().push(message.markdown.clone());
            Ok(sent.id)
        })
    }
}

/// A running sim + gateway.
pub struct Harness {
    pub sim: SimServer,
    pub bot: SimPerson,
    pub alice: SimPerson,
    pub shared: Arc<WebexShared>,
    pub store: Store,
    pub sink: InboundSink,
    /// The store's clock (the poller's "now"); starts at the real time.
    pub clock: ManualClock,
    sent: Arc<Mutex<Vec<String>>>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// This machine's clock, unix ms.
pub fn real_now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(now.as_millis()).unwrap()
}

impl Harness {
    /// Starts with `catchUp.maxAgeMinutes` = `max_age`.
    pub async fn start(max_age: Duration) -> Harness {
        let sim = SimServer::start().await.unwrap();
        let bot = sim.add_bot(BOT_EMAIL, "Molty");
        let alice = sim.add_person("alice@example.com", "Alice");
        let mut client_config = ClientConfig::new(bot.token.clone())
            .with_base_url_str(&sim.api_base())
            .unwrap()
            .with_requests_per_minute(60_000);
        client_config.max_attempts = 1;
        let client = WebexClient::new(client_config).unwrap();
        let me = client.people_me().await.unwrap();
        let config = WebexConfig {
            mode: Mode::Polling,
            api_base_url: sim.api_base(),
            catch_up: CatchUpConfig { max_age },
            ..WebexConfig::default()
        };
        let shared = Arc::new(WebexShared {
            client,
            config,
            bot: OnceLock::new(),
            sink: OnceLock::new(),
            connected_at_ms: OnceLock::new(),
            caught_up: moltbot_webex::shared::CatchUpGate::opened(),
        });
        shared
            .bot
            .set(BotIdentity {
                id: me.id.clone(),
                email: me.emails.first().cloned(),
                display_name: me.display_name.clone(),
            })
            .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(real_now_ms());
        let store =
            Store::open_with_clock(dir.path().join("state.sqlite"), Arc::new(clock.clone()))
                .unwrap();
        let (tx, rx) = oneshot::channel();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let channel = Arc::new(TestChannel {
            shared: Arc::clone(&shared),
            sink_tx: Mutex::new(Some(tx)),
            sent: Arc::clone(&sent),
        });
        let mut gateway = Gateway::new(
            store.clone(),
            Arc::new(EchoAgent),
            GatewayOptions::default(),
        );
        gateway.add_channel(channel);
        let shutdown = CancellationToken::new();
        tokio::spawn(gateway.run(shutdown.clone(), |_| {}));
        let sink = tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .expect("the gateway starts its channel")
            .unwrap();
        Harness {
            sim,
            bot,
            alice,
            shared,
            store,
            sink,
            clock,
            sent,
            shutdown,
            _dir: dir,
        }
    }

    /// A new poller (as after a restart: its cursors come from the store).
    pub fn poller(&self) -> Poller {
        Poller::new(Arc::clone(&self.shared), self.sink.clone())
    }

    /// `from`'s DM to the bot; returns the created message.
    pub async fn dm(&self, from: &SimPerson, text: &str) -> SimMessage {
        self.sim.as_user(from).dm(&self.bot, text).await
    }

    /// Everything the bot asked the sim with `method` on `path` (e.g. `/v1/messages`).
    pub fn bot_requests(&self, method: &str, path: &str) -> Vec<RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.caller.as_deref() == Some(self.bot.id.as_str()))
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// Every request the bot made.
    pub fn all_bot_requests(&self) -> Vec<RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.caller.as_deref() == Some(self.bot.id.as_str()))
            .collect()
    }

    /// Replies the gateway sent so far, in order.
    pub fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }

    /// Waits until `n` replies were sent; returns them.
    pub async fn wait_for_sent(&self, n: usize) -> Vec<String> {
        let sent = wait::until(wait::TIMEOUT, || {
            let sent = self.sent();
            (sent.len() >= n).then_some(sent)
        })
        .await;
        sent.unwrap_or_else(|err| panic!("{n} replies not sent: {err}; sent {:?}", self.sent()))
    }

    /// How many messages the store recorded for the channel.
    pub async fn claimed(&self) -> u64 {
        self.store.ledger().count(CHANNEL, None).await.unwrap()
    }
}

/// The `created` of a message, in unix ms.
pub fn created_of(message: &SimMessage) -> i64 {
    moltbot_webex::polling::cursor::parse_ms(&message.created).unwrap()
}
