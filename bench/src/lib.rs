//! Benchmarks and the fault suite for moltbot: the real `moltbot` binary against `webex-sim`
//! over loopback, with the echo agent. See `bench/README.md` for what each figure means.

pub mod floor;
pub mod gateway;
pub mod naive;
pub mod probe;
pub mod report;
pub mod scenarios;
pub mod stats;
pub mod world;

use std::path::{Path, PathBuf};

use floor::FloorKind;

/// A client-side budget that never binds (requests per minute): the bench's bots, the floors
/// and the gateway's `rateLimit.requestsPerMinute` outside the rate-limit runs, so the
/// emulator's own limits are what they meet.
pub const UNLIMITED_RPM: u32 = 1_000_000;

/// Sizes of one run.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Messages in the webhook latency run (ours; the floor gets as many).
    pub latency_n: usize,
    /// Messages per second in the latency run.
    pub latency_rate: f64,
    /// Users (each in a 1:1 room with each bot).
    pub users: usize,
    /// Polling intervals (s) with the messages measured at each.
    pub polling: Vec<(f64, usize)>,
    /// Room counts for the idle polling cost.
    pub idle_rooms: Vec<usize>,
    /// Idle intervals counted per room count.
    pub idle_intervals: u32,
    /// Messages of the unlimited throughput burst.
    pub throughput_n: usize,
    /// Messages under the 120 requests/minute budget.
    pub limited_n: usize,
    /// Messages of the memory burst.
    pub burst_n: usize,
    /// Messages of the `burst` scenario (per bot: ours and the floor), all sent at once.
    pub burst_messages: usize,
    /// Rooms (1:1, one user each) the `burst` scenario's messages are spread over.
    pub burst_rooms: usize,
    /// Where the webhook floor of the steady runs (`latency::steady`: the latency, websocket and
    /// ha scenarios) runs: a process of its own (default) or the bench's, as before the tenth
    /// session. The burst scenario runs both.
    pub webhook_floor: FloorKind,
    /// Rounds of the `burst` scenario: each sends a burst to the gateway and then to each
    /// floor; the ratios are over every round (one burst lasts a tenth of a second, so a
    /// single one shows the machine's moment as much as the bots).
    pub burst_rounds: usize,
    /// Messages per fault case.
    pub fault_n: usize,
    /// Messages per second during fault cases.
    pub fault_rate: f64,
    /// SIGKILLs in the kill cases.
    pub kills: usize,
    /// Seconds between socket drops in the `websocket_drops` fault case.
    pub socket_drop_seconds: f64,
    /// Seconds of the 429 storm.
    pub storm_seconds: f64,
    /// Seconds pure webhook mode gets to answer before the restart that catches up drops.
    pub webhook_only_wait_seconds: f64,
    /// Messages of the `ha` scenario's failover run (three replicas, leader kills).
    pub ha_messages: usize,
    /// Messages per second in that run.
    pub ha_rate: f64,
    /// Users (1:1 rooms) of that run.
    pub ha_users: usize,
    /// Seconds between leader kills in that run.
    pub ha_kill_seconds: f64,
    /// Messages of each single-replica webhook latency run of `ha` (SQLite, PostgreSQL).
    pub ha_latency_n: usize,
}

impl Sizes {
    /// The full run of issue 7.
    pub fn full() -> Self {
        Self {
            latency_n: 2000,
            latency_rate: 40.0,
            users: 50,
            polling: vec![(1.0, 100), (5.0, 40)],
            idle_rooms: vec![10, 100, 1000],
            idle_intervals: 5,
            throughput_n: 2000,
            limited_n: 90,
            burst_n: 5000,
            burst_messages: 200,
            burst_rooms: 10,
            burst_rounds: 7,
            webhook_floor: FloorKind::Process,
            fault_n: 1000,
            fault_rate: 25.0,
            kills: 10,
            socket_drop_seconds: 3.0,
            storm_seconds: 10.0,
            webhook_only_wait_seconds: 10.0,
            ha_messages: 1000,
            ha_rate: 25.0,
            ha_users: 20,
            ha_kill_seconds: 5.0,
            ha_latency_n: 600,
        }
    }

    /// A smaller run for a quick look (about two minutes).
    pub fn quick() -> Self {
        Self {
            latency_n: 200,
            latency_rate: 40.0,
            users: 20,
            polling: vec![(1.0, 20), (5.0, 6)],
            idle_rooms: vec![10, 100],
            idle_intervals: 3,
            throughput_n: 300,
            limited_n: 20,
            burst_n: 500,
            burst_messages: 200,
            burst_rooms: 10,
            burst_rounds: 5,
            webhook_floor: FloorKind::Process,
            fault_n: 100,
            fault_rate: 25.0,
            kills: 3,
            socket_drop_seconds: 3.0,
            storm_seconds: 3.0,
            webhook_only_wait_seconds: 5.0,
            ha_messages: 300,
            ha_rate: 25.0,
            ha_users: 10,
            ha_kill_seconds: 4.0,
            ha_latency_n: 200,
        }
    }

    /// The tiny sizes of the `cargo test` smoke run.
    pub fn smoke() -> Self {
        Self {
            latency_n: 10,
            latency_rate: 20.0,
            users: 3,
            polling: vec![(1.0, 3)],
            idle_rooms: vec![5],
            idle_intervals: 2,
            throughput_n: 20,
            limited_n: 3,
            burst_n: 30,
            burst_messages: 20,
            burst_rooms: 4,
            burst_rounds: 2,
            webhook_floor: FloorKind::Process,
            fault_n: 12,
            fault_rate: 10.0,
            kills: 1,
            socket_drop_seconds: 0.3,
            storm_seconds: 1.0,
            webhook_only_wait_seconds: 2.0,
            ha_messages: 30,
            ha_rate: 15.0,
            ha_users: 3,
            ha_kill_seconds: 1.0,
            ha_latency_n: 10,
        }
    }
}

/// Where the `moltbot` binary is: `explicit`, else `$MOLTBOT_BIN`, else
/// `target/release/moltbot`, else `target/debug/moltbot` under the workspace.
pub fn find_binary(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("MOLTBOT_BIN") {
        return Some(PathBuf::from(p));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    ["release", "debug"]
        .iter()
        .map(|profile| target.join(profile).join("moltbot"))
        .find(|p| p.is_file())
}

/// The workspace root (the parent of `bench/`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}
