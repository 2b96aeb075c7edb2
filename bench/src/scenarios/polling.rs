//! Scenario 2, polling mode: latency per interval, API requests per idle interval and per answered
//! message, beside the naive strategy (list rooms, then every room's messages, each interval).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moltbot_testkit::wait;
use serde_json::{json, Value};

use super::latency::Load;
use super::{pairs, send_steady, warm_up, OnSent, Sent};
use crate::naive;
use crate::report::Section;
use crate::stats::{round, Summary};
use crate::world::{outcome, Tracker, World};
use crate::{Sizes, UNLIMITED_RPM};

/// The load of the latency run at `interval` seconds with `n` messages: at most 10 users (so
/// the naive poller's rooms are few), and the messages spread over four intervals so they land
/// at random phases of the poll. The websocket scenario measures at the same load.
pub fn latency_load(sizes: &Sizes, interval: f64, n: usize) -> Load {
    Load {
        users: sizes.users.min(10),
        messages: n,
        rate: (n as f64 / (interval * 4.0)).max(0.5),
        webhook_floor: sizes.webhook_floor,
    }
}

/// Runs the scenario.
pub async fn run(binary: &Path, sizes: &Sizes) -> anyhow::Result<Section> {
    let mut s = Section::new("polling");
    let mut latency_json = Vec::new();
    for &(interval, n) in &sizes.polling {
        let fig = latency_at(binary, sizes, interval, n).await?;
        s.row(
            format!("ours @ {interval} s: p50/p95/p99/max ({n} msgs)"),
            fig.ours.cell(),
        );
        s.row(
            format!("naive @ {interval} s: p50/p95/p99/max"),
            fig.naive.cell(),
        );
        s.row(
            format!("requests per answered msg @ {interval} s: ours / naive"),
            format!("{:.2} / {:.2}", fig.ours_per_msg, fig.naive_per_msg),
        );
        s.row(
            format!("lost @ {interval} s: ours / naive"),
            format!("{} / {}", fig.ours_lost, fig.naive_lost),
        );
        latency_json.push(json!({
            "interval_s": interval, "messages": n,
            "ours": fig.ours.json(), "naive": fig.naive.json(),
            "requests_per_answered": {"ours": round(fig.ours_per_msg), "naive": round(fig.naive_per_msg)},
            "lost": {"ours": fig.ours_lost, "naive": fig.naive_lost},
        }));
    }
    let mut idle_json = Vec::new();
    for &rooms in &sizes.idle_rooms {
        let (ours, naive) = idle_cost(binary, rooms, sizes.idle_intervals).await?;
        s.row(
            format!("requests per idle interval, {rooms} rooms: ours / naive"),
            format!("{ours:.2} / {naive:.2}"),
        );
        idle_json.push(json!({"rooms": rooms, "ours": round(ours), "naive": round(naive)}));
    }
    s.set("latency", Value::Array(latency_json));
    s.set("idle_requests_per_interval", Value::Array(idle_json));
    Ok(s)
}

struct Figures {
    ours: Summary,
    naive: Summary,
    ours_per_msg: f64,
    naive_per_msg: f64,
    ours_lost: usize,
    naive_lost: usize,
}

async fn latency_at(
    binary: &Path,
    sizes: &Sizes,
    interval: f64,
    n: usize,
) -> anyhow::Result<Figures> {
    let load = latency_load(sizes, interval, n);
    let world = World::new(binary, load.users).await?;
    let naive_bot = world.sim.add_bot("naive@webex.bot", "Naive");
    let home = world.gateway_home("polling", interval, UNLIMITED_RPM)?;
    let gateway = home.start().await?;
    let stop = Arc::new(AtomicBool::new(false));
    let client = naive::client(&world.sim.api_base(), &naive_bot.token, UNLIMITED_RPM)?;
    let poller = tokio::spawn(naive::run(
        client,
        naive_bot.id.clone(),
        Duration::from_secs_f64(interval),
        Arc::clone(&stop),
        Arc::new(AtomicU64::new(0)),
    ));
    warm_up(&world, &world.bot, true).await?;
    warm_up(&world, &naive_bot, true).await?;
    world.sim.clear_requests();

    let tracker = Tracker::start(Arc::clone(&world.sim));
    let cb = |series: &'static str, bot: String| -> OnSent {
        let tracker = Arc::clone(&tracker);
        Arc::new(move |s: &Sent| tracker.expect(series, &s.room, &bot, &s.text, s.at))
    };
    let rate = load.rate;
    let (ours, naive_sent) = tokio::join!(
        send_steady(
            &world,
            &world.bot.email,
            "ours",
            n,
            rate,
            Some(cb("ours", world.bot.id.clone()))
        ),
        send_steady(
            &world,
            &naive_bot.email,
            "naive",
            n,
            rate,
            Some(cb("naive", naive_bot.id.clone()))
        ),
    );
    tracker
        .wait_all(Duration::from_secs_f64(interval * 4.0 + 20.0))
        .await;
    tracker.stop();
    let ours_out = outcome(&world.sim, &world.bot, &pairs(&ours));
    let naive_out = outcome(&world.sim, &naive_bot, &pairs(&naive_sent));
    let ours_requests = world.requests_by(&world.bot).len();
    let naive_requests = world.requests_by(&naive_bot).len();
    stop.store(true, Ordering::Relaxed);
    poller.abort();
    gateway.stop().await;
    let per = |requests: usize, answered: usize| requests as f64 / answered.max(1) as f64;
    Ok(Figures {
        ours: Summary::of(&tracker.latencies("ours")),
        naive: Summary::of(&tracker.latencies("naive")),
        ours_per_msg: per(ours_requests, ours.len() - ours_out.lost),
        naive_per_msg: per(naive_requests, naive_sent.len() - naive_out.lost),
        ours_lost: ours_out.lost,
        naive_lost: naive_out.lost,
    })
}

/// Requests per 1 s interval while nothing happens, with `rooms` spaces holding both bots.
async fn idle_cost(binary: &Path, rooms: usize, intervals: u32) -> anyhow::Result<(f64, f64)> {
    let world = World::new(binary, 0).await?;
    let naive_bot = world.sim.add_bot("naive@webex.bot", "Naive");
    for i in 0..rooms {
        let user = format!("member{i}@example.com");
        world.sim.create_room(
            &format!("Space {i}"),
            &[&user, &world.bot.email, &naive_bot.email],
        );
    }
    let home = world.gateway_home("polling", 1.0, UNLIMITED_RPM)?;
    let gateway = home.start().await?;
    let stop = Arc::new(AtomicBool::new(false));
    let client = naive::client(&world.sim.api_base(), &naive_bot.token, UNLIMITED_RPM)?;
    let passes = Arc::new(AtomicU64::new(0));
    let poller = tokio::spawn(naive::run(
        client,
        naive_bot.id.clone(),
        Duration::from_secs(1),
        Arc::clone(&stop),
        Arc::clone(&passes),
    ));
    // Wait for start-up (catch-up, first passes) to be over (the quiet signal), then count:
    // ours per 1 s interval over a time window (the measurement), the naive poller over whole
    // passes (it sleeps 1 s after each pass, so the log is read between passes; a pass over many
    // rooms takes longer than the interval).
    gateway
        .try_settled(&world.sim, &world.bot, Duration::from_secs(30))
        .await?;
    world.sim.clear_requests();
    tokio::time::sleep(Duration::from_secs(u64::from(intervals))).await;
    let ours = world.requests_by(&world.bot).len() as f64 / f64::from(intervals);
    let wait_pass = |after: u64| {
        let passes = Arc::clone(&passes);
        async move {
            let next = || Some(passes.load(Ordering::Relaxed)).filter(|n| *n > after);
            wait::until(Duration::from_secs(60), next)
                .await
                .map_err(|err| anyhow::anyhow!("the naive poller made no pass: {err}"))
        }
    };
    let now = passes.load(Ordering::Relaxed);
    let first = wait_pass(now).await?;
    world.sim.clear_requests();
    let naive_passes = u64::from(intervals.min(3));
    let mut last = first;
    while last < first + naive_passes {
        last = wait_pass(last).await?;
    }
    let naive = world.requests_by(&naive_bot).len() as f64 / (last - first) as f64;
    stop.store(true, Ordering::Relaxed);
    poller.abort();
    gateway.stop().await;
    Ok((ours, naive))
}
