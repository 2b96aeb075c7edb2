//! The floors: the least any bot must do to answer a message, to measure the gateway against.
//!
//! A reply is always the same two calls, [`reply`]: `GET /messages/{id}` and `POST /messages`
//! with the text back. [`crate::scenarios::floor_responder`] makes them as soon as the user's
//! `POST` returned (no webhook hop); [`WebhookFloor`] makes them on each webhook delivery, as a
//! real webhook bot must, so it also pays the emulator's delivery (one at a time, in order,
//! each waiting for its receiver's answer). The webhook floor runs as a process of its own
//! (`moltbot-bench-floor`, [`FloorKind::Process`], the base of the ratios) or on the bench's
//! runtime ([`FloorKind::InProcess`], for reference).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::task::JoinHandle;
use webex_api::{CreateMessage, MessageTarget, WebexClient};
use webex_sim::{SimPerson, SimServer};

/// The two calls any bot makes to answer message `id`: `GET /messages/{id}`, then `POST
/// /messages` in its room with its text as markdown (the echo). Errors are dropped: a missing
/// reply shows as `missing` in the figures.
pub async fn reply(client: &WebexClient, id: &str) {
    if let Ok(m) = client.get_message(id).await {
        let text = m.text.unwrap_or_default();
        let reply = CreateMessage::markdown(MessageTarget::Room(m.room_id), text);
        let _ = client.create_message(&reply).await;
    }
}

/// Deliveries counted by a webhook floor.
#[derive(Debug, Default)]
struct Counts {
    received: AtomicUsize,
    own_skipped: AtomicUsize,
}

struct Receiver {
    client: WebexClient,
    bot_id: String,
    counts: Counts,
}

/// The webhook floor's HTTP app, the same in both kinds of floor: `POST /webhook` answers every
/// delivery 200 at once and, in a task of its own, [`reply`]s to it, unless the message is the
/// bot's own (`data.personId` is `bot_id`), which it skips without a `GET` (400 without
/// `data.id`); `GET /counts` returns `{"received": n, "own_skipped": n}` so far. Nothing else:
/// no signature check, store, queue, agent or ordering within a room. `client` holds the bot's
/// token.
pub fn app(client: WebexClient, bot_id: String) -> Router {
    let receiver = Arc::new(Receiver {
        client,
        bot_id,
        counts: Counts::default(),
    });
    Router::new()
        .route("/webhook", post(deliver))
        .route("/counts", get(counts))
        .with_state(receiver)
}

/// Which webhook floor a scenario runs (`--webhook-floor process|in-process`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FloorKind {
    /// A bot of its own: the floor's [`app`] in a process of its own
    /// (`moltbot-bench-floor`, one thread), as every real bot is, and as the floor
    /// was (a Python process). The base of the webhook ratios.
    Process,
    /// The floor's [`app`] on the bench's own runtime, beside the emulator: a delivery never
    /// leaves the process that sends it, which no bot talking to Webex can do. Reported for
    /// reference (earlier results used it as the base).
    InProcess,
}

impl FloorKind {
    /// `"own process"` or `"in the bench's process"`, for the report (JSON
    /// `floor_webhook_kind`).
    pub fn label(self) -> &'static str {
        match self {
            FloorKind::Process => "own process",
            FloorKind::InProcess => "in the bench's process",
        }
    }
}

/// The webhook floor, registered in the emulator as a bot's `messages:created` webhook
/// (`POST /webhooks` as the bot, no secret), serving [`app`] on `127.0.0.1:0`. Stopped when
/// dropped.
pub struct WebhookFloor {
    port: u16,
    running: Running,
}

enum Running {
    InProcess(JoinHandle<()>),
    /// `kill_on_drop`: the child ends with the floor.
    Process(tokio::process::Child),
}

impl WebhookFloor {
    /// Starts a floor of `kind` for `bot` and registers its webhook. Either answers with a
    /// client of its own for `bot`'s token against the emulator, with no client-side budget
    /// (the process floor gets the token in its environment, never on its command line).
    /// Errors: the client, the bind, the floor binary missing or failing to start (its path:
    /// see [`floor_binary`]), or the emulator refusing the webhook.
    pub async fn start(sim: &SimServer, bot: &SimPerson, kind: FloorKind) -> anyhow::Result<Self> {
        let (port, running) = match kind {
            FloorKind::InProcess => {
                let client =
                    crate::naive::client(&sim.api_base(), &bot.token, crate::UNLIMITED_RPM)?;
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .context("bind the webhook floor")?;
                let port = listener.local_addr()?.port();
                let app = app(client, bot.id.clone());
                let server = tokio::spawn(async move {
                    if let Err(err) = axum::serve(listener, app).await {
                        eprintln!("webhook floor server stopped: {err}");
                    }
                });
                (port, Running::InProcess(server))
            }
            FloorKind::Process => {
                let (port, child) = spawn_process(&sim.api_base(), bot).await?;
                (port, Running::Process(child))
            }
        };
        let floor = Self { port, running };
        sim.call_as(
            bot,
            reqwest::Method::POST,
            "/webhooks",
            Some(json!({
                "name": "floor",
                "targetUrl": format!("http://127.0.0.1:{port}/webhook"),
                "resource": "messages",
                "event": "created",
            })),
        )
        .await
        .map_err(|(status, body)| anyhow!("register the floor's webhook: {status} {body}"))?;
        Ok(floor)
    }

    /// The process id of a [`FloorKind::Process`] floor (`None` in process).
    pub fn pid(&self) -> Option<u32> {
        match &self.running {
            Running::Process(child) => child.id(),
            Running::InProcess(_) => None,
        }
    }

    /// `(deliveries received, of which the bot's own messages skipped)` so far, read from its
    /// `GET /counts`. Errors: the floor not answering.
    pub async fn counts(&self) -> anyhow::Result<(usize, usize)> {
        let url = format!("http://127.0.0.1:{}/counts", self.port);
        let v: Value = reqwest::get(&url)
            .await
            .and_then(reqwest::Response::error_for_status)
            .context("GET the webhook floor's counts")?
            .json()
            .await
            .context("the webhook floor's counts")?;
        let n = |k: &str| v[k].as_u64().map(|n| n as usize);
        n("received")
            .zip(n("own_skipped"))
            .ok_or_else(|| anyhow!("the webhook floor's counts are not numbers: {v}"))
    }
}

impl Drop for WebhookFloor {
    fn drop(&mut self) {
        if let Running::InProcess(server) = &self.running {
            server.abort();
        }
    }
}

/// The variable that names the process floor's binary.
pub const FLOOR_BINARY: &str = "MOLTBOT_BENCH_FLOOR";

/// The process floor's binary: `$MOLTBOT_BENCH_FLOOR` (when set and not empty), else `moltbot-bench-floor` beside the
/// running executable or one folder up (where cargo puts a package's binaries for its tests).
pub fn floor_binary() -> Option<PathBuf> {
    if let Some(p) = floor_binary_from_env() {
        return Some(p);
    }
    let exe = std::env::current_exe().ok()?;
    let name = format!("moltbot-bench-floor{}", std::env::consts::EXE_SUFFIX);
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(&name))
        .find(|p| p.is_file())
}

/// `$MOLTBOT_BENCH_FLOOR`, when set and not empty.
fn floor_binary_from_env() -> Option<PathBuf> {
    std::env::var_os(FLOOR_BINARY)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// Starts `moltbot-bench-floor` for `bot` and reads the port it bound from its first line of
/// output (`port=N`).
async fn spawn_process(
    api_base: &str,
    bot: &SimPerson,
) -> anyhow::Result<(u16, tokio::process::Child)> {
    let binary = floor_binary().context(
        "no moltbot-bench-floor binary: run `cargo build --release -p moltbot-bench` or set \
         MOLTBOT_BENCH_FLOOR",
    )?;
    let mut child = tokio::process::Command::new(&binary)
        .env(FLOOR_API_BASE, api_base)
        .env(FLOOR_TOKEN, &bot.token)
        .env(FLOOR_BOT_ID, &bot.id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            let from = if floor_binary_from_env().is_some() {
                format!("${FLOOR_BINARY}")
            } else {
                "found next to the bench".to_string()
            };
            format!(
                "start the webhook floor {} ({from}; `cargo build --release -p moltbot-bench` \
                 builds it)",
                binary.display()
            )
        })?;
    let stdout = child.stdout.take().context("the floor's stdout")?;
    let mut line = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .context("the webhook floor did not say its port within 10 s")?
    .context("read the webhook floor's port")?;
    let port = line
        .trim()
        .strip_prefix("port=")
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("the webhook floor said {line:?}, not port=N"))?;
    Ok((port, child))
}

/// The process floor's environment: the emulator's API base URL.
pub const FLOOR_API_BASE: &str = "MOLTBOT_BENCH_FLOOR_API_BASE";
/// The process floor's environment: the bot's token.
pub const FLOOR_TOKEN: &str = "MOLTBOT_BENCH_FLOOR_TOKEN";
/// The process floor's environment: the bot's person id (its own messages are skipped).
pub const FLOOR_BOT_ID: &str = "MOLTBOT_BENCH_FLOOR_BOT_ID";

async fn counts(State(r): State<Arc<Receiver>>) -> Json<Value> {
    let c = &r.counts;
    Json(json!({
        "received": c.received.load(Ordering::Relaxed),
        "own_skipped": c.own_skipped.load(Ordering::Relaxed),
    }))
}

/// One delivery: 200 at once (400 without `data.id`), the reply in a task of its own.
async fn deliver(State(r): State<Arc<Receiver>>, body: Bytes) -> StatusCode {
    r.counts.received.fetch_add(1, Ordering::Relaxed);
    let envelope: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let data = &envelope["data"];
    let Some(id) = data["id"].as_str() else {
        return StatusCode::BAD_REQUEST;
    };
    if data["personId"].as_str() == Some(r.bot_id.as_str()) {
        r.counts.own_skipped.fetch_add(1, Ordering::Relaxed);
        return StatusCode::OK;
    }
    let (r, id) = (Arc::clone(&r), id.to_string());
    tokio::spawn(async move { reply(&r.client, &id).await });
    StatusCode::OK
}
