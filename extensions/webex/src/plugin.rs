//! The Webex plugin as core sees it: its manifest, config validation, channel runtime and the
//! operations commands (status, probe, send; see [`crate::ops`]).

use std::sync::OnceLock;

use std::sync::Arc;

use moltbot_core::config::{ConfigError, ConfigIssue, LoadedConfig};
use std::time::Duration;

use moltbot_core::gateway::{BoxFuture, Channel, ChannelError, ChannelErrorKind, Metrics};
use moltbot_core::plugin::{
    AccountStatus, ChannelPlugin, EnvLookup, PluginManifest, ProbeCause, ProbeFailure, ProbeReport,
    SendReport, SendRequest, StatusOptions,
};
use moltbot_core::store::Store;

use crate::config::WebexConfig;

/// The manifest shipped beside this crate, embedded so `@moltbot/webex` installs without files.
pub const MANIFEST_JSON: &str = include_str!("../moltbot.plugin.json");

/// The Webex channel plugin.
#[derive(Debug, Default)]
pub struct WebexPlugin {
    manifest: OnceLock<PluginManifest>,
}

impl WebexPlugin {
    /// Creates the plugin.
    pub fn new() -> Self {
        Self::default()
    }

    /// The embedded manifest, parsed. It is checked by this crate's tests, so parsing cannot fail
    /// in a released binary; if it ever did, a minimal manifest keeps the CLI usable.
    pub(crate) fn embedded_manifest() -> PluginManifest {
        PluginManifest::parse(MANIFEST_JSON, "<embedded @moltbot/webex>").unwrap_or_else(|err| {
            tracing::error!(%err, "embedded webex manifest is invalid");
            PluginManifest {
                id: "webex".into(),
                name: "@moltbot/webex".into(),
                description: String::new(),
                version: env!("CARGO_PKG_VERSION").into(),
                channels: vec!["webex".into()],
                config_schema: serde_json::json!({"type": "object"}),
            }
        })
    }
}

impl ChannelPlugin for WebexPlugin {
    fn manifest(&self) -> &PluginManifest {
        self.manifest.get_or_init(Self::embedded_manifest)
    }

    fn validate_config(
        &self,
        config: &LoadedConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<ConfigIssue> {
        crate::config::validate(config, env)
            .err()
            .unwrap_or_default()
    }

    fn build_channel(
        &self,
        config: &LoadedConfig,
        env: &dyn Fn(&str) -> Option<String>,
        store: &Store,
        metrics: Arc<Metrics>,
    ) -> Result<Option<Arc<dyn Channel>>, ChannelError> {
        let webex = crate::config::validate(config, env).map_err(|issues| {
            ChannelError::new(ChannelErrorKind::Config, ConfigError::Invalid(issues))
                .with_context("channels.webex is not valid")
        })?;
        if !webex.enabled {
            return Ok(None);
        }
        let channel = crate::channel::WebexChannel::new(webex, store, metrics)?;
        Ok(Some(Arc::new(channel)))
    }

    fn canonical_identity(&self, identity: &str) -> String {
        let trimmed = identity.trim();
        let bare = trimmed.strip_prefix("webex:").unwrap_or(trimmed);
        if is_uuid(bare) {
            webex_api::WebexId::encode("us", "PEOPLE", &bare.to_ascii_lowercase())
        } else {
            trimmed.to_string()
        }
    }

    fn secrets(&self, config: &LoadedConfig, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        let section = config.channel_section(crate::config::CHANNEL_ID);
        // A string still holding an unresolved `${...}` is no secret, and masking it would hide
        // the variable name in the messages about it.
        let at = |pointer: &str| {
            let key = pointer.trim_start_matches('/').replace('/', ".");
            if config.is_unresolved(&format!("{}.{key}", crate::config::SECTION_PATH)) {
                return None;
            }
            section
                .and_then(|s| s.pointer(pointer))
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        };
        [
            at("/botToken"),
            at("/webhook/secret"),
            env(crate::config::TOKEN_ENV),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.trim().is_empty())
        .collect()
    }

    fn status<'a>(
        &'a self,
        config: &'a LoadedConfig,
        env: EnvLookup<'a>,
        store: Option<&'a Store>,
        options: StatusOptions,
    ) -> BoxFuture<'a, Vec<AccountStatus>> {
        Box::pin(async move { vec![crate::ops::status::status(config, env, store, options).await] })
    }

    fn probe<'a>(
        &'a self,
        config: &'a LoadedConfig,
        env: EnvLookup<'a>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ProbeReport, ProbeFailure>> {
        let webex = ops_config(config, env);
        Box::pin(async move { crate::ops::probe::probe(&webex?, timeout).await })
    }

    fn send_message<'a>(
        &'a self,
        config: &'a LoadedConfig,
        env: EnvLookup<'a>,
        request: SendRequest<'a>,
    ) -> BoxFuture<'a, Result<SendReport, String>> {
        let webex = ops_config(config, env);
        Box::pin(async move {
            let webex = webex.map_err(|failure| match failure.fix {
                Some(fix) => format!("{}\nFix: {fix}", failure.message),
                None => failure.message,
            })?;
            crate::ops::send::send(&webex, request).await
        })
    }
}

/// The validated config for an operations command, or why there is none.
fn ops_config(config: &LoadedConfig, env: EnvLookup<'_>) -> Result<WebexConfig, ProbeFailure> {
    let not_configured = |message: String| {
        ProbeFailure::new(
            ProbeCause::Config,
            message,
            Some("run `moltbot config validate` and fix what it reports".to_string()),
        )
    };
    let webex = crate::config::validate(config, env).map_err(|issues| {
        not_configured(format!(
            "channels.webex is not valid:\n{}",
            moltbot_core::config::render_issues(&issues)
        ))
    })?;
    if webex.token_source == crate::config::TokenSource::Missing {
        return Err(not_configured(
            "No credentials configured: set channels.webex.botToken or WEBEX_BOT_TOKEN".into(),
        ));
    }
    Ok(webex)
}

/// A raw uuid such as `4e1a0a4a-1b2c-4d5e-8f90-123456789abc`.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_manifest_is_valid_and_matches_the_crate() {
        let m = PluginManifest::parse(MANIFEST_JSON, "embedded").unwrap();
        assert_eq!(m.id, "webex");
        assert_eq!(m.name, "@moltbot/webex");
        assert_eq!(m.channels, vec!["webex".to_string()]);
        assert_eq!(m.version, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn raw_uuids_become_webex_person_ids() {
        let plugin = WebexPlugin::new();
        let uuid = "4e1a0a4a-1b2c-4d5e-8f90-123456789abc";
        let id = plugin.canonical_identity(uuid);
        assert_eq!(webex_api::WebexId::decode(&id).unwrap().uuid, uuid);
        assert_eq!(plugin.canonical_identity(" a@b.c "), "a@b.c");
    }
}
