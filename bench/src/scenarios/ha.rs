//! The `ha` scenario (issue 15): three replicas of one bot on PostgreSQL, in webhook mode behind
//! a round-robin load balancer ([`moltbot_testkit::Replicas`]), while the leader is SIGKILLed
//! every few seconds and restarted. Lost and duplicated answers, per-room order, latency
//! percentiles, and how long each failover took (kill → another replica leads). Beside it, the
//! webhook latency of one gateway on PostgreSQL and on SQLite at the same steady load
//! ([`super::latency::steady_on`]), and the cost of the room-order check on PostgreSQL.
//!
//! Needs a PostgreSQL database (`--database-url`, or `MOLTBOT_TEST_DATABASE_URL`); each run
//! works in schemas of its own that are dropped afterwards.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use moltbot_core::store::scratch::ScratchSchema;
use moltbot_core::store::Store;
use moltbot_testkit::{wait, Launch, ReplicaSetup, Replicas};
use serde_json::json;

use super::burst::order_in;
use super::latency::{steady_on, Load, Steady};
use super::{expect_reply, pairs, send_steady, warm_up};
use crate::report::Section;
use crate::stats::{round, Summary};
use crate::world::{outcome, Tracker, World};
use crate::Sizes;

/// `store.leaseSeconds` of the replicas: the leader's lease and every message's.
pub const LEASE_SECONDS: u64 = 3;

/// How long the answers may take to arrive once the load is over.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// Calls of each query when measuring the room-order check.
const CHECK_CALLS: u32 = 1000;

/// Runs the scenario; without a database it reports that it was skipped.
pub async fn run(
    binary: &Path,
    sizes: &Sizes,
    database_url: Option<&str>,
) -> anyhow::Result<Section> {
    let mut s = Section::new("ha");
    let Some(base) = database_url.filter(|u| !u.trim().is_empty()) else {
        s.row(
            "skipped",
            "no PostgreSQL: pass --database-url or set MOLTBOT_TEST_DATABASE_URL",
        );
        s.set("skipped", json!(true));
        return Ok(s);
    };
    let failover = failover_run(binary, sizes, base).await?;
    failover.report(&mut s);

    let load = Load {
        users: sizes.ha_users,
        messages: sizes.ha_latency_n,
        rate: sizes.latency_rate,
        webhook_floor: sizes.webhook_floor,
    };
    let sqlite = steady_on(binary, "webhook", load, None).await?;
    let schema = ScratchSchema::new(base, "bench_pg_latency");
    let postgres = steady_on(binary, "webhook", load, Some(schema.url())).await?;
    compare(&mut s, &sqlite, &postgres);
    drop(schema);
    Ok(s)
}

/// What the failover run measured.
struct Failover {
    replicas: usize,
    sent: usize,
    rate: f64,
    kills: usize,
    /// Kill → another replica leads, per kill.
    failovers: Vec<Duration>,
    latency: Summary,
    lost: usize,
    duplicated: usize,
    extra_replies: usize,
    out_of_order: usize,
    duplicated_texts: Vec<String>,
    lost_texts: Vec<String>,
    /// Webhook deliveries the balancer found a replica down for and passed on.
    skipped_deliveries: usize,
    /// Deliveries no replica answered.
    unanswered_deliveries: usize,
    /// Mean time of one room-order check (`first_ahead`) and of a point read (`get`), in µs.
    check_us: Option<(f64, f64)>,
}

async fn failover_run(binary: &Path, sizes: &Sizes, base: &str) -> anyhow::Result<Failover> {
    let schema = ScratchSchema::new(base, "bench_ha");
    let world = World::new(binary, sizes.ha_users).await?;
    let setup = ReplicaSetup {
        mode: "webhook".to_string(),
        store_url: schema.url().to_string(),
        lease_seconds: LEASE_SECONDS,
        replicas: 3,
        binary: binary.to_path_buf(),
        launch: Launch {
            log_level: "warn".to_string(),
            stderr_limit: Some(256 * 1024),
            ..Launch::default()
        },
    };
    let mut replicas = Replicas::start(&world.sim, &world.bot, &setup).await?;
    replicas
        .wait_leader(Duration::from_secs(30))
        .await
        .context("no replica became leader")?;
    warm_up(&world, &world.bot, true).await?;

    let tracker = Tracker::start(Arc::clone(&world.sim));
    let done = AtomicBool::new(false);
    let kill_every = Duration::from_secs_f64(sizes.ha_kill_seconds);
    let sending = async {
        let sent = send_steady(
            &world,
            &world.bot.email,
            "ha",
            sizes.ha_messages,
            sizes.ha_rate,
            Some(expect_reply(&tracker, "ha", &world.bot.id)),
        )
        .await;
        done.store(true, Ordering::SeqCst);
        sent
    };
    let killing = async {
        let mut failovers = Vec::new();
        loop {
            let over = wait::until(kill_every, || done.load(Ordering::SeqCst).then_some(())).await;
            if over.is_ok() {
                return anyhow::Ok(failovers);
            }
            let Some(leader) = replicas.leader().await else {
                continue;
            };
            replicas.kill(leader).await;
            let killed = Instant::now();
            if replicas
                .wait_leader(Duration::from_secs(30))
                .await
                .is_some()
            {
                failovers.push(killed.elapsed());
            }
            replicas.start_one(leader).await?;
        }
    };
    let (sent, failovers) = tokio::join!(sending, killing);
    let failovers = failovers?;
    let missing = tracker.wait_all(DRAIN_TIMEOUT).await;
    tracker.stop();
    if let Some(any) = replicas.any() {
        // Best effort: the figures below are read either way.
        let _ = any
            .try_settled(&world.sim, &world.bot, Duration::from_secs(30))
            .await;
    }
    let result = outcome(&world.sim, &world.bot, &pairs(&sent));
    let order = order_in(&world, &world.bot, &sent);
    let forwarded = replicas
        .balancer()
        .map(|b| b.forwarded())
        .unwrap_or_default();
    replicas.stop_all().await;
    let check_us = match sent.last() {
        Some(last) => check_cost(&schema, &last.id).await.ok(),
        None => None,
    };
    drop(schema);
    if missing > 0 {
        eprintln!("ha: {missing} answers still missing after {DRAIN_TIMEOUT:?}");
    }
    Ok(Failover {
        replicas: setup.replicas,
        sent: sent.len(),
        rate: sizes.ha_rate,
        kills: failovers.len(),
        failovers,
        latency: Summary::of(&tracker.latencies("ha")),
        lost: result.lost,
        duplicated: result.duplicated,
        extra_replies: result.extra_replies,
        out_of_order: order.out_of_order,
        duplicated_texts: result.duplicated_texts,
        lost_texts: result.lost_texts,
        skipped_deliveries: forwarded.skipped,
        unanswered_deliveries: forwarded.unanswered,
        check_us,
    })
}

/// Times the room-order check (`LedgerRepo::first_ahead`, one statement per message on the
/// message path of replicas) against a point read of one ledger row (`get`), on the ledger the
/// run left (1 000 rows or so, every message answered), for message `id`.
async fn check_cost(schema: &ScratchSchema, id: &str) -> anyhow::Result<(f64, f64)> {
    let store = Store::connect(&schema.location()?).await?;
    let ledger = store.ledger();
    let start = Instant::now();
    for _ in 0..CHECK_CALLS {
        ledger.first_ahead("webex", id).await?;
    }
    let first_ahead = start.elapsed();
    let start = Instant::now();
    for _ in 0..CHECK_CALLS {
        ledger.get("webex", id).await?;
    }
    let get = start.elapsed();
    let us = |d: Duration| round(d.as_secs_f64() * 1e6 / f64::from(CHECK_CALLS));
    Ok((us(first_ahead), us(get)))
}

impl Failover {
    fn report(&self, s: &mut Section) {
        let failover = Summary::of(&self.failovers);
        s.row(
            format!(
                "{} replicas, PostgreSQL, webhook behind a round-robin balancer: {} msgs @ {}/s, leader SIGKILLed {} times (leaseSeconds {LEASE_SECONDS})",
                self.replicas, self.sent, self.rate, self.kills
            ),
            format!(
                "lost {} / duplicated {} (extra replies {}) / out of order {}",
                self.lost, self.duplicated, self.extra_replies, self.out_of_order
            ),
        );
        s.row("ha latency p50/p95/p99/max", self.latency.cell());
        s.row(
            "failover, kill → another replica leads: p50/max",
            format!("{:.0} / {:.0} ms", failover.p50, failover.max),
        );
        s.row(
            "deliveries the balancer passed on (replica down) / unanswered",
            format!(
                "{} / {}",
                self.skipped_deliveries, self.unanswered_deliveries
            ),
        );
        s.row(
            "room-order check on PostgreSQL (first_ahead) vs a point read (get), mean",
            self.check_us.map_or("n/a".to_string(), |(check, get)| {
                format!("{check:.0} µs vs {get:.0} µs per call ({CHECK_CALLS} calls each)")
            }),
        );
        s.set(
            "failover",
            json!({
                "replicas": self.replicas, "messages": self.sent, "rate_per_s": self.rate,
                "lease_seconds": LEASE_SECONDS, "kills": self.kills,
                "failover_ms": failover.json(),
                "latency": self.latency.json(),
                "lost": self.lost, "duplicated": self.duplicated,
                "extra_replies": self.extra_replies, "out_of_order": self.out_of_order,
                "lost_texts": self.lost_texts, "duplicated_texts": self.duplicated_texts,
                "balancer": {"skipped": self.skipped_deliveries,
                             "unanswered": self.unanswered_deliveries},
            }),
        );
        s.set(
            "room_order_check",
            json!({
                "calls": CHECK_CALLS,
                "first_ahead_us": self.check_us.map(|c| c.0),
                "get_us": self.check_us.map(|c| c.1),
            }),
        );
    }
}

/// The single-replica webhook latency on SQLite and on PostgreSQL, side by side.
fn compare(s: &mut Section, sqlite: &Steady, postgres: &Steady) {
    for (label, fig) in [("sqlite", sqlite), ("postgres", postgres)] {
        s.row(
            format!(
                "webhook latency, one gateway on {label} p50/p95/p99/max ({} msgs @ {}/s)",
                fig.sent, fig.load.rate
            ),
            fig.ours.cell(),
        );
    }
    s.row(
        "webhook latency gap p50/p95/p99 (postgres − sqlite)",
        format!(
            "{:.1} / {:.1} / {:.1} ms",
            postgres.ours.p50 - sqlite.ours.p50,
            postgres.ours.p95 - sqlite.ours.p95,
            postgres.ours.p99 - sqlite.ours.p99
        ),
    );
    s.row(
        "lost / duplicated (sqlite, postgres)",
        format!(
            "{} / {}, {} / {}",
            sqlite.outcome.lost,
            sqlite.outcome.duplicated,
            postgres.outcome.lost,
            postgres.outcome.duplicated
        ),
    );
    s.set(
        "webhook_latency",
        json!({"sqlite": sqlite.json(), "postgres": postgres.json(),
               "gap_ms": {"p50": round(postgres.ours.p50 - sqlite.ours.p50),
                          "p95": round(postgres.ours.p95 - sqlite.ours.p95),
                          "p99": round(postgres.ours.p99 - sqlite.ours.p99)}}),
    );
}
