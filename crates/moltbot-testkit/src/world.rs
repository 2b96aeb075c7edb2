//! The preamble every end-to-end test shares: an emulator with a bot and two people
//! ([`World`]), config builders, and a [`Scenario`] that adds a home and a running gateway.

use std::ops::Deref;
use std::path::Path;
use std::time::Duration;

use moltbot_core::store::InboundState;
use webex_sim::{InRoom, SimMessage, SimPerson, SimServer, SimUser};

use crate::fake_model::FakeModel;
use crate::gateway::RunningGateway;
use crate::home::TestHome;
use crate::wait;

/// The bot's email in every world.
pub const BOT_EMAIL: &str = "molty@webex.bot";

/// `channels.webex` keys that let everyone in: open DMs (with the required `"*"`) and spaces.
pub const OPEN: &str = r#"dmPolicy: "open", allowFrom: ["*"], groupPolicy: "open","#;

/// [`OPEN`] and no client-side pacing (a test that sends hundreds of requests in a second).
pub const OPEN_FAST: &str = r#"dmPolicy: "open", allowFrom: ["*"], groupPolicy: "open", rateLimit: { requestsPerMinute: 6000 },"#;

/// A moltbot config (JSON5) with the Webex plugin installed and `channels.webex` set to `mode`,
/// `api_base` and `token` (`None`: no `botToken`, so `WEBEX_BOT_TOKEN` applies); `rest` is
/// spliced into `channels.webex` as is (more keys, each ending with a comma).
pub fn webex_config(mode: &str, api_base: &str, token: Option<&str>, rest: &str) -> String {
    let token = token
        .map(|t| format!("botToken: \"{t}\",\n      "))
        .unwrap_or_default();
    format!(
        r#"{{
  plugins: {{ entries: {{ webex: {{ enabled: true }} }} }},
  channels: {{
    webex: {{
      mode: "{mode}",
      {token}apiBaseUrl: "{api_base}",
      {rest}
    }},
  }},
}}
"#
    )
}

/// A Webex setup in the emulator: the bot Molty (`molty@webex.bot`), Alice Liddell
/// (`alice@example.com`) and Bob Builder (`bob@example.com`).
#[derive(Debug)]
pub struct World {
    /// The emulator.
    pub sim: SimServer,
    /// The bot the gateway runs as.
    pub bot: SimPerson,
}

impl World {
    /// Starts an emulator with the bot, Alice and Bob. Panics if it cannot listen.
    pub async fn new() -> Self {
        let sim = match SimServer::start().await {
            Ok(sim) => sim,
            Err(err) => panic!("cannot start webex-sim: {err}"),
        };
        let bot = sim.add_bot(BOT_EMAIL, "Molty");
        sim.add_person("alice@example.com", "Alice Liddell");
        sim.add_person("bob@example.com", "Bob Builder");
        Self { sim, bot }
    }

    /// Alice.
    pub fn alice(&self) -> SimUser<'_> {
        self.sim.user("alice")
    }

    /// Bob.
    pub fn bob(&self) -> SimUser<'_> {
        self.sim.user("bob")
    }

    /// Anyone by name (`carol` is `carol@example.com`, created when absent).
    pub fn user(&self, name: &str) -> SimUser<'_> {
        self.sim.user(name)
    }

    /// A config for `mode` with the plugin installed, the bot's token, the emulator's API,
    /// webhook port 0 and a 1 s polling interval; `extra` is spliced into `channels.webex`.
    pub fn config(&self, mode: &str, extra: &str) -> String {
        webex_config(
            mode,
            &self.sim.api_base(),
            Some(&self.bot.token),
            &format!(
                "webhook: {{ port: 0, url: \"http://127.0.0.1:0/webex/webhook\" }},\n      \
                 polling: {{ intervalSeconds: 1 }},\n      \
                 websocket: {{ u2cUrl: \"{}\" }},\n      {extra}",
                self.sim.u2c_url()
            ),
        )
    }

    /// [`Self::config`] for websocket mode with `websocket` spliced into `channels.webex.websocket`
    /// (e.g. `safetyPollSeconds: 0`, so what is answered came over the socket) and `extra`
    /// into `channels.webex`.
    pub fn websocket_config(&self, websocket: &str, extra: &str) -> String {
        self.config("websocket", extra)
            .replace("websocket: { ", &format!("websocket: {{ {websocket}, "))
    }

    /// [`Self::config`] with a `command` agent running `script`; `defaults` is spliced into
    /// `agents.defaults` (after `model`), `agents` into `agents`.
    pub fn config_with_command_agent(
        &self,
        mode: &str,
        extra: &str,
        script: &Path,
        defaults: &str,
        agents: &str,
    ) -> String {
        self.config(mode, extra).replace(
            "  channels: {",
            &format!(
                "  agents: {{ defaults: {{ model: \"script/agent\", {defaults} }}, {agents} }},\n  \
models: {{ providers: {{ script: {{ api: \"command\", command: \"{}\" }} }} }},\n  channels: {{",
                script.display()
            ),
        )
    }

    /// [`Self::config`] with the model `fake/test-model` served by `model` over `api`
    /// (`"openai-completions"` or `"anthropic-messages"`); `defaults` is spliced into
    /// `agents.defaults` (after `model`).
    pub fn config_with_model(
        &self,
        mode: &str,
        extra: &str,
        api: &str,
        model: &FakeModel,
        defaults: &str,
    ) -> String {
        self.config(mode, extra).replace(
            "  channels: {",
            &format!(
                "  agents: {{ defaults: {{ model: \"fake/test-model\", {defaults} }} }},\n  \
models: {{ providers: {{ fake: {{ api: \"{api}\", baseUrl: \"{}\" }} }} }},\n  channels: {{",
                model.base_url()
            ),
        )
    }

    /// The bot's messages in `room` as a client shows them, oldest first.
    pub fn bot_texts(&self, room: impl InRoom) -> Vec<String> {
        self.sim
            .messages_by(&self.bot, room)
            .iter()
            .map(|m| m.content().to_string())
            .collect()
    }
}

/// A [`World`], a [`TestHome`] with its config, and the gateway running on it: the set-up of an
/// end-to-end test in one line. Derefs to the world (`s.alice()`, `s.sim`, `s.bot_texts(..)`).
#[derive(Debug)]
pub struct Scenario {
    world: World,
    /// The gateway's home (config, store, `moltbot` commands).
    pub home: TestHome,
    gateway: Option<RunningGateway>,
}

impl Deref for Scenario {
    type Target = World;

    fn deref(&self) -> &World {
        &self.world
    }
}

impl Scenario {
    /// A new world and home with `world.config(mode, extra)`, and the gateway started.
    pub async fn start(mode: &str, extra: &str) -> Self {
        let world = World::new().await;
        let home = TestHome::new();
        home.write_config(&world.config(mode, extra));
        Self::start_in(world, home).await
    }

    /// Like [`Self::start`], answering with a `command` agent: `script` (written as an
    /// executable `agent` in the home; it reads the request JSON on stdin and prints the answer).
    pub async fn start_with_agent(mode: &str, extra: &str, script: &str) -> Self {
        let world = World::new().await;
        let home = TestHome::new();
        let script = home.write_script("agent", script);
        home.write_config(&world.config_with_command_agent(mode, extra, &script, "", ""));
        Self::start_in(world, home).await
    }

    /// Like [`Self::start`], answering with the model `model` serves over `api` (see
    /// [`World::config_with_model`]).
    pub async fn start_with_model(
        mode: &str,
        extra: &str,
        api: &str,
        model: &FakeModel,
        defaults: &str,
    ) -> Self {
        let world = World::new().await;
        let home = TestHome::new();
        home.write_config(&world.config_with_model(mode, extra, api, model, defaults));
        Self::start_in(world, home).await
    }

    /// Starts the gateway for `home` (config written by the caller) in `world`.
    pub async fn start_in(world: World, home: TestHome) -> Self {
        let mut scenario = Self::prepare(world, home);
        scenario.start_gateway().await;
        scenario
    }

    /// `world` and `home` without a running gateway (start it with [`Self::start_gateway`]).
    pub fn prepare(world: World, home: TestHome) -> Self {
        Self {
            world,
            home,
            gateway: None,
        }
    }

    /// The running gateway. Panics if it is not running.
    pub fn gateway(&self) -> &RunningGateway {
        match &self.gateway {
            Some(gateway) => gateway,
            None => panic!("the gateway is not running"),
        }
    }

    /// The gateway's log so far (empty when it is not running).
    pub fn log(&self) -> String {
        self.gateway
            .as_ref()
            .map(RunningGateway::stderr_text)
            .unwrap_or_default()
    }

    /// Starts the gateway (again).
    pub async fn start_gateway(&mut self) {
        assert!(self.gateway.is_none(), "the gateway is already running");
        self.gateway = Some(RunningGateway::start(&self.home).await);
    }

    /// Starts the gateway (again) with extra environment variables (e.g. `HTTPS_PROXY`).
    pub async fn start_gateway_with(&mut self, env: &[(&str, &str)]) {
        assert!(self.gateway.is_none(), "the gateway is already running");
        self.gateway = Some(RunningGateway::start_with(&self.home, env).await);
    }

    /// SIGTERM; returns the exit code.
    pub async fn stop_gateway(&mut self) -> Option<i32> {
        match self.gateway.take() {
            Some(gateway) => gateway.stop().await,
            None => panic!("the gateway is not running"),
        }
    }

    /// Waits for the gateway to exit by itself (at most [`wait::TIMEOUT`]); returns its exit
    /// code (`None`: it did not exit and was killed) and its whole log.
    pub async fn wait_gateway_exit(&mut self) -> (Option<i32>, String) {
        match self.gateway.take() {
            Some(gateway) => gateway.exited(wait::TIMEOUT).await,
            None => panic!("the gateway is not running"),
        }
    }

    /// SIGKILL: a crash.
    pub async fn kill_gateway(&mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.kill().await;
        }
    }

    /// A graceful stop (exit code 0 asserted) and a new start.
    pub async fn restart(&mut self) {
        let log = self.log();
        assert_eq!(
            self.stop_gateway().await,
            Some(0),
            "graceful stop; log:\n{log}"
        );
        self.start_gateway().await;
    }

    /// Stops the gateway and asserts it exited 0.
    pub async fn finish(mut self) {
        let log = self.log();
        assert_eq!(
            self.stop_gateway().await,
            Some(0),
            "graceful stop; log:\n{log}"
        );
    }

    /// Waits until the bot has at least `n` messages in `room`; returns their texts. Panics
    /// with them and the gateway log after [`wait::TIMEOUT`].
    pub async fn wait_replies(&self, room: impl InRoom, n: usize) -> Vec<String> {
        let what = format!("{n} bot messages");
        self.wait_replies_until(room, wait::TIMEOUT, &what, |texts| texts.len() >= n)
            .await
    }

    /// Waits until `done` holds for the bot's messages in `room` (texts, oldest first), for at
    /// most `timeout`; returns them. Panics naming `what`, with the texts and the gateway log.
    pub async fn wait_replies_until(
        &self,
        room: impl InRoom,
        timeout: Duration,
        what: &str,
        done: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let room = room.room_id();
        let got = wait::until(timeout, || {
            let texts = self.bot_texts(room);
            done(&texts).then_some(texts)
        })
        .await;
        match got {
            Ok(texts) => texts,
            Err(err) => panic!(
                "waiting for {what} in the room: {err}; the bot wrote {:?}\ngateway log:\n{}",
                self.bot_texts(room),
                self.log()
            ),
        }
    }

    /// Waits until the gateway recorded and finished `message` (replied, skipped or failed);
    /// returns that state.
    pub async fn handled(&self, message: &SimMessage) -> InboundState {
        self.gateway()
            .ledger()
            .finished(&message.id, wait::TIMEOUT)
            .await
    }

    /// Waits until the gateway has recorded `message` (in any state); returns the state.
    pub async fn recorded(&self, message: &SimMessage) -> InboundState {
        self.gateway()
            .ledger()
            .wait_for(&message.id, wait::TIMEOUT, "recorded", |_| true)
            .await
    }

    /// Waits until the agent of [`slow_echo_agent`] has been asked `text` (it is then busy
    /// answering it).
    pub async fn wait_agent_asked(&self, text: &str) {
        let log = self.home.state_dir().join(AGENT_ASKED_LOG);
        wait::until(wait::TIMEOUT, || {
            let asked = std::fs::read_to_string(&log).unwrap_or_default();
            asked.lines().any(|line| line == text).then_some(())
        })
        .await
        .unwrap_or_else(|_| panic!("the agent was never asked {text:?}"));
    }

    /// Waits until `message` is in `state` in the gateway's ledger.
    pub async fn wait_state(&self, message: &SimMessage, state: InboundState) {
        let what = format!("{state}");
        self.gateway()
            .ledger()
            .wait_for(&message.id, wait::TIMEOUT, &what, |s| s == state)
            .await;
    }

    /// The quiet signal ([`RunningGateway::settled`]): everything given to the gateway is
    /// finished and the bot does nothing more.
    pub async fn settled(&self) {
        self.gateway().settled(&self.sim, &self.bot).await;
    }
}

/// The file (in the state folder) where [`slow_echo_agent`] notes each text it is asked.
pub const AGENT_ASKED_LOG: &str = "agent-asked.log";

/// A `command` agent script that notes the text it is asked in [`AGENT_ASKED_LOG`] (see
/// [`Scenario::wait_agent_asked`]), thinks for `seconds`, then echoes the text.
pub fn slow_echo_agent(seconds: &str) -> String {
    format!(
        "#!/bin/sh\ninput=$(cat)\ntext() {{ printf '%s' \"$input\" | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"text\"])'; }}\ntext >> \"$MOLTBOT_STATE_DIR/{AGENT_ASKED_LOG}\"\nsleep {seconds}\ntext\n"
    )
}
