//! Scenario 1, webhook mode latency, beside two floors: a minimal client doing the same two
//! API calls as soon as the user's `POST` returns (no webhook hop), and the webhook floor
//! ([`WebhookFloor`]: the same two calls on each webhook delivery, the issue's floor, "only GET +
//! POST per delivery"). [`steady`] is the measurement, shared with the websocket scenario (same
//! load, other receive mode).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{expect_reply, floor_responder, pairs, send_steady, warm_up};
use crate::floor::{FloorKind, WebhookFloor};
use crate::report::Section;
use crate::stats::{round, Summary};
use crate::world::{outcome, Outcome, RequestMix, Tracker, World};
use crate::Sizes;
use crate::{naive, probe, UNLIMITED_RPM};

/// `a ÷ b`, 0 when `b` has no figure.
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// The load of one steady run: `messages` DMs from `users` users (each in a 1:1 room with the
/// bot) at `rate` per second, and as many to the floor bot at the same rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Users writing to each bot.
    pub users: usize,
    /// Messages to each bot.
    pub messages: usize,
    /// Messages per second, to each bot.
    pub rate: f64,
    /// Where the webhook floor beside the gateway runs ([`Sizes::webhook_floor`]).
    pub webhook_floor: FloorKind,
}

/// The figures of one steady run ([`steady`]).
#[derive(Debug, Clone)]
pub struct Steady {
    /// The gateway's `channels.webex.mode`.
    pub mode: String,
    /// The load.
    pub load: Load,
    /// Messages sent to the gateway's bot (failed sends left out).
    pub sent: usize,
    /// Messages sent to the floor bot.
    pub floor_sent: usize,
    /// User's `POST` returned → the gateway's reply exists, in ms.
    pub ours: Summary,
    /// The same for the floor.
    pub floor: Summary,
    /// Messages sent to the webhook floor's bot.
    pub floor_webhook_sent: usize,
    /// The same for the webhook floor.
    pub floor_webhook: Summary,
    /// Lost and duplicated replies of the gateway.
    pub outcome: Outcome,
    /// Every request the gateway's bot made from the end of the warm-up to the last reply.
    pub requests: RequestMix,
    /// Every request the floor bot made over the same time.
    pub floor_requests: RequestMix,
    /// The gateway's CPU time over the run (idle time between messages included), in ms.
    pub cpu_ms: Option<f64>,
}

impl Steady {
    /// Messages the gateway answered.
    pub fn answered(&self) -> usize {
        self.sent - self.outcome.lost
    }

    /// Messages the floor answered.
    pub fn floor_answered(&self) -> usize {
        self.floor.count
    }

    /// `ours ÷ floor` at p50 and p99 (0 when the floor has no figure).
    pub fn ratio(&self) -> (f64, f64) {
        (
            ratio(self.ours.p50, self.floor.p50),
            ratio(self.ours.p99, self.floor.p99),
        )
    }

    /// The table rows, each figure prefixed with `label` (e.g. `"ours"`).
    pub fn rows(&self, s: &mut Section, label: &str) {
        let Load {
            users,
            messages,
            rate,
            webhook_floor: _, // in the webhook floor's row
        } = self.load;
        s.row(
            format!(
                "{label} p50/p95/p99/max ({} of {messages} msgs @ {rate}/s, {users} users)",
                self.sent
            ),
            self.ours.cell(),
        );
        s.row(
            format!("{label}: floor p50/p95/p99/max ({} msgs)", self.floor_sent),
            self.floor.cell(),
        );
        s.row(
            format!("{label}: overhead p50/p95/p99 (ours − floor)"),
            format!(
                "{:.1} / {:.1} / {:.1} ms",
                self.ours.p50 - self.floor.p50,
                self.ours.p95 - self.floor.p95,
                self.ours.p99 - self.floor.p99
            ),
        );
        let (p50, p99) = self.ratio();
        s.row(
            format!("{label}: ratio p50/p99 (ours ÷ floor)"),
            format!("{p50:.2}× / {p99:.2}×"),
        );
        let hook = &self.floor_webhook;
        s.row(
            format!(
                "{label}: webhook floor ({}) p50/p95/p99/max ({} msgs)",
                self.load.webhook_floor.label(),
                self.floor_webhook_sent
            ),
            hook.cell(),
        );
        s.row(
            format!("{label}: overhead p50/p95/p99 (ours − webhook floor); ratio p50/p99"),
            format!(
                "{:.1} / {:.1} / {:.1} ms; {:.2}× / {:.2}×",
                self.ours.p50 - hook.p50,
                self.ours.p95 - hook.p95,
                self.ours.p99 - hook.p99,
                ratio(self.ours.p50, hook.p50),
                ratio(self.ours.p99, hook.p99)
            ),
        );
        s.row(
            format!("{label}: requests per answered msg (every request of the bot)"),
            self.requests.per_cell(self.answered()),
        );
        s.row(
            format!("{label}: floor requests per answered msg"),
            self.floor_requests.per_cell(self.floor_answered()),
        );
        s.row(
            format!("{label}: lost / duplicated"),
            format!("{} / {}", self.outcome.lost, self.outcome.duplicated),
        );
        let answered = self.answered();
        s.row(
            format!("{label}: gateway CPU per answered msg (utime+stime)"),
            self.cpu_ms
                .filter(|_| answered > 0)
                .map_or("n/a".to_string(), |ms| {
                    format!(
                        "{:.3} ms ({ms:.0} ms over {answered} msgs, {:.1} s run)",
                        ms / answered as f64,
                        messages as f64 / rate
                    )
                }),
        );
    }

    /// The figures as JSON.
    pub fn json(&self) -> Value {
        let answered = self.answered();
        let cpu = self.cpu_ms.filter(|_| answered > 0);
        let ticks = probe::clock_ticks();
        let (p50, p99) = self.ratio();
        let (ours, floor) = (&self.ours, &self.floor);
        json!({
            "mode": self.mode,
            "messages": self.sent,
            "users": self.load.users,
            "rate_per_s": self.load.rate,
            "ours": ours.json(),
            "floor": floor.json(),
            "overhead_ms": {"p50": round(ours.p50 - floor.p50), "p95": round(ours.p95 - floor.p95),
                            "p99": round(ours.p99 - floor.p99)},
            "floor_webhook": self.floor_webhook.json(),
            "floor_webhook_kind": self.load.webhook_floor.label(),
            "overhead_webhook_ms": {"p50": round(ours.p50 - self.floor_webhook.p50),
                                    "p95": round(ours.p95 - self.floor_webhook.p95),
                                    "p99": round(ours.p99 - self.floor_webhook.p99)},
            "ratio_webhook": {"p50": round(ratio(ours.p50, self.floor_webhook.p50)),
                              "p99": round(ratio(ours.p99, self.floor_webhook.p99))},
            "ratio": {"p50": round(p50), "p99": round(p99)},
            "requests_per_answered": self.requests.json(answered),
            "floor_requests_per_answered": self.floor_requests.json(self.floor_answered()),
            "lost": self.outcome.lost,
            "duplicated": self.outcome.duplicated,
            "cpu": {"total_ms": cpu.map(round),
                    "per_answered_ms": cpu.map(|ms| (ms / answered as f64 * 1000.0).round() / 1000.0),
                    "answered": answered, "clk_tck": ticks.per_second, "clk_tck_source": ticks.source},
        })
    }
}

/// Runs the scenario: [`steady`] in webhook mode at the latency load of `sizes`.
pub async fn run(binary: &Path, sizes: &Sizes) -> anyhow::Result<Section> {
    let load = Load {
        users: sizes.users,
        messages: sizes.latency_n,
        rate: sizes.latency_rate,
        webhook_floor: sizes.webhook_floor,
    };
    let fig = steady(binary, "webhook", load).await?;
    let mut s = Section::new("webhook_latency");
    fig.rows(&mut s, "webhook");
    // The figures at the top level, as before the websocket scenario shared them.
    if let Value::Object(map) = fig.json() {
        for (key, value) in map {
            s.set(&key, value);
        }
    }
    Ok(s)
}

/// The gateway's default `webhook.safetyPollSeconds` / `websocket.safetyPollSeconds`
/// (docs/configuration.md; spec §8 for the websocket).
const DEFAULT_SAFETY_POLL_SECONDS: f64 = 60.0;

/// One steady run: a gateway in `mode` (safety polls at the default 60 s where the mode has one) and, in
/// the same emulator at the same time and rate, the floor ([`floor_responder`]) and the webhook
/// floor ([`WebhookFloor`]), each sent `load` after a warm-up. Latency per message from the user's `POST` returning to the reply
/// existing; requests of each bot counted from the end of the warm-up to the last reply.
pub async fn steady(binary: &Path, mode: &str, load: Load) -> anyhow::Result<Steady> {
    steady_on(binary, mode, load, None).await
}

/// [`steady`] with the gateway's state in the store at `store_url` (`None`: SQLite in its state
/// folder; a `postgres://` URL: PostgreSQL, a single replica, so it also leads).
pub async fn steady_on(
    binary: &Path,
    mode: &str,
    load: Load,
    store_url: Option<&str>,
) -> anyhow::Result<Steady> {
    let world = World::new(binary, load.users).await?;
    let floor_bot = world.sim.add_bot("floor@webex.bot", "Floor");
    let hook_bot = world
        .sim
        .add_bot("floor-webhook@webex.bot", "Floor Webhook");
    let hook_floor = WebhookFloor::start(&world.sim, &hook_bot, load.webhook_floor).await?;
    let mut config = world.gateway_config(mode, 5.0, UNLIMITED_RPM)?;
    // The steady run measures the gateway as installed (only the rate limit out of the way):
    // the safety poll at its default interval, as a user runs it. Every 5 s (the bench's
    // default elsewhere) a pass lists the rooms and each room active since the last pass:
    // 50 rooms here, so it would add ~0.25 requests and part of the CPU to every message.
    config.safety_poll_seconds = DEFAULT_SAFETY_POLL_SECONDS;
    config.store_url = store_url.map(str::to_string);
    let home = world.gateway_home_with(&config)?;
    let gateway = home.start().await?;
    warm_up(&world, &world.bot, true).await?;
    warm_up(&world, &floor_bot, false).await?;
    warm_up(&world, &hook_bot, true).await?;

    let tracker = Tracker::start(Arc::clone(&world.sim));
    let floor = naive::client(&world.sim.api_base(), &floor_bot.token, UNLIMITED_RPM)?;
    let ours_cb = expect_reply(&tracker, "ours", &world.bot.id);
    let floor_cb = floor_responder(&tracker, "floor", &floor_bot.id, floor);
    let hook_cb = expect_reply(&tracker, "floor_webhook", &hook_bot.id);
    // Count from the quiet signal on: the warm-up's last calls are not the run's.
    gateway
        .try_settled(&world.sim, &world.bot, Duration::from_secs(30))
        .await?;
    world.sim.clear_requests();
    let cpu_before = probe::cpu_ms(gateway.pid);
    let (ours, floor_sent, hook_sent) = tokio::join!(
        send_steady(
            &world,
            &world.bot.email,
            "ours",
            load.messages,
            load.rate,
            Some(ours_cb)
        ),
        send_steady(
            &world,
            &floor_bot.email,
            "floor",
            load.messages,
            load.rate,
            Some(floor_cb)
        ),
        send_steady(
            &world,
            &hook_bot.email,
            "floor_webhook",
            load.messages,
            load.rate,
            Some(hook_cb)
        ),
    );
    tracker.wait_all(Duration::from_secs(30)).await;
    let cpu_after = probe::cpu_ms(gateway.pid);
    tracker.stop();
    let requests = RequestMix::of(&world.requests_by(&world.bot));
    let floor_requests = RequestMix::of(&world.requests_by(&floor_bot));
    let result = outcome(&world.sim, &world.bot, &pairs(&ours));
    gateway.stop().await;
    drop(hook_floor);
    Ok(Steady {
        mode: mode.to_string(),
        load,
        sent: ours.len(),
        floor_sent: floor_sent.len(),
        ours: Summary::of(&tracker.latencies("ours")),
        floor: Summary::of(&tracker.latencies("floor")),
        floor_webhook_sent: hook_sent.len(),
        floor_webhook: Summary::of(&tracker.latencies("floor_webhook")),
        outcome: result,
        requests,
        floor_requests,
        cpu_ms: cpu_before.zip(cpu_after).map(|(a, b)| b - a),
    })
}
