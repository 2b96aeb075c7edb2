//! `moltbot gateway`: refuses to start on any config problem, then runs the channels.

use crate::cli::GatewayArgs;
use crate::commands::{unavailable, Outcome};
use crate::context::{print_issues, Context};

/// Runs the command.
pub fn run(ctx: &Context, args: &GatewayArgs) -> anyhow::Result<Outcome> {
    if args.sim {
        return unavailable::run("moltbot gateway --sim", "the try-it-locally mode (issue #6)");
    }
    let checked = ctx.check_config()?;
    tracing::info!(config = %ctx.paths.config_file.display(), "gateway starting");
    // The whole config, secrets included, at debug: the redacting log writer masks them.
    tracing::debug!(config = %checked.config.value, "loaded config");
    if !checked.issues.is_empty() {
        tracing::error!(problems = checked.issues.len(), "config is invalid; not starting");
        print_issues(&ctx.paths.config_file, &checked.issues);
        eprintln!("The gateway did not start: fix the config, then run `moltbot config validate`.");
        return Ok(Outcome::Failure);
    }
    if ctx.registry.installed(&checked.config).next().is_none() {
        eprintln!(
            "No channel is configured, so the gateway has nothing to run. \
Install one with `moltbot plugins install @moltbot/webex` and configure `channels.webex`."
        );
        return Ok(Outcome::Failure);
    }
    unavailable::run(
        "moltbot gateway (the channel runtime)",
        "the Webex channel (issue #4); the config above is valid",
    )
}
