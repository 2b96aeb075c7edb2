//! Scenario 1, webhook mode latency, beside the floor: a minimal client doing the same two API calls.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{expect_reply, floor_responder, pairs, send_steady, warm_up};
use crate::report::Section;
use crate::stats::{round, Summary};
use crate::world::{outcome, Tracker, World};
use crate::Sizes;
use crate::{naive, probe};

const UNLIMITED_RPM: u32 = 1_000_000;

/// Runs the scenario.
pub async fn run(binary: &Path, sizes: &Sizes) -> anyhow::Result<Section> {
    let world = World::new(binary, sizes.users).await?;
    let floor_bot = world.sim.add_bot("floor@webex.bot", "Floor");
    let home = world.gateway_home("webhook", 5.0, UNLIMITED_RPM)?;
    let gateway = home.start().await?;
    warm_up(&world, &world.bot, true).await?;
    warm_up(&world, &floor_bot, false).await?;

    let tracker = Tracker::start(Arc::clone(&world.sim));
    let floor = naive::client(&world.sim.api_base(), &floor_bot.token, UNLIMITED_RPM)?;
    let ours_cb = expect_reply(&tracker, "ours", &world.bot.id);
    let floor_cb = floor_responder(&tracker, "floor", &floor_bot.id, floor);
    let n = sizes.latency_n;
    let cpu_before = probe::cpu_ms(gateway.pid);
    let (ours, floor_sent) = tokio::join!(
        send_steady(
            &world,
            &world.bot.email,
            "ours",
            n,
            sizes.latency_rate,
            Some(ours_cb)
        ),
        send_steady(
            &world,
            &floor_bot.email,
            "floor",
            n,
            sizes.latency_rate,
            Some(floor_cb)
        ),
    );
    tracker.wait_all(Duration::from_secs(30)).await;
    let cpu_after = probe::cpu_ms(gateway.pid);
    tracker.stop();
    let ours_lat = Summary::of(&tracker.latencies("ours"));
    let floor_lat = Summary::of(&tracker.latencies("floor"));
    let result = outcome(&world.sim, &world.bot, &pairs(&ours));
    gateway.stop().await;

    let mut s = Section::new("webhook_latency");
    s.row(
        format!(
            "ours p50/p95/p99/max ({} msgs @ {}/s, {} users)",
            ours.len(),
            sizes.latency_rate,
            sizes.users
        ),
        ours_lat.cell(),
    );
    s.row(
        format!("floor p50/p95/p99/max ({} msgs)", floor_sent.len()),
        floor_lat.cell(),
    );
    s.row(
        "overhead p50/p95/p99 (ours − floor)",
        format!(
            "{:.1} / {:.1} / {:.1} ms",
            ours_lat.p50 - floor_lat.p50,
            ours_lat.p95 - floor_lat.p95,
            ours_lat.p99 - floor_lat.p99
        ),
    );
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    s.row(
        "ratio p50/p99 (ours ÷ floor)",
        format!(
            "{:.2}× / {:.2}×",
            ratio(ours_lat.p50, floor_lat.p50),
            ratio(ours_lat.p99, floor_lat.p99)
        ),
    );
    s.row(
        "lost / duplicated",
        format!("{} / {}", result.lost, result.duplicated),
    );
    // The gateway's CPU over the steady run (idle time between messages included).
    let answered = ours.len() - result.lost;
    let cpu = cpu_before
        .zip(cpu_after)
        .map(|(a, b)| b - a)
        .filter(|_| answered > 0);
    let ticks = probe::clock_ticks();
    s.row(
        "gateway CPU per answered msg (utime+stime)",
        cpu.map_or("n/a".to_string(), |ms| {
            format!(
                "{:.3} ms ({ms:.0} ms over {answered} msgs, {:.1} s run)",
                ms / answered as f64,
                n as f64 / sizes.latency_rate
            )
        }),
    );
    s.set(
        "cpu",
        json!({"total_ms": cpu.map(round), "per_answered_ms": cpu.map(|ms| (ms / answered as f64 * 1000.0).round() / 1000.0),
               "answered": answered, "clk_tck": ticks.per_second, "clk_tck_source": ticks.source}),
    );
    s.set("ours", ours_lat.json());
    s.set("floor", floor_lat.json());
    s.set(
        "overhead_ms",
        json!({"p50": round(ours_lat.p50 - floor_lat.p50), "p95": round(ours_lat.p95 - floor_lat.p95),
               "p99": round(ours_lat.p99 - floor_lat.p99)}),
    );
    s.set(
        "ratio",
        json!({"p50": round(ratio(ours_lat.p50, floor_lat.p50)), "p99": round(ratio(ours_lat.p99, floor_lat.p99))}),
    );
    s.set("messages", json!(ours.len()));
    s.set("rate_per_s", json!(sizes.latency_rate));
    s.set("lost", json!(result.lost));
    s.set("duplicated", json!(result.duplicated));
    Ok(s)
}
