//! Scenario 3, throughput: with the emulator's rate limit off, and with it enforcing 120 requests/minute
//! (the gateway's `rateLimit.requestsPerMinute` at 120 too).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use webex_sim::Faults;

use super::{pairs, rooms_of, send_burst, wait_answered, warm_up};
use crate::report::Section;
use crate::stats::round;
use crate::world::{outcome, World};
use crate::Sizes;

/// Runs the scenario.
pub async fn run(binary: &Path, sizes: &Sizes) -> anyhow::Result<Section> {
    let mut s = Section::new("throughput");
    // Unlimited.
    {
        let world = World::new(binary, sizes.users).await?;
        let home = world.gateway_home("webhook", 5.0, 1_000_000)?;
        let gateway = home.start().await?;
        let rooms = warm_up(&world, &world.bot, true).await?;
        let before = super::answered_in(&world.sim, &world.bot, &rooms);
        let start = Instant::now();
        let sent = send_burst(&world, &world.bot.email, "burst", sizes.throughput_n, 32).await;
        let sent_after = start.elapsed();
        let done = wait_answered(
            &world.sim,
            &world.bot,
            &rooms,
            before + sent.len(),
            Duration::from_millis(10),
            Duration::from_secs(120),
        )
        .await;
        let elapsed = done.map_or(start.elapsed(), |t| t - start);
        let result = outcome(&world.sim, &world.bot, &pairs(&sent));
        gateway.stop().await;
        let answered = sent.len() - result.lost;
        let rate = answered as f64 / elapsed.as_secs_f64();
        s.row(
            format!("answered/s, emulator limit off ({} msgs burst)", sent.len()),
            format!(
                "{rate:.0} msg/s ({:.2} s; users sent at {:.0} msg/s)",
                elapsed.as_secs_f64(),
                sent.len() as f64 / sent_after.as_secs_f64()
            ),
        );
        s.set(
            "unlimited",
            json!({"messages": sent.len(), "answered": answered, "seconds": round(elapsed.as_secs_f64()),
                   "answered_per_s": round(rate), "lost": result.lost, "duplicated": result.duplicated}),
        );
    }
    // 120 requests/minute on both sides.
    {
        let world = World::new(binary, sizes.users).await?;
        world.sim.set_faults(Faults {
            rate_limit_per_minute: Some(120),
            ..Faults::default()
        });
        let home = world.gateway_home("webhook", 5.0, 120)?;
        let started = Instant::now();
        let gateway = home.start().await?;
        let sent = send_burst(&world, &world.bot.email, "limited", sizes.limited_n, 8).await;
        let rooms = rooms_of(&sent);
        let timeout = Duration::from_secs_f64(sizes.limited_n as f64 * 2.0 / 2.0 * 1.5 + 60.0);
        let done = wait_answered(
            &world.sim,
            &world.bot,
            &rooms,
            sent.len(),
            Duration::from_millis(50),
            timeout,
        )
        .await;
        let elapsed = done.map_or(started.elapsed(), |t| t - started);
        let result = outcome(&world.sim, &world.bot, &pairs(&sent));
        let requests = world.requests_by(&world.bot);
        gateway.stop().await;
        let got_429 = requests.iter().filter(|r| r.status == 429).count();
        let budget = 120.0 * elapsed.as_secs_f64().max(60.0) / 60.0;
        let share = requests.len() as f64 / budget;
        let peak_window = peak_in_window(&requests, 60_000);
        let answered = sent.len() - result.lost;
        s.row(
            format!("120 req/min: answered ({} msgs)", sent.len()),
            format!(
                "{answered} in {:.1} s = {:.2} msg/s",
                elapsed.as_secs_f64(),
                answered as f64 / elapsed.as_secs_f64()
            ),
        );
        s.row("120 req/min: 429s received (target 0)", got_429.to_string());
        s.row(
            "120 req/min: share of budget used",
            format!(
                "{:.0}% ({} requests / {:.0} allowed since start; busiest 60 s window: {} of 120)",
                share * 100.0,
                requests.len(),
                budget,
                peak_window
            ),
        );
        s.set(
            "limited_120_per_min",
            json!({"messages": sent.len(), "answered": answered, "seconds": round(elapsed.as_secs_f64()),
                   "answered_per_s": round(answered as f64 / elapsed.as_secs_f64()),
                   "requests": requests.len(), "got_429": got_429, "budget_share": round(share),
                   "busiest_60s_window_requests": peak_window,
                   "lost": result.lost, "duplicated": result.duplicated}),
        );
    }
    Ok(s)
}

/// The most requests in any `window_ms` window.
fn peak_in_window(requests: &[webex_sim::RecordedRequest], window_ms: u64) -> usize {
    let mut at: Vec<u64> = requests.iter().map(|r| r.at_ms).collect();
    at.sort_unstable();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..at.len() {
        while at[hi] - at[lo] >= window_ms {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}
