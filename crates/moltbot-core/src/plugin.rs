//! Channel plugins: the manifest a plugin ships, the registry of compiled-in plugins, and the
//! trait a channel implements.
//!
//! Plugins are Rust crates compiled into the `moltbot` binary; "installing" one validates its
//! manifest (`moltbot.plugin.json`), records the install in the state store and enables it in the
//! config file (`plugins.entries.<id>.enabled = true`). Core never names a specific channel: the
//! binary registers each plugin it links with a [`PluginRegistry`].

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigIssue, LoadedConfig, PluginState};

/// The file name of a plugin manifest inside a plugin directory.
pub const MANIFEST_FILE: &str = "moltbot.plugin.json";

/// A plugin manifest (`moltbot.plugin.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginManifest {
    /// Short id, also the key under `plugins.entries` (e.g. `webex`).
    pub id: String,
    /// Package name users install (e.g. `@moltbot/webex`).
    pub name: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// Version of the plugin.
    pub version: String,
    /// Channel ids the plugin provides; each is a key under `channels`.
    pub channels: Vec<String>,
    /// JSON Schema of each channel's config section.
    pub config_schema: serde_json::Value,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The manifest file could not be read.
    #[error("cannot read plugin manifest {path}: {source}")]
    Read {
        /// The manifest path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The manifest is not valid JSON or has wrong or unknown fields.
    #[error("plugin manifest {path} is not valid: {message}")]
    Parse {
        /// The manifest path (or `<embedded>`).
        path: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A field has a value the loader refuses.
    #[error("plugin manifest {path}: field `{field}` {problem}")]
    Field {
        /// The manifest path (or `<embedded>`).
        path: String,
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

impl PluginManifest {
    /// Parses and validates a manifest from JSON text. `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ManifestError> {
        let manifest: PluginManifest =
            serde_json::from_str(text).map_err(|e| ManifestError::Parse {
                path: origin.to_string(),
                message: e.to_string(),
            })?;
        manifest.validate(origin)?;
        Ok(manifest)
    }

    /// Reads `<dir>/moltbot.plugin.json` (or the file itself when `path` is a file).
    pub fn read(path: &Path) -> Result<Self, ManifestError> {
        let file = if path.is_dir() {
            path.join(MANIFEST_FILE)
        } else {
            path.to_path_buf()
        };
        let origin = file.display().to_string();
        let text = std::fs::read_to_string(&file).map_err(|source| ManifestError::Read {
            path: origin.clone(),
            source,
        })?;
        Self::parse(&text, &origin)
    }

    fn validate(&self, origin: &str) -> Result<(), ManifestError> {
        let field = |field: &'static str, problem: &str| ManifestError::Field {
            path: origin.to_string(),
            field,
            problem: problem.to_string(),
        };
        if !is_identifier(&self.id) {
            return Err(field(
                "id",
                "must be lowercase letters, digits and dashes, starting with a letter",
            ));
        }
        if !is_package_name(&self.name) {
            return Err(field(
                "name",
                "must be a package name such as `@scope/name` or `name`",
            ));
        }
        if !is_version(&self.version) {
            return Err(field("version", "must be a version such as `1.2.3`"));
        }
        if self.channels.is_empty() {
            return Err(field("channels", "must list at least one channel id"));
        }
        let mut seen = BTreeSet::new();
        for channel in &self.channels {
            if !is_identifier(channel) {
                return Err(field(
                    "channels",
                    "entries must be lowercase letters, digits and dashes",
                ));
            }
            if !seen.insert(channel) {
                return Err(field("channels", "must not repeat a channel id"));
            }
        }
        let schema_is_object = self
            .config_schema
            .get("type")
            .and_then(serde_json::Value::as_str)
            == Some("object");
        if !schema_is_object {
            return Err(field(
                "configSchema",
                "must be a JSON Schema whose `type` is \"object\"",
            ));
        }
        Ok(())
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_package_name(s: &str) -> bool {
    let body = match s.strip_prefix('@') {
        Some(rest) => match rest.split_once('/') {
            Some((scope, name)) if is_identifier(scope) => name,
            _ => return false,
        },
        None => s,
    };
    is_identifier(body)
}

fn is_version(s: &str) -> bool {
    let core = s.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// How `moltbot channels status` asks a plugin for its accounts' state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusOptions {
    /// Also call the network's API (token check, webhook registration).
    pub deep: bool,
    /// Whether a gateway process is running on this state store (see
    /// [`crate::gateway::heartbeat`]).
    pub gateway_running: bool,
    /// Timeout of each API call made for `deep`.
    pub timeout: Duration,
}

/// One account of a channel as `moltbot channels status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountStatus {
    /// Channel id, e.g. `webex`.
    pub channel: String,
    /// Display name of the network, e.g. `Webex`.
    pub label: String,
    /// Account name (`default` for single-account channels).
    pub account: String,
    /// The channel is enabled in the config.
    pub enabled: bool,
    /// The config is complete and valid for this channel (credentials present).
    pub configured: bool,
    /// A running gateway is serving this account.
    pub running: bool,
    /// Further `key:value` facts, in display order (e.g. `mode:polling`, `token:env`).
    pub details: Vec<(String, String)>,
    /// When the last message was received (unix ms).
    pub last_inbound_ms: Option<i64>,
    /// When the last message was sent (unix ms).
    pub last_outbound_ms: Option<i64>,
    /// What a deep check learned about the account's identity (only with `deep`).
    pub identity: Option<ProbeIdentity>,
    /// Whether the deep check found the credentials valid (`None`: not checked or unknown).
    pub token_valid: Option<bool>,
    /// Problems and risks worth the operator's attention, one sentence each.
    pub warnings: Vec<String>,
}

/// Who the credentials belong to, as the network reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeIdentity {
    /// The account's (bot's) id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email or handle, if any.
    pub email: Option<String>,
    /// Round trip of the identity call.
    pub latency: Duration,
}

/// A successful `moltbot channels probe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// The call made, e.g. `GET https://webexapis.com/v1/people/me`.
    pub request: String,
    /// Who answered.
    pub identity: ProbeIdentity,
    /// Further checks that passed, one line each (e.g. a push listener's services reached).
    pub checks: Vec<String>,
}

/// Why a probe (or a deep status check) failed, as a category scripts and docs can rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProbeCause {
    /// The network refused the credentials (HTTP 401).
    BadToken,
    /// The API host name could not be resolved.
    Dns,
    /// Nothing listens at the API address (TCP connection refused).
    ConnectionRefused,
    /// The TLS handshake failed (certificate, protocol, or not a TLS server).
    Tls,
    /// No answer within the timeout.
    Timeout,
    /// Another transport failure (connection reset, proxy, ...).
    Network,
    /// The API answered with an unexpected status or body.
    Api,
    /// The channel's config is missing or invalid.
    Config,
    /// The plugin cannot probe.
    Unsupported,
}

impl ProbeCause {
    /// Short name for output, e.g. `bad token`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeCause::BadToken => "bad token",
            ProbeCause::Dns => "DNS failure",
            ProbeCause::ConnectionRefused => "connection refused",
            ProbeCause::Tls => "TLS error",
            ProbeCause::Timeout => "timeout",
            ProbeCause::Network => "network error",
            ProbeCause::Api => "API error",
            ProbeCause::Config => "not configured",
            ProbeCause::Unsupported => "not supported",
        }
    }

    /// Stable machine name, e.g. `bad_token`.
    pub fn code(self) -> &'static str {
        match self {
            ProbeCause::BadToken => "bad_token",
            ProbeCause::Dns => "dns",
            ProbeCause::ConnectionRefused => "connection_refused",
            ProbeCause::Tls => "tls",
            ProbeCause::Timeout => "timeout",
            ProbeCause::Network => "network",
            ProbeCause::Api => "api",
            ProbeCause::Config => "config",
            ProbeCause::Unsupported => "unsupported",
        }
    }
}

/// A failed probe: the category, what happened, and how to fix it.
///
/// Non-exhaustive: build it with [`ProbeFailure::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", cause.as_str())]
#[non_exhaustive]
pub struct ProbeFailure {
    /// The category.
    pub cause: ProbeCause,
    /// What happened, in one sentence (never contains a secret).
    pub message: String,
    /// What to do about it, when there is something specific to say.
    pub fix: Option<String>,
}

impl ProbeFailure {
    /// A failure of category `cause`: what happened (`message`, never a secret) and, when there
    /// is something specific to say, how to fix it.
    pub fn new(cause: ProbeCause, message: impl Into<String>, fix: Option<String>) -> Self {
        Self {
            cause,
            message: message.into(),
            fix,
        }
    }
}

/// A proactive message for `moltbot message send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRequest<'a> {
    /// The destination as the user typed it (email, person id, room id, with optional
    /// prefixes the channel understands).
    pub to: &'a str,
    /// The message text.
    pub text: &'a str,
    /// A file to attach, by URL.
    pub file: Option<&'a str>,
    /// Send `text` as Markdown (else as plain text).
    pub markdown: bool,
    /// An adaptive card to attach (the card JSON itself); `text` is then its fallback and is
    /// sent as one message. A channel that cannot take answers to cards as configured refuses
    /// it, saying why.
    pub card: Option<&'a serde_json::Value>,
}

/// What `moltbot message send` sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    /// The destination as the channel understood it, e.g. `person alice@example.com`.
    pub target: String,
    /// The network's ids of the sent messages, in order (more than one when the text was
    /// split).
    pub message_ids: Vec<String>,
    /// The room the messages went to, when the network said (a message to a person lands in
    /// their direct room).
    pub room_id: Option<String>,
}

/// Looks up environment variables for the operations methods (thread-safe so it may be used
/// from async code).
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// What every channel plugin provides to core.
///
/// Later layers add the runtime half (receiving and sending); this part is what the CLI needs to
/// validate config and install the plugin.
pub trait ChannelPlugin: Send + Sync {
    /// The plugin's manifest (embedded in the binary).
    fn manifest(&self) -> &PluginManifest;

    /// Validates the plugin's channel sections in `config`, returning every problem found.
    ///
    /// `env` looks up environment variables (injected so tests need not touch the process env).
    fn validate_config(
        &self,
        config: &LoadedConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<ConfigIssue>;

    /// Builds the channel runtime from a valid config; `Ok(None)` when the channel is disabled.
    /// Called only after [`ChannelPlugin::validate_config`] found no problem.
    ///
    /// # Errors
    /// A [`ChannelError`](crate::gateway::ChannelError) of kind
    /// [`Config`](crate::gateway::ChannelErrorKind::Config) when the config cannot work after
    /// all (its source is a [`ConfigError`](crate::config::ConfigError) listing the issues), or
    /// another kind when the channel's client or state cannot be set up.
    fn build_channel(
        &self,
        config: &LoadedConfig,
        env: &dyn Fn(&str) -> Option<String>,
        store: &crate::store::Store,
        metrics: Arc<crate::gateway::Metrics>,
    ) -> Result<Option<Arc<dyn crate::gateway::Channel>>, crate::gateway::ChannelError>;

    /// Canonical form of a person identity typed by a user (e.g. a raw uuid turned into the
    /// network's id form), so approvals match what messages carry. Default: unchanged.
    fn canonical_identity(&self, identity: &str) -> String {
        identity.trim().to_string()
    }

    /// Secret values in the plugin's config or environment (tokens, webhook secrets), so the
    /// caller can register them for log redaction before anything is printed.
    fn secrets(&self, config: &LoadedConfig, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        let _ = (config, env);
        Vec::new()
    }
    /// The accounts' state for `moltbot channels status`. Reads config and `store` only,
    /// unless `options.deep` asks to call the network too. Default: one `default` account
    /// showing whether the plugin is installed, and that the plugin reports nothing more.
    fn status<'a>(
        &'a self,
        config: &'a LoadedConfig,
        env: EnvLookup<'a>,
        store: Option<&'a crate::store::Store>,
        options: StatusOptions,
    ) -> crate::gateway::BoxFuture<'a, Vec<AccountStatus>> {
        let _ = (env, store);
        let manifest = self.manifest();
        let enabled = config.core.plugins.is_enabled(&manifest.id);
        let status = AccountStatus {
            channel: manifest.id.clone(),
            label: manifest.id.clone(),
            account: "default".to_string(),
            enabled,
            configured: enabled,
            running: enabled && options.gateway_running,
            details: Vec::new(),
            last_inbound_ms: None,
            last_outbound_ms: None,
            identity: None,
            token_valid: None,
            warnings: vec!["this plugin reports no further status".to_string()],
        };
        Box::pin(async move { vec![status] })
    }

    /// Checks connectivity and credentials for `moltbot channels probe`, giving up after
    /// `timeout`. Default: [`ProbeCause::Unsupported`].
    fn probe<'a>(
        &'a self,
        config: &'a LoadedConfig,
        env: EnvLookup<'a>,
        timeout: Duration,
    ) -> crate::gateway::BoxFuture<'a, Result<ProbeReport, ProbeFailure>> {
        let _ = (config, env, timeout);
        let id = self.manifest().id.clone();
        Box::pin(async move {
            Err(ProbeFailure {
                cause: ProbeCause::Unsupported,
                message: format!("the {id} plugin cannot probe its channel"),
                fix: None,
            })
        })
    }

    /// Sends a proactive message for `moltbot message send`, without a running gateway.
    /// The error is one or more lines for the user (never containing a secret).
    /// Default: refuses (the plugin cannot send on its own).
    fn send_message<'a>(
        &'a self,
        config: &'a LoadedConfig,
        env: EnvLookup<'a>,
        request: SendRequest<'a>,
    ) -> crate::gateway::BoxFuture<'a, Result<SendReport, String>> {
        let _ = (config, env, request);
        let id = self.manifest().id.clone();
        Box::pin(async move { Err(format!("the {id} plugin cannot send messages on its own")) })
    }
}

/// Why `manifest`'s channels cannot run in `state`, as (problem, fix) for a message such as
/// "the channel webex {problem}: {fix}"; `None` when the plugin is enabled.
pub fn unavailable(manifest: &PluginManifest, state: PluginState) -> Option<(String, String)> {
    let (id, name) = (&manifest.id, &manifest.name);
    match state {
        PluginState::Enabled => None,
        PluginState::NotInstalled => Some((
            format!("is provided by plugin {name}, which is not installed"),
            format!("install it with `moltbot plugins install {name}`"),
        )),
        PluginState::Disabled => Some((
            format!(
                "is provided by plugin {name}, which is disabled (plugins.entries.{id}.enabled \
                 is false)"
            ),
            format!(
                "set plugins.entries.{id}.enabled to true (or remove that key), or remove \
                 channels.{id}"
            ),
        )),
    }
}

/// The plugins compiled into this binary.
#[derive(Default, Clone)]
pub struct PluginRegistry {
    plugins: Vec<Arc<dyn ChannelPlugin>>,
}

impl std::fmt::Debug for PluginRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.plugins.iter().map(|p| &p.manifest().id))
            .finish()
    }
}

impl PluginRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a plugin.
    pub fn register(&mut self, plugin: Arc<dyn ChannelPlugin>) {
        self.plugins.push(plugin);
    }

    /// All registered plugins, in registration order.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn ChannelPlugin>> {
        self.plugins.iter()
    }

    /// The plugin with this id (`webex`) or package name (`@moltbot/webex`).
    pub fn find(&self, id_or_name: &str) -> Option<&Arc<dyn ChannelPlugin>> {
        self.plugins
            .iter()
            .find(|p| p.manifest().id == id_or_name || p.manifest().name == id_or_name)
    }

    /// Checks the plugin side of a loaded config and returns every problem: a `channels.<id>`
    /// section that no plugin provides, or whose plugin is not installed (the message names the
    /// install command), and each installed plugin's own validation (also when its section is
    /// absent, since defaults and environment variables may configure it).
    pub fn check(
        &self,
        config: &LoadedConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut validated = BTreeSet::new();
        for channel in config.core.channels.keys() {
            let key = format!("channels.{channel}");
            match self.for_channel(channel) {
                None => {
                    let known: Vec<&str> = self
                        .plugins
                        .iter()
                        .flat_map(|p| p.manifest().channels.iter().map(String::as_str))
                        .collect();
                    let fix = match crate::config::suggest(channel, &known) {
                        Some(near) => format!("did you mean `channels.{near}`?"),
                        None => format!("known channels: {}", known.join(", ")),
                    };
                    issues.push(config.issue(
                        &key,
                        &format!("no installed plugin provides the channel `{channel}`"),
                        Some(&fix),
                    ));
                }
                Some(plugin) if !config.core.plugins.is_enabled(&plugin.manifest().id) => {
                    let manifest = plugin.manifest();
                    let state = config.core.plugins.state(&manifest.id);
                    if let Some((problem, fix)) = unavailable(manifest, state) {
                        // A disabled plugin is located at the key that disables it.
                        let key = match state {
                            PluginState::Disabled => {
                                format!("plugins.entries.{}.enabled", manifest.id)
                            }
                            _ => key,
                        };
                        issues.push(config.issue(
                            &key,
                            &format!("the channel {problem}"),
                            Some(&fix),
                        ));
                    }
                }
                Some(plugin) => {
                    if validated.insert(plugin.manifest().id.clone()) {
                        issues.extend(plugin.validate_config(config, env));
                    }
                }
            }
        }
        for plugin in self.installed(config) {
            if validated.insert(plugin.manifest().id.clone()) {
                issues.extend(plugin.validate_config(config, env));
            }
        }
        issues
    }

    /// The ids of the registered plugins installed on this machine: `moltbot plugins install`
    /// left a manifest naming the plugin in `<extensions_dir>/<id>/moltbot.plugin.json`
    /// (`extensions_dir` is `<state>/extensions`). Only the local disk is read, never the
    /// store, so checking a config needs no database (spec section 8: config and plugin
    /// installs stay on each machine). A missing or unreadable manifest means not installed.
    pub fn installed_on_disk(&self, extensions_dir: &Path) -> BTreeSet<String> {
        self.plugins
            .iter()
            .map(|p| &p.manifest().id)
            .filter(|id| {
                PluginManifest::read(&extensions_dir.join(id.as_str()))
                    .is_ok_and(|manifest| &manifest.id == *id)
            })
            .cloned()
            .collect()
    }

    /// The registered plugins enabled in `config` (see [`PluginState`]: installed on this
    /// machine or enabled in the config, and not `plugins.entries.<id>.enabled: false`).
    pub fn installed<'a>(
        &'a self,
        config: &'a LoadedConfig,
    ) -> impl Iterator<Item = &'a Arc<dyn ChannelPlugin>> + 'a {
        self.plugins
            .iter()
            .filter(|p| config.core.plugins.is_enabled(&p.manifest().id))
    }

    /// The plugin providing channel `channel`.
    pub fn for_channel(&self, channel: &str) -> Option<&Arc<dyn ChannelPlugin>> {
        self.plugins
            .iter()
            .find(|p| p.manifest().channels.iter().any(|c| c == channel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_json(id: &str, name: &str, version: &str, channels: &str) -> String {
        format!(
            r#"{{"id":"{id}","name":"{name}","version":"{version}","channels":{channels},"configSchema":{{"type":"object"}}}}"#
        )
    }

    #[test]
    fn accepts_a_well_formed_manifest() {
        let m = PluginManifest::parse(
            &manifest_json("webex", "@moltbot/webex", "0.1.0", r#"["webex"]"#),
            "t",
        )
        .unwrap();
        assert_eq!(m.id, "webex");
        assert_eq!(m.channels, vec!["webex".to_string()]);
    }

    #[test]
    fn refuses_bad_fields_naming_the_field() {
        let cases = [
            (
                manifest_json("Web ex", "@moltbot/webex", "0.1.0", r#"["webex"]"#),
                "`id`",
            ),
            (
                manifest_json("webex", "@/x", "0.1.0", r#"["webex"]"#),
                "`name`",
            ),
            (
                manifest_json("webex", "@moltbot/webex", "one", r#"["webex"]"#),
                "`version`",
            ),
            (
                manifest_json("webex", "@moltbot/webex", "0.1.0", "[]"),
                "`channels`",
            ),
        ];
        for (text, field) in cases {
            let err = PluginManifest::parse(&text, "t").unwrap_err().to_string();
            assert!(err.contains(field), "{err} should name {field}");
        }
    }

    /// A plugin that implements only the required methods.
    struct Minimal(PluginManifest);

    impl ChannelPlugin for Minimal {
        fn manifest(&self) -> &PluginManifest {
            &self.0
        }
        fn validate_config(
            &self,
            _: &LoadedConfig,
            _: &dyn Fn(&str) -> Option<String>,
        ) -> Vec<ConfigIssue> {
            Vec::new()
        }
        fn build_channel(
            &self,
            _: &LoadedConfig,
            _: &dyn Fn(&str) -> Option<String>,
            _: &crate::store::Store,
            _: Arc<crate::gateway::Metrics>,
        ) -> Result<Option<Arc<dyn crate::gateway::Channel>>, crate::gateway::ChannelError>
        {
            Ok(None)
        }
    }

    #[tokio::test]
    async fn operations_default_to_honest_answers() {
        let manifest = PluginManifest::parse(
            &manifest_json("chat", "@x/chat", "1.0.0", r#"["chat"]"#),
            "t",
        )
        .unwrap();
        let plugin = Minimal(manifest);
        let config = crate::config::parse(
            Path::new("t.json5"),
            "{ plugins: { entries: { chat: { enabled: true } } } }",
            &|_| None,
        )
        .unwrap();
        let env: EnvLookup<'_> = &|_| None;
        let options = StatusOptions {
            deep: false,
            gateway_running: true,
            timeout: Duration::from_secs(1),
        };
        let status = plugin.status(&config, env, None, options).await;
        assert_eq!(status.len(), 1);
        assert!(status[0].enabled && status[0].running);
        assert_eq!(status[0].warnings.len(), 1);
        let probe = plugin.probe(&config, env, Duration::from_secs(1)).await;
        assert_eq!(probe.unwrap_err().cause, ProbeCause::Unsupported);
        let request = SendRequest {
            to: "someone",
            text: "hi",
            file: None,
            markdown: false,
            card: None,
        };
        let sent = plugin.send_message(&config, env, request).await;
        assert!(sent.unwrap_err().contains("cannot send"));
    }

    /// A registry with one plugin, `chat` (`@x/chat`), providing the channel `chat`.
    fn chat_registry() -> PluginRegistry {
        let manifest = PluginManifest::parse(
            &manifest_json("chat", "@x/chat", "1.0.0", r#"["chat"]"#),
            "t",
        )
        .unwrap();
        let mut registry = PluginRegistry::new();
        registry.register(Arc::new(Minimal(manifest)));
        registry
    }

    #[test]
    fn installed_is_enabled_unless_the_config_says_false() {
        let registry = chat_registry();
        let load = |text: &str, installed: bool| {
            let mut config = crate::config::parse(Path::new("t.json5"), text, &|_| None).unwrap();
            if installed {
                config.core.plugins.installed.insert("chat".into());
            }
            config
        };
        let problems = |config: &LoadedConfig| -> Vec<String> {
            registry
                .check(config, &|_| None)
                .iter()
                .map(|i| format!("{}: {}", i.path, i.message))
                .collect()
        };
        let bare = "{ channels: { chat: {} } }";
        let off = "{ plugins: { entries: { chat: { enabled: false } } }, channels: { chat: {} } }";
        let on = "{ plugins: { entries: { chat: {} } }, channels: { chat: {} } }";
        assert_eq!(problems(&load(bare, true)), Vec::<String>::new());
        assert_eq!(problems(&load(on, false)), Vec::<String>::new());
        assert_eq!(registry.installed(&load(bare, true)).count(), 1);
        assert_eq!(
            problems(&load(bare, false)),
            ["channels.chat: the channel is provided by plugin @x/chat, which is not installed"]
        );
        for installed in [true, false] {
            let config = load(off, installed);
            assert_eq!(config.core.plugins.state("chat"), PluginState::Disabled);
            assert_eq!(
                problems(&config),
                [
                    "plugins.entries.chat.enabled: the channel is provided by plugin @x/chat, \
                  which is disabled (plugins.entries.chat.enabled is false)"
                ]
            );
            assert_eq!(registry.installed(&config).count(), 0);
        }
    }

    #[test]
    fn installs_on_disk_are_manifests_naming_the_plugin() {
        let registry = chat_registry();
        let dir = tempfile::tempdir().unwrap();
        assert!(registry.installed_on_disk(dir.path()).is_empty());
        let folder = dir.path().join("chat");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(MANIFEST_FILE), "not json").unwrap();
        assert!(registry.installed_on_disk(dir.path()).is_empty());
        std::fs::write(
            folder.join(MANIFEST_FILE),
            manifest_json("chat", "@x/chat", "1.0.0", r#"["chat"]"#),
        )
        .unwrap();
        assert_eq!(
            registry.installed_on_disk(dir.path()),
            BTreeSet::from(["chat".to_string()])
        );
    }

    #[test]
    fn refuses_unknown_fields_and_non_object_schema() {
        let err = PluginManifest::parse(
            r#"{"id":"a","name":"a","version":"1.0.0","channels":["a"],"configSchema":{"type":"object"},"extra":1}"#,
            "t",
        )
        .unwrap_err();
        assert!(err.to_string().contains("extra"), "{err}");
        let err = PluginManifest::parse(
            r#"{"id":"a","name":"a","version":"1.0.0","channels":["a"],"configSchema":{"type":"string"}}"#,
            "t",
        )
        .unwrap_err();
        assert!(err.to_string().contains("configSchema"), "{err}");
    }
}
