//! The emulator, its people, a sender that retries like a Webex client, and a reply tracker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use moltbot_testkit::wait;
use serde_json::json;
use webex_sim::{MessageCursor, SimPerson, SimServer};

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

    /// A gateway home for this world's bot ([`Self::gateway_config`]).
    pub fn gateway_home(
        &self,
        mode: &str,
        poll_seconds: f64,
        requests_per_minute: u32,
    ) -> anyhow::Result<GatewayHome> {
        let config = self.gateway_config(mode, poll_seconds, requests_per_minute)?;
        GatewayHome::new(&self.binary, &config)
    }

    /// A gateway home for this world's bot with `config` (from [`Self::gateway_config`],
    /// possibly changed).
    pub fn gateway_home_with(&self, config: &GatewayConfig) -> anyhow::Result<GatewayHome> {
        GatewayHome::new(&self.binary, config)
    }

    /// The config of a gateway for this world's bot in `mode`: a free loopback port, the
    /// emulator's API and U2C bases, safety polls every 5 s (webhook and websocket modes).
    pub fn gateway_config(
        &self,
        mode: &str,
        poll_seconds: f64,
        requests_per_minute: u32,
    ) -> anyhow::Result<GatewayConfig> {
        Ok(GatewayConfig {
            mode: mode.to_string(),
            token: self.bot.token.clone(),
            api_base: self.sim.api_base(),
            port: free_port()?,
            poll_seconds,
            safety_poll_seconds: 5.0,
            u2c_url: self.sim.u2c_url(),
            requests_per_minute,
            store_url: None,
        })
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

/// A message the watcher saw that no expectation matched (yet): a reply can exist before
/// its expectation does, when the bot answered before the user's `POST` returned to the bench.
struct Seen {
    author: String,
    text: String,
    at: Instant,
}

#[derive(Default)]
struct TrackerState {
    pending: HashMap<String, Vec<Pending>>,
    /// By room: messages seen and not matched, so an expectation registered late still finds
    /// its reply.
    unmatched: HashMap<String, Vec<Seen>>,
    done: HashMap<&'static str, Vec<Duration>>,
    last_seen: HashMap<&'static str, Instant>,
}

/// How long a message no expectation matched is kept for one registered late (the window is
/// the time between a user's message being created and its `POST` returning to the bench).
const UNMATCHED_KEPT: Duration = Duration::from_secs(5);

impl TrackerState {
    /// Forgets the unmatched messages seen more than `kept` ago.
    fn prune_unmatched(&mut self, kept: Duration) {
        self.unmatched.retain(|_, seen| {
            seen.retain(|m| m.at.elapsed() < kept);
            !seen.is_empty()
        });
    }

    fn answered(&mut self, series: &'static str, latency: Duration, at: Instant) {
        self.done.entry(series).or_default().push(latency);
        let last = self.last_seen.entry(series).or_insert(at);
        *last = (*last).max(at);
    }
}

/// Watches the emulator (about every millisecond, reading only the messages created since it
/// last looked: [`SimServer::messages_since`]) and records, per series, the time from a send
/// to the reply's existence.
pub struct Tracker {
    sim: Arc<SimServer>,
    state: Mutex<TrackerState>,
    stop: AtomicBool,
}

impl Tracker {
    /// Starts the watcher thread. Messages created before it are not looked at.
    pub fn start(sim: Arc<SimServer>) -> Arc<Self> {
        let tracker = Arc::new(Self {
            sim,
            state: Mutex::new(TrackerState::default()),
            stop: AtomicBool::new(false),
        });
        let cursor = tracker.sim.message_cursor();
        // The thread holds it weakly, so dropping the last handle stops it (an early return
        // between `start` and `stop` leaves no thread polling).
        let weak = Arc::downgrade(&tracker);
        std::thread::spawn(move || Self::watch(&weak, cursor));
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
        let mut state = self.lock();
        let early = state.unmatched.get_mut(room).and_then(|seen| {
            let i = seen
                .iter()
                .position(|m| m.author == responder && m.text == text)?;
            Some(seen.swap_remove(i))
        });
        if let Some(reply) = early {
            // Seen before the user's `POST` returned here: as good as at once.
            state.answered(series, reply.at.saturating_duration_since(sent), reply.at);
            return;
        }
        state
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

    /// Polls until stopped or dropped.
    fn watch(tracker: &Weak<Self>, mut cursor: MessageCursor) {
        let mut pruned = Instant::now();
        while let Some(t) = tracker.upgrade() {
            if t.stop.load(Ordering::Relaxed) {
                return;
            }
            cursor = t.look(cursor);
            if pruned.elapsed() >= UNMATCHED_KEPT {
                t.lock().prune_unmatched(UNMATCHED_KEPT);
                pruned = Instant::now();
            }
            drop(t);
            // The sampling period of the latency measurement.
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Matches the messages created since `cursor` against what is expected; returns the next
    /// cursor.
    fn look(&self, cursor: MessageCursor) -> MessageCursor {
        let (messages, next) = self.sim.messages_since(cursor);
        let now = Instant::now();
        let mut state = self.lock();
        for m in messages {
            let text = m.content().to_string();
            let list = state.pending.get_mut(&m.room_id);
            let found = list.and_then(|list| {
                let i = list
                    .iter()
                    .position(|p| p.responder == m.person_id && p.text == text)?;
                Some((list.swap_remove(i), list.is_empty()))
            });
            match found {
                Some((p, emptied)) => {
                    if emptied {
                        // Keeps `pending` a list of the rooms still waiting.
                        state.pending.remove(&m.room_id);
                    }
                    state.answered(p.series, now.saturating_duration_since(p.sent), now);
                }
                None => state.unmatched.entry(m.room_id).or_default().push(Seen {
                    author: m.person_id,
                    text,
                    at: now,
                }),
            }
        }
        next
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

/// A bot's API requests by kind (every request made with its token that the emulator logged:
/// the REST API under `/v1` and the Mercury HTTP services, U2C, WDM and the conversation
/// service; websocket frames are not requests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMix {
    /// All of them.
    pub total: usize,
    /// Conversation-service lookups (`/conversation/...`: activity id to REST id).
    pub lookup: usize,
    /// `GET /v1/messages/{id}`.
    pub get_message: usize,
    /// `POST /v1/messages` (replies).
    pub post_message: usize,
    /// Everything else: polls (`GET /v1/rooms`, `GET /v1/messages?roomId=`), webhook checks,
    /// catalog, devices, `GET /v1/people/me`.
    pub other: usize,
    /// The requests counted in [`Self::other`], by `METHOD path` with ids written `{id}`.
    pub other_by_path: std::collections::BTreeMap<String, usize>,
}

impl RequestMix {
    /// Sorts `requests` by kind.
    pub fn of(requests: &[webex_sim::RecordedRequest]) -> Self {
        let mut mix = Self {
            total: requests.len(),
            ..Self::default()
        };
        for r in requests {
            let slot = if r.path.starts_with("/conversation/") {
                &mut mix.lookup
            } else if r.method == "GET" && r.path.starts_with("/v1/messages/") {
                &mut mix.get_message
            } else if r.method == "POST" && r.path == "/v1/messages" {
                &mut mix.post_message
            } else {
                let key = format!("{} {}", r.method, without_ids(&r.path));
                *mix.other_by_path.entry(key).or_insert(0) += 1;
                &mut mix.other
            };
            *slot += 1;
        }
        mix
    }

    /// `total (lookup a, GET b, POST c, other d)`, each divided by `answered` (at least 1).
    pub fn per_cell(&self, answered: usize) -> String {
        let per = |n: usize| n as f64 / answered.max(1) as f64;
        format!(
            "{:.2} (lookup {:.2}, GET {:.2}, POST {:.2}, other {:.2})",
            per(self.total),
            per(self.lookup),
            per(self.get_message),
            per(self.post_message),
            per(self.other)
        )
    }

    /// The counts and their quotients by `answered` (at least 1), as JSON.
    pub fn json(&self, answered: usize) -> serde_json::Value {
        let per = |n: usize| crate::stats::round(n as f64 / answered.max(1) as f64);
        json!({
            "answered": answered,
            "requests": {"total": self.total, "lookup": self.lookup, "get_message": self.get_message,
                         "post_message": self.post_message, "other": self.other},
            "per_answered": {"total": per(self.total), "lookup": per(self.lookup),
                             "get_message": per(self.get_message), "post_message": per(self.post_message),
                             "other": per(self.other)},
            "other_by_path": self.other_by_path,
        })
    }
}

/// `path` with every segment of 20 characters or more (Webex ids, device UUIDs) written `{id}`.
fn without_ids(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.len() >= 20 { "{id}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str) -> webex_sim::RecordedRequest {
        webex_sim::RecordedRequest {
            seq: 0,
            method: method.to_string(),
            path: path.to_string(),
            query: None,
            status: 200,
            caller: None,
            at_ms: 0,
        }
    }

    #[test]
    fn requests_sorted_by_kind_and_divided_by_answered() {
        let requests = [
            request("GET", "/conversation/api/v1/messages/abc"),
            request("GET", "/v1/messages/Y2lz"),
            request("POST", "/v1/messages"),
            request("GET", "/v1/messages"),
            request("GET", "/v1/rooms"),
            request("POST", "/wdm/api/v1/devices"),
            request(
                "GET",
                "/wdm/api/v1/devices/4f9b2d3c-0c1e-4f5a-9a57-2b1c3d4e5f60",
            ),
        ];
        let mix = RequestMix::of(&requests);
        assert_eq!(
            mix,
            RequestMix {
                total: 7,
                lookup: 1,
                get_message: 1,
                post_message: 1,
                other: 4,
                other_by_path: [
                    ("GET /v1/messages", 1),
                    ("GET /v1/rooms", 1),
                    ("GET /wdm/api/v1/devices/{id}", 1),
                    ("POST /wdm/api/v1/devices", 1),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            }
        );
        assert_eq!(
            mix.per_cell(2),
            "3.50 (lookup 0.50, GET 0.50, POST 0.50, other 2.00)"
        );
        assert_eq!(mix.json(0)["per_answered"]["total"], 7.0);
    }
}
