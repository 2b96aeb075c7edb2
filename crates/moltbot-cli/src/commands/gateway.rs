//! `moltbot gateway`: refuses to start on any config problem, then runs the channels until
//! SIGINT/SIGTERM (a second signal exits at once).

use std::time::Duration;

use anyhow::Context as _;
use moltbot_core::agent::build_agent;
use moltbot_core::config::LoadedConfig;
use moltbot_core::gateway::{Gateway, GatewayOptions};
use moltbot_core::store::StoreLocation;
use tokio_util::sync::CancellationToken;

use crate::cli::GatewayArgs;
use crate::commands::{sim, Outcome};
use crate::context::{print_issues, Context};

/// Runs the command.
pub fn run(ctx: &Context, args: &GatewayArgs) -> anyhow::Result<Outcome> {
    if args.sim {
        return sim::run(ctx, &args.mode);
    }
    let checked = ctx.check_config()?;
    tracing::info!(
        version = env!("MOLTBOT_VERSION"),
        config = %ctx.paths.config_file.display(),
        "gateway starting"
    );
    // The whole config at debug, every secret-like key and URL password masked by name (the
    // redacting log writer only knows the secrets registered so far).
    tracing::debug!(
        config = %moltbot_core::logging::redact_json(&checked.config.value),
        "loaded config"
    );
    if !checked.issues.is_empty() {
        tracing::error!(
            problems = checked.issues.len(),
            "config is invalid; not starting"
        );
        print_issues(&ctx.paths.config_file, &checked.issues);
        eprintln!("The gateway did not start: fix the config, then run `moltbot config validate`.");
        return Ok(Outcome::Failure);
    }
    if ctx.registry.installed(&checked.config).next().is_none() {
        eprintln!(
            "No channel is enabled, so the gateway has nothing to run: {}; then configure \
             `channels.webex`.",
            crate::context::no_channel_reason(&ctx.registry, &checked.config)
        );
        return Ok(Outcome::Failure);
    }
    let location = ctx.store_location_for(&checked.config)?;
    let runtime = runtime_for(&location).context("cannot start the async runtime")?;
    runtime.block_on(serve(ctx, &checked.config, &location))
}

/// Tasks the one-thread runtime runs between two looks for outside events (sockets and timers;
/// tokio's default: 61); see [`runtime_for`].
const EVENT_INTERVAL: u32 = 2;

/// The async runtime of a gateway on the store at `location`.
///
/// With the embedded SQLite store, one thread runs every task (tokio's current-thread
/// runtime): a message's steps (webhook, fetch, store, agent call, reply) hand over to each
/// other without waking a second thread, which halved the context switches per message and
/// cut the CPU per message by 10-20% at a steady rate, with bursts as fast as on two worker
/// threads (bench/README.md, "One thread for the message path"). What may block runs off it
/// as before: queued store writes on the store's writer thread, contended reads on the
/// blocking pool, PDF text and agent commands in child processes.
///
/// The one thread looks for outside events (sockets, timers) after every two tasks it runs
/// rather than tokio's default of 61 (`event_interval`): in a burst, dozens of room tasks are
/// ready at once, and a webhook delivery that arrived meanwhile (webex-sim, posting one at a
/// time, waits for its answer before the next) was seen only after all of them. Measured
/// (five paired runs of the bench's burst): the users' 200 deliveries answered in 98 ms in all
/// instead of 110, the burst drained 5% sooner, with the same CPU and latency at a steady rate
/// (bench/README.md, "What bounds the burst").
///
/// With PostgreSQL, a multi-thread runtime: the store's connections are tasks of the runtime
/// itself, so a synchronous wait on the store (building a channel reads its webhook secret)
/// needs a second thread to make progress, and replicas are what a team adds for load.
fn runtime_for(location: &StoreLocation) -> std::io::Result<tokio::runtime::Runtime> {
    match location {
        StoreLocation::Sqlite(_) => tokio::runtime::Builder::new_current_thread()
            .event_interval(EVENT_INTERVAL)
            .enable_all()
            .build(),
        StoreLocation::Postgres(_) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
}

/// Runs the gateway for an already checked `config` on the store at `location` until
/// SIGINT/SIGTERM.
pub(crate) async fn serve(
    ctx: &Context,
    config: &LoadedConfig,
    location: &StoreLocation,
) -> anyhow::Result<Outcome> {
    let store = Context::connect_store(location).await?;
    tracing::info!(store = %location, backend = store.backend_info().name, "state store open");
    let agent = build_agent(&config.core.agents, &config.core.models, &Context::env)
        .context("cannot set up the agent (agents.defaults.model)")?;
    let defaults = &config.core.agents.defaults;
    let replicated = matches!(location, StoreLocation::Postgres(_));
    let store_lease = Duration::from_secs(config.core.store.lease_seconds);
    let options = GatewayOptions {
        shutdown_timeout: Duration::from_secs(config.core.gateway.shutdown_timeout_seconds),
        history_turns: usize::try_from(defaults.history_turns).unwrap_or(usize::MAX),
        system_prompt: defaults.system_prompt.clone(),
        show_reasoning: defaults.show_reasoning,
        typing_delay: (defaults.typing_delay_seconds > 0.0)
            .then(|| Duration::from_secs_f64(defaults.typing_delay_seconds)),
        streaming: defaults.streaming,
        room_system_prompts: config
            .core
            .agents
            .rooms
            .iter()
            .filter_map(|(room, c)| Some((room.clone(), c.system_prompt.clone()?)))
            .collect(),
        retention: Duration::from_secs(config.core.store.retention_days.saturating_mul(86_400)),
        node_id: Some(
            ctx.paths
                .node_id()
                .with_context(|| format!("cannot keep {}", ctx.paths.node_id_file().display()))?,
        ),
        // Replicas share a PostgreSQL store: one of them leads (runs the receivers), and the
        // work of one that dies is taken over once its message leases end.
        leader_lease: replicated.then_some(store_lease),
        lease: if replicated {
            store_lease
        } else {
            GatewayOptions::default().lease
        },
        // `moltbot-pdf` beside this binary (as invoked, or resolved), else on PATH; when missing,
        // every PDF named as could not be read, and one warning now if the agent wants PDF text.
        document_text: Some(crate::pdf_text::installed(agent.wants_pdf_text())),
        ..GatewayOptions::default()
    };
    let mut gateway = Gateway::new(store.clone(), agent, options);
    for plugin in ctx.registry.installed(config) {
        let id = plugin.manifest().id.clone();
        match plugin
            .build_channel(config, &Context::env, &store, gateway.metrics())
            .with_context(|| format!("channel {id} could not be set up"))?
        {
            Some(channel) => gateway.add_channel(channel),
            None => tracing::info!(channel = %id, "channel disabled in config; not started"),
        }
    }
    if let Some(addr) = config.core.gateway.metrics_listen {
        let bound = gateway.bind_metrics(addr).await?;
        outln!("moltbot gateway metrics on http://{bound}/metrics");
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(shutdown.clone()));
    let ran = gateway
        .run(shutdown, |addr| {
            outln!("moltbot gateway listening on http://{addr}");
        })
        .await;
    // The drain is over: a child still running (an agent's program or the PDF reader of a turn
    // cut at the deadline) goes with everything it started, rather than outliving the gateway.
    let killed = moltbot_core::children::kill_all();
    if killed > 0 {
        tracing::info!(
            children = killed,
            "stopped the child processes of unfinished turns"
        );
    }
    // A clean close: the SQLite file is left whole (no -wal/-shm), a PostgreSQL pool closed.
    store.close().await;
    ran?;
    tracing::info!("gateway stopped");
    Ok(Outcome::Success)
}

/// First SIGINT/SIGTERM: graceful shutdown. Second: exit at once, killing the child processes
/// first (no destructor runs on `exit`, so nothing else would).
async fn watch_signals(shutdown: CancellationToken) {
    let mut signals = Signals::listen();
    let first = signals.next().await;
    tracing::info!(
        signal = first,
        "stopping (send the signal again to exit at once)"
    );
    shutdown.cancel();
    let second = signals.next().await;
    tracing::warn!(
        signal = second,
        "second signal: exiting now; unfinished messages are answered on the next start"
    );
    moltbot_core::children::kill_all();
    std::process::exit(130);
}

/// SIGINT and SIGTERM, listened to once for both waits: a listener sees only the signals that
/// arrive after it is made, so a second one made after the first signal could miss a second
/// signal sent right after it.
struct Signals(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

impl Signals {
    fn listen() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(int), Ok(term)) => Self(Some((int, term))),
            _ => Self(None),
        }
    }

    /// The next signal's name.
    async fn next(&mut self) -> &'static str {
        let Some((int, term)) = &mut self.0 else {
            // Signal handlers cannot be installed: only Ctrl-C through tokio remains.
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        };
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
}
