//! `moltbot gateway --sim`: try moltbot without a Webex account.
//!
//! Starts the Webex emulator (webex-sim) in this process, creates the bot
//! `moltbot@webex.bot` ("Molty"), two demo users (Alice and Bob) and a space with all three,
//! then runs the real gateway against it: mode `both` (polling and a loopback webhook; `--mode`
//! picks another, e.g. `websocket` for the emulator's Mercury websocket), open
//! DM and group policies, and the echo agent unless the config file sets
//! `agents.defaults.model` (then that agent, with the config's `agents` and `models`).
//!
//! * The gateway config is built in memory; the config file is only read, for the agent.
//! * The state store lives in a temporary directory removed on exit. With `MOLTBOT_STATE_DIR`
//!   set it lives in `$MOLTBOT_STATE_DIR/sim/` and is kept, never mixed with a real store.
//! * The emulator listens on `127.0.0.1:8025`, or on a free port when that one is taken;
//!   `MOLTBOT_SIM_LISTEN=ADDR:PORT` picks the address (port 0: any free port).
//! * Once the gateway has registered its webhook, stdout gets `Open the chat: URL`: the
//!   emulator's web chat page. It runs until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use moltbot_core::config::{self, LoadedConfig};
use moltbot_core::logging;
use moltbot_core::paths::{MoltbotPaths, STATE_DIR_ENV};
use serde_json::Value;
use webex_sim::{SimPerson, SimServer};

use crate::commands::{gateway, Outcome};
use crate::context::{print_issues, Context};

/// Environment variable choosing the emulator's listen address.
pub const LISTEN_ENV: &str = "MOLTBOT_SIM_LISTEN";
/// Where the emulator listens unless [`LISTEN_ENV`] says otherwise (if free).
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8025);
/// The demo bot's email.
pub const BOT_EMAIL: &str = "moltbot@webex.bot";
/// The demo bot's display name.
pub const BOT_NAME: &str = "Molty";
/// The demo users: (email, display name).
pub const DEMO_USERS: &[(&str, &str)] =
    &[("alice@example.com", "Alice"), ("bob@example.com", "Bob")];
/// The demo space's title.
pub const SPACE_TITLE: &str = "Demo space";
/// How long to wait for the gateway's webhook before printing the page URL anyway.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Where messages about the generated config point.
const CONFIG_ORIGIN: &str = "<moltbot gateway --sim>";

/// Runs `moltbot gateway --sim`.
pub fn run(ctx: &Context, mode: &str) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_demo(ctx, mode))
}

async fn run_demo(ctx: &Context, mode: &str) -> anyhow::Result<Outcome> {
    let agent_sections = user_agent_sections(&ctx.paths.config_file);
    let sim = start_sim().await?;
    let bot = sim.add_bot(BOT_EMAIL, BOT_NAME);
    logging::register_secret(&bot.token);
    let mut members = Vec::new();
    for (email, name) in DEMO_USERS {
        let user = sim.add_person(email, name);
        logging::register_secret(&user.token);
        members.push(user.email);
    }
    members.push(bot.email.clone());
    let member_refs: Vec<&str> = members.iter().map(String::as_str).collect();
    sim.create_room(SPACE_TITLE, &member_refs);
    outln!("webex-sim (the Webex emulator) listening on {}", sim.url());

    let text = demo_config(
        &sim.api_base(),
        &sim.u2c_url(),
        mode,
        &bot.token,
        agent_sections.as_ref(),
    );
    let origin = Path::new(CONFIG_ORIGIN);
    let config = match config::parse(origin, &text, &Context::env) {
        Ok(config) => config,
        Err(config::ConfigError::Invalid(issues)) => {
            print_issues(origin, &issues);
            eprintln!("The demo did not start: check `agents` and `models` with `moltbot config validate`.");
            return Ok(Outcome::Failure);
        }
        Err(err) => return Err(err).context("the demo config does not parse"),
    };
    if !valid_for_plugins(ctx, &config) {
        return Ok(Outcome::Failure);
    }

    let state = DemoState::choose()?;
    tracing::info!(state_dir = %state.path().display(), "gateway --sim: demo state directory");
    let mut demo_ctx = Context::from_env(None);
    demo_ctx.paths = MoltbotPaths {
        state_dir: state.path().to_path_buf(),
        config_file: ctx.paths.config_file.clone(),
        config_explicit: ctx.paths.config_explicit,
    };
    let agent = if agent_sections.is_some() {
        "the agent from agents.defaults.model"
    } else {
        "the echo agent"
    };
    outln!(
        "Demo: bot {BOT_NAME} <{BOT_EMAIL}>, users {}, space \"{SPACE_TITLE}\"; mode {mode}; {agent}; store in {}",
        DEMO_USERS
            .iter()
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(" and "),
        state.describe(),
    );

    // The demo keeps its state in its own folder, whatever store.url or MOLTBOT_DATABASE_URL say.
    let location = moltbot_core::store::StoreLocation::Sqlite(demo_ctx.paths.store_file());
    let serve = gateway::serve(&demo_ctx, &config, &location);
    tokio::pin!(serve);
    let outcome = tokio::select! {
        outcome = &mut serve => outcome,
        () = announce_when_ready(&sim, &bot, mode) => serve.await,
    };
    sim.shutdown().await;
    drop(state);
    outcome
}

/// Starts the emulator on [`LISTEN_ENV`], else on [`DEFAULT_LISTEN`] or any free port.
async fn start_sim() -> anyhow::Result<SimServer> {
    if let Some(raw) = Context::env(LISTEN_ENV) {
        let addr: SocketAddr = raw.parse().with_context(|| {
            format!("{LISTEN_ENV}={raw:?} is not an address like 127.0.0.1:8025")
        })?;
        return SimServer::start_on(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} ({LISTEN_ENV})"));
    }
    match SimServer::start_on(DEFAULT_LISTEN).await {
        Ok(sim) => Ok(sim),
        Err(err) => {
            tracing::info!(error = %err, "port {} is taken; using a free port", DEFAULT_LISTEN.port());
            SimServer::start()
                .await
                .context("cannot start the Webex emulator on 127.0.0.1")
        }
    }
}

/// The raw (not yet substituted) `agents` and `models` sections of the config file when it
/// sets `agents.defaults.model`; `None` means the echo agent. Taken as written, so `${VAR}`
/// references are substituted, and any problem reported, exactly as for the file itself.
fn user_agent_sections(config_file: &Path) -> Option<(Value, Option<Value>)> {
    let text = match std::fs::read_to_string(config_file) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
        Err(err) => {
            eprintln!(
                "warning: cannot read {} ({err}); the demo uses the echo agent",
                config_file.display()
            );
            return None;
        }
    };
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
    let raw: Value = match moltbot_core::config::parse_json5(text) {
        Ok(raw) => raw?,
        Err(err) => {
            eprintln!(
                "warning: {} is not valid JSON5 ({err}); the demo uses the echo agent",
                config_file.display()
            );
            return None;
        }
    };
    let ignored = ignored_sections(&raw);
    if !ignored.is_empty() {
        eprintln!(
            "note: the demo takes only `agents` and `models` from {}; it builds its own channel and \
             gateway settings, so {} {} not used here (run `moltbot gateway` against your own \
             config to try them)",
            config_file.display(),
            ignored.join(", "),
            if ignored.len() == 1 { "is" } else { "are" }
        );
    }
    let agents = raw.get("agents")?;
    if agents.pointer("/defaults/model").is_none_or(Value::is_null) {
        return None;
    }
    Some((agents.clone(), raw.get("models").cloned()))
}

/// The top-level sections of a config file the demo does not use (all but `agents`, `models`
/// and `plugins`, which the demo sets itself), as `` `name` `` in file order.
fn ignored_sections(raw: &Value) -> Vec<String> {
    raw.as_object()
        .map(|sections| {
            sections
                .keys()
                .filter(|key| !matches!(key.as_str(), "agents" | "models" | "plugins" | "$schema"))
                .map(|key| format!("`{key}`"))
                .collect()
        })
        .unwrap_or_default()
}

/// The demo's gateway config (JSON5) for the emulator at `api_base` (its U2C catalog at
/// `u2c_url`), receiving in `mode`.
fn demo_config(
    api_base: &str,
    u2c_url: &str,
    mode: &str,
    bot_token: &str,
    agent: Option<&(Value, Option<Value>)>,
) -> String {
    let quote = |s: &str| Value::String(s.to_string()).to_string();
    let mut text = format!(
        r#"{{
  plugins: {{ entries: {{ webex: {{ enabled: true }} }} }},
  gateway: {{ shutdownTimeoutSeconds: 5 }},
  channels: {{
    webex: {{
      mode: {mode},
      botToken: {token},
      apiBaseUrl: {api},
      dmPolicy: "open",
      allowFrom: ["*"],
      groupPolicy: "open",
      // Port 0: any free port; the channel puts the bound port into this loopback url.
      // Loopback only: the demo has no reason to be reachable from other machines.
      webhook: {{ host: "127.0.0.1", port: 0, url: "http://127.0.0.1:0/webex/webhook" }},
      polling: {{ intervalSeconds: 2 }},
      websocket: {{ u2cUrl: {u2c} }},
      // The emulator sets no rate limit; Webex's 300/min budget would pace a long demo here.
      rateLimit: {{ requestsPerMinute: 6000 }},
    }},
  }},
"#,
        mode = quote(mode),
        token = quote(bot_token),
        api = quote(api_base),
        u2c = quote(u2c_url),
    );
    if let Some((agents, models)) = agent {
        text.push_str(&format!("  agents: {agents},\n"));
        if let Some(models) = models {
            text.push_str(&format!("  models: {models},\n"));
        }
    }
    text.push_str("}\n");
    text
}

/// The plugins' own checks of the demo config (e.g. the bot token); prints problems.
fn valid_for_plugins(ctx: &Context, config: &LoadedConfig) -> bool {
    for plugin in ctx.registry.all() {
        for secret in plugin.secrets(config, &Context::env) {
            logging::register_secret(&secret);
        }
    }
    let mut issues = ctx.registry.check(config, &Context::env);
    if issues.is_empty() {
        return true;
    }
    config::sort_issues(&mut issues);
    print_issues(Path::new(CONFIG_ORIGIN), &issues);
    eprintln!("The demo did not start.");
    false
}

/// Waits until the gateway is ready, then prints the chat page's address: in websocket mode
/// once the bot's websocket is authorized at the emulator, else once the gateway answers
/// `/readyz` with 200 (its address is taken from the webhook it registered with the emulator;
/// polling mode registers none, so there the page is announced after a short wait).
async fn announce_when_ready(sim: &SimServer, bot: &SimPerson, mode: &str) {
    let client = reqwest::Client::new();
    let start = Instant::now();
    loop {
        let ready = match mode {
            "websocket" => sim.websocket_connections() > 0,
            "polling" => start.elapsed() > Duration::from_secs(1),
            _ => match gateway_base(sim, bot).await {
                Some(base) => client
                    .get(format!("{base}/readyz"))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success()),
                None => false,
            },
        };
        if ready {
            break;
        }
        if start.elapsed() > READY_TIMEOUT {
            eprintln!(
                "warning: the gateway is not ready after {}s; see the log above",
                READY_TIMEOUT.as_secs()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    outln!("Open the chat: {}", sim.chat_url());
    outln!("Press Ctrl-C to stop.");
}

/// `http://127.0.0.1:PORT` of the gateway, from the target of the bot's first webhook.
async fn gateway_base(sim: &SimServer, bot: &SimPerson) -> Option<String> {
    let list = sim
        .call_as(bot, reqwest::Method::GET, "/webhooks", None)
        .await
        .ok()?;
    let target = list["items"].as_array()?.first()?["targetUrl"].as_str()?;
    let url = reqwest::Url::parse(target).ok()?;
    Some(url.origin().ascii_serialization())
}

/// Where the demo's store lives.
enum DemoState {
    /// A temporary directory, removed on drop.
    Temp(tempfile::TempDir),
    /// `$MOLTBOT_STATE_DIR/sim`, kept.
    Kept(PathBuf),
}

impl DemoState {
    fn choose() -> anyhow::Result<Self> {
        match std::env::var_os(STATE_DIR_ENV).filter(|v| !v.is_empty()) {
            Some(dir) => {
                let dir = PathBuf::from(dir).join("sim");
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                Ok(Self::Kept(dir))
            }
            None => tempfile::Builder::new()
                .prefix("moltbot-sim-")
                .tempdir()
                .map(Self::Temp)
                .context("cannot create a temporary directory for the demo store"),
        }
    }

    fn path(&self) -> &Path {
        match self {
            Self::Temp(dir) => dir.path(),
            Self::Kept(dir) => dir,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Temp(dir) => format!("{} (removed on exit)", dir.path().display()),
            Self::Kept(dir) => dir.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_the_demo_does_not_use_are_named() {
        let raw: Value = serde_json::json!({
            "channels": {"webex": {"markdown": {"tables": "off"}}},
            "agents": {}, "models": {}, "plugins": {}, "gateway": {}
        });
        let mut ignored = ignored_sections(&raw);
        ignored.sort();
        assert_eq!(ignored, ["`channels`", "`gateway`"]);
        assert!(ignored_sections(&serde_json::json!({"agents": {}})).is_empty());
    }

    fn parse(text: &str) -> LoadedConfig {
        match config::parse(Path::new(CONFIG_ORIGIN), text, &|_| None) {
            Ok(c) => c,
            Err(err) => panic!("demo config does not parse: {err}\n{text}"),
        }
    }

    #[test]
    fn demo_config_is_valid_and_uses_both_modes_and_open_policies() {
        let text = demo_config(
            "http://127.0.0.1:9/v1",
            "http://127.0.0.1:9/u2c/api/v1",
            "both",
            "tok\"en",
            None,
        );
        let cfg = parse(&text);
        let webex = cfg.channel_section("webex").cloned().unwrap_or_default();
        assert_eq!(webex["mode"], "both");
        assert_eq!(webex["botToken"], "tok\"en");
        assert_eq!(webex["apiBaseUrl"], "http://127.0.0.1:9/v1");
        assert_eq!(webex["dmPolicy"], "open");
        assert_eq!(webex["allowFrom"], serde_json::json!(["*"]));
        assert_eq!(webex["groupPolicy"], "open");
        assert_eq!(webex["webhook"]["url"], "http://127.0.0.1:0/webex/webhook");
        assert_eq!(webex["webhook"]["host"], "127.0.0.1", "loopback only");
        assert!(cfg.core.agents.defaults.model.is_none(), "echo agent");
        assert!(cfg.core.plugins.is_enabled("webex"));
        let ctx = Context::from_env(None);
        assert_eq!(ctx.registry.check(&cfg, &|_| None), Vec::new());
    }

    #[test]
    fn the_users_agent_is_carried_over_with_env_references_intact() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("moltbot.json");
        std::fs::write(
            &file,
            r#"{ agents: { defaults: { model: "acme/m1" } },
                 models: { providers: { acme: { api: "openai-completions", baseUrl: "http://127.0.0.1:9/v1",
                                                apiKey: "${ACME_KEY}" } } } }"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let sections = user_agent_sections(&file);
        let Some((agents, models)) = &sections else {
            panic!("agent sections not found");
        };
        assert_eq!(agents["defaults"]["model"], "acme/m1");
        let models = models.clone().unwrap_or_default();
        assert_eq!(models["providers"]["acme"]["apiKey"], "${ACME_KEY}");
        let text = demo_config(
            "http://127.0.0.1:9/v1",
            "http://127.0.0.1:9/u2c/api/v1",
            "both",
            "token",
            sections.as_ref(),
        );
        let env = |name: &str| (name == "ACME_KEY").then(|| "k".to_string());
        let cfg =
            config::parse(Path::new(CONFIG_ORIGIN), &text, &env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cfg.core
                .agents
                .defaults
                .model
                .as_ref()
                .map(|m| m.provider.as_str()),
            Some("acme")
        );
        assert_eq!(cfg.value["models"]["providers"]["acme"]["apiKey"], "k");
    }

    #[test]
    fn a_broken_agent_section_is_reported_not_replaced_by_echo() {
        let sections = (
            serde_json::json!({ "defaults": { "model": "nowhere/m" } }),
            None,
        );
        let text = demo_config(
            "http://127.0.0.1:9/v1",
            "http://127.0.0.1:9/u2c/api/v1",
            "both",
            "token",
            Some(&sections),
        );
        match config::parse(Path::new(CONFIG_ORIGIN), &text, &|_| None) {
            Err(config::ConfigError::Invalid(issues)) => {
                assert!(
                    issues.iter().any(|i| i.path.starts_with("agents")),
                    "{issues:?}"
                );
            }
            other => panic!("expected config issues, got {other:?}"),
        }
    }

    #[test]
    fn no_model_or_no_file_means_the_echo_agent() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert!(user_agent_sections(&dir.path().join("absent.json")).is_none());
        let file = dir.path().join("moltbot.json");
        std::fs::write(&file, "{ agents: { defaults: { historyTurns: 3 } } }")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(user_agent_sections(&file).is_none());
    }
}
