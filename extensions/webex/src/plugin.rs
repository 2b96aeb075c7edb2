//! The Webex plugin as core sees it: its manifest and its config validation.

use std::sync::OnceLock;

use moltbot_core::config::{ConfigIssue, LoadedConfig};
use moltbot_core::plugin::{ChannelPlugin, PluginManifest};

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
    fn embedded_manifest() -> PluginManifest {
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
        crate::config::validate(config, env).err().unwrap_or_default()
    }

    fn secrets(&self, config: &LoadedConfig, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        let section = config.channel_section(crate::config::CHANNEL_ID);
        let at = |pointer: &str| {
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
}
