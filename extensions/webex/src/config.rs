//! The `channels.webex` config section: typed settings with the contract's defaults, and a
//! validator that reports every problem at once with its key path, line, column and a fix.
//!
//! The gateway refuses to start on any issue. Messages never contain the token: only key paths,
//! variable names and the offending non-secret values are shown.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use moltbot_core::config::{
    check_known_keys_in, enum_issue, enum_type_issue, expect_object, field_bool, field_enum,
    field_f64_in, field_object, field_string, field_string_array, field_u64_in, sort_issues,
    ConfigIssue, LoadedConfig,
};
use serde_json::{Map, Value};

pub use moltbot_core::config::Secret;

use crate::output::tables::TableMode;
use crate::output::OutputConfig;

/// The channel id: the key under `channels` and `plugins.entries`.
pub const CHANNEL_ID: &str = "webex";
/// The config section's key path.
pub const SECTION_PATH: &str = "channels.webex";
/// Environment variable holding the bot token when `botToken` is absent.
pub const TOKEN_ENV: &str = "WEBEX_BOT_TOKEN";
/// Default `apiBaseUrl`.
pub const DEFAULT_API_BASE_URL: &str = "https://webexapis.com/v1";
/// Default `webhook.port`.
pub const DEFAULT_WEBHOOK_PORT: u16 = 3979;
/// Default `webhook.path`.
pub const DEFAULT_WEBHOOK_PATH: &str = "/webex/webhook";
/// Default `webhook.safetyPollSeconds`.
pub const DEFAULT_SAFETY_POLL_SECONDS: u64 = 60;
/// Default `polling.intervalSeconds`.
pub const DEFAULT_POLL_INTERVAL_SECONDS: u64 = 5;
/// Largest `polling.intervalSeconds` and `webhook.safetyPollSeconds` (a day).
pub const MAX_POLL_INTERVAL_SECONDS: u64 = 86_400;
/// Default `textChunkLimit` (characters).
pub const DEFAULT_TEXT_CHUNK_LIMIT: usize = 7000;
/// The most bytes Webex accepts in one message's text; chunks are capped at this separately.
pub const MAX_MESSAGE_BYTES: usize = 7439;
/// Default `rateLimit.requestsPerMinute`: Webex's published figure for most APIs (spec section 8).
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = webex_api::DEFAULT_REQUESTS_PER_MINUTE;
/// Default `rateLimit.burst`.
pub const DEFAULT_BURST: u32 = webex_api::DEFAULT_BURST;
/// Largest accepted `rateLimit.burst`.
pub const MAX_BURST: u32 = 1000;
/// Largest accepted `rateLimit.requestsPerMinute`: far above Webex's limits, for emulators and
/// benchmarks that take the client budget out of the way.
pub const MAX_REQUESTS_PER_MINUTE: u32 = 1_000_000;
/// Default `maxReplyMessages`: the most messages one reply is posted as.
pub const DEFAULT_MAX_REPLY_MESSAGES: usize = 6;
/// Largest accepted `maxReplyMessages`.
pub const MAX_MAX_REPLY_MESSAGES: usize = 50;
/// Default `mediaMaxMb`: the largest file downloaded for the agent.
pub const DEFAULT_MEDIA_MAX_MB: u64 = 20;
/// Largest accepted `mediaMaxMb` (Webex's own limit for a file is 100 MB).
pub const MAX_MEDIA_MAX_MB: u64 = 100;
/// Default `catchUp.maxAgeMinutes`.
pub const DEFAULT_CATCH_UP_MAX_AGE_MINUTES: u64 = 15;
/// Largest `catchUp.maxAgeMinutes` (a week).
pub const MAX_CATCH_UP_MAX_AGE_MINUTES: u64 = 10_080;

const SECTION_KEYS: &[&str] = &[
    "enabled",
    "mode",
    "botToken",
    "apiBaseUrl",
    "dmPolicy",
    "allowFrom",
    "groupPolicy",
    "groupAllowFrom",
    "webhook",
    "polling",
    "websocket",
    "textChunkLimit",
    "rateLimit",
    "catchUp",
    "agentMentions",
    "markdown",
    "maxReplyMessages",
    "mediaMaxMb",
    "mediaAllowUnscannable",
    "commands",
];
const WEBHOOK_KEYS: &[&str] = &["host", "port", "path", "url", "secret", "safetyPollSeconds"];
const WEBSOCKET_KEYS: &[&str] = &[
    "u2cUrl",
    "safetyPollSeconds",
    "pingIntervalSeconds",
    "pongTimeoutSeconds",
];
/// Bounds of `websocket.pingIntervalSeconds` and `websocket.pongTimeoutSeconds`.
const KEEPALIVE_SECONDS: std::ops::RangeInclusive<f64> = 0.1..=300.0;

/// How messages are received (`mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Webex pushes to `webhook.url`.
    Webhook,
    /// moltbot polls the Webex API.
    Polling,
    /// Both at once, deduplicated by message id.
    Both,
    /// Webex's Mercury websocket, opened from inside the network (no public URL), with a slow
    /// safety poll beside it (`websocket.safetyPollSeconds`). Not an official Webex API: see
    /// docs/channels/webex.md.
    Websocket,
}

impl Mode {
    /// Valid config values.
    pub const NAMES: &'static [&'static str] = &["webhook", "polling", "both", "websocket"];

    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Webhook => "webhook",
            Mode::Polling => "polling",
            Mode::Both => "both",
            Mode::Websocket => "websocket",
        }
    }

    /// True for `webhook` and `both`.
    pub fn uses_webhook(self) -> bool {
        matches!(self, Mode::Webhook | Mode::Both)
    }

    /// True for `polling` and `both`.
    pub fn uses_polling(self) -> bool {
        matches!(self, Mode::Polling | Mode::Both)
    }

    /// True for `websocket`.
    pub fn uses_websocket(self) -> bool {
        matches!(self, Mode::Websocket)
    }
}

/// `dmPolicy` and `groupPolicy` values: core's, shared by every channel.
pub use moltbot_core::access::{DmPolicy, GroupPolicy};

/// Where the bot token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// `channels.webex.botToken`.
    Config,
    /// The `WEBEX_BOT_TOKEN` environment variable.
    Env,
    /// No token; only possible when the channel is disabled (`enabled: false`).
    Missing,
}

impl TokenSource {
    /// Short name for status output: `config`, `env` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Config => "config",
            TokenSource::Env => "env",
            TokenSource::Missing => "none",
        }
    }
}

/// `webhook`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// `host`: the address the local HTTP server (webhook, `/healthz`, `/readyz`, `/metrics`)
    /// listens on (default `0.0.0.0`, every IPv4 interface; `127.0.0.1` for loopback only).
    pub host: IpAddr,
    /// `port` the local HTTP server listens on (default 3979; 0 picks a free port).
    pub port: u16,
    /// `path` served for deliveries (default `/webex/webhook`).
    pub path: String,
    /// `url`: the public URL registered with Webex (required for `webhook`/`both`).
    pub url: Option<String>,
    /// `secret` for `X-Spark-Signature`; when absent one is generated and kept in the store.
    pub secret: Option<Secret>,
    /// `safetyPollSeconds`: in `webhook` mode, one polling pass this often picks up messages
    /// whose delivery never arrived (default 60 s, 1 s to a day; `0` turns it off).
    pub safety_poll: Option<Duration>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: DEFAULT_WEBHOOK_PORT,
            path: DEFAULT_WEBHOOK_PATH.to_string(),
            url: None,
            secret: None,
            safety_poll: Some(Duration::from_secs(DEFAULT_SAFETY_POLL_SECONDS)),
        }
    }
}

/// `websocket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebsocketConfig {
    /// `u2cUrl`: the U2C service catalog base (default Webex's public
    /// `https://u2c.wbx2.com/u2c/api/v1`; an emulator's `<sim>/u2c/api/v1` in tests). It
    /// receives the bot token, as do the hosts its catalog names.
    pub u2c_url: String,
    /// `safetyPollSeconds`: one polling pass this often beside the socket, which is not an
    /// official API and stays silent for some account types (default 60 s, 1 s to a day; `0`
    /// turns it off).
    pub safety_poll: Option<Duration>,
    /// `pingIntervalSeconds`: time between two keepalive pings (default 15 s, webex-js-sdk's
    /// `pingInterval`; 0.1 to 300). Lower it when a proxy cuts idle connections sooner.
    pub ping_interval: Duration,
    /// `pongTimeoutSeconds`: how long a ping waits for its pong before the socket is taken for
    /// dead and reconnected (default 14 s, webex-js-sdk's `pongTimeout`; 0.1 to 300).
    pub pong_timeout: Duration,
}

impl Default for WebsocketConfig {
    fn default() -> Self {
        let keepalive = webex_api::mercury::Keepalive::default();
        Self {
            u2c_url: webex_api::mercury::DEFAULT_U2C_URL.to_string(),
            safety_poll: Some(Duration::from_secs(DEFAULT_SAFETY_POLL_SECONDS)),
            ping_interval: keepalive.ping_interval,
            pong_timeout: keepalive.pong_timeout,
        }
    }
}

/// `polling`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollingConfig {
    /// `intervalSeconds` between two polls (default 5 s, 1 s to a day; fractions allowed).
    pub interval: Duration,
}

impl Default for PollingConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(DEFAULT_POLL_INTERVAL_SECONDS),
        }
    }
}

/// `rateLimit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// `requestsPerMinute`: the client-side budget for all Webex calls, at most this many in any
    /// 60 s window (default 300, 1 to 1000000).
    pub requests_per_minute: u32,
    /// `burst`: the token bucket, requests sent back to back by a quiet bot (default 50, 1 to
    /// 1000; at most half of `requestsPerMinute` is used).
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: DEFAULT_REQUESTS_PER_MINUTE,
            burst: DEFAULT_BURST,
        }
    }
}

/// `catchUp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatchUpConfig {
    /// `maxAgeMinutes`: messages older than this found on catch-up are marked seen, not answered
    /// (default 15 minutes, 0 to 10080, a week).
    pub max_age: Duration,
}

impl Default for CatchUpConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(DEFAULT_CATCH_UP_MAX_AGE_MINUTES * 60),
        }
    }
}

/// The validated `channels.webex` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebexConfig {
    /// `enabled` (default true).
    pub enabled: bool,
    /// `mode` (default `webhook`).
    pub mode: Mode,
    /// The bot token, from `botToken` or `WEBEX_BOT_TOKEN` (empty when [`TokenSource::Missing`]).
    pub bot_token: Secret,
    /// Where [`Self::bot_token`] came from.
    pub token_source: TokenSource,
    /// `apiBaseUrl` without a trailing `/` (default `https://webexapis.com/v1`).
    pub api_base_url: String,
    /// `dmPolicy` (default `pairing`).
    pub dm_policy: DmPolicy,
    /// `allowFrom`: person ids, emails or `"*"`, trimmed, as written otherwise.
    pub allow_from: Vec<String>,
    /// `groupPolicy` (default `allowlist`).
    pub group_policy: GroupPolicy,
    /// `groupAllowFrom`, trimmed.
    pub group_allow_from: Vec<String>,
    /// `webhook`.
    pub webhook: WebhookConfig,
    /// `polling`.
    pub polling: PollingConfig,
    /// `websocket`.
    pub websocket: WebsocketConfig,
    /// `textChunkLimit` in characters (default 7000); chunks are also capped at
    /// [`MAX_MESSAGE_BYTES`] bytes.
    pub text_chunk_limit: usize,
    /// `rateLimit`.
    pub rate_limit: RateLimitConfig,
    /// `catchUp`.
    pub catch_up: CatchUpConfig,
    /// `agentMentions` (default false): whether mentions the agent writes are kept; when
    /// false, only a mention of the person answered is.
    pub agent_mentions: bool,
    /// `markdown.tables` (default `code`): what Markdown tables in agent output become.
    pub markdown_tables: TableMode,
    /// `maxReplyMessages` (default 6): the most messages one reply is posted as.
    pub max_reply_messages: usize,
    /// `mediaMaxMb` (default 20, 1 to 100): the largest file downloaded for the agent, in MiB;
    /// a larger one is named to the agent as too large.
    pub media_max_mb: u64,
    /// `mediaAllowUnscannable` (default false): download files Webex could not scan for
    /// malware (428) anyway.
    pub media_allow_unscannable: bool,
    /// `commands.enabled` (default true): whether chat commands (`/help`, `/reset`, `/status`,
    /// `/whoami`) are answered by the gateway; when false they go to the agent as text.
    pub commands_enabled: bool,
}

impl WebexConfig {
    /// The settings of the output hook.
    pub fn output(&self) -> OutputConfig {
        OutputConfig {
            agent_mentions: self.agent_mentions,
            tables: self.markdown_tables,
            text_chunk_limit: self.text_chunk_limit,
            max_reply_messages: self.max_reply_messages,
        }
    }
}

impl Default for WebexConfig {
    /// The defaults, with no token.
    fn default() -> Self {
        Self {
            enabled: true,
            mode: Mode::Webhook,
            bot_token: Secret::default(),
            token_source: TokenSource::Missing,
            api_base_url: DEFAULT_API_BASE_URL.to_string(),
            dm_policy: DmPolicy::Pairing,
            allow_from: Vec::new(),
            group_policy: GroupPolicy::Allowlist,
            group_allow_from: Vec::new(),
            webhook: WebhookConfig::default(),
            polling: PollingConfig::default(),
            websocket: WebsocketConfig::default(),
            text_chunk_limit: DEFAULT_TEXT_CHUNK_LIMIT,
            rate_limit: RateLimitConfig::default(),
            catch_up: CatchUpConfig::default(),
            agent_mentions: false,
            markdown_tables: TableMode::Code,
            max_reply_messages: DEFAULT_MAX_REPLY_MESSAGES,
            media_max_mb: DEFAULT_MEDIA_MAX_MB,
            media_allow_unscannable: false,
            commands_enabled: true,
        }
    }
}

fn path(key: &str) -> String {
    format!("{SECTION_PATH}.{key}")
}

/// Validates `channels.webex` of `cfg` (an absent section is treated as `{}`), with `env` used
/// for `WEBEX_BOT_TOKEN`. Returns every issue found, or the typed config.
pub fn validate(
    cfg: &LoadedConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<WebexConfig, Vec<ConfigIssue>> {
    let empty = Value::Object(Map::new());
    let section = cfg.channel_section(CHANNEL_ID).unwrap_or(&empty);
    let mut issues = Vec::new();
    let Some(obj) = expect_object(cfg, section, SECTION_PATH, &mut issues) else {
        return Err(issues);
    };
    let mut out = WebexConfig::default();
    check_known_keys_in(cfg, obj, SECTION_PATH, SECTION_KEYS, &mut issues);

    if let Some(enabled) = field_bool(cfg, obj, SECTION_PATH, "enabled", &mut issues) {
        out.enabled = enabled;
    }
    let mode = read_mode(cfg, obj, &mut issues);
    if let Some(mode) = mode {
        out.mode = mode;
    }
    if let Some(url) = field_string(cfg, obj, SECTION_PATH, "apiBaseUrl", &mut issues) {
        if let Some(url) = check_url(cfg, &path("apiBaseUrl"), &url, &mut issues) {
            out.api_base_url = url.trim_end_matches('/').to_string();
        }
    }
    read_policies(cfg, obj, &mut out, &mut issues);
    read_webhook(cfg, obj, &mut out.webhook, &mut issues);
    read_websocket(cfg, obj, &mut out.websocket, &mut issues);
    read_tuning(cfg, obj, &mut out, &mut issues);
    read_commands(cfg, obj, &mut out, &mut issues);
    read_token(cfg, obj, env, &mut out, &mut issues);

    if out.enabled && mode.is_some_and(Mode::uses_webhook) && out.webhook.url.is_none() {
        // Only when `webhook.url` is absent (not merely invalid, which is reported already).
        let written = obj.get("webhook").and_then(|w| w.get("url")).is_some();
        if !written {
            let m = out.mode.as_str();
            issues.push(cfg.issue_near(
                &path("webhook.url"),
                &path("mode"),
                &format!(
                    "mode \"{m}\" needs webhook.url, the public HTTPS URL Webex delivers messages to"
                ),
                Some(
                    "set channels.webex.webhook.url (e.g. \"https://your-domain.com/webex/webhook\"), \
                     or use mode \"polling\" when no public URL is possible",
                ),
            ));
        }
    }

    if issues.is_empty() {
        Ok(out)
    } else {
        sort_issues(&mut issues);
        Err(issues)
    }
}

/// `mode`; `None` when invalid (an issue was added) and also when absent (default applies).
fn read_mode(
    cfg: &LoadedConfig,
    obj: &Map<String, Value>,
    issues: &mut Vec<ConfigIssue>,
) -> Option<Mode> {
    if cfg.is_unresolved(&path("mode")) {
        return None;
    }
    let text = match obj.get("mode") {
        None => return Some(Mode::Webhook),
        Some(Value::String(s)) => s,
        Some(other) => {
            issues.push(enum_type_issue(cfg, &path("mode"), other, Mode::NAMES));
            return None;
        }
    };
    match text.as_str() {
        "webhook" => Some(Mode::Webhook),
        "polling" => Some(Mode::Polling),
        "both" => Some(Mode::Both),
        "websocket" => Some(Mode::Websocket),
        other => {
            issues.push(enum_issue(cfg, &path("mode"), other, Mode::NAMES));
            None
        }
    }
}

fn read_policies(
    cfg: &LoadedConfig,
    obj: &Map<String, Value>,
    out: &mut WebexConfig,
    issues: &mut Vec<ConfigIssue>,
) {
    let dm_policy = field_enum(cfg, obj, SECTION_PATH, "dmPolicy", DmPolicy::NAMES, issues)
        .and_then(|text| DmPolicy::parse(&text));
    if let Some(p) = dm_policy {
        out.dm_policy = p;
    }
    let group_policy = field_enum(
        cfg,
        obj,
        SECTION_PATH,
        "groupPolicy",
        GroupPolicy::NAMES,
        issues,
    )
    .and_then(|text| GroupPolicy::parse(&text));
    if let Some(p) = group_policy {
        out.group_policy = p;
    }
    let allow_from = read_id_list(cfg, obj, "allowFrom", issues);
    let group_allow_from = read_id_list(cfg, obj, "groupAllowFrom", issues);
    if dm_policy == Some(DmPolicy::Open) && !allow_from.iter().any(|e| e == "*") {
        issues.push(cfg.issue_near(
            &path("allowFrom"),
            &path("dmPolicy"),
            "dmPolicy \"open\" requires \"*\" in allowFrom",
            Some(
                "add \"*\" to channels.webex.allowFrom (allowFrom: [\"*\"]) to let anyone DM the \
                 bot, or use dmPolicy \"pairing\" or \"allowlist\"",
            ),
        ));
    }
    out.allow_from = allow_from;
    out.group_allow_from = group_allow_from;
}

/// A list of person ids / emails / `"*"`: strings, trimmed, none empty.
fn read_id_list(
    cfg: &LoadedConfig,
    obj: &Map<String, Value>,
    key: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Vec<String> {
    let Some(items) = field_string_array(cfg, obj, SECTION_PATH, key, issues) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let trimmed = item.trim();
        if trimmed.is_empty() {
            issues.push(cfg.issue(
                &format!("{}[{i}]", path(key)),
                "is an empty entry",
                Some("write a Webex person id, an email address, or \"*\"; or remove the entry"),
            ));
        } else {
            out.push(trimmed.to_string());
        }
    }
    out
}

fn read_webhook(
    cfg: &LoadedConfig,
    obj: &Map<String, Value>,
    out: &mut WebhookConfig,
    issues: &mut Vec<ConfigIssue>,
) {
    let base = path("webhook");
    let Some(webhook) = field_object(cfg, obj, SECTION_PATH, "webhook", issues) else {
        return;
    };
    check_known_keys_in(cfg, webhook, &base, WEBHOOK_KEYS, issues);
    if let Some(host) = field_string(cfg, webhook, &base, "host", issues) {
        match host.trim().parse::<IpAddr>() {
            Ok(ip) => out.host = ip,
            Err(_) => issues.push(cfg.issue(
                &path("webhook.host"),
                &format!("{host:?} is not an IP address"),
                Some("use \"0.0.0.0\" (every interface, the default), \"127.0.0.1\" (loopback only) or one of this machine's addresses"),
            )),
        }
    }
    if let Some(port) = field_u64_in(
        cfg,
        webhook,
        &base,
        "port",
        0..=u64::from(u16::MAX),
        "use 3979 (the default) or another free port; 0 picks one",
        issues,
    ) {
        out.port = u16::try_from(port).unwrap_or(DEFAULT_WEBHOOK_PORT);
    }
    if let Some(p) = field_string(cfg, webhook, &base, "path", issues) {
        if p.starts_with('/') {
            out.path = p;
        } else {
            issues.push(cfg.issue(
                &path("webhook.path"),
                "must start with \"/\"",
                Some("use e.g. \"/webex/webhook\" (the default)"),
            ));
        }
    }
    if let Some(url) = field_string(cfg, webhook, &base, "url", issues) {
        out.url = check_url(cfg, &path("webhook.url"), &url, issues);
    }
    if let Some(secret) = field_string(cfg, webhook, &base, "secret", issues) {
        if let Some(secret) = check_secret(cfg, &path("webhook.secret"), &secret, issues) {
            out.secret = Some(secret);
        }
    }
    if let Some(every) = read_safety_poll(cfg, webhook, &base, issues) {
        out.safety_poll = every;
    }
}

/// `<section>.safetyPollSeconds`: `Some(None)` = off (0), `Some(Some(d))` = every `d`, `None` =
/// absent or invalid (an issue was added).
fn read_safety_poll(
    cfg: &LoadedConfig,
    section: &Map<String, Value>,
    base: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<Option<Duration>> {
    const FIX: &str = "use 60 (the default): one request a minute finds messages the push \
         channel never brought; 0 turns it off";
    let seconds = field_f64_in(
        cfg,
        section,
        base,
        "safetyPollSeconds",
        0.0..=MAX_POLL_INTERVAL_SECONDS as f64,
        FIX,
        issues,
    )?;
    if seconds == 0.0 {
        Some(None)
    } else if seconds >= 1.0 {
        Some(Some(Duration::from_secs_f64(seconds)))
    } else {
        issues.push(cfg.issue(
            &format!("{base}.safetyPollSeconds"),
            "must be 0 (off) or from 1 to 86400 seconds",
            Some(FIX),
        ));
        None
    }
}

/// `websocket`: `u2cUrl` (https, or http on loopback) and `safetyPollSeconds`.
fn read_websocket(
    cfg: &LoadedConfig,
    obj: &Map<String, Value>,
    out: &mut WebsocketConfig,
    issues: &mut Vec<ConfigIssue>,
) {
    let base = path("websocket");
    let Some(websocket) = field_object(cfg, obj, SECTION_PATH, "websocket", issues) else {
        return;
    };
    check_known_keys_in(cfg, websocket, &base, WEBSOCKET_KEYS, issues);
    if let Some(url) = field_string(cfg, websocket, &base, "u2cUrl", issues) {
        if let Some(url) = check_url(cfg, &path("websocket.u2cUrl"), &url, issues) {
            out.u2c_url = url.trim_end_matches('/').to_string();
        }
    }
    if let Some(every) = read_safety_poll(cfg, websocket, &base, issues) {
        out.safety_poll = every;
    }
    for (key, slot, fix) in [
        (
            "pingIntervalSeconds",
            &mut out.ping_interval,
            "use 15 (the default, as Webex's JavaScript SDK)",
        ),
        (
            "pongTimeoutSeconds",
            &mut out.pong_timeout,
            "use 14 (the default, as Webex's JavaScript SDK)",
        ),
    ] {
        if let Some(seconds) =
            field_f64_in(cfg, websocket, &base, key, KEEPALIVE_SECONDS, fix, issues)
        {
            *slot = Duration::from_secs_f64(seconds);
        }
    }
}

fn read_tuning(
    cfg: &LoadedConfig,
    obj: &Map<String, Value>,
    out: &mut WebexConfig,
    issues: &mut Vec<ConfigIssue>,
) {
    if let Some(polling) = field_object(cfg, obj, SECTION_PATH, "polling", issues) {
        let base = path("polling");
        check_known_keys_in(cfg, polling, &base, &["intervalSeconds"], issues);
        if let Some(secs) = field_f64_in(
            cfg,
            polling,
            &base,
            "intervalSeconds",
            1.0..=MAX_POLL_INTERVAL_SECONDS as f64,
            "use 5 (the default) or more; each poll is one API request",
            issues,
        ) {
            // In range, so the conversion cannot fail.
            out.polling.interval = Duration::from_secs_f64(secs);
        }
    }
    if let Some(limit) = field_u64_in(
        cfg,
        obj,
        SECTION_PATH,
        "textChunkLimit",
        1..=MAX_MESSAGE_BYTES as u64,
        "use 7000 (the default) or less; Webex refuses messages over 7439 bytes",
        issues,
    ) {
        out.text_chunk_limit = usize::try_from(limit).unwrap_or(DEFAULT_TEXT_CHUNK_LIMIT);
    }
    read_output(cfg, obj, out, issues);
    if let Some(rate) = field_object(cfg, obj, SECTION_PATH, "rateLimit", issues) {
        let base = path("rateLimit");
        check_known_keys_in(cfg, rate, &base, &["requestsPerMinute", "burst"], issues);
        if let Some(rpm) = field_u64_in(
            cfg,
            rate,
            &base,
            "requestsPerMinute",
            1..=u64::from(MAX_REQUESTS_PER_MINUTE),
            "use 300 (the default), Webex's documented limit for most APIs",
            issues,
        ) {
            out.rate_limit.requests_per_minute =
                u32::try_from(rpm).unwrap_or(DEFAULT_REQUESTS_PER_MINUTE);
        }
        if let Some(burst) = field_u64_in(
            cfg,
            rate,
            &base,
            "burst",
            1..=u64::from(MAX_BURST),
            "use 50 (the default): requests a quiet bot sends at once",
            issues,
        ) {
            out.rate_limit.burst = u32::try_from(burst).unwrap_or(DEFAULT_BURST);
        }
    }
    if let Some(catch_up) = field_object(cfg, obj, SECTION_PATH, "catchUp", issues) {
        let base = path("catchUp");
        check_known_keys_in(cfg, catch_up, &base, &["maxAgeMinutes"], issues);
        if let Some(minutes) = field_f64_in(
            cfg,
            catch_up,
            &base,
            "maxAgeMinutes",
            0.0..=MAX_CATCH_UP_MAX_AGE_MINUTES as f64,
            "use 15 (the default); 0 answers nothing sent while moltbot was down",
            issues,
        ) {
            // In range, so the conversion cannot fail.
            out.catch_up.max_age = Duration::from_secs_f64(minutes * 60.0);
        }
    }
}

/// `agentMentions`, `markdown` and `maxReplyMessages`: what the output hook does.
fn read_output(
    cfg: &LoadedConfig,
    obj: &Map<String, Value>,
    out: &mut WebexConfig,
    issues: &mut Vec<ConfigIssue>,
) {
    if let Some(keep) = field_bool(cfg, obj, SECTION_PATH, "agentMentions", issues) {
        out.agent_mentions = keep;
    }
    if let Some(markdown) = field_object(cfg, obj, SECTION_PATH, "markdown", issues) {
        let base = path("markdown");
        check_known_keys_in(cfg, markdown, &base, &["tables"], issues);
        if let Some(name) = field_enum(cfg, markdown, &base, "tables", TableMode::NAMES, issues) {
            if let Some(mode) = TableMode::from_name(&name) {
                out.markdown_tables = mode;
            }
        }
    }
    if let Some(max) = field_u64_in(
        cfg,
        obj,
        SECTION_PATH,
        "maxReplyMessages",
        1..=MAX_MAX_REPLY_MESSAGES as u64,
        "use 6 (the default) or another number from 1 to 50; the rest of a longer reply is cut \
         with a notice",
        issues,
    ) {
        out.max_reply_messages = usize::try_from(max).unwrap_or(DEFAULT_MAX_REPLY_MESSAGES);
    }
    if let Some(mb) = field_u64_in(
        cfg,
        obj,
        SECTION_PATH,
        "mediaMaxMb",
        1..=MAX_MEDIA_MAX_MB,
        "use 20 (the default) or another number of MB from 1 to 100; larger files are named to \
         the agent as too large",
        issues,
    ) {
        out.media_max_mb = mb;
    }
    if let Some(allow) = field_bool(cfg, obj, SECTION_PATH, "mediaAllowUnscannable", issues) {
        out.media_allow_unscannable = allow;
    }
}

/// `commands`: `enabled`.
fn read_commands(
    cfg: &LoadedConfig,
    obj: &Map<String, Value>,
    out: &mut WebexConfig,
    issues: &mut Vec<ConfigIssue>,
) {
    let Some(commands) = field_object(cfg, obj, SECTION_PATH, "commands", issues) else {
        return;
    };
    let base = path("commands");
    check_known_keys_in(cfg, commands, &base, &["enabled"], issues);
    if let Some(enabled) = field_bool(cfg, commands, &base, "enabled", issues) {
        out.commands_enabled = enabled;
    }
}

fn read_token(
    cfg: &LoadedConfig,
    obj: &Map<String, Value>,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut WebexConfig,
    issues: &mut Vec<ConfigIssue>,
) {
    if obj.contains_key("botToken") {
        let Some(token) = field_string(cfg, obj, SECTION_PATH, "botToken", issues) else {
            return;
        };
        if let Some(secret) = check_secret(cfg, &path("botToken"), &token, issues) {
            out.bot_token = secret;
            out.token_source = TokenSource::Config;
        }
        return;
    }
    match env(TOKEN_ENV).map(|t| t.trim().to_string()) {
        Some(token) if !token.is_empty() => {
            out.bot_token = Secret::new(token);
            out.token_source = TokenSource::Env;
        }
        _ if !out.enabled => {}
        _ => issues.push(cfg.issue(
            &path("botToken"),
            "No credentials configured: neither channels.webex.botToken nor the WEBEX_BOT_TOKEN \
             environment variable is set",
            Some(
                "set channels.webex.botToken to the Bot Access Token from \
                 https://developer.webex.com/my-apps, or export WEBEX_BOT_TOKEN",
            ),
        )),
    }
}

/// A secret string: trimmed and not empty. Messages never echo it. A `${VAR}` that could not be
/// substituted is already reported by core (the key is then skipped by `field_string`), so a
/// `${` left here is literal text the user asked for with `$${`.
fn check_secret(
    cfg: &LoadedConfig,
    key_path: &str,
    value: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<Secret> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        issues.push(cfg.issue(
            key_path,
            "is empty",
            Some(&format!(
                "set {key_path} to the value, or remove the key{}",
                if key_path.ends_with("botToken") {
                    " to use WEBEX_BOT_TOKEN"
                } else {
                    ""
                }
            )),
        ));
        return None;
    }
    Some(Secret::new(trimmed))
}

/// An absolute http(s) URL; `http` only for loopback hosts (127.0.0.0/8, ::1, localhost).
fn check_url(
    cfg: &LoadedConfig,
    key_path: &str,
    value: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<String> {
    // What to write instead, for the key at hand.
    let (example, https_fix) = if key_path.ends_with("webhook.url") {
        (
            "write a full URL such as \"https://your-domain.com/webex/webhook\"",
            "use an https:// URL, e.g. from ngrok or a Cloudflare Tunnel",
        )
    } else if key_path.ends_with("u2cUrl") {
        (
            "write a full URL such as \"https://u2c.wbx2.com/u2c/api/v1\" (the default: remove the key)",
            "use https://u2c.wbx2.com/u2c/api/v1 (the default: remove the key)",
        )
    } else {
        (
            "write a full URL such as \"https://webexapis.com/v1\" (the default: remove the key)",
            "use https://webexapis.com/v1 (the default: remove the key)",
        )
    };
    let shown: String = value.chars().take(80).collect();
    let parsed = match url::Url::parse(value.trim()) {
        Ok(u) if u.has_host() => u,
        _ => {
            issues.push(cfg.issue(
                key_path,
                &format!("\"{shown}\" is not a valid URL"),
                Some(example),
            ));
            return None;
        }
    };
    match parsed.scheme() {
        "https" => Some(value.trim().to_string()),
        "http" if is_loopback(&parsed) => Some(value.trim().to_string()),
        scheme => {
            issues.push(cfg.issue(
                key_path,
                &format!(
                    "must use https (found {scheme}://); http is allowed only for loopback hosts \
                     such as 127.0.0.1"
                ),
                Some(https_fix),
            ));
            None
        }
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The fingerprint replicas compare ([`moltbot_core::gateway::replicas`]): the first 16 hex
/// digits of the SHA-256 of the canonical JSON (keys sorted, no spaces) of the effective
/// `channels.webex` config, defaults applied, without its secrets: `botToken` and
/// `webhook.secret` are left out (only whether a webhook secret is set counts), and so is
/// where the token came from. Per-machine listen settings are left out too (`webhook.host`,
/// `webhook.port`: where this process listens, which replicas on one host must set apart).
/// Everything else is in: `enabled`, `mode`, `apiBaseUrl`, the access policies and lists,
/// `webhook` (`url`, `path`, `safetyPollSeconds`), `polling`, `websocket`, `rateLimit`,
/// `catchUp`, the output settings, the media limits and `commands.enabled`. Two processes with
/// the same effective config get the same word.
pub fn fingerprint(config: &WebexConfig) -> String {
    use sha2::Digest as _;
    let seconds = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    let canonical = serde_json::json!({
        "enabled": config.enabled,
        "mode": config.mode.as_str(),
        "apiBaseUrl": config.api_base_url,
        "dmPolicy": config.dm_policy.as_str(),
        "allowFrom": config.allow_from,
        "groupPolicy": config.group_policy.as_str(),
        "groupAllowFrom": config.group_allow_from,
        "webhook": {
            "path": config.webhook.path,
            "url": config.webhook.url,
            "secretSet": config.webhook.secret.is_some(),
            "safetyPollSeconds": seconds(config.webhook.safety_poll),
        },
        "polling": { "intervalSeconds": config.polling.interval.as_secs_f64() },
        "websocket": {
            "u2cUrl": config.websocket.u2c_url,
            "safetyPollSeconds": seconds(config.websocket.safety_poll),
            "pingIntervalSeconds": config.websocket.ping_interval.as_secs_f64(),
            "pongTimeoutSeconds": config.websocket.pong_timeout.as_secs_f64(),
        },
        "textChunkLimit": config.text_chunk_limit,
        "rateLimit": {
            "requestsPerMinute": config.rate_limit.requests_per_minute,
            "burst": config.rate_limit.burst,
        },
        "catchUp": { "maxAgeSeconds": config.catch_up.max_age.as_secs() },
        "agentMentions": config.agent_mentions,
        "markdown": { "tables": format!("{:?}", config.markdown_tables) },
        "maxReplyMessages": config.max_reply_messages,
        "mediaMaxMb": config.media_max_mb,
        "mediaAllowUnscannable": config.media_allow_unscannable,
        "commands": { "enabled": config.commands_enabled },
    });
    // serde_json's maps are sorted by key (no `preserve_order`), so this text is canonical.
    let digest = sha2::Sha256::digest(canonical.to_string().as_bytes());
    hex::encode(digest)[..16].to_string()
}

#[cfg(test)]
mod fingerprint_tests {
    use super::*;

    #[test]
    fn the_fingerprint_follows_the_config_but_not_its_secrets() {
        let base = WebexConfig {
            webhook: WebhookConfig {
                url: Some("https://bot.example.com/webex/webhook".into()),
                ..WebhookConfig::default()
            },
            ..WebexConfig::default()
        };
        let fp = fingerprint(&base);
        assert_eq!(fp.len(), 16);
        assert!(fp.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(fingerprint(&base.clone()), fp, "stable");

        let mut other_token = base.clone();
        other_token.bot_token = Secret::new("another-token".to_string());
        other_token.token_source = TokenSource::Env;
        assert_eq!(fingerprint(&other_token), fp, "secrets are left out");

        // Two replicas on one host listen on different ports (or addresses): same config.
        let mut other_listen = base.clone();
        other_listen.webhook.port = base.webhook.port.wrapping_add(1);
        other_listen.webhook.host = IpAddr::from([127, 0, 0, 2]);
        assert_ne!(other_listen.webhook.host, base.webhook.host);
        assert_eq!(
            fingerprint(&other_listen),
            fp,
            "listen settings are left out"
        );

        // Where Webex posts (url, path) is shared by all replicas: it counts.
        let mut other_path = base.clone();
        other_path.webhook.path = "/hooks/webex".into();
        assert_ne!(fingerprint(&other_path), fp);

        let mut other_url = base.clone();
        other_url.webhook.url = Some("https://other.example.com/webex/webhook".into());
        assert_ne!(fingerprint(&other_url), fp);
        let mut other_policy = base;
        other_policy.dm_policy = DmPolicy::Open;
        assert_ne!(fingerprint(&other_policy), fp);
    }
}
