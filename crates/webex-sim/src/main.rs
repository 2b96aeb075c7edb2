//! The `webex-sim` binary: `webex-sim [--listen 127.0.0.1:0] [--seed FILE]`.

use clap::Parser;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use webex_sim::{Seed, SimServer};

/// A local Webex Messaging API emulator.
#[derive(Debug, Parser)]
#[command(name = "webex-sim", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// JSON5 seed file with people and rooms.
    #[arg(long)]
    seed: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEBEX_SIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let server = match &args.seed {
        Some(path) => {
            // A bad seed is refused before anything starts, with one line naming the entry.
            let seed = match Seed::load(path) {
                Ok(seed) => seed,
                Err(e) => {
                    eprintln!("webex-sim: {e}");
                    std::process::exit(2);
                }
            };
            SimServer::start_seeded(args.listen, seed).await?
        }
        None => SimServer::start_on(args.listen).await?,
    };
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "webex-sim listening on {}", server.url())?;
        out.flush()?;
    }
    wait_for_signal().await;
    server.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
