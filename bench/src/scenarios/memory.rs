//! Scenario 5, memory and start: peak RSS idle and during a burst, time to `/readyz` 200, binary size.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{pairs, send_burst, wait_answered, warm_up};
use crate::report::Section;
use crate::stats::round;
use crate::world::{outcome, World};
use crate::Sizes;

/// Runs the scenario.
pub async fn run(binary: &Path, sizes: &Sizes) -> anyhow::Result<Section> {
    let size = std::fs::metadata(binary)?.len();
    let world = World::new(binary, sizes.users).await?;
    let home = world.gateway_home("webhook", 5.0, 1_000_000)?;
    // Start time: median of a few cold starts of the same home.
    let mut starts = Vec::new();
    for _ in 0..2 {
        let g = home.start().await?;
        starts.push(g.ready_after);
        g.stop().await;
    }
    let gateway = home.start().await?;
    starts.push(gateway.ready_after);
    starts.sort();
    let ready = starts[starts.len() / 2];
    let rooms = warm_up(&world, &world.bot, true).await?;
    // Idle: everything answered and the bot quiet (the quiet signal), not a fixed pause.
    gateway
        .try_settled(&world.sim, &world.bot, Duration::from_secs(30))
        .await?;
    let (idle_hwm, idle_rss) = gateway.memory_kib().unwrap_or_default();

    let peak_rss = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop, pid) = (Arc::clone(&peak_rss), Arc::clone(&stop), gateway.pid);
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(rss) = rss_kib(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                // The sampling period of the RSS measurement.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let before = super::answered_in(&world.sim, &world.bot, &rooms);
    let sent = send_burst(&world, &world.bot.email, "burst", sizes.burst_n, 32).await;
    wait_answered(
        &world.sim,
        &world.bot,
        &rooms,
        before + sent.len(),
        Duration::from_millis(50),
        Duration::from_secs(180),
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let (burst_hwm, after_rss) = gateway.memory_kib().unwrap_or_default();
    let result = outcome(&world.sim, &world.bot, &pairs(&sent));
    gateway.stop().await;

    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut s = Section::new("memory_start");
    s.row(
        "RSS idle (VmRSS, after warm-up)",
        format!(
            "{:.1} MiB (peak so far {:.1} MiB)",
            mib(idle_rss),
            mib(idle_hwm)
        ),
    );
    s.row(
        format!("peak RSS during a {}-message burst (VmHWM)", sent.len()),
        format!(
            "{:.1} MiB (RSS after: {:.1} MiB)",
            mib(burst_hwm),
            mib(after_rss)
        ),
    );
    s.row(
        "start to /readyz 200 (median of 3)",
        format!("{:.0} ms", ready.as_secs_f64() * 1000.0),
    );
    s.row(
        "binary size",
        format!("{:.2} MiB", size as f64 / 1024.0 / 1024.0),
    );
    s.row(
        "burst lost / duplicated",
        format!("{} / {}", result.lost, result.duplicated),
    );
    s.set(
        "rss",
        json!({"idle_rss_mib": round(mib(idle_rss)), "idle_hwm_mib": round(mib(idle_hwm)),
               "burst_hwm_mib": round(mib(burst_hwm)), "burst_sampled_peak_mib": round(mib(peak_rss.load(Ordering::Relaxed))),
               "after_burst_rss_mib": round(mib(after_rss)), "burst_messages": sent.len()}),
    );
    s.set("ready_ms", json!(round(ready.as_secs_f64() * 1000.0)));
    s.set("binary_bytes", json!(size));
    s.set("burst_lost", json!(result.lost));
    s.set("burst_duplicated", json!(result.duplicated));
    Ok(s)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}
