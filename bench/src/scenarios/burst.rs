//! Scenario 4, the burst of issue 11: N messages over R rooms (1:1, one user each), all sent
//! at once, to the gateway in webhook mode and then, in the same run, to three floors: the
//! webhook floor in a process of its own ([`WebhookFloor`], [`FloorKind::Process`], the base of
//! the ratios), the same floor in the bench's process ([`FloorKind::InProcess`]) and the floor
//! without the webhook hop ([`floor_responder`]). Drained time, latency percentiles, per-room reply order, and the
//! gateway's store bytes and CPU per answered message.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{json, Value};
use webex_sim::{DeliveryTimes, SimPerson};

use super::{expect_reply, floor_responder, rooms_of, send_burst_with, warm_up, OnSent, Sent};
use crate::floor::{FloorKind, WebhookFloor};
use crate::report::Section;
use crate::stats::{round, Summary};
use crate::world::{Tracker, World};
use crate::{naive, probe, Sizes, UNLIMITED_RPM};

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

/// The figures of one side (ours or a floor): one round's, or every round's added up.
#[derive(Default)]
struct Side {
    /// Messages sent, over the rounds.
    sent: usize,
    /// First send to the last reply seen, per round; `None` for a round not answered in full.
    drained: Vec<Option<Duration>>,
    /// Time until every user's `POST` returned, per round.
    sent_in: Vec<Duration>,
    /// Every answered message's latency.
    latencies: Vec<Duration>,
    /// Each round's latency percentiles.
    latency_by_round: Vec<Summary>,
    order: Order,
    /// Webhook deliveries a webhook floor got during its bursts, and of those its own
    /// messages it skipped; `None` for the others.
    deliveries: Option<(usize, usize)>,
    /// How long its webhook took to answer each delivery of the bursts, as the emulator timed
    /// them; `None` without a webhook.
    answer_times: Option<DeliveryTimes>,
    /// CPU (user + system, ms) of a floor in a process of its own during its bursts; `None`
    /// for the others (the gateway's is in `cpu`).
    cpu_ms: Option<f64>,
}

/// `a + b` where both are there, else whichever is.
fn sum_either<T: std::ops::Add<Output = T>>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

/// The median of `values` (the mean of the two middle ones for an even count); `None` when
/// empty.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        len if len % 2 == 1 => Some(values[mid]),
        _ => Some((values[mid - 1] + values[mid]) / 2.0),
    }
}

impl Side {
    /// Adds one round's figures.
    fn add(&mut self, round: Side) {
        self.sent += round.sent;
        self.drained.extend(round.drained);
        self.sent_in.extend(round.sent_in);
        self.latencies.extend(round.latencies);
        self.latency_by_round.extend(round.latency_by_round);
        self.order.add(round.order);
        self.deliveries = match (self.deliveries, round.deliveries) {
            (Some(a), Some(b)) => Some((a.0 + b.0, a.1 + b.1)),
            (a, b) => a.or(b),
        };
        self.answer_times = match (self.answer_times.take(), round.answer_times) {
            (Some(mut a), Some(b)) => {
                a.others.extend(b.others);
                a.own.extend(b.own);
                Some(a)
            }
            (a, b) => a.or(b),
        };
        self.cpu_ms = sum_either(self.cpu_ms, round.cpu_ms);
    }

    /// Each round's drained time in ms; `None` when a round was not answered in full.
    fn drained_ms(&self) -> Option<Vec<f64>> {
        self.drained
            .iter()
            .map(|d| d.map(|d| d.as_secs_f64() * 1000.0))
            .collect()
    }

    /// The median round's drained time (ms); `None` when a round was not answered in full.
    fn median_drained_ms(&self) -> Option<f64> {
        median(self.drained_ms()?)
    }

    /// The median round's time until every user's `POST` had returned (ms).
    fn median_sent_in_ms(&self) -> Option<f64> {
        median(
            self.sent_in
                .iter()
                .map(|d| d.as_secs_f64() * 1000.0)
                .collect(),
        )
    }

    /// Percentiles of every answered message's latency, over the rounds.
    fn latency(&self) -> Summary {
        Summary::of(&self.latencies)
    }
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
               "drained_ms": self.median_drained_ms().map(round),
               "drained_ms_by_round": self.drained.iter()
                   .map(|d| d.map(|d| round(d.as_secs_f64() * 1000.0)))
                   .collect::<Vec<_>>(),
               "all_sent_ms": self.median_sent_in_ms().map(round),
               "latency": self.latency().json(), "out_of_order": self.order.out_of_order,
               "missing": self.order.missing, "duplicated": self.order.duplicated});
        if let Some((received, own)) = self.deliveries {
            v["deliveries"] = json!({"received": received, "own_skipped": own});
        }
        if let Some(ms) = self.cpu_ms {
            v["cpu_ms"] = json!(round(ms));
            v["cpu_per_answered_ms"] =
                json!((self.order.answered > 0)
                    .then(|| (ms / self.order.answered as f64 * 1000.0).round() / 1000.0));
        }
        if let Some(times) = &self.answer_times {
            v["delivery_answer_times"] =
                json!({"others": answer_json(&times.others), "own": answer_json(&times.own)});
        }
        v
    }
}

/// Sends round `round`'s burst to `bot` (every message at once, texts tagged with `series`
/// and the round), waits until `tracker` saw every reply of `series` (or [`DRAIN_TIMEOUT`]) and
/// checks the order. `tracker` is the round's own.
async fn burst(
    world: &World,
    bot: &SimPerson,
    tracker: &Tracker,
    series: &'static str,
    round: usize,
    n: usize,
    on_sent: OnSent,
) -> Side {
    let start = Instant::now();
    let tag = format!("{series} r{round}");
    let sent = send_burst_with(world, &bot.email, &tag, n, n, Some(on_sent)).await;
    let sent_in = start.elapsed();
    let missing = tracker.wait_all(DRAIN_TIMEOUT).await;
    let drained = tracker
        .last_reply(series)
        .filter(|_| missing == 0)
        .map(|t| t - start);
    let latencies = tracker.latencies(series);
    Side {
        sent: sent.len(),
        drained: vec![drained],
        sent_in: vec![sent_in],
        latency_by_round: vec![Summary::of(&latencies)],
        latencies,
        order: order_in(world, bot, &sent),
        ..Side::default()
    }
}

/// The gateway's counters, read before and after each of its bursts.
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

/// The gateway's CPU during its bursts: the growth from before to after each burst, added up
/// over the rounds (so the floors' bursts in between are not in it).
#[derive(Default)]
struct Usage {
    cpu_ms: Option<f64>,
}

impl Usage {
    fn add(&mut self, before: &Probe, after: &Probe) {
        let grown = before.cpu_ms.zip(after.cpu_ms).map(|(b, a)| a - b);
        self.cpu_ms = sum_either(self.cpu_ms, grown);
    }
}

/// What the gateway wrote over the whole run: read before its first burst and after the
/// checkpoint that followed its last one (the store's checkpointer copies the WAL into the
/// database about once a second while there are writes), so every page its bursts wrote to the
/// WAL is counted with its copy into the database. Between its bursts it is idle (the floors'
/// bursts do not touch its store).
struct StoreWrites {
    first: Probe,
    last: Probe,
    /// Whether a checkpoint was seen after the last burst ([`after_checkpoint`]).
    checkpointed: bool,
}

/// How long to wait for the checkpoint after the last burst: the checkpointer looks once a
/// second.
const CHECKPOINT_WAIT: Duration = Duration::from_secs(5);

/// The database file's written-bytes count of a reading (`None` without the metric).
fn db_written(p: &Probe) -> Option<f64> {
    p.metric.as_ref().and_then(|m| m.by_file.get("db").copied())
}

/// Reads the gateway again until its store's database file has been written since `last_burst`
/// (the reading after its last burst): a checkpoint ran after its last write and copied it.
/// Gives up after [`CHECKPOINT_WAIT`] (then `false`).
async fn after_checkpoint(
    gateway: &crate::gateway::RunningGateway,
    files: &[&Path],
    last_burst: &Probe,
) -> (Probe, bool) {
    let deadline = Instant::now() + CHECKPOINT_WAIT;
    loop {
        let now = look(gateway, files).await;
        if db_written(&now).is_some() && db_written(&now) > db_written(last_burst) {
            return (now, true);
        }
        if Instant::now() >= deadline {
            return (now, false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the scenario: after the warm-up, `sizes.burst_rounds` rounds, each a burst to the
/// gateway (then waiting until it is quiet) and then one to each floor, one after the other
/// (bursts at once would share the two cores).
pub async fn run(binary: &Path, sizes: &Sizes) -> anyhow::Result<Section> {
    let (n, rooms) = (sizes.burst_messages, sizes.burst_rooms.max(1));
    let rounds = sizes.burst_rounds.max(1);
    let world = World::new(binary, rooms).await?;
    let floor_bot = world.sim.add_bot("floor@webex.bot", "Floor");
    let hook =
        HookFloor::start(&world, "floor-webhook", "Floor Webhook", FloorKind::Process).await?;
    let hook_in = HookFloor::start(
        &world,
        "floor-webhook-in-process",
        "Floor Webhook In Process",
        FloorKind::InProcess,
    )
    .await?;
    let home = world.gateway_home("webhook", 5.0, UNLIMITED_RPM)?;
    let gateway = home.start().await?;
    warm_up(&world, &world.bot, true).await?;
    // Answered by the webhook floors: they work, and their connections are open like the
    // gateway's.
    warm_up(&world, &hook.bot, true).await?;
    warm_up(&world, &hook_in.bot, true).await?;
    warm_up(&world, &floor_bot, false).await?;
    // Quiet before the first reading, so the warm-up's last store writes are not counted.
    gateway
        .try_settled(&world.sim, &world.bot, SETTLE_TIMEOUT)
        .await?;
    let store_files = home.store_files();
    let files: Vec<&Path> = store_files.iter().map(|p| p.as_path()).collect();
    let direct_client = naive::client(&world.sim.api_base(), &floor_bot.token, UNLIMITED_RPM)?;

    let mut ours = Side::default();
    let (mut floor_webhook, mut floor_in_process) = (Side::default(), Side::default());
    let mut floor_direct = Side::default();
    let mut usage = Usage::default();
    let first = look(&gateway, &files).await;
    let mut last_burst = None;
    for round in 1..=rounds {
        let tracker = Tracker::start(Arc::clone(&world.sim));
        // Each round starts with another side, so none always goes first (after a quiet spell)
        // or last (after the emulator has grown by the round's other bursts).
        for turn in 0..TURNS.len() {
            match TURNS[(turn + round - 1) % TURNS.len()] {
                Turn::Ours => {
                    // The "after" reading waits for the quiet signal, so the writes that follow
                    // the last reply (its chunk marked sent, the message finished) are in it.
                    let before = look(&gateway, &files).await;
                    // The deliveries before (the warm-up's, the last burst's replies coming
                    // back) are not this burst's.
                    deliveries_done(&world).await?;
                    world.sim.clear_delivery_answer_times();
                    let reply = expect_reply(&tracker, "ours", &world.bot.id);
                    let mut side =
                        burst(&world, &world.bot, &tracker, "ours", round, n, reply).await;
                    gateway
                        .try_settled(&world.sim, &world.bot, SETTLE_TIMEOUT)
                        .await?;
                    let after = look(&gateway, &files).await;
                    deliveries_done(&world).await?;
                    side.answer_times = answer_times_of(&world, &world.bot);
                    ours.add(side);
                    usage.add(&before, &after);
                    last_burst = Some(after);
                }
                // The webhook floors: every delivery (the users' messages and their own
                // replies) through the emulator's one-at-a-time drainer, like the gateway's.
                Turn::Process => {
                    let side = hook.burst(&world, &tracker, "floor_webhook", round, n);
                    floor_webhook.add(side.await?);
                }
                Turn::InProcess => {
                    let series = "floor_webhook_in_process";
                    floor_in_process.add(hook_in.burst(&world, &tracker, series, round, n).await?);
                }
                Turn::Direct => {
                    deliveries_done(&world).await?;
                    let client = direct_client.clone();
                    let answer = floor_responder(&tracker, "floor_direct", &floor_bot.id, client);
                    let side = burst(
                        &world,
                        &floor_bot,
                        &tracker,
                        "floor_direct",
                        round,
                        n,
                        answer,
                    );
                    floor_direct.add(side.await);
                }
            }
        }
        tracker.stop();
    }
    let last_burst = last_burst.context("no burst to the gateway ran")?;
    let (last, checkpointed) = after_checkpoint(&gateway, &files, &last_burst).await;
    let store = StoreWrites {
        first,
        last,
        checkpointed,
    };
    gateway.stop().await;
    drop((hook, hook_in));

    let mut s = Section::new("burst");
    let sides = Sides {
        ours: &ours,
        hook: &floor_webhook,
        hook_in: &floor_in_process,
        direct: &floor_direct,
    };
    report(&mut s, sizes, rounds, &sides);
    per_message(&mut s, &usage, &store, rounds, ours.order.answered);
    Ok(s)
}

/// The bursts of a round, in the first round's order.
#[derive(Debug, Clone, Copy)]
enum Turn {
    Ours,
    Process,
    InProcess,
    Direct,
}

const TURNS: [Turn; 4] = [Turn::Ours, Turn::Process, Turn::InProcess, Turn::Direct];

/// A webhook floor of one kind, with the bot it answers for.
struct HookFloor {
    bot: SimPerson,
    floor: WebhookFloor,
}

impl HookFloor {
    /// Adds the bot `<name>@webex.bot` and starts its webhook floor of `kind`.
    async fn start(
        world: &World,
        name: &str,
        display_name: &str,
        kind: FloorKind,
    ) -> anyhow::Result<Self> {
        let bot = world
            .sim
            .add_bot(&format!("{name}@webex.bot"), display_name);
        let floor = WebhookFloor::start(&world.sim, &bot, kind).await?;
        Ok(Self { bot, floor })
    }

    /// Its burst of round `round` under `series`, with the deliveries it got, their answer
    /// times and (a process floor) its CPU.
    async fn burst(
        &self,
        world: &World,
        tracker: &Arc<Tracker>,
        series: &'static str,
        round: usize,
        n: usize,
    ) -> anyhow::Result<Side> {
        let before = self.floor.counts().await?;
        let pid = self.floor.pid();
        let cpu_before = pid.and_then(probe::cpu_ms);
        // The last burst's deliveries are not this one's.
        deliveries_done(world).await?;
        world.sim.clear_delivery_answer_times();
        let reply = expect_reply(tracker, series, &self.bot.id);
        let mut side = burst(world, &self.bot, tracker, series, round, n, reply).await;
        deliveries_done(world).await?;
        let after = self.floor.counts().await?;
        let cpu_after = pid.and_then(probe::cpu_ms);
        side.cpu_ms = cpu_before.zip(cpu_after).map(|(b, a)| a - b);
        side.deliveries = Some((after.0 - before.0, after.1 - before.1));
        side.answer_times = answer_times_of(world, &self.bot);
        Ok(side)
    }
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

/// Ours ÷ a floor: drained time and latency percentiles, each the median of the rounds'
/// ratios (a round's bursts ran one right after the other, so its ratio compares the two bots
/// on the same stretch of the machine's time; the machine's pace drifts between rounds).
struct Ratios {
    drained: Option<f64>,
    /// Each round's ratio of drained times.
    drained_by_round: Vec<Option<f64>>,
    p50: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
    /// The ratios of the percentiles of every round's latencies put together.
    pooled: [Option<f64>; 3],
}

/// The median of the rounds' `ours[i] ÷ floor[i]`; `None` when a round has no ratio.
fn median_ratio(ours: &[f64], floor: &[f64]) -> Option<f64> {
    let ratios: Option<Vec<f64>> = ours.iter().zip(floor).map(|(a, b)| ratio(*a, *b)).collect();
    ratios.and_then(median)
}

impl Ratios {
    fn of(ours: &Side, floor: &Side) -> Self {
        let (l, f) = (ours.latency(), floor.latency());
        let drained_by_round: Vec<Option<f64>> = ours
            .drained
            .iter()
            .zip(&floor.drained)
            .map(|(a, b)| {
                a.zip(*b)
                    .and_then(|(a, b)| ratio(a.as_secs_f64(), b.as_secs_f64()))
            })
            .collect();
        let all: Option<Vec<f64>> = drained_by_round.iter().copied().collect();
        let by_round = |side: &Side, pick: fn(&Summary) -> f64| -> Vec<f64> {
            side.latency_by_round.iter().map(pick).collect()
        };
        let percentile =
            |pick: fn(&Summary) -> f64| median_ratio(&by_round(ours, pick), &by_round(floor, pick));
        Self {
            drained: all.and_then(median),
            drained_by_round,
            p50: percentile(|s| s.p50),
            p95: percentile(|s| s.p95),
            p99: percentile(|s| s.p99),
            pooled: [
                ratio(l.p50, f.p50),
                ratio(l.p95, f.p95),
                ratio(l.p99, f.p99),
            ],
        }
    }

    /// The median of the rounds' ratios, then the ratio of the pooled percentiles.
    fn latency_cell(&self) -> String {
        let [p50, p95, p99] = self.pooled;
        format!(
            "{} / {} / {} (all rounds' latencies pooled: {} / {} / {})",
            times(self.p50),
            times(self.p95),
            times(self.p99),
            times(p50),
            times(p95),
            times(p99)
        )
    }

    fn json(&self) -> Value {
        let [p50, p95, p99] = self.pooled.map(|r| r.map(round));
        json!({"drained": self.drained.map(round),
               "drained_by_round": self.drained_by_round.iter().map(|r| r.map(round))
                   .collect::<Vec<_>>(),
               "p50": self.p50.map(round), "p95": self.p95.map(round),
               "p99": self.p99.map(round),
               "pooled": {"p50": p50, "p95": p95, "p99": p99}})
    }
}

/// The four sides of a run.
struct Sides<'a> {
    ours: &'a Side,
    /// The webhook floor in a process of its own: the base of the ratios.
    hook: &'a Side,
    /// The webhook floor in the bench's process.
    hook_in: &'a Side,
    /// The floor without the webhook hop.
    direct: &'a Side,
}

fn report(s: &mut Section, sizes: &Sizes, rounds: usize, sides: &Sides<'_>) {
    let Sides {
        ours,
        hook,
        hook_in,
        direct,
    } = *sides;
    let ms = |d: Option<f64>| d.map_or("not drained".to_string(), |d| format!("{d:.1} ms"));
    let (base, other) = (Ratios::of(ours, hook), Ratios::of(ours, direct));
    let in_process = Ratios::of(ours, hook_in);
    s.row(
        format!(
            "drained, first send → last reply ({} msgs over {} rooms, all at once; median of {rounds} rounds): ours / webhook floor (a process of its own) / ratio (median of the rounds')",
            sizes.burst_messages, sizes.burst_rooms
        ),
        format!(
            "{} / {} / {} (users' POSTs all returned after {:.0} ms)",
            ms(ours.median_drained_ms()),
            ms(hook.median_drained_ms()),
            times(base.drained),
            ours.median_sent_in_ms().unwrap_or(0.0)
        ),
    );
    let by_round = ours
        .drained
        .iter()
        .zip(&hook.drained)
        .zip(&base.drained_by_round)
        .map(|((a, b), r)| {
            let ms = |d: &Option<Duration>| {
                d.map_or("-".to_string(), |d| {
                    format!("{:.0}", d.as_secs_f64() * 1000.0)
                })
            };
            format!("{} / {} ({})", ms(a), ms(b), times(*r))
        })
        .collect::<Vec<_>>()
        .join(", ");
    s.row(
        "drained by round, ours / webhook floor ms (ratio)",
        by_round,
    );
    s.row(
        "drained: webhook floor in the bench's process / ratio (ours ÷ it)",
        format!(
            "{} / {}",
            ms(hook_in.median_drained_ms()),
            times(in_process.drained)
        ),
    );
    s.row(
        "drained: floor (no webhook hop) / ratio (ours ÷ it)",
        format!(
            "{} / {}",
            ms(direct.median_drained_ms()),
            times(other.drained)
        ),
    );
    s.row(
        "ours latency p50/p95/p99/max (every round's messages)",
        ours.latency().cell(),
    );
    s.row(
        "webhook floor latency p50/p95/p99/max",
        hook.latency().cell(),
    );
    s.row(
        "webhook floor in the bench's process latency p50/p95/p99/max",
        hook_in.latency().cell(),
    );
    s.row(
        "floor (no webhook hop) latency p50/p95/p99/max",
        direct.latency().cell(),
    );
    s.row(
        "latency ratio p50/p95/p99, median of the rounds' (ours ÷ webhook floor)",
        base.latency_cell(),
    );
    s.row(
        "latency ratio p50/p95/p99, median of the rounds' (ours ÷ webhook floor in the bench's process)",
        in_process.latency_cell(),
    );
    s.row(
        "latency ratio p50/p95/p99, median of the rounds' (ours ÷ floor (no webhook hop))",
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
        format!(
            "ours {}; webhook floor {}; in the bench's process {}",
            answers(ours, false),
            answers(hook, false),
            answers(hook_in, false)
        ),
    );
    s.row(
        "webhook deliveries of the bot's own replies, time to answer (count in sum: p50 / p95 / p99 / max)",
        format!(
            "ours {}; webhook floor {}; in the bench's process {}",
            answers(ours, true),
            answers(hook, true),
            answers(hook_in, true)
        ),
    );
    s.row(
        "per-room order: out_of_order / missing (target 0 / 0)",
        format!(
            "{} / {} (the floors, which do not order: webhook {} / {}, in the bench's process {} / {}, no webhook hop {} / {})",
            ours.order.out_of_order,
            ours.order.missing,
            hook.order.out_of_order,
            hook.order.missing,
            hook_in.order.out_of_order,
            hook_in.order.missing,
            direct.order.out_of_order,
            direct.order.missing
        ),
    );
    s.row(
        "webhook floor (its own process) CPU per answered msg (utime+stime; the gateway's is below)",
        hook.cpu_ms
            .filter(|_| hook.order.answered > 0)
            .map_or("n/a".to_string(), |ms| {
                format!(
                    "{:.3} ms ± {:.3} ({ms:.0} ms in all)",
                    ms / hook.order.answered as f64,
                    tick_error(rounds, hook.order.answered)
                )
            }),
    );
    s.set("messages", json!(sizes.burst_messages));
    s.set("rooms", json!(sizes.burst_rooms));
    s.set("rounds", json!(rounds));
    s.set("ours", ours.json());
    s.set("floor_webhook", hook.json());
    s.set("floor_webhook_in_process", hook_in.json());
    s.set("floor_direct", direct.json());
    s.set("ratio", base.json());
    s.set("ratio_direct", other.json());
    s.set("ratio_in_process", in_process.json());
}

/// How far a CPU time per message may be off: each burst's reading is a difference of two
/// counts in clock ticks, so off by up to one tick; `windows` of them over `answered` messages.
fn tick_error(windows: usize, answered: usize) -> f64 {
    let tick_ms = 1000.0 / probe::clock_ticks().per_second.max(1) as f64;
    windows as f64 * tick_ms / answered.max(1) as f64
}

/// The gateway's store bytes per answered message over the whole run (`store`) and its CPU
/// per answered message over its `windows` bursts (`usage`).
fn per_message(
    s: &mut Section,
    usage: &Usage,
    store: &StoreWrites,
    windows: usize,
    answered: usize,
) {
    let per = |x: f64| (answered > 0).then(|| x / answered as f64);
    let bytes = |v: Option<f64>| v.map_or("n/a".to_string(), |b| format!("{b:.0} B"));
    let (first, last) = (&store.first, &store.last);

    let growth = last.store_files_bytes as f64 - first.store_files_bytes as f64;
    s.row(
        "store bytes per answered msg: file growth (moltbot.sqlite + -wal)",
        format!(
            "{} ({} → {} bytes; a reused WAL hides rewrites, see README)",
            bytes(per(growth)),
            first.store_files_bytes,
            last.store_files_bytes
        ),
    );
    let metric = first
        .metric
        .as_ref()
        .zip(last.metric.as_ref())
        .map(|(b, a)| {
            let by_file: BTreeMap<String, f64> = a
                .by_file
                .iter()
                .map(|(k, v)| (k.clone(), v - b.by_file.get(k).copied().unwrap_or(0.0)))
                .collect();
            (a.total - b.total, by_file)
        });
    let file = |name: &str| {
        metric
            .as_ref()
            .and_then(|(_, by)| by.get(name).copied())
            .and_then(per)
    };
    s.row(
        format!(
            "store bytes per answered msg: {} delta, WAL + database ({})",
            probe::STORE_WRITTEN_METRIC,
            if store.checkpointed {
                "the checkpoint after the last burst included"
            } else {
                "no checkpoint seen after the last burst: the database's share is short"
            }
        ),
        format!(
            "{} (WAL {}, database {})",
            bytes(metric.as_ref().and_then(|(d, _)| per(*d))),
            bytes(file("wal")),
            bytes(file("db"))
        ),
    );
    let kernel = first
        .io_write_bytes
        .zip(last.io_write_bytes)
        .map(|(b, a)| a as f64 - b as f64);
    s.row(
        "gateway bytes to storage per answered msg (/proc/<pid>/io write_bytes)",
        bytes(kernel.and_then(per)),
    );
    s.set(
        "store_bytes",
        json!({"answered": answered,
               "files_before": first.store_files_bytes, "files_after": last.store_files_bytes,
               "file_growth_per_answered": per(growth).map(round),
               "metric": probe::STORE_WRITTEN_METRIC,
               "checkpointed": store.checkpointed,
               "metric_delta": metric.as_ref().map(|(d, _)| *d),
               "metric_delta_by_file": metric.as_ref().map(|(_, by)| by),
               "metric_per_answered": metric.as_ref().and_then(|(d, _)| per(*d)).map(round),
               "wal_per_answered": file("wal").map(round),
               "db_per_answered": file("db").map(round),
               "proc_io_write_bytes_delta": kernel,
               "proc_io_write_bytes_per_answered": kernel.and_then(per).map(round)}),
    );

    let ticks = probe::clock_ticks();
    let cpu = usage.cpu_ms;
    s.row(
        "gateway CPU per answered msg (utime+stime)",
        cpu.and_then(|ms| per(ms).map(|p| (ms, p)))
            .map_or("n/a".to_string(), |(ms, p)| {
                format!(
                    "{p:.3} ms ± {:.3} ({ms:.0} ms in all over {windows} bursts; {} ticks/s, {})",
                    tick_error(windows, answered),
                    ticks.per_second,
                    ticks.source
                )
            }),
    );
    s.set(
        "cpu",
        json!({"total_ms": cpu.map(round),
               "per_answered_ms": cpu.and_then(per).map(|p| (p * 1000.0).round() / 1000.0),
               "per_answered_error_ms": round(tick_error(windows, answered)),
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

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn side(drained: &[Option<u64>]) -> Side {
        let p99 = |d: &Option<u64>| Summary {
            count: 1,
            p50: 1.0,
            p95: 1.0,
            p99: d.unwrap_or(0) as f64,
            max: 1.0,
        };
        Side {
            drained: drained.iter().map(|d| d.map(ms)).collect(),
            latencies: vec![ms(10)],
            latency_by_round: drained.iter().map(p99).collect(),
            ..Side::default()
        }
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn the_drained_ratio_is_the_median_of_the_rounds_ratios() {
        // Rounds' ratios 2.0, 1.0, 1.5: the median 1.5, not the ratio of the medians
        // (200 / 100 = 2.0).
        let ours = side(&[Some(200), Some(100), Some(300)]);
        let floor = side(&[Some(100), Some(100), Some(200)]);
        let r = Ratios::of(&ours, &floor);
        let near = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert!(near(r.drained, 1.5), "{:?}", r.drained);
        let expected = [2.0, 1.0, 1.5];
        assert_eq!(r.drained_by_round.len(), 3);
        for (got, want) in r.drained_by_round.iter().zip(expected) {
            assert!(near(*got, want), "{:?}", r.drained_by_round);
        }
        // The latency percentiles the same way: here each round's p99 is its drained time.
        assert!(near(r.p99, 1.5), "{:?}", r.p99);
        assert!(near(r.p50, 1.0), "{:?}", r.p50);
        assert_eq!(ours.median_drained_ms(), Some(200.0));
        // A round not answered in full leaves no drained figure, and no ratio.
        let partial = side(&[Some(200), None, Some(300)]);
        assert_eq!(partial.median_drained_ms(), None);
        assert_eq!(Ratios::of(&partial, &floor).drained, None);
    }

    #[test]
    fn rounds_add_up() {
        let mut all = Side::default();
        for (sent, drained) in [(3, 50), (2, 70)] {
            all.add(Side {
                sent,
                drained: vec![Some(ms(drained))],
                latencies: vec![ms(drained); sent],
                deliveries: Some((2 * sent, sent)),
                cpu_ms: Some(1.5),
                ..Side::default()
            });
        }
        assert_eq!(all.sent, 5);
        assert_eq!(all.latencies.len(), 5);
        assert_eq!(all.deliveries, Some((10, 5)));
        assert_eq!(all.cpu_ms, Some(3.0));
        assert_eq!(all.median_drained_ms(), Some(60.0));
    }
}
