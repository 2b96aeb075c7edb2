//! Runs the real `moltbot gateway` binary against an in-process webex-sim.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use webex_sim::{SimPerson, SimServer};

use super::TestHome;

/// A Webex setup in the emulator: a bot and two people.
pub struct World {
    pub sim: SimServer,
    pub bot: SimPerson,
    pub alice: SimPerson,
    pub bob: SimPerson,
}

impl World {
    pub async fn new() -> Self {
        let sim = SimServer::start().await.expect("start webex-sim");
        let bot = sim.add_bot("molty@webex.bot", "Molty");
        let alice = sim.add_person("alice@example.com", "Alice Liddell");
        let bob = sim.add_person("bob@example.com", "Bob Builder");
        Self {
            sim,
            bot,
            alice,
            bob,
        }
    }

    /// A config for `mode` with the plugin installed; `extra` is spliced into `channels.webex`.
    pub fn config(&self, mode: &str, extra: &str) -> String {
        format!(
            r#"{{
  plugins: {{ entries: {{ webex: {{ enabled: true }} }} }},
  channels: {{
    webex: {{
      mode: "{mode}",
      botToken: "{token}",
      apiBaseUrl: "{api}",
      webhook: {{ port: 0, url: "http://127.0.0.1:0/webex/webhook" }},
      polling: {{ intervalSeconds: 1 }},
      {extra}
    }},
  }},
}}
"#,
            token = self.bot.token,
            api = self.sim.api_base(),
        )
    }

    /// [`config`](Self::config) with a `command` agent running `script`; `defaults` is spliced
    /// into `agents.defaults` (after `model`), `agents` into `agents`.
    pub fn config_with_command_agent(
        &self,
        mode: &str,
        extra: &str,
        script: &std::path::Path,
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

    /// The bot's messages in `room`, oldest first (texts).
    pub fn bot_texts(&self, room: &str) -> Vec<String> {
        self.sim
            .messages_by(&self.bot, room)
            .iter()
            .map(|m| m.content().to_string())
            .collect()
    }

    /// Waits until `done` holds for the bot's messages in `room`; returns them.
    pub async fn wait_bot_texts_until(
        &self,
        room: &str,
        done: impl Fn(&[String]) -> bool,
        timeout: Duration,
    ) -> Vec<String> {
        let start = Instant::now();
        loop {
            let texts = self.bot_texts(room);
            if done(&texts) || start.elapsed() > timeout {
                return texts;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the bot has at least `n` messages in `room`; returns them.
    pub async fn wait_bot_texts(&self, room: &str, n: usize, timeout: Duration) -> Vec<String> {
        let start = Instant::now();
        loop {
            let texts = self.bot_texts(room);
            if texts.len() >= n || start.elapsed() > timeout {
                return texts;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A running `moltbot gateway`.
pub struct RunningGateway {
    child: Child,
    /// `http://127.0.0.1:PORT` of the gateway's HTTP server.
    pub http: String,
    /// Everything it printed on stderr so far.
    pub stderr: Arc<Mutex<String>>,
}

impl RunningGateway {
    /// Starts the gateway for `home` and waits until `/readyz` answers 200.
    pub async fn start(home: &TestHome) -> Self {
        Self::start_with(home, &[]).await
    }

    /// Like [`start`](Self::start), with extra environment variables.
    pub async fn start_with(home: &TestHome, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_moltbot"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.dir.path().join("home"))
            .env("MOLTBOT_STATE_DIR", home.state_dir())
            .env("MOLTBOT_LOG_LEVEL", "debug")
            .arg("gateway")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn moltbot gateway");
        let stderr = Arc::new(Mutex::new(String::new()));
        let err_pipe = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&stderr);
        tokio::spawn(async move {
            let mut lines = BufReader::new(err_pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut s = sink.lock().expect("stderr buffer");
                s.push_str(&line);
                s.push('\n');
            }
        });
        let out_pipe = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out_pipe).lines();
        let http = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("moltbot gateway listening on ") {
                    return Some(url.trim().to_string());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(http) = http else {
            let _ = child.kill().await;
            panic!(
                "gateway did not start; stderr:\n{}",
                stderr.lock().expect("stderr buffer")
            );
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let gateway = Self {
            child,
            http: http.replace("0.0.0.0", "127.0.0.1"),
            stderr,
        };
        gateway.wait_ready().await;
        gateway
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(resp) = client.get(format!("{}/readyz", self.http)).send().await {
                if resp.status().as_u16() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "gateway never became ready; stderr:\n{}",
            self.stderr_text()
        );
    }

    /// What the gateway printed on stderr.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    fn signal(&self, sig: &str) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args([sig, &pid.to_string()])
                .status();
        }
    }

    /// SIGKILL: a crash.
    pub async fn kill(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then waits for the exit; returns the exit code.
    pub async fn stop(mut self) -> Option<i32> {
        self.signal("-TERM");
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("gateway exits after SIGTERM")
            .expect("wait");
        status.code()
    }
}
