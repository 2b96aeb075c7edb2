//! The typed core sections of the config: `plugins`, `agents`, `models`, `gateway`, and the raw
//! `channels` map that channel plugins validate themselves.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::check::{
    check_known_keys, check_known_keys_in, expect_object, field_bool, field_enum, field_f64_in,
    field_object, field_string, field_string_array, field_u64_in,
};
use super::error::ConfigIssue;
use super::load::LoadedConfig;
use super::secret::Secret;
use super::syntax::join_path;

/// Keys allowed at the root of the config.
pub const ROOT_KEYS: &[&str] = &[
    "channels", "plugins", "agents", "models", "gateway", "store",
];

/// The typed core of the config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CoreConfig {
    /// `plugins`: which plugins are enabled.
    pub plugins: PluginsConfig,
    /// `agents`: the default agent.
    pub agents: AgentsConfig,
    /// `models`: model providers.
    pub models: ModelsConfig,
    /// `gateway`: gateway process settings.
    pub gateway: GatewayConfig,
    /// `store`: the state store.
    pub store: StoreConfig,
    /// `channels.<id>`: each channel's raw section, validated by the plugin that provides it.
    pub channels: BTreeMap<String, Value>,
}

/// `plugins`, and which plugins are installed on this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginsConfig {
    /// `plugins.entries.<id>`.
    pub entries: BTreeMap<String, PluginEntry>,
    /// Ids of the plugins installed on this machine (`moltbot plugins install` left its
    /// manifest in `<state>/extensions/<id>/`). Not read from the config file: the caller that
    /// knows the state folder fills it in (see
    /// [`PluginRegistry::installed_on_disk`](crate::plugin::PluginRegistry::installed_on_disk)).
    pub installed: std::collections::BTreeSet<String>,
}

/// Whether a plugin's channels can run, per [`PluginsConfig::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginState {
    /// Installed, or enabled in the config.
    Enabled,
    /// `plugins.entries.<id>.enabled` is `false`.
    Disabled,
    /// Neither installed on this machine nor enabled in the config.
    NotInstalled,
}

impl PluginsConfig {
    /// The plugin's state (spec section 8): `plugins.entries.<id>.enabled: false` disables it;
    /// otherwise it is enabled when installed on this machine or enabled in the config (an
    /// entry without `enabled` counts as `true`, which is what `moltbot plugins install`
    /// writes).
    pub fn state(&self, id: &str) -> PluginState {
        match self.entries.get(id) {
            Some(entry) if !entry.enabled => PluginState::Disabled,
            Some(_) => PluginState::Enabled,
            None if self.installed.contains(id) => PluginState::Enabled,
            None => PluginState::NotInstalled,
        }
    }

    /// True when [`Self::state`] is [`PluginState::Enabled`].
    pub fn is_enabled(&self, id: &str) -> bool {
        self.state(id) == PluginState::Enabled
    }
}

/// `plugins.entries.<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginEntry {
    /// `enabled` (default `true`: an entry without it is enabled).
    pub enabled: bool,
}

/// `agents`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentsConfig {
    /// `agents.defaults`.
    pub defaults: AgentDefaults,
    /// `agents.rooms.<roomId>`: per-room (space or DM) overrides, keyed by the channel's room id.
    pub rooms: BTreeMap<String, RoomAgentConfig>,
}

/// `agents.rooms.<roomId>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomAgentConfig {
    /// `systemPrompt` for this room, replacing `agents.defaults.systemPrompt`.
    pub system_prompt: Option<String>,
}

/// Default timeout for one agent turn.
pub const DEFAULT_AGENT_TIMEOUT_SECONDS: u64 = 120;
/// Largest `agents.defaults.timeoutSeconds` (a day).
pub const MAX_AGENT_TIMEOUT_SECONDS: u64 = 86_400;
/// Default number of earlier turns sent with each message.
pub const DEFAULT_HISTORY_TURNS: u64 = 20;
/// Largest `agents.defaults.historyTurns`.
pub const MAX_HISTORY_TURNS: u64 = 1000;

/// Default `agents.defaults.typingDelaySeconds`.
pub const DEFAULT_TYPING_DELAY_SECONDS: f64 = 2.0;
/// Largest `agents.defaults.typingDelaySeconds` (ten minutes).
pub const MAX_TYPING_DELAY_SECONDS: f64 = 600.0;

/// `agents.defaults`.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentDefaults {
    /// `model` (`"provider/model"` or `{ primary: "provider/model" }`); `None` means the built-in
    /// echo agent.
    pub model: Option<ModelRef>,
    /// `systemPrompt`.
    pub system_prompt: Option<String>,
    /// `timeoutSeconds` for one agent turn (default 120, 1 to 86400).
    pub timeout_seconds: u64,
    /// `historyTurns`: earlier turns of the conversation sent along (default 20, 0 to 1000).
    pub history_turns: u64,
    /// `showReasoning` (default false): post a reasoning model's reasoning as a Markdown quote
    /// before its answer. Reasoning is never stored in the history either way.
    pub show_reasoning: bool,
    /// `typingDelaySeconds` (default 2, 0 to 600, fractions allowed; 0 = off): when the agent
    /// has not answered within it, a short "Working on it..." placeholder is posted, deleted
    /// when the answer is posted, or edited into the apology when the agent fails.
    pub typing_delay_seconds: f64,
    /// `streaming` (default false): with a provider that streams (OpenAI-compatible,
    /// Anthropic), the placeholder is edited with the answer as it arrives (a few coalesced
    /// edits) and keeps the final text, instead of being deleted before the answer is posted.
    pub streaming: bool,
}

impl Default for AgentDefaults {
    fn default() -> Self {
        Self {
            model: None,
            system_prompt: None,
            timeout_seconds: DEFAULT_AGENT_TIMEOUT_SECONDS,
            history_turns: DEFAULT_HISTORY_TURNS,
            show_reasoning: false,
            typing_delay_seconds: DEFAULT_TYPING_DELAY_SECONDS,
            streaming: false,
        }
    }
}

/// A `"provider/model"` reference; the model part may itself contain `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// Key under `models.providers` (or the built-in `echo`).
    pub provider: String,
    /// The model name sent to the provider.
    pub model: String,
}

impl ModelRef {
    /// Splits `"provider/model"` at the first `/`; both parts must be non-empty.
    pub fn parse(text: &str) -> Option<Self> {
        let (provider, model) = text.trim().split_once('/')?;
        (!provider.is_empty() && !model.is_empty()).then(|| Self {
            provider: provider.to_string(),
            model: model.to_string(),
        })
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// `models`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelsConfig {
    /// `models.providers.<name>`.
    pub providers: BTreeMap<String, ProviderConfig>,
}

/// Name of the provider that needs no configuration.
pub const BUILTIN_ECHO_PROVIDER: &str = "echo";

impl ModelsConfig {
    /// The provider called `name`: a configured one, or the built-in `echo`.
    pub fn provider(&self, name: &str) -> Option<ProviderConfig> {
        match self.providers.get(name) {
            Some(p) => Some(p.clone()),
            None if name == BUILTIN_ECHO_PROVIDER => Some(ProviderConfig::echo()),
            None => None,
        }
    }
}

/// How moltbot talks to a provider (`api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderApi {
    /// `openai-completions`: OpenAI-compatible `POST {baseUrl}/chat/completions`.
    OpenAiCompletions,
    /// `anthropic-messages`: Anthropic `POST {baseUrl}/messages`.
    AnthropicMessages,
    /// `command`: runs `command args...`, JSON on stdin, reply on stdout.
    Command,
    /// `echo`: replies with the message it got.
    Echo,
}

impl ProviderApi {
    /// Every value of `api`, as written in the config.
    pub const NAMES: &'static [&'static str] = &[
        "openai-completions",
        "anthropic-messages",
        "command",
        "echo",
    ];

    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderApi::OpenAiCompletions => "openai-completions",
            ProviderApi::AnthropicMessages => "anthropic-messages",
            ProviderApi::Command => "command",
            ProviderApi::Echo => "echo",
        }
    }

    /// Parses a config name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "openai-completions" => Some(ProviderApi::OpenAiCompletions),
            "anthropic-messages" => Some(ProviderApi::AnthropicMessages),
            "command" => Some(ProviderApi::Command),
            "echo" => Some(ProviderApi::Echo),
            _ => None,
        }
    }
}

/// `models.providers.<name>`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderConfig {
    /// `api`. Default: `anthropic-messages` for a provider named `anthropic`, `echo` for `echo`,
    /// `command` when `command` is set, otherwise `openai-completions`.
    pub api: ProviderApi,
    /// `baseUrl` including the version path (e.g. `https://api.openai.com/v1`). Defaults exist for
    /// providers named `openai`, `anthropic`, `openrouter` and `ollama`.
    pub base_url: Option<String>,
    /// `apiKey` (usually `"${OPENAI_API_KEY}"`).
    pub api_key: Option<Secret>,
    /// `command` (for `api: "command"`).
    pub command: Option<String>,
    /// `args` (for `api: "command"`).
    pub args: Vec<String>,
    /// `input`: what the provider reads besides text (`["text", "image", "pdf"]`); `None` =
    /// the API's default ([`crate::agent::InputKinds::default_for`]).
    pub input: Option<crate::agent::InputKinds>,
}

impl ProviderConfig {
    /// The built-in echo provider.
    pub fn echo() -> Self {
        Self {
            api: ProviderApi::Echo,
            base_url: None,
            api_key: None,
            command: None,
            args: Vec::new(),
            input: None,
        }
    }

    /// What the provider reads: `input` when set, else its API's default.
    pub fn input_kinds(&self) -> crate::agent::InputKinds {
        self.input
            .unwrap_or_else(|| crate::agent::InputKinds::default_for(self.api))
    }
}

/// The `baseUrl` used when a well-known provider does not set one.
pub fn default_base_url(provider: &str, api: ProviderApi) -> Option<&'static str> {
    match (provider, api) {
        ("openai", ProviderApi::OpenAiCompletions) => Some("https://api.openai.com/v1"),
        ("openrouter", ProviderApi::OpenAiCompletions) => Some("https://openrouter.ai/api/v1"),
        ("ollama", ProviderApi::OpenAiCompletions) => Some("http://127.0.0.1:11434/v1"),
        ("anthropic", ProviderApi::AnthropicMessages) => Some("https://api.anthropic.com/v1"),
        _ => None,
    }
}

/// Default time the gateway waits for in-flight work on shutdown.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS: u64 = 10;
/// Largest `gateway.shutdownTimeoutSeconds` (an hour).
pub const MAX_SHUTDOWN_TIMEOUT_SECONDS: u64 = 3600;

/// Default days finished messages and sent replies are kept in the store.
pub const DEFAULT_RETENTION_DAYS: u64 = 30;
/// Largest `store.retentionDays` (ten years).
pub const MAX_RETENTION_DAYS: u64 = 3650;

/// Default `store.leaseSeconds`: how long a replica's leadership holds without renewal.
pub const DEFAULT_LEASE_SECONDS: u64 = 15;
/// Largest `store.leaseSeconds` (five minutes).
pub const MAX_LEASE_SECONDS: u64 = 300;

/// `store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `retentionDays` (default 30, 1 to 3650): finished ledger rows and sent or failed reply
    /// operations older than this are deleted by the gateway's retention job (pending work is
    /// never deleted).
    pub retention_days: u64,
    /// `url`: where the state store is (`postgres://...` for PostgreSQL, `sqlite:PATH`); when
    /// absent, `MOLTBOT_DATABASE_URL`, else the SQLite file in the state folder. Kept as a
    /// [`Secret`] (it may hold a password); checked by [`StoreConfig::location`], never
    /// connected to while the config is read.
    pub url: Option<Secret>,
    /// `leaseSeconds` (default 15, 1 to 300): with PostgreSQL, how long the leader's lease
    /// holds without renewal, so how soon another replica takes over the singletons (the
    /// receiver, catch-up, webhook watch) after the leader dies; also the lease of each message
    /// a replica claims (how soon a dead replica's work is taken over). Renewed every third of
    /// it.
    pub lease_seconds: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            retention_days: DEFAULT_RETENTION_DAYS,
            url: None,
            lease_seconds: DEFAULT_LEASE_SECONDS,
        }
    }
}

impl StoreConfig {
    /// Where the state store is: `store.url` if set, else the environment variable
    /// [`DATABASE_URL_ENV`](crate::store::DATABASE_URL_ENV) read through `env`, else the SQLite
    /// file `default_file`. A URL that cannot be used is an issue at `store.url` (naming the
    /// variable when it came from there) with the fix.
    pub fn location(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        default_file: std::path::PathBuf,
    ) -> Result<crate::store::StoreLocation, ConfigIssue> {
        use crate::store::{StoreLocation, DATABASE_URL_ENV};
        let from_env = env(DATABASE_URL_ENV);
        let configured = self.url.as_ref().map(Secret::expose);
        StoreLocation::choose(configured, from_env.as_deref(), default_file).map_err(|e| {
            let message = match configured.filter(|u| !u.trim().is_empty()) {
                Some(_) => format!("cannot use this store URL: {e}"),
                None => format!(
                    "{DATABASE_URL_ENV} (used because store.url is not set) cannot be used: {e}"
                ),
            };
            ConfigIssue::new("store.url", message, Some(e.fix().to_owned()))
        })
    }
}

/// `gateway`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// `shutdownTimeoutSeconds` (default 10, 0 to 3600).
    pub shutdown_timeout_seconds: u64,
    /// `metrics.listen`: an address of its own for `/metrics` (`"127.0.0.1:9464"`,
    /// `"[::1]:9464"`; port 0 picks one). When set, `/metrics` is served there only, not on
    /// the channels' HTTP server. `None` (default): `/metrics` is on the channels' server.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            shutdown_timeout_seconds: DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
            metrics_listen: None,
        }
    }
}

/// Reads `gateway.metrics` (`listen`).
fn gateway_metrics(
    cfg: &LoadedConfig,
    gateway: &Map<String, Value>,
    out: &mut GatewayConfig,
    issues: &mut Vec<ConfigIssue>,
) {
    let Some(metrics) = field_object(cfg, gateway, "gateway", "metrics", issues) else {
        return;
    };
    check_known_keys_in(cfg, metrics, "gateway.metrics", &["listen"], issues);
    let Some(listen) = field_string(cfg, metrics, "gateway.metrics", "listen", issues) else {
        return;
    };
    match listen.trim().parse::<std::net::SocketAddr>() {
        Ok(addr) => out.metrics_listen = Some(addr),
        Err(_) => issues.push(cfg.issue(
            "gateway.metrics.listen",
            &format!("{listen:?} is not an address with a port"),
            Some(
                "use an IP address and a port, such as \"127.0.0.1:9464\" (this machine \
                 only) or \"[::1]:9464\"; not a host name; remove the key to serve /metrics \
                 on the channel's port",
            ),
        )),
    }
}

impl CoreConfig {
    /// Reads the core sections of `cfg.value`, adding an issue for everything wrong and using
    /// defaults in its place.
    pub fn from_loaded(cfg: &LoadedConfig, issues: &mut Vec<ConfigIssue>) -> Self {
        let mut core = CoreConfig::default();
        let Some(root) = cfg.value.as_object() else {
            issues.push(cfg.issue(
                "",
                "the config must be an object",
                Some("wrap the settings in { ... }"),
            ));
            return core;
        };
        check_known_keys(cfg, &cfg.value, "", ROOT_KEYS, issues);
        if let Some(channels) = field_object(cfg, root, "", "channels", issues) {
            for (id, section) in channels {
                if expect_object(cfg, section, &join_path("channels", id), issues).is_some() {
                    core.channels.insert(id.clone(), section.clone());
                }
            }
        }
        if let Some(plugins) = field_object(cfg, root, "", "plugins", issues) {
            core.plugins = plugins_config(cfg, plugins, issues);
        }
        if let Some(models) = field_object(cfg, root, "", "models", issues) {
            core.models = models_config(cfg, models, issues);
        }
        if let Some(agents) = field_object(cfg, root, "", "agents", issues) {
            core.agents = agents_config(cfg, agents, &core.models, issues);
        }
        if let Some(gateway) = field_object(cfg, root, "", "gateway", issues) {
            check_known_keys_in(
                cfg,
                gateway,
                "gateway",
                &["shutdownTimeoutSeconds", "metrics"],
                issues,
            );
            gateway_metrics(cfg, gateway, &mut core.gateway, issues);
            if let Some(secs) = field_u64_in(
                cfg,
                gateway,
                "gateway",
                "shutdownTimeoutSeconds",
                0..=MAX_SHUTDOWN_TIMEOUT_SECONDS,
                "use a number of seconds such as 10 (the default), without quotes",
                issues,
            ) {
                core.gateway.shutdown_timeout_seconds = secs;
            }
        }
        if let Some(store) = field_object(cfg, root, "", "store", issues) {
            check_known_keys_in(
                cfg,
                store,
                "store",
                &["leaseSeconds", "retentionDays", "url"],
                issues,
            );
            let url = field_string(cfg, store, "store", "url", issues);
            if let Some(url) = url.filter(|u| !u.trim().is_empty()) {
                if let Err(e) = crate::store::StoreLocation::parse(&url) {
                    issues.push(cfg.issue(
                        "store.url",
                        &format!("cannot use this store URL: {e}"),
                        Some(e.fix()),
                    ));
                }
                core.store.url = Some(Secret::new(url));
            }
            if let Some(days) = field_u64_in(
                cfg,
                store,
                "store",
                "retentionDays",
                1..=MAX_RETENTION_DAYS,
                "use a number of days such as 30 (the default), without quotes",
                issues,
            ) {
                core.store.retention_days = days;
            }
            if let Some(secs) = field_u64_in(
                cfg,
                store,
                "store",
                "leaseSeconds",
                1..=MAX_LEASE_SECONDS,
                "use a number of seconds such as 15 (the default), without quotes",
                issues,
            ) {
                core.store.lease_seconds = secs;
            }
        }
        core
    }
}

fn plugins_config(
    cfg: &LoadedConfig,
    plugins: &Map<String, Value>,
    issues: &mut Vec<ConfigIssue>,
) -> PluginsConfig {
    let mut out = PluginsConfig::default();
    check_known_keys_in(cfg, plugins, "plugins", &["entries"], issues);
    let Some(entries) = field_object(cfg, plugins, "plugins", "entries", issues) else {
        return out;
    };
    for (id, entry) in entries {
        let path = join_path("plugins.entries", id);
        let Some(obj) = expect_object(cfg, entry, &path, issues) else {
            continue;
        };
        check_known_keys(cfg, entry, &path, &["enabled"], issues);
        let enabled = field_bool(cfg, obj, &path, "enabled", issues).unwrap_or(true);
        out.entries.insert(id.clone(), PluginEntry { enabled });
    }
    out
}

fn models_config(
    cfg: &LoadedConfig,
    models: &Map<String, Value>,
    issues: &mut Vec<ConfigIssue>,
) -> ModelsConfig {
    let mut out = ModelsConfig::default();
    check_known_keys_in(cfg, models, "models", &["providers"], issues);
    let Some(providers) = field_object(cfg, models, "models", "providers", issues) else {
        return out;
    };
    for (name, section) in providers {
        let path = join_path("models.providers", name);
        if let Some(obj) = expect_object(cfg, section, &path, issues) {
            if let Some(p) = provider_config(cfg, name, obj, &path, issues) {
                out.providers.insert(name.clone(), p);
            }
        }
    }
    out
}

const PROVIDER_KEYS: &[&str] = &["api", "baseUrl", "apiKey", "command", "args", "input"];

fn provider_config(
    cfg: &LoadedConfig,
    name: &str,
    obj: &Map<String, Value>,
    path: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<ProviderConfig> {
    let before = issues.len();
    check_known_keys_in(cfg, obj, path, PROVIDER_KEYS, issues);
    let command = field_string(cfg, obj, path, "command", issues);
    let api = match obj.get("api") {
        Some(_) => {
            let api = field_enum(cfg, obj, path, "api", ProviderApi::NAMES, issues)
                .and_then(|text| ProviderApi::parse(&text));
            api?
        }
        None if name == "anthropic" => ProviderApi::AnthropicMessages,
        None if name == BUILTIN_ECHO_PROVIDER => ProviderApi::Echo,
        None if command.is_some() => ProviderApi::Command,
        None => ProviderApi::OpenAiCompletions,
    };
    let mut base_url = field_string(cfg, obj, path, "baseUrl", issues);
    if let Some(url) = &base_url {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            issues.push(cfg.issue(
                &join_path(path, "baseUrl"),
                "must be an http:// or https:// URL",
                Some("write the full URL, e.g. \"https://api.openai.com/v1\""),
            ));
        }
    }
    let api_key = field_string(cfg, obj, path, "apiKey", issues).map(Secret::new);
    let args = field_string_array(cfg, obj, path, "args", issues).unwrap_or_default();
    let input = field_string_array(cfg, obj, path, "input", issues).map(|names| {
        for name in &names {
            if !crate::agent::InputKinds::NAMES.contains(&name.as_str()) {
                issues.push(cfg.issue(
                    &join_path(path, "input"),
                    &format!("{name:?} is not an input kind"),
                    Some(
                        "use a list of \"text\", \"image\" and \"pdf\", e.g. [\"text\", \"image\"]",
                    ),
                ));
            }
        }
        crate::agent::InputKinds::from_names(names.iter().map(String::as_str))
    });
    match api {
        ProviderApi::OpenAiCompletions | ProviderApi::AnthropicMessages => {
            if base_url.is_none() {
                base_url = default_base_url(name, api).map(str::to_string);
            }
            if base_url.is_none() {
                issues.push(cfg.issue(
                    &join_path(path, "baseUrl"),
                    &format!("`baseUrl` is required for api \"{}\"", api.as_str()),
                    Some("set baseUrl, e.g. \"http://127.0.0.1:11434/v1\" for Ollama"),
                ));
            }
        }
        ProviderApi::Command => {
            if command.as_deref().is_none_or(|c| c.trim().is_empty()) {
                issues.push(cfg.issue(
                    &join_path(path, "command"),
                    "`command` is required for api \"command\"",
                    Some("set command to the program to run, e.g. \"/usr/local/bin/my-agent\""),
                ));
            }
        }
        ProviderApi::Echo => {}
    }
    (issues.len() == before).then_some(ProviderConfig {
        api,
        base_url,
        api_key,
        command,
        args,
        input,
    })
}

const AGENT_DEFAULT_KEYS: &[&str] = &[
    "model",
    "systemPrompt",
    "timeoutSeconds",
    "historyTurns",
    "showReasoning",
    "typingDelaySeconds",
    "streaming",
];

fn agents_config(
    cfg: &LoadedConfig,
    agents: &Map<String, Value>,
    models: &ModelsConfig,
    issues: &mut Vec<ConfigIssue>,
) -> AgentsConfig {
    let mut out = AgentsConfig::default();
    check_known_keys_in(cfg, agents, "agents", &["defaults", "rooms"], issues);
    if let Some(rooms) = field_object(cfg, agents, "agents", "rooms", issues) {
        for (room, value) in rooms {
            let path = join_path("agents.rooms", room);
            let Some(room_obj) = expect_object(cfg, value, &path, issues) else {
                continue;
            };
            check_known_keys_in(cfg, room_obj, &path, &["systemPrompt"], issues);
            let system_prompt = field_string(cfg, room_obj, &path, "systemPrompt", issues);
            out.rooms
                .insert(room.clone(), RoomAgentConfig { system_prompt });
        }
    }
    let Some(defaults) = field_object(cfg, agents, "agents", "defaults", issues) else {
        return out;
    };
    let path = "agents.defaults";
    check_known_keys_in(cfg, defaults, path, AGENT_DEFAULT_KEYS, issues);
    let d = &mut out.defaults;
    d.system_prompt = field_string(cfg, defaults, path, "systemPrompt", issues);
    if let Some(t) = field_u64_in(
        cfg,
        defaults,
        path,
        "timeoutSeconds",
        1..=MAX_AGENT_TIMEOUT_SECONDS,
        "use a number of seconds such as 120 (the default), without quotes",
        issues,
    ) {
        d.timeout_seconds = t;
    }
    if let Some(h) = field_u64_in(
        cfg,
        defaults,
        path,
        "historyTurns",
        0..=MAX_HISTORY_TURNS,
        "use a count such as 20 (the default), without quotes; 0 sends no history",
        issues,
    ) {
        d.history_turns = h;
    }
    if let Some(show) = field_bool(cfg, defaults, path, "showReasoning", issues) {
        d.show_reasoning = show;
    }
    if let Some(streaming) = field_bool(cfg, defaults, path, "streaming", issues) {
        d.streaming = streaming;
    }
    if let Some(delay) = field_f64_in(
        cfg,
        defaults,
        path,
        "typingDelaySeconds",
        0.0..=MAX_TYPING_DELAY_SECONDS,
        "use a number of seconds such as 2 (the default) or 0.5, without quotes; 0 turns the placeholder off",
        issues,
    ) {
        d.typing_delay_seconds = delay;
    }
    // Streaming edits the placeholder; with the placeholder off there is nothing to edit and
    // the answers would silently come whole.
    if d.streaming && d.typing_delay_seconds == 0.0 {
        issues.push(cfg.issue(
            "agents.defaults.streaming",
            "`streaming: true` needs the placeholder, but `agents.defaults.typingDelaySeconds` is 0 (off)",
            Some("set agents.defaults.typingDelaySeconds above 0 (e.g. 2, the default), or streaming: false"),
        ));
    }
    let (primary, primary_path) = match defaults.get("model") {
        None => (None, String::new()),
        Some(Value::String(s)) => (Some(s.clone()), "agents.defaults.model".to_string()),
        Some(Value::Object(m)) => {
            check_known_keys_in(cfg, m, "agents.defaults.model", &["primary"], issues);
            (
                field_string(cfg, m, "agents.defaults.model", "primary", issues),
                "agents.defaults.model.primary".to_string(),
            )
        }
        Some(other) => {
            issues.push(cfg.issue(
                "agents.defaults.model",
                &format!(
                    "expected \"provider/model\" or {{ primary: \"provider/model\" }}, found {}",
                    super::check::describe(other)
                ),
                Some("write e.g. model: { primary: \"openai/gpt-4o-mini\" }"),
            ));
            (None, String::new())
        }
    };
    if let Some(text) = primary {
        match ModelRef::parse(&text) {
            None => issues.push(cfg.issue(
                &primary_path,
                "expected \"provider/model\"",
                Some("write e.g. \"openai/gpt-4o-mini\" or \"echo/echo\""),
            )),
            Some(r) if models.provider(&r.provider).is_none() => {
                let mut known: Vec<&str> = models.providers.keys().map(String::as_str).collect();
                known.push(BUILTIN_ECHO_PROVIDER);
                let fix = match super::check::suggest(&r.provider, &known) {
                    Some(s) => format!(
                        "did you mean `{s}`? or define models.providers.{}",
                        r.provider
                    ),
                    None => format!(
                        "define models.providers.{} {{ api, baseUrl, apiKey }}",
                        r.provider
                    ),
                };
                issues.push(cfg.issue(
                    &primary_path,
                    &format!("unknown provider `{}`", r.provider),
                    Some(&fix),
                ));
            }
            Some(r) => d.model = Some(r),
        }
    }
    out
}
