//! `moltbot-bench-floor`: the bench's webhook floor as a bot of its own process
//! ([`moltbot_bench::floor::app`]: 200 at once, then `GET` + `POST` per delivery). Started by
//! the bench ([`moltbot_bench::floor::WebhookFloor`]), not by hand: it reads the emulator's API
//! base, the bot's token and person id from its environment (`MOLTBOT_BENCH_FLOOR_API_BASE`,
//! `MOLTBOT_BENCH_FLOOR_TOKEN`, `MOLTBOT_BENCH_FLOOR_BOT_ID`), binds `127.0.0.1:0`, prints
//! `port=N` on its first line and serves until killed or its parent exits. One thread
//! (tokio's current-thread runtime), like the gateway's with its SQLite store.

use std::io::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use moltbot_bench::floor::{app, FLOOR_API_BASE, FLOOR_BOT_ID, FLOOR_TOKEN};
use moltbot_bench::{naive, UNLIMITED_RPM};

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set (the bench sets it)"))
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

async fn serve() -> anyhow::Result<()> {
    let client = naive::client(&env(FLOOR_API_BASE)?, &env(FLOOR_TOKEN)?, UNLIMITED_RPM)?;
    let app = app(client, env(FLOOR_BOT_ID)?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("bind 127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let mut out = std::io::stdout();
    writeln!(out, "port={port}")?;
    out.flush()?;
    let parent = std::os::unix::process::parent_id();
    tokio::select! {
        served = axum::serve(listener, app) => served.context("serve the webhook floor"),
        () = parent_gone(parent) => Ok(()),
    }
}

/// Resolves once the process that started the floor has exited (it was re-parented), so a
/// killed bench leaves no floor behind.
async fn parent_gone(parent: u32) {
    while std::os::unix::process::parent_id() == parent {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
