//! The real `moltbot gateway` binary as a child process, with its own temp state dir.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How the channel is configured for one run.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `webhook`, `polling` or `both`.
    pub mode: String,
    /// The bot token.
    pub token: String,
    /// The emulator's `/v1` base.
    pub api_base: String,
    /// Port of the gateway's HTTP server (kept across restarts so the webhook stays valid).
    pub port: u16,
    /// `polling.intervalSeconds`.
    pub poll_seconds: f64,
    /// `rateLimit.requestsPerMinute`.
    pub requests_per_minute: u32,
}

impl GatewayConfig {
    /// The JSON5 config text.
    pub fn render(&self) -> String {
        format!(
            r#"{{
  plugins: {{ entries: {{ webex: {{ enabled: true }} }} }},
  channels: {{
    webex: {{
      mode: "{mode}",
      botToken: "{token}",
      apiBaseUrl: "{api}",
      dmPolicy: "open", allowFrom: ["*"], groupPolicy: "open",
      webhook: {{ port: {port}, url: "http://127.0.0.1:{port}/webex/webhook", safetyPollSeconds: 5 }},
      polling: {{ intervalSeconds: {poll} }},
      rateLimit: {{ requestsPerMinute: {rpm} }},
    }},
  }},
}}
"#,
            mode = self.mode,
            token = self.token,
            api = self.api_base,
            port = self.port,
            poll = self.poll_seconds,
            rpm = self.requests_per_minute,
        )
    }
}

/// A free loopback port (bound to 0, then released), reused for every restart of one gateway.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A gateway home (state dir + config); survives restarts of the process.
pub struct GatewayHome {
    dir: tempfile::TempDir,
    binary: PathBuf,
    port: u16,
}

impl GatewayHome {
    /// A fresh home with `config` written, for the binary at `binary`.
    pub fn new(binary: &Path, config: &GatewayConfig) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("temp dir")?;
        std::fs::write(dir.path().join("moltbot.json"), config.render()).context("write config")?;
        Ok(Self {
            dir,
            binary: binary.to_path_buf(),
            port: config.port,
        })
    }

    /// Starts the gateway and waits for `/readyz` 200.
    pub async fn start(&self) -> anyhow::Result<RunningGateway> {
        let started = Instant::now();
        let mut cmd = Command::new(&self.binary);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path().join("home"))
            .env("MOLTBOT_STATE_DIR", self.dir.path())
            .env("MOLTBOT_CONFIG_PATH", self.dir.path().join("moltbot.json"))
            .env("MOLTBOT_LOG_LEVEL", "warn")
            .arg("gateway")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("spawn {}", self.binary.display()))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut s) = sink.lock() {
                        if s.len() < 64 * 1024 {
                            s.push_str(&line);
                            s.push('\n');
                        }
                    }
                }
            });
        }
        if let Some(pipe) = child.stdout.take() {
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(_)) = lines.next_line().await {}
            });
        }
        let pid = child.id().unwrap_or_default();
        let gateway = RunningGateway {
            child,
            pid,
            http: format!("http://127.0.0.1:{}", self.port),
            stderr,
            started,
            ready_after: Duration::ZERO,
        };
        gateway.wait_ready().await
    }
}

/// A running gateway process.
pub struct RunningGateway {
    child: Child,
    /// Its process id.
    pub pid: u32,
    http: String,
    stderr: Arc<Mutex<String>>,
    started: Instant,
    /// Time from spawn to the first `/readyz` 200.
    pub ready_after: Duration,
}

impl RunningGateway {
    async fn wait_ready(mut self) -> anyhow::Result<Self> {
        let client = reqwest::Client::new();
        let url = format!("{}/readyz", self.http);
        while self.started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "gateway exited with {status}; stderr:\n{}",
                    self.stderr_text()
                );
            }
            if let Ok(resp) = client.get(&url).send().await {
                if resp.status().as_u16() == 200 {
                    self.ready_after = self.started.elapsed();
                    return Ok(self);
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        bail!(
            "gateway never became ready; stderr:\n{}",
            self.stderr_text()
        )
    }

    /// What the gateway printed on stderr (first 64 KiB).
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// `VmHWM` and `VmRSS` of the process, in KiB.
    pub fn memory_kib(&self) -> Option<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        };
        Some((field("VmHWM:")?, field("VmRSS:")?))
    }

    /// SIGKILL: a crash.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then waits (at most 30 s, then SIGKILL).
    pub async fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}
