//! `moltbot message send --channel <id> --to <target> [--file URL] [--markdown] <text>`: a
//! proactive message, sent by the channel's plugin directly (no gateway needed).
//!
//! Prints the sent message ids on stdout, one per line, and a summary on stderr.

use std::sync::Arc;

use moltbot_core::logging;
use moltbot_core::plugin::{ChannelPlugin, SendRequest};

use crate::cli::SendArgs;
use crate::commands::channels::{find_plugin, runtime};
use crate::commands::Outcome;
use crate::context::{print_issues, CheckedConfig, Context};

/// Runs the command.
pub fn send(ctx: &Context, args: &SendArgs) -> anyhow::Result<Outcome> {
    let Some((checked, plugin)) = sending_plugin(ctx, &args.channel)? else {
        return Ok(Outcome::Failure);
    };
    let request = SendRequest {
        to: &args.to,
        text: &args.text,
        file: args.file.as_deref(),
        markdown: args.markdown,
        card: None,
    };
    let env: &(dyn Fn(&str) -> Option<String> + Sync) = &Context::env;
    match runtime()?.block_on(plugin.send_message(&checked.config, env, request)) {
        Ok(report) => {
            for id in &report.message_ids {
                outln!("{}", logging::redact(id));
            }
            let n = report.message_ids.len();
            let noun = if n == 1 { "message" } else { "messages" };
            eprintln!(
                "{}",
                logging::redact(&format!("Sent {n} {noun} to {}.", report.target))
            );
            Ok(Outcome::Success)
        }
        Err(message) => {
            eprintln!("error: {}", logging::redact(&message));
            Ok(Outcome::Failure)
        }
    }
}

/// The config and the plugin of `channel`, ready to send without a gateway; `None` (after
/// printing the channel's config problems) when its config has problems.
///
/// # Errors
/// An unknown channel, a config that cannot be read, or a plugin not enabled.
pub fn sending_plugin<'a>(
    ctx: &'a Context,
    channel: &str,
) -> anyhow::Result<Option<(CheckedConfig, &'a Arc<dyn ChannelPlugin>)>> {
    let checked = ctx.check_config()?;
    let plugin = find_plugin(ctx, channel)?;
    let manifest = plugin.manifest();
    // Only this channel's problems matter for sending (an agent misconfig does not).
    let prefix = format!("channels.{channel}");
    let issues: Vec<_> = checked
        .issues
        .iter()
        .filter(|i| {
            i.path == prefix
                || i.path.starts_with(&format!("{prefix}."))
                || i.path.starts_with(&format!("{prefix}["))
        })
        .cloned()
        .collect();
    if !issues.is_empty() {
        print_issues(&ctx.paths.config_file, &issues);
        eprintln!("Nothing was sent: fix the config, then run `moltbot config validate`.");
        return Ok(None);
    }
    let state = checked.config.core.plugins.state(&manifest.id);
    if let Some((problem, fix)) = moltbot_core::plugin::unavailable(manifest, state) {
        anyhow::bail!("the channel {channel} {problem}: {fix}");
    }
    Ok(Some((checked, plugin)))
}
