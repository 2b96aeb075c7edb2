//! Scenario 4, the burst of issue 11: N messages over R rooms (1:1, one user each), all sent
//! at once, to the gateway in webhook mode and then, in the same run, to two floors: the
//! webhook floor ([`WebhookFloor`], the base of the ratios) and the floor without the webhook
//! hop ([`floor_responder`]). Drained time, latency percentiles, per-room reply order, and the
//! gateway's store bytes and CPU per answered message.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use webex_sim::{DeliveryTimes, SimPerson};

use super::{expect_reply, floor_responder, rooms_of, send_burst_with, warm_up, OnSent, Sent};
use crate::floor::WebhookFloor;
use crate::report::Section;
use crate::stats::{round, Summary};
use crate::world::{Tracker, World};
use crate::{naive, probe, Sizes};

const UNLIMITED_RPM: u32 = 1_000_000;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How one bot's replies in one room (or summed over rooms) follow the users' messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Order {
    /// Replies that appear after the reply to a later message of the same room.
    pub out_of_order: usize,
    /// Messages never answered.
    pub missing: usize,
    /// Replies beyond the first to the same message.
    pub duplicated: usize,
    /// Messages answered.
    pub answered: usize,
}

impl Order {
    fn add(&mut self, o: Order) {
        self.out_of_order += o.out_of_order;
        self.missing += o.missing;
        self.duplicated += o.duplicated;
        self.answered += o.answered;
    }
}

/// Checks one room: `asked` are the texts of the users' messages of the burst in the room's
/// order, `replies` the bot's messages there in the room's order. The echo agent answers with
/// the text it got, so a reply maps to the message whose text it repeats; replies to other
/// messages (the warm-up) are ignored.
pub fn check_order(asked: &[String], replies: &[String]) -> Order {
    let index: HashMap<&str, usize> = asked
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut seen = HashSet::new();
    let mut latest: Option<usize> = None;
    let mut out = Order::default();
    for reply in replies {
        let Some(&i) = index.get(reply.as_str()) else {
            continue;
        };
        if !seen.insert(i) {
            out.duplicated += 1;
            continue;
        }
        if latest.is_some_and(|l| i < l) {
            out.out_of_order += 1;
        }
        latest = Some(latest.map_or(i, |l| l.max(i)));
    }
    out.answered = seen.len();
    out.missing = asked.len() - seen.len();
    out
}

/// [`check_order`] over every room of `sent`, with `bot`'s replies as the emulator holds them.
pub(crate) fn order_in(world: &World, bot: &SimPerson, sent: &[Sent]) -> Order {
    let texts: HashSet<&str> = sent.iter().map(|s| s.text.as_str()).collect();
    let mut total = Order::default();
    for room in rooms_of(sent) {
        let messages = world.sim.messages_in(&room);
        let asked: Vec<String> = messages
            .iter()
            .filter(|m| m.person_id != bot.id && texts.contains(m.content()))
            .map(|m| m.content().to_string())
            .collect();
        let replies: Vec<String> = messages
            .iter()
            .filter(|m| m.person_id == bot.id)
            .map(|m| m.content().to_string())
            .collect();
        total.add(check_order(&asked, &replies));
    }
    total
}

/// The figures of one side (ours or a floor).
struct Side {
    sent: usize,
    /// First send to the last reply seen; `None` when not everything was answered.
    drained: Option<Duration>,
    /// Time until every user's `POST` returned.
    sent_in: Duration,
    latency: Summary,
    order: Order,
    /// Webhook deliveries the webhook floor got during its burst, and of those its own
    /// messages it skipped; `None` for the others.
    deliveries: Option<(usize, usize)>,
    /// How long its webhook took to answer each delivery of the burst, as the emulator timed
    /// them; `None` without a webhook.
    answer_times: Option<DeliveryTimes>,
}

/// One kind of delivery's answer times: their count, sum (ms) and percentiles.
fn answer_figures(times: &[Duration]) -> (Summary, f64) {
    let sum = times.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0;
    (Summary::of(times), sum)
}

fn answer_json(times: &[Duration]) -> Value {
    let (summary, sum) = answer_figures(times);
    let mut v = summary.json();
    v["sum_ms"] = json!(round(sum));
    v
}

fn answer_cell(times: &[Duration]) -> String {
    let (summary, sum) = answer_figures(times);
    format!(
        "{} in {:.1} ms: {:.2} / {:.2} / {:.2} / {:.2} ms",
        summary.count, sum, summary.p50, summary.p95, summary.p99, summary.max
    )
}

impl Side {
    fn json(&self) -> Value {
        let mut v = json!({"messages": self.sent, "answered": self.order.answered,
               "drained_ms": self.drained.map(|d| round(d.as_secs_f64() * 1000.0)),
               "all_sent_ms": round(self.sent_in.as_secs_f64() * 1000.0),
               "latency": self.latency.json(), "out_of_order": self.order.out_of_order,
               "missing": self.order.missing, "duplicated": self.order.duplicated});
        if let Some((received, own)) = self.deliveries {
            v["deliveries"] = json!({"received": received, "own_skipped": own});
        }
        if let Some(times) = &self.answer_times {
            v["delivery_answer_times"] =
                json!({"others": answer_json(&times.others), "own": answer_json(&times.own)});
        }
        v
    }
}

/// Sends the burst to `bot` (every message at once), waits until `tracker` saw every reply of
/// `series` (or [`DRAIN_TIMEOUT`]) and checks the order.
async fn burst(
    world: &World,
    bot: &SimPerson,
    tracker: &Tracker,
    series: &'static str,
    n: usize,
    on_sent: OnSent,
) -> (Vec<Sent>, Side) {
    let start = Instant::now();
    let sent = send_burst_with(world, &bot.email, series, n, n, Some(on_sent)).await;
    let sent_in = start.elapsed();
    let missing = tracker.wait_all(DRAIN_TIMEOUT).await;
    let drained = tracker
        .last_reply(series)
        .filter(|_| missing == 0)
        .map(|t| t - start);
    let side = Side {
        sent: sent.len(),
        drained,
        sent_in,
        latency: Summary::of(&tracker.latencies(series)),
        order: order_in(world, bot, &sent),
        deliveries: None,
        answer_times: None,
    };
    (sent, side)
}

/// The gateway's counters read before and after the burst.
struct Probe {
    cpu_ms: Option<f64>,
    io_write_bytes: Option<u64>,
    store_files_bytes: u64,
    metric: Option<probe::Counter>,
}

async fn look(gateway: &crate::gateway::RunningGateway, files: &[&Path]) -> Probe {
    Probe {
        cpu_ms: probe::cpu_ms(gateway.pid),
        io_write_bytes: probe::io_write_bytes(gateway.pid),
        store_files_bytes: probe::files_bytes(files),
        metric: probe::store_written_metric(&gateway.http).await,
    }
}

/// Runs the scenario.
pub async fn run(binary: &Path, sizes: &Sizes) -> anyhow::Result<Section> {
    let (n, rooms) = (sizes.burst_messages, sizes.burst_rooms.max(1));
    let world = World::new(binary, rooms).await?;
    let floor_bot = world.sim.add_bot("floor@webex.bot", "Floor");
    let hook_bot = world
        .sim
        .add_bot("floor-webhook@webex.bot", "Floor Webhook");
    let hook_client = naive::client(&world.sim.api_base(), &hook_bot.token, UNLIMITED_RPM)?;
    let hook_floor = WebhookFloor::start(&world.sim, &hook_bot, hook_client).await?;
    let home = world.gateway_home("webhook", 5.0, UNLIMITED_RPM)?;
    let gateway = home.start().await?;
    warm_up(&world, &world.bot, true).await?;
    // Answered by the webhook floor: it works, and its connections are open like the gateway's.
    warm_up(&world, &hook_bot, true).await?;
    warm_up(&world, &floor_bot, false).await?;
    // Quiet before the first reading, so the warm-up's last store writes are not counted.
    gateway
        .try_settled(&world.sim, &world.bot, SETTLE_TIMEOUT)
        .await?;
    let tracker = Tracker::start(Arc::clone(&world.sim));
    let store_files = home.store_files();
    let files: Vec<&Path> = store_files.iter().map(|p| p.as_path()).collect();

    // Ours. The "after" reading waits for the quiet signal, so the writes that follow the last
    // reply (its chunk marked sent, the message finished) are in it.
    let before = look(&gateway, &files).await;
    // The warm-up's last deliveries (its replies coming back) are not the burst's.
    deliveries_done(&world).await?;
    world.sim.clear_delivery_answer_times();
    let (_, mut ours) = burst(
        &world,
        &world.bot,
        &tracker,
        "ours",
        n,
        expect_reply(&tracker, "ours", &world.bot.id),
    )
    .await;
    gateway
        .try_settled(&world.sim, &world.bot, SETTLE_TIMEOUT)
        .await?;
    let after = look(&gateway, &files).await;
    deliveries_done(&world).await?;
    ours.answer_times = answer_times_of(&world, &world.bot);

    // The floors, one after the other after ours (bursts at once would share the two cores).
    // The webhook floor: every delivery (the users' messages and its own replies) through the
    // emulator's one-at-a-time drainer, like the gateway's (ours are all done, just above).
    let hook_before = hook_floor.counts();
    world.sim.clear_delivery_answer_times();
    let (_, mut floor_webhook) = burst(
        &world,
        &hook_bot,
        &tracker,
        "floor_webhook",
        n,
        expect_reply(&tracker, "floor_webhook", &hook_bot.id),
    )
    .await;
    deliveries_done(&world).await?;
    let hook_after = hook_floor.counts();
    drop(hook_floor);
    floor_webhook.deliveries = Some((hook_after.0 - hook_before.0, hook_after.1 - hook_before.1));
    floor_webhook.answer_times = answer_times_of(&world, &hook_bot);

    let client = naive::client(&world.sim.api_base(), &floor_bot.token, UNLIMITED_RPM)?;
    let (_, floor_direct) = burst(
        &world,
        &floor_bot,
        &tracker,
        "floor_direct",
        n,
        floor_responder(&tracker, "floor_direct", &floor_bot.id, client),
    )
    .await;
    tracker.stop();
    gateway.stop().await;

    let mut s = Section::new("burst");
    report(&mut s, sizes, &ours, &floor_webhook, &floor_direct);
    per_message(&mut s, &before, &after, ours.order.answered);
    Ok(s)
}

/// The answer times of `bot`'s `messages` webhook (the one it created; the gateway also has one
/// for card submissions) since they were last cleared.
fn answer_times_of(world: &World, bot: &SimPerson) -> Option<DeliveryTimes> {
    let hooks = world.sim.webhooks();
    let id = hooks.iter().find(|w| {
        w["createdBy"].as_str() == Some(bot.id.as_str())
            && w["resource"].as_str() == Some("messages")
    })?["id"]
        .as_str()?;
    Some(world.sim.delivery_answer_times(id))
}

/// Waits until the emulator has no webhook delivery in flight.
async fn deliveries_done(world: &World) -> anyhow::Result<()> {
    tokio::time::timeout(SETTLE_TIMEOUT, world.sim.deliveries_done())
        .await
        .map_err(|_| anyhow::anyhow!("webhook deliveries still in flight after {SETTLE_TIMEOUT:?}"))
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

fn times(r: Option<f64>) -> String {
    r.map_or("n/a".to_string(), |r| format!("{r:.2}×"))
}

/// Ours ÷ a floor: drained time and latency percentiles.
struct Ratios {
    drained: Option<f64>,
    p50: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
}

impl Ratios {
    fn of(ours: &Side, floor: &Side) -> Self {
        let (l, f) = (&ours.latency, &floor.latency);
        Self {
            drained: ours
                .drained
                .zip(floor.drained)
                .and_then(|(a, b)| ratio(a.as_secs_f64(), b.as_secs_f64())),
            p50: ratio(l.p50, f.p50),
            p95: ratio(l.p95, f.p95),
            p99: ratio(l.p99, f.p99),
        }
    }

    fn latency_cell(&self) -> String {
        format!(
            "{} / {} / {}",
            times(self.p50),
            times(self.p95),
            times(self.p99)
        )
    }

    fn json(&self) -> Value {
        json!({"drained": self.drained.map(round), "p50": self.p50.map(round),
               "p95": self.p95.map(round), "p99": self.p99.map(round)})
    }
}

fn report(s: &mut Section, sizes: &Sizes, ours: &Side, hook: &Side, direct: &Side) {
    let ms = |d: Option<Duration>| {
        d.map_or("not drained".to_string(), |d| {
            format!("{:.1} ms", d.as_secs_f64() * 1000.0)
        })
    };
    let (base, other) = (Ratios::of(ours, hook), Ratios::of(ours, direct));
    s.row(
        format!(
            "drained, first send → last reply ({} msgs over {} rooms, all at once): ours / webhook floor / ratio",
            ours.sent, sizes.burst_rooms
        ),
        format!(
            "{} / {} / {} (users' POSTs all returned after {:.0} ms)",
            ms(ours.drained),
            ms(hook.drained),
            times(base.drained),
            ours.sent_in.as_secs_f64() * 1000.0
        ),
    );
    s.row(
        "drained: floor (no webhook hop) / ratio (ours ÷ it)",
        format!("{} / {}", ms(direct.drained), times(other.drained)),
    );
    s.row("ours latency p50/p95/p99/max", ours.latency.cell());
    s.row("webhook floor latency p50/p95/p99/max", hook.latency.cell());
    s.row(
        "floor (no webhook hop) latency p50/p95/p99/max",
        direct.latency.cell(),
    );
    s.row(
        "latency ratio p50/p95/p99 (ours ÷ webhook floor)",
        base.latency_cell(),
    );
    s.row(
        "latency ratio p50/p95/p99 (ours ÷ floor (no webhook hop))",
        other.latency_cell(),
    );
    // The emulator posts a webhook's deliveries one at a time, each after the answer to the one
    // before: in a burst the receivers' answer times add up along the queue (README).
    let answers = |side: &Side, own: bool| {
        side.answer_times.as_ref().map_or("n/a".to_string(), |t| {
            answer_cell(if own { &t.own } else { &t.others })
        })
    };
    s.row(
        "webhook deliveries of the users' messages, time to answer as the emulator saw it (count in sum: p50 / p95 / p99 / max)",
        format!("ours {}; webhook floor {}", answers(ours, false), answers(hook, false)),
    );
    s.row(
        "webhook deliveries of the bot's own replies, time to answer (count in sum: p50 / p95 / p99 / max)",
        format!("ours {}; webhook floor {}", answers(ours, true), answers(hook, true)),
    );
    s.row(
        "per-room order: out_of_order / missing (target 0 / 0)",
        format!(
            "{} / {} (the floors, which do not order: webhook {} / {}, no webhook hop {} / {})",
            ours.order.out_of_order,
            ours.order.missing,
            hook.order.out_of_order,
            hook.order.missing,
            direct.order.out_of_order,
            direct.order.missing
        ),
    );
    s.set("messages", json!(ours.sent));
    s.set("rooms", json!(sizes.burst_rooms));
    s.set("ours", ours.json());
    s.set("floor_webhook", hook.json());
    s.set("floor_direct", direct.json());
    s.set("ratio", base.json());
    s.set("ratio_direct", other.json());
}

fn per_message(s: &mut Section, before: &Probe, after: &Probe, answered: usize) {
    let per = |x: f64| (answered > 0).then(|| x / answered as f64);
    let bytes = |v: Option<f64>| v.map_or("n/a".to_string(), |b| format!("{b:.0} B"));

    let growth = after.store_files_bytes as f64 - before.store_files_bytes as f64;
    s.row(
        "store bytes per answered msg: file growth (moltbot.sqlite + -wal)",
        format!(
            "{} ({} → {} bytes; a reused WAL hides rewrites, see README)",
            bytes(per(growth)),
            before.store_files_bytes,
            after.store_files_bytes
        ),
    );
    let metric = before
        .metric
        .as_ref()
        .zip(after.metric.as_ref())
        .map(|(b, a)| (a.total - b.total, a, b));
    s.row(
        format!(
            "store bytes per answered msg: {} delta",
            probe::STORE_WRITTEN_METRIC
        ),
        bytes(metric.as_ref().and_then(|(d, _, _)| per(*d))),
    );
    let kernel = before
        .io_write_bytes
        .zip(after.io_write_bytes)
        .map(|(b, a)| a as f64 - b as f64);
    s.row(
        "gateway bytes to storage per answered msg (/proc/<pid>/io write_bytes)",
        bytes(kernel.and_then(per)),
    );
    let by_file = metric.as_ref().map(|(_, a, b)| {
        a.by_file
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    json!(v - b.by_file.get(k).copied().unwrap_or(0.0)),
                )
            })
            .collect::<serde_json::Map<_, _>>()
    });
    s.set(
        "store_bytes",
        json!({"answered": answered,
               "files_before": before.store_files_bytes, "files_after": after.store_files_bytes,
               "file_growth_per_answered": per(growth).map(round),
               "metric": probe::STORE_WRITTEN_METRIC,
               "metric_delta": metric.as_ref().map(|(d, _, _)| *d),
               "metric_delta_by_file": by_file,
               "metric_per_answered": metric.as_ref().and_then(|(d, _, _)| per(*d)).map(round),
               "proc_io_write_bytes_delta": kernel,
               "proc_io_write_bytes_per_answered": kernel.and_then(per).map(round)}),
    );

    let ticks = probe::clock_ticks();
    let cpu = before.cpu_ms.zip(after.cpu_ms).map(|(b, a)| a - b);
    s.row(
        "gateway CPU per answered msg (utime+stime)",
        cpu.and_then(|ms| per(ms).map(|p| (ms, p)))
            .map_or("n/a".to_string(), |(ms, p)| {
                format!(
                    "{p:.3} ms ({ms:.0} ms in all; {} ticks/s, {})",
                    ticks.per_second, ticks.source
                )
            }),
    );
    s.set(
        "cpu",
        json!({"total_ms": cpu.map(round),
               "per_answered_ms": cpu.and_then(per).map(|p| (p * 1000.0).round() / 1000.0),
               "clk_tck": ticks.per_second, "clk_tck_source": ticks.source}),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn replies_in_order_missing_and_duplicated() {
        let asked = texts(&["a", "b", "c", "d"]);
        // In order, one missing, a warm-up reply ignored.
        let o = check_order(&asked, &texts(&["warm-up", "a", "b", "d"]));
        assert_eq!(
            o,
            Order {
                out_of_order: 0,
                missing: 1,
                duplicated: 0,
                answered: 3
            }
        );
        // "b" after "c": one out of order; "a" twice.
        let o = check_order(&asked, &texts(&["a", "c", "b", "a", "d"]));
        assert_eq!((o.out_of_order, o.missing, o.duplicated), (1, 0, 1));
        // Every reply after the one to the last message is out of order.
        let o = check_order(&asked, &texts(&["d", "a", "b", "c"]));
        assert_eq!((o.out_of_order, o.answered), (3, 4));
    }
}
