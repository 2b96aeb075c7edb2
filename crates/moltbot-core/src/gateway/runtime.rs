//! The gateway loop: channels in, agent, replies out, exactly once.
//!
//! Per message (see `docs/ARCHITECTURE.md`): the receiver has already claimed the id in the
//! store; here the message is marked `processing`, checked against the access policy, answered
//! by the agent with its session history, chunked, each chunk stored in the outbound ledger
//! before it is sent, and finally marked `replied`. A crash anywhere leaves the row
//! `received`/`processing`; on the next start [`Gateway::run`] picks those rows up again
//! (re-sending only chunks not yet marked sent).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::agent::{Agent, DocumentText};
use crate::backoff;
use crate::dispatch::{DispatchLimits, Dispatcher};
use crate::error::chain;
use crate::store::Store;

use super::approvals;
use super::channel::{Channel, ChannelContext, ChannelError, ChannelErrorKind, ReadySignal};
use super::metrics::{ChannelMetrics, Metrics};
use super::singleton::{Held, Singleton, LEADER_LEASE};
use super::sink::{InboundSink, LeaseHolder, Work};
use super::status::{GatewayStatus, ReplicaRole};

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
    /// `agents.defaults.showReasoning`: post the model's reasoning as a quote before the answer.
    pub show_reasoning: bool,
    /// `agents.defaults.typingDelaySeconds`: how long the agent may think before a "Working on
    /// it..." placeholder is posted (on channels that [support edits]); `None` = never.
    ///
    /// [support edits]: super::Channel::supports_edits
    pub typing_delay: Option<Duration>,
    /// `agents.defaults.streaming`: ask the agent for a streamed answer and edit the placeholder
    /// with it as it arrives ([`super::placeholder`]); the placeholder then keeps the answer.
    pub streaming: bool,
    /// Queue limits of the per-room dispatcher.
    pub limits: DispatchLimits,
    /// How often approvals made by other processes are looked for.
    pub approval_poll: Duration,
    /// Attempts per outbound chunk on retryable failures.
    pub send_attempts: u32,
    /// This node's stable id (the CLI keeps one per state folder): a restarted gateway takes
    /// over the work an earlier run of the same node left, whatever its leases say. `None` = a
    /// random id (nothing is taken over before its lease expires).
    pub node_id: Option<String>,
    /// How long finished records are kept (`store.retentionDays`).
    pub retention: Duration,
    /// How long a claim's lease holds without renewal (renewed while the process lives, every
    /// third of it at most every [`REDRIVE_EVERY`](super::redrive::REDRIVE_EVERY)); when it
    /// expires (the process died) any process sharing the store takes the message over. The
    /// CLI sets `store.leaseSeconds` with PostgreSQL.
    pub lease: Duration,
    /// Leader election among replicas sharing the store (`store.leaseSeconds`; the CLI sets it
    /// with PostgreSQL): only the holder of the [`LEADER_LEASE`](super::singleton::LEADER_LEASE)
    /// registers the channels ([`Channel::register`]: webhooks) and runs their receivers
    /// (poller, websocket listener, catch-up, safety poll, webhook watch) and the approval
    /// DMs; every replica serves the HTTP routes (a follower's channels get the sink through
    /// [`Channel::follow`]), processes what it claims, takes its share of the network's request
    /// budget ([`super::replicas`]) and keeps each room's order across replicas through the
    /// shared ledger (see `room_order.rs`). `None`: no election, this process runs everything
    /// (one gateway per store, as with SQLite) and the room-order check is skipped.
    pub leader_lease: Option<Duration>,
    /// Reads the text of PDFs for an agent whose provider does not read PDFs
    /// ([`Agent::wants_pdf_text`](crate::agent::Agent::wants_pdf_text)); `None`: such a provider
    /// is told the PDF's name only.
    pub document_text: Option<Arc<dyn DocumentText>>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            shutdown_timeout: Duration::from_secs(10),
            history_turns: 20,
            system_prompt: None,
            room_system_prompts: std::collections::HashMap::new(),
            show_reasoning: false,
            typing_delay: Some(Duration::from_secs(2)),
            streaming: false,
            limits: DispatchLimits::default(),
            approval_poll: Duration::from_millis(500),
            send_attempts: 8,
            node_id: None,
            retention: Duration::from_secs(30 * 86_400),
            lease: Duration::from_secs(15),
            leader_lease: None,
            document_text: None,
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
    /// The server of `/metrics` could not bind its address (`gateway.metrics.listen`).
    #[error(
        "cannot listen on {addr} for /metrics (is another gateway running? change \
         gateway.metrics.listen)"
    )]
    MetricsBind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// `gateway.metrics.listen` names the port of the channels' own HTTP server.
    #[error(
        "gateway.metrics.listen {addr} is the port of the gateway's own HTTP server ({server}, \
         set by {setting}): give /metrics another port, or remove gateway.metrics.listen to \
         serve /metrics on that server"
    )]
    MetricsPortClash {
        /// The metrics address asked for.
        addr: std::net::SocketAddr,
        /// The channels' server address.
        server: std::net::SocketAddr,
        /// The config key that sets the server's port.
        setting: String,
    },
    /// A running channel met an error no retry can fix (the network refused the credentials):
    /// the gateway stopped; unanswered messages stay pending for the next start.
    #[error("channel {channel} stopped")]
    Stopped {
        /// The channel id.
        channel: String,
        /// What went wrong, with the network's evidence in its sources.
        #[source]
        source: ChannelError,
    },
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Stops the whole gateway from inside, on the first error that no retry can fix (a
/// [`ChannelErrorKind::Auth`] from a receiver or a fetch), keeping that error for
/// [`GatewayError::Stopped`]. Cheap to clone.
#[derive(Clone)]
pub(crate) struct FatalStop {
    token: CancellationToken,
    first: Arc<std::sync::Mutex<Option<(String, ChannelError)>>>,
}

impl FatalStop {
    /// Cancelling `token` stops the receivers and the gateway loop.
    fn new(token: CancellationToken) -> Self {
        Self {
            token,
            first: Arc::default(),
        }
    }

    /// Records `error` of `channel` and stops the gateway; only the first error is kept and
    /// logged (the fetches in flight may all fail the same way).
    pub(crate) fn stop(&self, channel: &str, error: ChannelError) {
        if let Ok(mut first) = self.first.lock() {
            if first.is_none() {
                tracing::error!(channel, error = %chain(&error), "stopping the gateway: the channel cannot go on without a fix; unanswered messages stay pending for the next start");
                *first = Some((channel.to_string(), error));
            }
        }
        self.token.cancel();
    }

    /// The error that stopped the gateway, if one did.
    fn take(&self) -> Option<GatewayError> {
        let (channel, source) = self.first.lock().ok()?.take()?;
        Some(GatewayError::Stopped { channel, source })
    }
}

/// Processes the messages of one channel.
pub(crate) struct Processor {
    pub(crate) channel: Arc<dyn Channel>,
    pub(crate) store: Store,
    pub(crate) agent: Arc<dyn Agent>,
    pub(crate) metrics: ChannelMetrics,
    pub(crate) options: GatewayOptions,
    /// Who this process is when it takes leases.
    pub(crate) lease: LeaseHolder,
    /// Wakes the re-drive task (a message was just set aside).
    pub(crate) redrive: tokio::sync::Notify,
    /// Bounds the fetches of set-aside messages the re-drive task runs outside their rooms.
    pub(crate) redrive_fetches: tokio::sync::Semaphore,
    /// Stops the gateway on an error no retry can fix (a refused token on a fetch).
    pub(crate) fatal: FatalStop,
    /// Messages of this process answered ahead of their turn to keep their room's order
    /// across replicas (see `room_order.rs`): their queued copies are dropped.
    pub(crate) answered_early: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The session of each room answered lately, so the next message's history is read while
    /// its fetch is in flight (see `history_ahead.rs`).
    pub(crate) room_sessions: super::history_ahead::RoomSessions,
    /// Messages whose processing stopped on a store error: still pending and leased to this
    /// process (whose leases the re-drive task keeps renewing), so they would wait for a restart;
    /// the re-drive task queues them again instead (see `redrive.rs`).
    pub(crate) stranded: std::sync::Mutex<Vec<String>>,
}

/// The gateway: a set of channels, one agent, one store.
pub struct Gateway {
    store: Store,
    agent: Arc<dyn Agent>,
    channels: Vec<Arc<dyn Channel>>,
    metrics: Arc<Metrics>,
    status: Arc<GatewayStatus>,
    options: GatewayOptions,
    /// `/metrics` on an address of its own (see [`Gateway::bind_metrics`]).
    metrics_listener: Option<tokio::net::TcpListener>,
}

impl Gateway {
    /// Creates a gateway.
    pub fn new(store: Store, agent: Arc<dyn Agent>, options: GatewayOptions) -> Self {
        let metrics = Arc::new(Metrics::default());
        metrics.observe_store(store.clone());
        let status = Arc::new(GatewayStatus::default());
        // With an election, a replica follows until it wins the lease.
        let elected = options.leader_lease.is_some();
        status.set_role(if elected {
            ReplicaRole::Follower
        } else {
            ReplicaRole::Single
        });
        metrics.set_replica_leader(!elected);
        Self {
            store,
            agent,
            channels: Vec::new(),
            metrics,
            status,
            options,
            metrics_listener: None,
        }
    }

    /// Serves `/metrics` on `addr` (`gateway.metrics.listen`; port 0 picks one) instead of on
    /// the channels' HTTP server. Binds now, so the caller learns the bound address (returned)
    /// and a busy address stops the start before any channel connects; the server runs with
    /// [`Gateway::run`].
    ///
    /// # Errors
    /// [`GatewayError::MetricsBind`] when `addr` cannot be bound.
    pub async fn bind_metrics(
        &mut self,
        addr: std::net::SocketAddr,
    ) -> Result<std::net::SocketAddr, GatewayError> {
        if let Some((channel, server)) = self
            .channels
            .iter()
            .find_map(|c| Some((c, c.http_listen()?)))
            .filter(|(_, server)| same_port(addr, *server))
        {
            return Err(GatewayError::MetricsPortClash {
                addr,
                server,
                setting: channel.http_listen_key(),
            });
        }
        let (listener, bound) = super::http::bind(addr)
            .await
            .map_err(|source| GatewayError::MetricsBind { addr, source })?;
        tracing::info!(addr = %bound, "metrics server listening (/metrics only)");
        self.metrics_listener = Some(listener);
        Ok(bound)
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
        mut self,
        shutdown: CancellationToken,
        on_listening: impl FnOnce(std::net::SocketAddr) + Send,
    ) -> Result<(), GatewayError> {
        // The HTTP servers stop after the drain, not at `shutdown`: `/healthz`, `/readyz` (503
        // from the signal on) and `/metrics` answer while in-flight work finishes, and the
        // channels' routes refuse new work (see `http.rs`).
        let mut servers = Vec::new();
        // `/metrics` on its own address, or on the channels' server.
        let metrics_on_channel_server = match self.metrics_listener.take() {
            Some(listener) => {
                let stop = CancellationToken::new();
                let router = super::http::metrics_router(Arc::clone(&self.metrics));
                servers.push((
                    tokio::spawn(super::http::serve(listener, router, stop.clone())),
                    stop,
                ));
                None
            }
            None => Some(Arc::clone(&self.metrics)),
        };
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
            tracing::info!(
                addr = %bound,
                metrics = metrics_on_channel_server.is_some(),
                "HTTP server listening (webhooks, /healthz, /readyz, and /metrics unless it has an address of its own)"
            );
            on_listening(bound);
            http_addr = Some(bound);
            let router = super::http::router(
                self.channel_routes(),
                Arc::clone(&self.status),
                metrics_on_channel_server,
            );
            let server_shutdown = CancellationToken::new();
            servers.push((
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
        let lease = lease_holder(&self.options);
        let fingerprint: Option<Arc<str>> =
            super::replicas::fingerprint(&self.channels).map(Into::into);
        let heartbeat = tokio::spawn(super::heartbeat::run(
            self.store.clone(),
            Arc::clone(&lease.owner),
            fingerprint.clone(),
            Arc::clone(&self.status),
            heartbeat_stop.clone(),
        ));
        let result = self
            .run_channels(http_addr, lease, fingerprint, shutdown)
            .await;
        // Also when a channel could not start (the shutdown token is then never cancelled).
        heartbeat_stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), heartbeat).await;
        for (task, stop) in servers {
            stop.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
        result
    }

    async fn run_channels(
        &self,
        http_addr: Option<std::net::SocketAddr>,
        lease: LeaseHolder,
        fingerprint: Option<Arc<str>>,
        shutdown: CancellationToken,
    ) -> Result<(), GatewayError> {
        // Everything below stops on `shutdown` or when a channel cannot go on (`fatal`).
        let shutdown = shutdown.child_token();
        let fatal = FatalStop::new(shutdown.clone());
        let elected = self.options.leader_lease.is_some();
        // Replicas share the network's budget: the first share is set before any request.
        let coordinator = if elected {
            let mut coordinator = super::replicas::Coordinator::new(
                self.store.clone(),
                Arc::clone(&lease.owner),
                fingerprint.clone(),
                self.channels.clone(),
                Arc::clone(&self.status),
                Arc::clone(&self.metrics),
            );
            coordinator.tick().await;
            Some(coordinator)
        } else {
            None
        };
        for channel in &self.channels {
            let connect_error = |source| GatewayError::Connect {
                channel: channel.id().to_string(),
                source,
            };
            channel.connect(http_addr).await.map_err(connect_error)?;
            // With an election, the leader registers at the start of each tenure.
            if !elected {
                channel.register(http_addr).await.map_err(connect_error)?;
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(coordinator) = coordinator {
            tasks.spawn(coordinator.run(shutdown.clone()));
        }
        let mut dispatchers = Vec::new();
        let mut ready_signals = Vec::new();
        // Each channel with its sink, for `Channel::follow` if this replica does not lead.
        let mut followers = Vec::new();
        // What only the leader runs (everything, without an election).
        let mut singletons = Singletons {
            receivers: Vec::new(),
            approvals: Vec::new(),
            fatal: fatal.clone(),
            register: elected.then_some(http_addr),
            retention: (self.store.clone(), self.options.retention),
        };
        tracing::debug!(owner = %lease.owner, "leases held as");
        for channel in &self.channels {
            let processor = Arc::new(Processor {
                channel: Arc::clone(channel),
                store: self.store.clone(),
                agent: Arc::clone(&self.agent),
                metrics: self.metrics.channel(channel.id()),
                options: self.options.clone(),
                lease: lease.clone(),
                redrive: tokio::sync::Notify::new(),
                redrive_fetches: tokio::sync::Semaphore::new(super::redrive::REDRIVE_FETCHES),
                fatal: fatal.clone(),
                answered_early: std::sync::Mutex::default(),
                room_sessions: super::history_ahead::RoomSessions::default(),
                stranded: std::sync::Mutex::default(),
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
                lease.clone(),
                Some(super::sink::Prefetcher::new(Arc::clone(channel))),
            );
            followers.push((Arc::clone(channel), sink.clone()));
            processor.recover(&sink).await?;
            tasks.spawn(Arc::clone(&processor).redrive(sink.clone(), shutdown.clone()));
            let ready = ReadySignal::new();
            ready_signals.push((channel.id().to_string(), ready.clone()));
            singletons.receivers.push((
                Arc::clone(channel),
                ChannelContext {
                    sink,
                    shutdown: shutdown.clone(),
                    ready,
                },
            ));
            singletons.approvals.push(Arc::clone(&processor));
        }
        let mut first_attempt = None;
        match self.options.leader_lease {
            None => {
                tasks.spawn(singletons.run(shutdown.clone()));
            }
            Some(ttl) => {
                let runner = Singleton::new(self.store.clone(), LEADER_LEASE, &*lease.owner, ttl)
                    .with_candidacy(candidacy(
                        self.store.clone(),
                        Arc::clone(&lease.owner),
                        fingerprint.clone(),
                    ));
                let status = Arc::clone(&self.status);
                let metrics = Arc::clone(&self.metrics);
                let (store, owner) = (self.store.clone(), Arc::clone(&lease.owner));
                let (first_tx, first_rx) = tokio::sync::oneshot::channel();
                first_attempt = Some(first_rx);
                tasks.spawn(runner.run_reporting(shutdown.clone(), move |held: Held| {
                    let singletons = singletons.clone();
                    let (status, metrics) = (Arc::clone(&status), Arc::clone(&metrics));
                    let (store, owner, fingerprint) =
                        (store.clone(), Arc::clone(&owner), fingerprint.clone());
                    async move {
                        if let Err(err) =
                            super::replicas::record_leader(&store, &owner, fingerprint.as_deref())
                                .await
                        {
                            tracing::warn!(error = %err, "cannot record the leader's config fingerprint");
                        }
                        tracing::info!(token = held.token, "became leader: running the receivers");
                        status.set_role(ReplicaRole::Leader);
                        metrics.set_replica_leader(true);
                        singletons.run(held.lost.clone()).await;
                        status.set_role(ReplicaRole::Follower);
                        metrics.set_replica_leader(false);
                        tracing::info!(token = held.token, "no longer leader: receivers stopped");
                    }
                }, Some(first_tx)));
            }
        }
        // A replica that leads from its start is ready once its receivers are (webhooks
        // registered, caught up), as without an election; a follower serves the webhook route
        // at once (the leader's receivers catch up on their own).
        if let Some(first) = first_attempt {
            if !first.await.unwrap_or(false) {
                ready_signals.clear();
                for (channel, sink) in &followers {
                    channel.follow(sink);
                }
            }
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
        self.status.set_stopping();
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
        match fatal.take() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// The work only one replica may do: each channel's registration (with an election) and
/// receivers, the approval DMs, closing polls (their timers and tallies) and the retention job.
#[derive(Clone)]
struct Singletons {
    receivers: Vec<(Arc<dyn Channel>, ChannelContext)>,
    approvals: Vec<Arc<Processor>>,
    fatal: FatalStop,
    /// `Some(http_addr)`: run [`Channel::register`] before the receivers (a leader's tenure).
    register: Option<Option<std::net::SocketAddr>>,
    /// The retention job's store and `store.retentionDays`: one replica prunes.
    retention: (Store, Duration),
}

impl Singletons {
    /// Runs it all until `stop` (the gateway's shutdown, or the end of this leader's tenure).
    async fn run(self, stop: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        for (channel, ctx) in self.receivers {
            let ctx = ChannelContext {
                shutdown: stop.clone(),
                ..ctx
            };
            let (fatal, register) = (self.fatal.clone(), self.register);
            tasks.spawn(async move {
                if let Some(http_addr) = register {
                    if !register_as_leader(&channel, http_addr, &fatal, &ctx.shutdown).await {
                        return;
                    }
                }
                supervise(channel, fatal, ctx).await;
            });
        }
        let (store, retention) = self.retention;
        tasks.spawn(super::retention::run(store, retention, stop.clone()));
        for processor in self.approvals {
            tasks.spawn(super::polls::run(Arc::clone(&processor), stop.clone()));
            tasks.spawn(approvals::run(processor, stop.clone()));
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// A leader's [`Channel::register`]: transient failures are retried with the receivers'
/// backoff until `stop`; any other stops the gateway (as it would at start without an
/// election). Returns whether it registered.
async fn register_as_leader(
    channel: &Arc<dyn Channel>,
    http_addr: Option<std::net::SocketAddr>,
    fatal: &FatalStop,
    stop: &CancellationToken,
) -> bool {
    let mut delays = backoff::exponential(RESTART_BACKOFF.0, RESTART_BACKOFF.1);
    loop {
        let err = tokio::select! {
            result = channel.register(http_addr) => match result {
                Ok(()) => return true,
                Err(err) => err,
            },
            () = stop.cancelled() => return false,
        };
        if !err.is_retryable() {
            fatal.stop(channel.id(), err);
            return false;
        }
        let delay = delays.next().unwrap_or(RESTART_BACKOFF.1);
        tracing::warn!(channel = channel.id(), error = %chain(&err), ?delay, "registration failed; retrying");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stop.cancelled() => return false,
        }
    }
}

/// Whether this replica stands for the lead ([`super::replicas::may_lead`]); says so in the log
/// when that changes.
fn candidacy(
    store: Store,
    owner: Arc<str>,
    fingerprint: Option<Arc<str>>,
) -> super::singleton::Candidacy {
    let standing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    Arc::new(move || {
        let (store, owner, fingerprint) = (store.clone(), Arc::clone(&owner), fingerprint.clone());
        let standing = Arc::clone(&standing);
        Box::pin(async move {
            let may = super::replicas::may_lead(&store, &owner, fingerprint.as_deref())
                .await
                .unwrap_or(true);
            let was = standing.swap(may, std::sync::atomic::Ordering::Relaxed);
            if was && !may {
                tracing::warn!(
                    fingerprint = fingerprint.as_deref().unwrap_or("-"),
                    "not standing for the lead: this replica's channel config differs from the leader's, and a replica with the leader's config is running"
                );
            } else if !was && may {
                tracing::info!("standing for the lead again");
            }
            may
        })
    })
}

/// The lease identity of this process: `<node>/<instance>`.
fn lease_holder(options: &GatewayOptions) -> LeaseHolder {
    let random = || format!("{:016x}", rand::random::<u64>());
    let node = options.node_id.clone().unwrap_or_else(random);
    let node_prefix: Arc<str> = format!("{node}/").into();
    LeaseHolder {
        owner: format!("{node_prefix}{}", random()).into(),
        node_prefix,
        lease_ms: i64::try_from(options.lease.as_millis()).unwrap_or(i64::MAX),
    }
}

/// Runs a channel's receivers, restarting them with capped exponential backoff
/// ([`RESTART_BACKOFF`]) after errors; an [`Auth`](ChannelErrorKind::Auth) error (the token
/// was refused: restarting cannot help) stops the gateway instead, through `fatal`.
async fn supervise(channel: Arc<dyn Channel>, fatal: FatalStop, ctx: ChannelContext) {
    let restart_delays = || backoff::exponential(RESTART_BACKOFF.0, RESTART_BACKOFF.1);
    let mut delays = restart_delays();
    let mut failures: u32 = 0;
    loop {
        let started = tokio::time::Instant::now();
        let result = Arc::clone(&channel).run(ctx.clone()).await;
        if ctx.shutdown.is_cancelled() {
            return;
        }
        let result = match result {
            Err(err) if err.kind() == ChannelErrorKind::Auth => {
                fatal.stop(channel.id(), err);
                return;
            }
            other => other,
        };
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
    pub(crate) fn id(&self) -> &str {
        self.channel.id()
    }
}

/// Whether binding `a` and `b` would take the same port: one fixed port (not 0) and addresses
/// that overlap (equal, or either one the unspecified address of its family).
fn same_port(a: std::net::SocketAddr, b: std::net::SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

#[cfg(test)]
mod port_tests {
    use super::same_port;

    #[test]
    fn ports_clash_only_when_fixed_and_on_overlapping_addresses() {
        let addr = |s: &str| {
            s.parse::<std::net::SocketAddr>()
                .unwrap_or_else(|e| panic!("{s}: {e}"))
        };
        assert!(same_port(addr("127.0.0.1:3979"), addr("0.0.0.0:3979")));
        assert!(same_port(addr("0.0.0.0:3979"), addr("127.0.0.1:3979")));
        assert!(same_port(addr("127.0.0.1:3979"), addr("127.0.0.1:3979")));
        assert!(!same_port(addr("127.0.0.1:3979"), addr("127.0.0.2:3979")));
        assert!(!same_port(addr("127.0.0.1:9464"), addr("0.0.0.0:3979")));
        assert!(!same_port(addr("127.0.0.1:0"), addr("0.0.0.0:0")));
    }
}
