//! The gateway loop: channels in, agent, replies out, exactly once.
//!
//! Per message (see `docs/ARCHITECTURE.md`): the receiver has already claimed the id in the
//! store; here the message is marked `processing`, checked against the access policy, answered
//! by the agent with its session history, chunked, each chunk stored in the outbound ledger
//! before it is sent, and finally marked `replied`. A crash anywhere leaves the row
//! `received`/`processing`; on the next start [`Gateway::run`] picks those rows up again
//! (re-sending only chunks not yet marked sent).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::agent::{Agent, AgentRequest, ConversationInfo, SessionKey, Turn};
use crate::backoff;
use crate::dispatch::{DispatchLimits, Dispatcher};
use crate::error::chain;
use crate::store::{InboundState, OutboundChunk, OutboundReply, OutboundState, Store, StoreError};

use super::approvals;
use super::channel::{
    Channel, ChannelContext, ChannelError, InboundMessage, OutgoingMessage, ReadySignal, SendTarget,
};
use super::metrics::{ChannelMetrics, Dropped, Metrics};
use super::sink::{InboundSink, Work};
use super::status::GatewayStatus;

/// Attempts to fetch a delivered message (each already retried by the client) before it is left
/// for the next start: waits of [`FETCH_BACKOFF`], about a minute in all.
const FETCH_ATTEMPTS: u32 = 8;

/// Backoff (base, cap) between fetch attempts: 0.5 s doubling, at most 30 s (see
/// [`backoff::exponential`] for the jitter).
const FETCH_BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// Backoff (base, cap) between send attempts of one reply chunk: 0.5 s doubling, at most 30 s.
const SEND_BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// Backoff (base, cap) between restarts of a failing receiver: 0.5 s doubling, at most 60 s.
const RESTART_BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(60));

/// A receiver that ran this long before failing starts its restart backoff from the base again.
const RESTART_RESET_AFTER: Duration = Duration::from_secs(60);

/// How long start-up waits for a channel to report ready (caught up) before `/readyz` says so
/// anyway.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of the gateway loop.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// How long shutdown waits for in-flight work before leaving it to the next start.
    pub shutdown_timeout: Duration,
    /// Turns of history given to the agent.
    pub history_turns: usize,
    /// The system prompt for every session.
    pub system_prompt: Option<String>,
    /// System prompts for particular rooms (room id -> prompt), replacing `system_prompt`.
    pub room_system_prompts: std::collections::HashMap<String, String>,
    /// Queue limits of the per-room dispatcher.
    pub limits: DispatchLimits,
    /// How often approvals made by other processes are looked for.
    pub approval_poll: Duration,
    /// Attempts per outbound chunk on retryable failures.
    pub send_attempts: u32,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            shutdown_timeout: Duration::from_secs(10),
            history_turns: 20,
            system_prompt: None,
            room_system_prompts: std::collections::HashMap::new(),
            limits: DispatchLimits::default(),
            approval_poll: Duration::from_millis(500),
            send_attempts: 8,
        }
    }
}

/// Why the gateway stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// A channel could not start (bad token, webhook registration refused, ...).
    #[error("channel {channel} could not start")]
    Connect {
        /// The channel id.
        channel: String,
        /// What went wrong, with the network's evidence in its sources.
        #[source]
        source: ChannelError,
    },
    /// The HTTP server a channel asked for could not bind its port.
    #[error(
        "cannot listen on {addr} for channel {channel} (is another gateway running? change \
         {setting})"
    )]
    Bind {
        /// The channel that asked for the server.
        channel: String,
        /// The config key that sets the port ([`Channel::http_listen_key`]).
        setting: String,
        /// The address.
        addr: std::net::SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Why a reply was not (completely) sent; the message is then marked failed with the chain of
/// this error as its reason.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplyError {
    /// The state store failed (recording the chunks or their progress).
    #[error("state store")]
    Store(#[from] StoreError),
    /// The channel refused to send a chunk, or kept failing.
    #[error("reply not sent")]
    Send(#[source] ChannelError),
}

/// Processes the messages of one channel.
pub(crate) struct Processor {
    pub(crate) channel: Arc<dyn Channel>,
    pub(crate) store: Store,
    pub(crate) agent: Arc<dyn Agent>,
    pub(crate) metrics: ChannelMetrics,
    pub(crate) options: GatewayOptions,
}

/// The gateway: a set of channels, one agent, one store.
pub struct Gateway {
    store: Store,
    agent: Arc<dyn Agent>,
    channels: Vec<Arc<dyn Channel>>,
    metrics: Arc<Metrics>,
    status: Arc<GatewayStatus>,
    options: GatewayOptions,
}

impl Gateway {
    /// Creates a gateway.
    pub fn new(store: Store, agent: Arc<dyn Agent>, options: GatewayOptions) -> Self {
        Self {
            store,
            agent,
            channels: Vec::new(),
            metrics: Arc::new(Metrics::default()),
            status: Arc::new(GatewayStatus::default()),
            options,
        }
    }

    /// Adds a channel.
    pub fn add_channel(&mut self, channel: Arc<dyn Channel>) {
        self.channels.push(channel);
    }

    /// The metrics, shared with the HTTP server and the channels.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// Readiness and health, shared with the HTTP server.
    pub fn status(&self) -> Arc<GatewayStatus> {
        Arc::clone(&self.status)
    }

    /// The routes every channel contributes, merged (served by the gateway's HTTP server).
    pub fn channel_routes(&self) -> axum::Router {
        self.channels
            .iter()
            .filter_map(|c| c.router())
            .fold(axum::Router::new(), axum::Router::merge)
    }

    /// Binds the HTTP server (if a channel asks for one), connects every channel, recovers
    /// unanswered messages, then runs until `shutdown` is cancelled and drains in-flight work
    /// within the deadline. `on_listening` is told the bound address (port 0 picks one).
    pub async fn run(
        self,
        shutdown: CancellationToken,
        on_listening: impl FnOnce(std::net::SocketAddr) + Send,
    ) -> Result<(), GatewayError> {
        let mut server = None;
        let mut http_addr = None;
        let listen = self
            .channels
            .iter()
            .find_map(|c| Some((c, c.http_listen()?)));
        if let Some((asking, addr)) = listen {
            let (listener, bound) =
                super::http::bind(addr)
                    .await
                    .map_err(|source| GatewayError::Bind {
                        channel: asking.id().to_string(),
                        setting: asking.http_listen_key(),
                        addr,
                        source,
                    })?;
            tracing::info!(addr = %bound, "HTTP server listening (webhooks, /healthz, /readyz, /metrics)");
            on_listening(bound);
            http_addr = Some(bound);
            let router = super::http::router(
                self.channel_routes(),
                Arc::clone(&self.status),
                Arc::clone(&self.metrics),
            );
            let server_shutdown = shutdown.child_token();
            server = Some((
                tokio::spawn(super::http::serve(
                    listener,
                    router,
                    server_shutdown.clone(),
                )),
                server_shutdown,
            ));
        }
        // Lets `moltbot channels status` (another process) see that a gateway runs.
        let heartbeat_stop = shutdown.child_token();
        let heartbeat = tokio::spawn(super::heartbeat::run(
            self.store.clone(),
            heartbeat_stop.clone(),
        ));
        let result = self.run_channels(http_addr, shutdown).await;
        // Also when a channel could not start (the shutdown token is then never cancelled).
        heartbeat_stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), heartbeat).await;
        if let Some((task, stop)) = server {
            stop.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
        result
    }

    async fn run_channels(
        &self,
        http_addr: Option<std::net::SocketAddr>,
        shutdown: CancellationToken,
    ) -> Result<(), GatewayError> {
        for channel in &self.channels {
            channel
                .connect(http_addr)
                .await
                .map_err(|source| GatewayError::Connect {
                    channel: channel.id().to_string(),
                    source,
                })?;
        }
        let mut tasks = tokio::task::JoinSet::new();
        let mut dispatchers = Vec::new();
        let mut ready_signals = Vec::new();
        for channel in &self.channels {
            let processor = Arc::new(Processor {
                channel: Arc::clone(channel),
                store: self.store.clone(),
                agent: Arc::clone(&self.agent),
                metrics: self.metrics.channel(channel.id()),
                options: self.options.clone(),
            });
            let handler_processor = Arc::clone(&processor);
            let dispatcher = Arc::new(Dispatcher::new(
                self.options.limits,
                Arc::new(move |work: Work| {
                    let p = Arc::clone(&handler_processor);
                    Box::pin(async move { p.process_work(work).await })
                        as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
                }),
            ));
            dispatchers.push(Arc::clone(&dispatcher));
            let sink = InboundSink::new(
                channel.id().to_string(),
                self.store.clone(),
                Arc::clone(&dispatcher),
                processor.metrics.clone(),
            );
            processor.recover(&sink).await?;
            let ready = ReadySignal::new();
            ready_signals.push((channel.id().to_string(), ready.clone()));
            tasks.spawn(supervise(
                Arc::clone(channel),
                ChannelContext {
                    sink,
                    shutdown: shutdown.clone(),
                    ready,
                },
            ));
            tasks.spawn(approvals::run(Arc::clone(&processor), shutdown.clone()));
        }
        for (channel, ready) in &ready_signals {
            tokio::select! {
                () = ready.wait() => {}
                () = tokio::time::sleep(READY_TIMEOUT) => tracing::warn!(channel = %channel, "channel not ready after {READY_TIMEOUT:?}; reporting ready anyway"),
                () = shutdown.cancelled() => break,
            }
        }
        self.status.set_ready(true);
        tracing::info!(
            channels = self.channels.len(),
            agent = self.agent.name(),
            "gateway ready"
        );

        let metrics = Arc::clone(&self.metrics);
        let gauges = dispatchers.clone();
        let depth_shutdown = shutdown.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            while !depth_shutdown.is_cancelled() {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = depth_shutdown.cancelled() => break,
                }
                metrics.set_queue_depth(gauges.iter().map(|d| d.depth()).sum());
            }
        });

        shutdown.cancelled().await;
        self.status.set_ready(false);
        tracing::info!("shutting down: no new messages; finishing in-flight work");
        let deadline = self.options.shutdown_timeout;
        let mut finished = true;
        for dispatcher in &dispatchers {
            finished &= dispatcher.drain(deadline).await;
        }
        // Receivers observe the cancellation themselves; give them a moment, then stop them.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        tasks.abort_all();
        if finished {
            tracing::info!("all in-flight messages finished");
        } else {
            tracing::warn!(
                "shutdown deadline reached; unfinished messages stay in the store and are answered on the next start"
            );
        }
        Ok(())
    }
}

/// Runs a channel's receivers, restarting them with capped exponential backoff
/// ([`RESTART_BACKOFF`]) after errors.
async fn supervise(channel: Arc<dyn Channel>, ctx: ChannelContext) {
    let restart_delays = || backoff::exponential(RESTART_BACKOFF.0, RESTART_BACKOFF.1);
    let mut delays = restart_delays();
    let mut failures: u32 = 0;
    loop {
        let started = tokio::time::Instant::now();
        let result = Arc::clone(&channel).run(ctx.clone()).await;
        if ctx.shutdown.is_cancelled() {
            return;
        }
        if started.elapsed() > RESTART_RESET_AFTER {
            failures = 0;
            delays = restart_delays();
        }
        failures = failures.saturating_add(1);
        let delay = delays.next().unwrap_or(RESTART_BACKOFF.1);
        match result {
            Ok(()) => tracing::warn!(
                channel = channel.id(),
                ?delay,
                "receiver stopped; restarting"
            ),
            Err(err) => tracing::error!(
                channel = channel.id(),
                error = %chain(&err),
                ?delay,
                restart = failures,
                "receiver failed; restarting"
            ),
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = ctx.shutdown.cancelled() => return,
        }
    }
}

impl Processor {
    fn id(&self) -> &str {
        self.channel.id()
    }

    /// Start-up recovery: messages recorded but not answered (a crash or a deadline) within the
    /// catch-up age are processed again; older ones are marked skipped.
    async fn recover(&self, sink: &InboundSink) -> Result<(), GatewayError> {
        let now = self.store.now_ms();
        let max_age =
            i64::try_from(self.channel.catch_up_max_age().as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.saturating_sub(max_age);
        let stale = self
            .store
            .inbound()
            .skip_stale(self.id(), cutoff, "older than catchUp.maxAgeMinutes")
            .await?;
        if stale > 0 {
            tracing::info!(
                channel = self.id(),
                count = stale,
                "skipped stale unanswered messages"
            );
        }
        let pending = self.store.inbound().pending(self.id(), cutoff).await?;
        if !pending.is_empty() {
            tracing::info!(
                channel = self.id(),
                count = pending.len(),
                "recovering unanswered messages"
            );
        }
        for row in pending {
            match self.channel.refetch(&row.message_id).await {
                Ok(Some(message)) => {
                    if sink.deliver(message).await.is_err() {
                        break;
                    }
                }
                Ok(None) => {
                    sink.skip(&row.message_id, "gone or not processable")
                        .await?;
                }
                Err(err) => {
                    // Left pending: the next start tries again.
                    tracing::warn!(channel = self.id(), message = %row.message_id, error = %chain(&err), "could not re-fetch an unanswered message");
                }
            }
        }
        Ok(())
    }

    /// Resolves a work item to a message (fetching it when needed), then processes it.
    async fn process_work(&self, work: Work) {
        let message = match work {
            Work::Ready(message) => *message,
            Work::Unfetched { id } => match self.fetch(&id).await {
                Some(message) => message,
                None => return,
            },
        };
        self.process(message).await;
    }

    /// Fetches a claimed message for its room's worker; `None` when there is nothing to
    /// process (skipped, or left `received` for the next start after repeated failures).
    async fn fetch(&self, id: &str) -> Option<InboundMessage> {
        let mut delays = backoff::exponential(FETCH_BACKOFF.0, FETCH_BACKOFF.1);
        for attempt in 1..=FETCH_ATTEMPTS {
            match self.channel.refetch(id).await {
                Ok(Some(message)) => return Some(message),
                Ok(None) => {
                    self.metrics.dropped(Dropped::OwnOrGone);
                    self.finish_id(id, InboundState::Skipped, Some("own message or gone"))
                        .await;
                    return None;
                }
                Err(err) => {
                    tracing::warn!(channel = self.id(), message = %id, attempt, error = %chain(&err), "could not fetch a delivered message");
                    if attempt < FETCH_ATTEMPTS {
                        let delay = delays.next().unwrap_or(FETCH_BACKOFF.1);
                        tokio::time::sleep(delay).await;
                    }
                }
            }
        }
        tracing::error!(channel = self.id(), message = %id, "giving up fetching; it stays recorded and is retried on the next start");
        None
    }

    async fn finish_id(&self, id: &str, state: InboundState, reason: Option<&str>) {
        if let Err(err) = self
            .store
            .inbound()
            .mark(self.id(), id, state, reason)
            .await
        {
            tracing::error!(channel = self.id(), error = %err, "could not record the message's final state");
        }
    }

    /// Handles one admitted-or-not message, start to finish. Never panics, never returns early
    /// without leaving the store in a state the next start understands.
    pub(crate) async fn process(&self, message: InboundMessage) {
        let started = Instant::now();
        let inbound = self.store.inbound();
        match inbound.state_of(self.id(), &message.id).await {
            Ok(Some(state)) if !state.is_pending() => return,
            Ok(_) => {}
            Err(err) => {
                tracing::error!(channel = self.id(), error = %err, "store unavailable; message left for the next start");
                return;
            }
        }
        if let Err(err) = inbound
            .mark(self.id(), &message.id, InboundState::Processing, None)
            .await
        {
            tracing::error!(channel = self.id(), error = %err, "store unavailable; message left for the next start");
            return;
        }
        // A reply already stored (crash after the agent answered): finish sending it.
        let stored = match self
            .store
            .outbound()
            .for_inbound(self.id(), &message.id)
            .await
        {
            Ok(chunks) => chunks,
            Err(err) => {
                tracing::error!(channel = self.id(), error = %err, "store unavailable");
                return;
            }
        };
        let outcome = if stored.is_empty() {
            match super::admit::admit(self, &message).await {
                super::admit::Admission::Admit => self.answer(&message).await,
                super::admit::Admission::Handled(reason) => {
                    self.finish(&message, InboundState::Skipped, Some(&reason))
                        .await;
                    return;
                }
            }
        } else {
            self.send_chunks(stored).await
        };
        match outcome {
            Ok(()) => {
                self.metrics.answered(started.elapsed());
                self.finish(&message, InboundState::Replied, None).await;
            }
            Err(err) => {
                self.metrics.failed();
                let reason = chain(&err).to_string();
                self.finish(&message, InboundState::Failed, Some(&reason))
                    .await;
            }
        }
    }

    async fn finish(&self, message: &InboundMessage, state: InboundState, reason: Option<&str>) {
        self.finish_id(&message.id, state, reason).await;
    }

    fn session_of(&self, message: &InboundMessage) -> SessionKey {
        match message.kind {
            super::channel::ConversationKind::Direct => {
                SessionKey::direct(self.id(), &message.sender.id)
            }
            super::channel::ConversationKind::Group => {
                SessionKey::group(self.id(), &message.room_id)
            }
        }
    }

    /// Asks the agent and sends its reply (or the apology).
    async fn answer(&self, message: &InboundMessage) -> Result<(), ReplyError> {
        let session = self.session_of(message);
        let history = self
            .store
            .sessions()
            .history(session.as_str(), self.options.history_turns)
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(channel = self.id(), error = %err, "session history unavailable");
                Vec::new()
            });
        let request = AgentRequest {
            session: session.clone(),
            text: message.text.clone(),
            sender: message.sender.clone(),
            conversation: ConversationInfo {
                channel: self.id().to_string(),
                room_id: message.room_id.clone(),
                kind: message.kind,
                title: None,
            },
            history,
            system_prompt: self
                .options
                .room_system_prompts
                .get(&message.room_id)
                .or(self.options.system_prompt.as_ref())
                .cloned(),
        };
        let answer = crate::agent::answer(self.agent.as_ref(), &request).await;
        if answer.is_reply() {
            let keep = self.options.history_turns;
            let sessions = self.store.sessions();
            for turn in [
                Turn::user(message.text.clone()),
                Turn::assistant(answer.text.clone()),
            ] {
                if let Err(err) = sessions
                    .append(session.as_str(), turn.role, &turn.text, keep)
                    .await
                {
                    tracing::warn!(channel = self.id(), error = %err, "could not save session history");
                }
            }
        }
        self.reply(message, &answer.text).await
    }

    /// Chunks `text`, stores the chunks, sends them in order.
    pub(crate) async fn reply(
        &self,
        message: &InboundMessage,
        text: &str,
    ) -> Result<(), ReplyError> {
        let chunks = self.channel.chunk(text);
        if chunks.is_empty() {
            return Ok(());
        }
        let stored = self
            .store
            .outbound()
            .enqueue(OutboundReply {
                channel: self.id().to_string(),
                inbound_message_id: Some(message.id.clone()),
                room_id: message.room_id.clone(),
                parent_id: message.thread_parent.clone(),
                chunks,
            })
            .await?;
        self.send_chunks(stored).await
    }

    /// Sends stored chunks not yet sent, in order, retrying transient failures.
    async fn send_chunks(&self, chunks: Vec<OutboundChunk>) -> Result<(), ReplyError> {
        let outbound = self.store.outbound();
        for chunk in chunks {
            if chunk.state == OutboundState::Sent {
                continue;
            }
            if chunk.attempts > 0 {
                // Sent before a crash, outcome unknown: a network may give no way to check a
                // group room, so we send again (at-least-once for this window; see docs).
                tracing::warn!(
                    channel = self.id(),
                    chunk = chunk.id,
                    "re-sending a chunk whose earlier send has an unknown outcome"
                );
            }
            let mut outgoing =
                OutgoingMessage::markdown(SendTarget::Room(chunk.room_id.clone()), &chunk.body);
            outgoing.parent_id = chunk.parent_id.clone();
            let mut delays = backoff::exponential(SEND_BACKOFF.0, SEND_BACKOFF.1);
            let mut attempt = 0;
            loop {
                attempt += 1;
                outbound.begin_attempt(chunk.id).await?;
                match self.channel.send(&outgoing).await {
                    Ok(remote_id) => {
                        outbound.mark_sent(chunk.id, &remote_id).await?;
                        break;
                    }
                    Err(err) if err.is_retryable() && attempt < self.options.send_attempts => {
                        let delay = delays.next().unwrap_or(SEND_BACKOFF.1);
                        if err.maybe_delivered() {
                            // The channel found no trace of it; losing a reply is worse than
                            // the duplicate this may cause (see docs: the duplicate window).
                            tracing::warn!(channel = self.id(), error = %chain(&err), ?delay, "send outcome unknown and not found; sending again");
                        } else {
                            tracing::warn!(channel = self.id(), error = %chain(&err), ?delay, "send failed; retrying");
                        }
                        tokio::time::sleep(delay).await;
                    }
                    Err(err) => {
                        let state = if err.maybe_delivered() {
                            OutboundState::Unknown
                        } else {
                            OutboundState::Failed
                        };
                        let reason = chain(&err).to_string();
                        let _ = outbound.mark(chunk.id, state, Some(&reason)).await;
                        tracing::error!(channel = self.id(), error = %reason, room = %chunk.room_id, "reply not sent");
                        return Err(ReplyError::Send(err));
                    }
                }
            }
        }
        Ok(())
    }
}
