//! [`RunningGateway`]: the real `moltbot gateway` binary as a child process of a test or of the
//! bench, its log, its ledger, and the quiet signal [`RunningGateway::settled`].

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;
use webex_sim::{Marker, RecordedRequest, SimPerson, SimServer};

use crate::home::TestHome;
use crate::ledger::Ledger;
use crate::wait;

/// How long a start may take before `/readyz` answers 200.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a graceful stop may take before the process is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// How a gateway is started.
#[derive(Debug, Clone)]
pub struct Launch {
    /// `MOLTBOT_LOG_LEVEL` (tests read `debug` lines from the log).
    pub log_level: String,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Keep at most this many bytes of stderr (`None`: all of it).
    pub stderr_limit: Option<usize>,
    /// How often `/readyz` is asked while starting (the resolution of
    /// [`RunningGateway::ready_after`]).
    pub ready_poll: Duration,
}

impl Default for Launch {
    fn default() -> Self {
        Self {
            log_level: "debug".to_string(),
            env: Vec::new(),
            stderr_limit: None,
            ready_poll: wait::POLL,
        }
    }
}

/// Why a gateway did not come up.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The binary could not be run.
    #[error("cannot run {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// It exited, or never printed its address or answered `/readyz` within [`START_TIMEOUT`].
    #[error("gateway did not start ({why}); stderr:\n{stderr}")]
    NotStarted {
        /// What went wrong.
        why: String,
        /// Its stderr.
        stderr: String,
    },
    /// Its store could not be opened for reading.
    #[error("cannot open the gateway's store: {0}")]
    Store(#[from] moltbot_core::store::StoreError),
}

/// The quiet signal was not reached in time.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the gateway did not settle within {waited:?}: {reason}")]
pub struct NotSettled {
    /// How long it waited.
    pub waited: Duration,
    /// The last condition that did not hold.
    pub reason: String,
}

type Captured = Arc<Mutex<String>>;

/// A running `moltbot gateway`. Killed when dropped.
#[derive(Debug)]
pub struct RunningGateway {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// `http://127.0.0.1:PORT` of its HTTP server (webhook, health, metrics).
    pub http: String,
    /// The address as the gateway printed it (`http://0.0.0.0:PORT` when it listens on every
    /// interface).
    pub listening_on: String,
    /// `http://HOST:PORT` of `/metrics` when it has an address of its own
    /// (`gateway.metrics.listen`), as the gateway printed it; `None` when it is on [`Self::http`].
    pub metrics_http: Option<String>,
    /// Time from spawn to the first `/readyz` 200.
    pub ready_after: Duration,
    stderr: Captured,
    ledger: Ledger,
    polls: bool,
    /// Whether it listens on the emulator's websocket (`mode` `websocket`).
    websocket: bool,
}

/// Appends `line` to `sink`, keeping at most `limit` bytes.
fn capture(sink: &Captured, line: &str, limit: Option<usize>) {
    let mut text = sink.lock().unwrap_or_else(PoisonError::into_inner);
    if limit.is_some_and(|limit| text.len() >= limit) {
        return;
    }
    text.push_str(line);
    text.push('\n');
}

/// Whether `call` starts a poll pass: the first page of `GET /rooms` (later pages carry a
/// `cursor`).
fn starts_poll_pass(call: &RecordedRequest) -> bool {
    call.method == "GET"
        && call.path == "/v1/rooms"
        && !call
            .query
            .as_deref()
            .unwrap_or_default()
            .contains("cursor=")
}

/// Whether `call` changes nothing and succeeded.
fn is_quiet_call(call: &RecordedRequest) -> bool {
    call.method == "GET" && call.status < 400
}

/// What one look at the gateway found.
enum Look {
    /// Conditions 1-3 hold and the bot made only successful reads since the marker.
    Quiet,
    /// Conditions 1-3 hold, but the bot wrote or failed since the marker: look again from a
    /// new marker.
    Busy(Vec<String>),
    /// A condition does not hold yet.
    NotYet(String),
}

/// The value of one series in the `/metrics` text served at `base` (`http://HOST:PORT`):
/// `series` is the name with its labels exactly as rendered (e.g.
/// `moltbot_messages_answered_total{channel="webex"}`). 0 when the series is absent. Panics
/// when `/metrics` does not answer 200 there.
pub async fn metric_at(base: &str, series: &str) -> f64 {
    let url = format!("{base}/metrics");
    let resp = match reqwest::get(&url).await {
        Ok(resp) if resp.status().as_u16() == 200 => resp,
        Ok(resp) => panic!("GET {url} answered {}", resp.status()),
        Err(err) => panic!("GET {url} failed: {err}"),
    };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .find_map(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

impl RunningGateway {
    /// The value of `series` in the gateway's `/metrics` (see [`metric_at`]), wherever it is
    /// served.
    pub async fn metric(&self, series: &str) -> f64 {
        metric_at(self.metrics_http.as_deref().unwrap_or(&self.http), series).await
    }

    /// Starts the gateway for `home` and waits until `/readyz` answers 200. Panics (with its
    /// stderr) when it does not come up.
    pub async fn start(home: &TestHome) -> Self {
        Self::start_with(home, &[]).await
    }

    /// [`Self::start`] with extra environment variables.
    pub async fn start_with(home: &TestHome, env: &[(&str, &str)]) -> Self {
        let launch = Launch {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Launch::default()
        };
        match Self::launch(home, &launch).await {
            Ok(gateway) => gateway,
            Err(err) => panic!("{err}"),
        }
    }

    /// Starts the gateway for `home` as `launch` says and waits until `/readyz` answers 200.
    pub async fn launch(home: &TestHome, launch: &Launch) -> Result<Self, GatewayError> {
        let started = Instant::now();
        let mut cmd = Command::from(home.command());
        cmd.env("MOLTBOT_LOG_LEVEL", &launch.log_level)
            .arg("gateway")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &launch.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|source| GatewayError::Spawn {
            binary: home.binary().to_path_buf(),
            source,
        })?;
        let stderr: Captured = Arc::default();
        if let Some(pipe) = child.stderr.take() {
            let (sink, limit) = (Arc::clone(&stderr), launch.stderr_limit);
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    capture(&sink, &line, limit);
                }
            });
        }
        let not_started = |why: &str, stderr: &Captured| GatewayError::NotStarted {
            why: why.to_string(),
            stderr: stderr
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        };
        let Some(out) = child.stdout.take() else {
            return Err(not_started("no stdout", &stderr));
        };
        let mut lines = BufReader::new(out).lines();
        let mut metrics_http = None;
        let address = tokio::time::timeout(START_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                // Printed before the listening line, when /metrics has its own address.
                if let Some(url) = line.strip_prefix("moltbot gateway metrics on ") {
                    let url = url.trim();
                    metrics_http = Some(url.strip_suffix("/metrics").unwrap_or(url).to_string());
                }
                if let Some(url) = line.strip_prefix("moltbot gateway listening on ") {
                    return Some(url.trim().to_string());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(listening_on) = address else {
            let _ = child.kill().await;
            return Err(not_started("it printed no address", &stderr));
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = listening_on.replace("0.0.0.0", "127.0.0.1");

        let client = &reqwest::Client::new();
        let readyz = &format!("{http}/readyz");
        let left = START_TIMEOUT.saturating_sub(started.elapsed());
        let ready = wait::until_async_every(launch.ready_poll, left, || {
            let exited = child.try_wait().ok().flatten();
            async move {
                if let Some(status) = exited {
                    return Some(Err(format!("it exited with {status}")));
                }
                let resp = client.get(readyz).send().await.ok()?;
                (resp.status().as_u16() == 200).then_some(Ok(()))
            }
        })
        .await;
        let why = match ready {
            Ok(Ok(())) => None,
            Ok(Err(exited)) => Some(exited),
            Err(_) => Some("/readyz never answered 200".to_string()),
        };
        if let Some(why) = why {
            let _ = child.kill().await;
            return Err(not_started(&why, &stderr));
        }
        let ready_after = started.elapsed();
        let mode = home.webex_mode();
        Ok(Self {
            pid: child.id().unwrap_or_default(),
            child,
            http,
            listening_on,
            metrics_http,
            ready_after,
            stderr,
            ledger: Ledger::connect(&home.store_location(&launch.env)).await?,
            polls: mode == "polling" || mode == "both",
            websocket: mode == "websocket",
        })
    }

    /// What the gateway printed on stderr so far (its log).
    pub fn stderr_text(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Its store, read-only use.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// `VmHWM` and `VmRSS` of the process, in KiB (Linux).
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

    fn signal(&self, sig: &str) {
        let _ = std::process::Command::new("kill")
            .args([sig, &self.pid.to_string()])
            .status();
    }

    /// Sends SIGTERM and returns at once, while the gateway drains its in-flight work (a second
    /// call makes it exit at once); [`Self::exited`] waits for the exit.
    pub fn sigterm(&self) {
        self.signal("-TERM");
    }

    /// SIGKILL: a crash.
    pub async fn kill(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait().await;
    }

    /// Waits for the gateway to exit by itself (at most `timeout`, then SIGKILL); returns the
    /// exit code (`None` when it had to be killed) and its whole log (waiting up to 2 s for its
    /// last line, `error: ...`, to be read from the pipe).
    pub async fn exited(mut self, timeout: Duration) -> (Option<i32>, String) {
        let code = match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
                None
            }
        };
        // The reader task may still be copying its last lines.
        let log = wait::until(Duration::from_secs(2), || {
            let log = self.stderr_text();
            log.lines().any(|l| l.starts_with("error: ")).then_some(log)
        })
        .await
        .unwrap_or_else(|_| self.stderr_text());
        (code, log)
    }

    /// SIGTERM, then waits for the exit (at most [`STOP_TIMEOUT`], then SIGKILL); returns the
    /// exit code (`None` when it had to be killed).
    pub async fn stop(mut self) -> Option<i32> {
        // The test's own handle on the store closes first, so the gateway's is the last one
        // open and its clean close leaves one whole SQLite file.
        self.ledger.store().close().await;
        self.signal("-TERM");
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
                None
            }
        }
    }

    /// The quiet signal: returns once the gateway has finished everything it was given and
    /// `bot` (its account in `sim`) does nothing more. Panics with the reason and the log when
    /// that does not happen within [`wait::TIMEOUT`]. See [`Self::try_settled`].
    pub async fn settled(&self, sim: &SimServer, bot: &SimPerson) {
        if let Err(err) = self.try_settled(sim, bot, wait::TIMEOUT).await {
            panic!("{err}\ngateway log:\n{}", self.stderr_text());
        }
    }

    /// The quiet signal, for at most `timeout`.
    ///
    /// Takes a marker in the emulator's request log, then waits until, checked in this order:
    /// 1. no webhook delivery is in flight ([`SimServer::deliveries_in_flight`]): every delivery
    ///    of every event so far was answered, and the gateway records a message before it
    ///    answers its delivery; in websocket mode, no event sent to the bot's devices waits for
    ///    its ack (the gateway acks only after recording the message);
    /// 2. when the gateway polls (`mode` `polling` or `both`), a poll pass that started after
    ///    the marker has completed (the bot began two passes since the marker, and passes run
    ///    one after another), so every message the emulator held at the marker was listed and
    ///    recorded;
    /// 3. the ledger has nothing pending: no inbound message `received` or `processing`, no
    ///    reply chunk unsent, no approval notice unsent;
    /// 4. since the marker the bot made only successful `GET`s: no `POST`/`PUT`/`DELETE` (no
    ///    reply, no edit) and no failed call. If this fails, it starts over with a new marker.
    ///
    /// What it proves: every message that reached the gateway before the call (by webhook, or
    /// in polling modes by being in the emulator) has been recorded and finished, and the bot
    /// then stayed quiet for a whole check, so what the emulator shows now is the outcome, not
    /// a step on the way. What it does not cover: in pure webhook mode, a delivery lost on the
    /// way (fault injection) is unknown to the gateway until its safety poll or next start;
    /// and it cannot see work that a timer starts later (the next safety poll).
    pub async fn try_settled(
        &self,
        sim: &SimServer,
        bot: &SimPerson,
        timeout: Duration,
    ) -> Result<(), NotSettled> {
        let start = Instant::now();
        let reason = &Mutex::new(String::from("nothing checked yet"));
        loop {
            let mark = sim.mark();
            let left = timeout.saturating_sub(start.elapsed());
            let look = wait::until_async(left, || async move {
                match self.look(sim, bot, mark).await {
                    Look::NotYet(why) => {
                        *reason.lock().unwrap_or_else(PoisonError::into_inner) = why;
                        None
                    }
                    other => Some(other),
                }
            })
            .await;
            match look {
                Ok(Look::Quiet) => return Ok(()),
                Ok(Look::Busy(calls)) if start.elapsed() < timeout => {
                    *reason.lock().unwrap_or_else(PoisonError::into_inner) =
                        format!("the bot kept working: {}", calls.join(", "));
                }
                Ok(Look::Busy(_) | Look::NotYet(_)) | Err(_) => {
                    return Err(NotSettled {
                        waited: start.elapsed(),
                        reason: std::mem::take(
                            &mut *reason.lock().unwrap_or_else(PoisonError::into_inner),
                        ),
                    })
                }
            }
        }
    }

    /// One look at conditions 1-4 of [`Self::try_settled`], in that order.
    async fn look(&self, sim: &SimServer, bot: &SimPerson, mark: Marker) -> Look {
        let in_flight = sim.deliveries_in_flight();
        if in_flight > 0 {
            return Look::NotYet(format!("{in_flight} webhook deliveries in flight"));
        }
        if self.websocket {
            let unacked: usize = sim.devices_of(bot).iter().map(|d| d.pending).sum();
            if unacked > 0 {
                return Look::NotYet(format!("{unacked} websocket events not acknowledged"));
            }
        }
        if self.polls {
            let passes = sim
                .calls_by(bot, mark)
                .iter()
                .filter(|c| starts_poll_pass(c))
                .count();
            if passes < 2 {
                return Look::NotYet(format!(
                    "no poll pass completed since the marker ({passes} started)"
                ));
            }
        }
        match self.ledger.pending().await {
            Ok(pending) if pending.is_empty() => {}
            Ok(pending) => return Look::NotYet(format!("pending in the ledger: {pending}")),
            Err(err) => return Look::NotYet(format!("cannot read the ledger: {err}")),
        }
        let busy: Vec<String> = sim
            .calls_by(bot, mark)
            .iter()
            .filter(|c| !is_quiet_call(c))
            .map(|c| format!("{} {} {}", c.method, c.path, c.status))
            .collect();
        if busy.is_empty() {
            Look::Quiet
        } else {
            Look::Busy(busy)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: &str, path: &str, query: Option<&str>, status: u16) -> RecordedRequest {
        RecordedRequest {
            seq: 0,
            method: method.into(),
            path: path.into(),
            query: query.map(str::to_string),
            status,
            caller: None,
            at_ms: 0,
        }
    }

    #[test]
    fn a_poll_pass_starts_with_the_first_page_of_rooms() {
        let first = call("GET", "/v1/rooms", Some("sortBy=lastactivity&max=50"), 200);
        let next = call(
            "GET",
            "/v1/rooms",
            Some("sortBy=lastactivity&cursor=abc"),
            200,
        );
        assert!(starts_poll_pass(&first));
        assert!(!starts_poll_pass(&next));
        assert!(!starts_poll_pass(&call(
            "GET",
            "/v1/messages",
            Some("roomId=r"),
            200
        )));
    }

    #[test]
    fn only_successful_reads_are_quiet() {
        assert!(is_quiet_call(&call("GET", "/v1/messages/x", None, 200)));
        assert!(!is_quiet_call(&call("GET", "/v1/rooms", None, 503)));
        assert!(!is_quiet_call(&call("POST", "/v1/messages", None, 200)));
        assert!(!is_quiet_call(&call("PUT", "/v1/webhooks/w", None, 200)));
    }
}
