//! The emulator, its people, a sender that retries like a Webex client, and a reply tracker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use moltbot_testkit::wait;
use serde_json::json;
use webex_sim::{SimPerson, SimServer};

use crate::gateway::{free_port, GatewayConfig, GatewayHome};

/// One emulator with a bot and `users` people.
pub struct World {
    /// The emulator (shared with the tracker thread).
    pub sim: Arc<SimServer>,
    /// The bot the gateway runs as.
    pub bot: SimPerson,
    /// People who write to bots.
    pub users: Vec<SimPerson>,
    binary: PathBuf,
}

impl World {
    /// Starts an emulator with a bot `molty@webex.bot` and `users` people.
    pub async fn new(binary: &Path, users: usize) -> anyhow::Result<Self> {
        let sim = SimServer::start().await.context("start webex-sim")?;
        let bot = sim.add_bot("molty@webex.bot", "Molty");
        let users = (0..users)
            .map(|i| sim.add_person(&format!("user{i}@example.com"), &format!("User {i}")))
            .collect();
        Ok(Self {
            sim: Arc::new(sim),
            bot,
            users,
            binary: binary.to_path_buf(),
        })
    }

    /// A gateway home for this world's bot.
    pub fn gateway_home(
        &self,
        mode: &str,
        poll_seconds: f64,
        requests_per_minute: u32,
    ) -> anyhow::Result<GatewayHome> {
        let config = GatewayConfig {
            mode: mode.to_string(),
            token: self.bot.token.clone(),
            api_base: self.sim.api_base(),
            port: free_port()?,
            poll_seconds,
            requests_per_minute,
        };
        GatewayHome::new(&self.binary, &config)
    }

    /// Requests made with `who`'s token (status, path) since the log was last cleared.
    pub fn requests_by(&self, who: &SimPerson) -> Vec<webex_sim::RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.caller.as_deref() == Some(who.id.as_str()))
            .collect()
    }
}

/// `user` DMs `bot_email` with `text`; retries (like any Webex client, 50 ms apart) on 429, 5xx
/// and transport errors, which Webex answers before creating the message. Returns the message
/// and room ids and the moment the successful `POST /messages` returned.
pub async fn send_dm(
    sim: &SimServer,
    user: &SimPerson,
    bot_email: &str,
    text: &str,
) -> anyhow::Result<(String, String, Instant)> {
    let user = sim.as_user(user);
    let body = json!({ "toPersonEmail": bot_email, "text": text });
    let mut attempts = 0;
    loop {
        attempts += 1;
        match user.try_send(body.clone()).await {
            Ok(msg) => return Ok((msg.id, msg.room_id, Instant::now())),
            // The client's back-off between attempts: part of the scenario, not a wait.
            Err(err) if err.is_retryable() && attempts < 200 => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => return Err(anyhow!("{err}")),
        }
    }
}

struct Pending {
    text: String,
    responder: String,
    series: &'static str,
    sent: Instant,
}

#[derive(Default)]
struct TrackerState {
    pending: HashMap<String, Vec<Pending>>,
    done: HashMap<&'static str, Vec<Duration>>,
    last_seen: HashMap<&'static str, Instant>,
}

/// Watches the emulator (about every millisecond, only rooms with unanswered messages) and
/// records, per series, the time from a send to the reply's existence.
pub struct Tracker {
    sim: Arc<SimServer>,
    state: Mutex<TrackerState>,
    stop: AtomicBool,
}

impl Tracker {
    /// Starts the watcher thread.
    pub fn start(sim: Arc<SimServer>) -> Arc<Self> {
        let tracker = Arc::new(Self {
            sim,
            state: Mutex::new(TrackerState::default()),
            stop: AtomicBool::new(false),
        });
        let t = Arc::clone(&tracker);
        std::thread::spawn(move || t.watch());
        tracker
    }

    fn lock(&self) -> MutexGuard<'_, TrackerState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Expects a reply from `responder` (person id) saying `text` in `room`, sent at `sent`.
    pub fn expect(
        &self,
        series: &'static str,
        room: &str,
        responder: &str,
        text: &str,
        sent: Instant,
    ) {
        self.lock()
            .pending
            .entry(room.to_string())
            .or_default()
            .push(Pending {
                text: text.to_string(),
                responder: responder.to_string(),
                series,
                sent,
            });
    }

    fn watch(&self) {
        while !self.stop.load(Ordering::Relaxed) {
            let rooms: Vec<String> = self.lock().pending.keys().cloned().collect();
            for room in rooms {
                let messages = self.sim.messages_in(&room);
                let now = Instant::now();
                let mut state = self.lock();
                let TrackerState {
                    pending,
                    done,
                    last_seen,
                } = &mut *state;
                if let Some(list) = pending.get_mut(&room) {
                    list.retain(|p| {
                        let answered = messages
                            .iter()
                            .any(|m| m.person_id == p.responder && m.content() == p.text);
                        if answered {
                            done.entry(p.series).or_default().push(now - p.sent);
                            let last = last_seen.entry(p.series).or_insert(now);
                            *last = (*last).max(now);
                        }
                        !answered
                    });
                    if list.is_empty() {
                        pending.remove(&room);
                    }
                }
            }
            // The sampling period of the latency measurement.
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// How many expected replies are still missing.
    pub fn pending(&self) -> usize {
        self.lock().pending.values().map(Vec::len).sum()
    }

    /// Waits until nothing is pending or `timeout` passes; returns what is still pending.
    pub async fn wait_all(&self, timeout: Duration) -> usize {
        let _ = wait::until(timeout, || (self.pending() == 0).then_some(())).await;
        self.pending()
    }

    /// The latencies of `series` so far.
    pub fn latencies(&self, series: &str) -> Vec<Duration> {
        self.lock().done.get(series).cloned().unwrap_or_default()
    }

    /// When the last reply of `series` seen so far was first seen (`None` before the first).
    pub fn last_reply(&self, series: &str) -> Option<Instant> {
        self.lock().last_seen.get(series).copied()
    }

    /// Stops the watcher thread.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Lost and duplicated replies: for each `(room, text)` sent, how often `responder` answered it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Messages sent.
    pub sent: usize,
    /// Never answered.
    pub lost: usize,
    /// Answered more than once (counted once per message).
    pub duplicated: usize,
    /// Extra replies beyond the first, summed.
    pub extra_replies: usize,
    /// The first few lost texts, for the report.
    pub lost_texts: Vec<String>,
    /// The first few duplicated texts, for the report.
    pub duplicated_texts: Vec<String>,
}

/// Counts replies by `responder` in the emulator for every `(room, text)` in `sent`.
pub fn outcome(sim: &SimServer, responder: &SimPerson, sent: &[(String, String)]) -> Outcome {
    let mut by_room: HashMap<&str, HashMap<String, usize>> = HashMap::new();
    for (room, _) in sent {
        by_room.entry(room.as_str()).or_insert_with(|| {
            let mut counts = HashMap::new();
            for m in sim.messages_by(responder, room) {
                *counts.entry(m.content().to_string()).or_insert(0) += 1;
            }
            counts
        });
    }
    let mut out = Outcome {
        sent: sent.len(),
        ..Outcome::default()
    };
    for (room, text) in sent {
        let n = by_room
            .get(room.as_str())
            .and_then(|c| c.get(text))
            .copied()
            .unwrap_or(0);
        match n {
            0 => {
                out.lost += 1;
                if out.lost_texts.len() < 10 {
                    out.lost_texts.push(text.clone());
                }
            }
            1 => {}
            n => {
                out.duplicated += 1;
                if out.duplicated_texts.len() < 10 {
                    out.duplicated_texts.push(text.clone());
                }
                out.extra_replies += n - 1;
            }
        }
    }
    out
}
