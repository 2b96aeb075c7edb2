//! The `moltbot` binary: parses the command line and runs one command.
//!
//! Errors reach the user as one redacted line on stderr and a non-zero exit code. Output goes
//! through `outln!` ([`output`]): a closed stdout (`moltbot ... | head -1`) drops the rest of it
//! quietly instead of panicking.

// Print through `outln!`/`out!` (a `println!` panics on a closed stdout).
#![deny(clippy::print_stdout)]

// First: its macros are for every module below.
#[macro_use]
mod output;

mod cli;
mod commands;
mod context;
mod pdf_protocol;
mod pdf_text;

use std::process::ExitCode;

use clap::Parser;
use moltbot_core::logging::{self, LogOptions};

use crate::cli::{Cli, Command};
use crate::commands::Outcome;
use crate::context::Context;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return parse_error(&err),
    };
    let ctx = Context::from_env(cli.config.as_deref());
    // The gateway also logs to <state>/logs/gateway.log; other commands log to stderr only.
    // `--sim` is a throwaway demo: it never writes into the real state dir.
    let log_file = matches!(cli.command, Command::Gateway(ref args) if !args.sim)
        .then(|| ctx.paths.gateway_log());
    let _log_guard = match logging::init(LogOptions::from_env(log_file, true)) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("error: {}", logging::redact(&err.to_string()));
            return ExitCode::FAILURE;
        }
    };
    let code = match run(cli.command, &ctx) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failure) => ExitCode::FAILURE,
        Err(err) => {
            // Every source, each once (`{err:#}` repeats causes that errors also quote).
            let text = moltbot_core::error::chain(err.as_ref()).to_string();
            eprintln!("error: {}", logging::redact(&text));
            ExitCode::FAILURE
        }
    };
    with_output_checked(code)
}

/// `code`, unless the output was lost: a closed stdout is not an error (see `output`); output
/// lost otherwise (a full disk) is, reported as one `error:` line and exit code 1.
fn with_output_checked(code: ExitCode) -> ExitCode {
    match output::finish() {
        Some(err) => {
            eprintln!("error: cannot write the output: {err}");
            ExitCode::FAILURE
        }
        None => code,
    }
}

/// Help and version (what the user asked for) go to stdout through [`output`], so a full disk
/// is an error and a closed pipe is not, as for any command; a usage error goes to stderr with
/// clap's exit code (2). `clap`'s own `exit` ignored a failed write and exited 0.
fn parse_error(err: &clap::Error) -> ExitCode {
    if err.use_stderr() {
        let _ = err.print();
        return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
    }
    let text = err.render();
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        out!("{}", text.ansi());
    } else {
        out!("{text}");
    }
    with_output_checked(ExitCode::SUCCESS)
}

fn run(command: Command, ctx: &Context) -> anyhow::Result<Outcome> {
    use crate::cli::{ChannelsCommand, ConfigCommand, MessageCommand, PairingCommand};
    use crate::commands::pairing::{self, PairingAction};
    use crate::commands::{channels, config_validate, gateway, message, plugins};
    match command {
        Command::Config(ConfigCommand::Validate) => config_validate::run(ctx),
        Command::Store(cmd) => crate::commands::store::run(ctx, cmd),
        Command::Plugins(cmd) => plugins::run(ctx, cmd),
        Command::Gateway(args) => gateway::run(ctx, &args),
        Command::Pair(args) => pairing::run(
            ctx,
            PairingAction::Pair {
                channel: &args.channel,
                identity: &args.identity,
            },
        ),
        Command::Pairing(PairingCommand::List { channel, json }) => pairing::run(
            ctx,
            PairingAction::List {
                channel: channel.as_deref(),
                json,
            },
        ),
        Command::Pairing(PairingCommand::Approve { channel, code }) => pairing::run(
            ctx,
            PairingAction::Approve {
                channel: &channel,
                code: &code,
            },
        ),
        Command::Pairing(PairingCommand::Deny { channel, target }) => pairing::run(
            ctx,
            PairingAction::Deny {
                channel: &channel,
                target: &target,
            },
        ),
        Command::Pairing(PairingCommand::Revoke { channel, identity }) => pairing::run(
            ctx,
            PairingAction::Revoke {
                channel: &channel,
                identity: &identity,
            },
        ),
        Command::Channels(ChannelsCommand::Status {
            channel,
            deep,
            json,
        }) => channels::status(ctx, channel.as_deref(), deep, json),
        Command::Channels(ChannelsCommand::Probe { channel }) => channels::probe(ctx, &channel),
        Command::Message(MessageCommand::Send(args)) => message::send(ctx, &args),
        Command::Poll(cmd) => crate::commands::poll::run(ctx, cmd),
    }
}
