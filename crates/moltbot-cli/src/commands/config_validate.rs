//! `moltbot config validate`: every problem of the config, with key path, location and fix.

use crate::commands::Outcome;
use crate::context::{print_issues, Context};

/// Runs the command.
pub fn run(ctx: &Context) -> anyhow::Result<Outcome> {
    let checked = ctx.check_config()?;
    let path = &ctx.paths.config_file;
    if !checked.issues.is_empty() {
        print_issues(path, &checked.issues);
        return Ok(Outcome::Failure);
    }
    if checked.config.existed {
        outln!("Config {} is valid.", path.display());
    } else {
        outln!(
            "No config file at {} (defaults apply); nothing to fix.",
            path.display()
        );
    }
    let installed: Vec<String> = ctx
        .registry
        .installed(&checked.config)
        .map(|p| format!("{} ({})", p.manifest().id, p.manifest().name))
        .collect();
    if installed.is_empty() {
        let reason = crate::context::no_channel_reason(&ctx.registry, &checked.config);
        outln!("No channel is enabled: {reason}.");
    } else {
        outln!("Channels: {}", installed.join(", "));
    }
    Ok(Outcome::Success)
}
