//! The real `moltbot gateway` binary as a child process, with its own temp state dir (the
//! harness is `moltbot-testkit`'s, as in the tests).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use moltbot_testkit::{webex_config, Launch, TestHome};

pub use moltbot_testkit::RunningGateway;

/// How the channel is configured for one run.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `webhook`, `polling`, `both` or `websocket`.
    pub mode: String,
    /// The bot token.
    pub token: String,
    /// The emulator's `/v1` base.
    pub api_base: String,
    /// Port of the gateway's HTTP server (kept across restarts so the webhook stays valid).
    pub port: u16,
    /// `polling.intervalSeconds`.
    pub poll_seconds: f64,
    /// `webhook.safetyPollSeconds` and `websocket.safetyPollSeconds` (0 = off; the bench's
    /// default is 5).
    pub safety_poll_seconds: f64,
    /// `websocket.u2cUrl`: the emulator's U2C base (`SimServer::u2c_url`).
    pub u2c_url: String,
    /// `rateLimit.requestsPerMinute`.
    pub requests_per_minute: u32,
    /// `store.url` (a PostgreSQL store); `None`: the SQLite file in the state folder.
    pub store_url: Option<String>,
}

impl GatewayConfig {
    /// The JSON5 config text.
    pub fn render(&self) -> String {
        let port = self.port;
        let store = self
            .store_url
            .as_ref()
            .map(|url| format!("  store: {{ url: \"{url}\" }},\n  channels: {{"));
        let text = webex_config(
            &self.mode,
            &self.api_base,
            Some(&self.token),
            &format!(
                "dmPolicy: \"open\", allowFrom: [\"*\"], groupPolicy: \"open\",\n      \
                 webhook: {{ port: {port}, url: \"http://127.0.0.1:{port}/webex/webhook\", safetyPollSeconds: {safety} }},\n      \
                 polling: {{ intervalSeconds: {poll} }},\n      \
                 websocket: {{ u2cUrl: \"{u2c}\", safetyPollSeconds: {safety} }},\n      \
                 rateLimit: {{ requestsPerMinute: {rpm} }},",
                poll = self.poll_seconds,
                safety = self.safety_poll_seconds,
                u2c = self.u2c_url,
                rpm = self.requests_per_minute,
            ),
        );
        match store {
            Some(store) => text.replace("  channels: {", &store),
            None => text,
        }
    }
}

/// A free loopback port (bound to 0, then released), reused for every restart of one gateway.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A gateway home (state dir + config); survives restarts of the process.
pub struct GatewayHome {
    home: TestHome,
}

impl GatewayHome {
    /// A fresh home with `config` written, for the binary at `binary`.
    pub fn new(binary: &Path, config: &GatewayConfig) -> anyhow::Result<Self> {
        let home = TestHome::try_with_binary(binary).context("temp dir")?;
        home.try_write_config(&config.render())
            .context("write config")?;
        Ok(Self { home })
    }

    /// The state dir the gateway gets as `MOLTBOT_STATE_DIR` (a temp dir).
    pub fn state_dir(&self) -> &Path {
        self.home.state_dir()
    }

    /// The store's files: `<state>/state/moltbot.sqlite` and its write-ahead log
    /// `moltbot.sqlite-wal` (which may not exist).
    pub fn store_files(&self) -> [PathBuf; 2] {
        let db = self.home.store_path();
        let mut wal = db.clone().into_os_string();
        wal.push("-wal");
        [db, PathBuf::from(wal)]
    }

    /// Starts the gateway (log level `warn`, the first 64 KiB of stderr kept) and waits for
    /// `/readyz` 200, asked every 2 ms so [`RunningGateway::ready_after`] is precise.
    pub async fn start(&self) -> anyhow::Result<RunningGateway> {
        let launch = Launch {
            log_level: "warn".to_string(),
            stderr_limit: Some(64 * 1024),
            ready_poll: Duration::from_millis(2),
            ..Launch::default()
        };
        Ok(RunningGateway::launch(&self.home, &launch).await?)
    }
}
