//! The request budget end to end: the real `moltbot gateway` binary with its default
//! `rateLimit` against webex-sim enforcing Webex's published 300 requests/minute per token, and
//! the webhook safety poll's first pass coming one interval after the start-up catch-up.

#![allow(clippy::unwrap_used)]

#[path = "common/load.rs"]
mod load;

use std::sync::Arc;
use std::time::{Duration, Instant};

use moltbot_testkit::{wait, RunningGateway, TestHome, World, OPEN};
use webex_sim::{Faults, Marker, RecordedRequest};

use load::{busiest_minute, dm_burst};

/// Webex's figure for most APIs (developer.webex.com/blog/rate-limiting-and-the-webex-api).
const WEBEX_PER_MINUTE: u32 = 300;

fn bot_requests(world: &World) -> Vec<RecordedRequest> {
    world.sim.calls_by(&world.bot, Marker(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_100_messages_over_10_rooms_is_answered_within_webex_limits() {
    let world = Arc::new(World::new().await);
    world.sim.set_faults(Faults {
        rate_limit_per_minute: Some(WEBEX_PER_MINUTE),
        retry_after_seconds: Some(5),
        ..Faults::default()
    });
    let people: Vec<String> = (0..10).map(|i| format!("user{i}")).collect();
    let home = TestHome::new();
    // The defaults: no rateLimit keys.
    home.write_config(&world.config("webhook", OPEN));
    let spawned = Instant::now();
    let gateway = RunningGateway::start(&home).await;
    let ready = spawned.elapsed();

    // Ten people DM the bot ten messages each, all at once (each person's in order).
    let burst = Instant::now();
    let rooms = dm_burst(&world, &people, 10).await;

    // Every room gets its ten replies within a minute.
    for (name, room) in people.iter().zip(&rooms) {
        let left = Duration::from_secs(60).saturating_sub(burst.elapsed());
        let replies = wait::until(left, || {
            let texts = world.bot_texts(room);
            (texts.len() >= 10).then_some(texts)
        })
        .await;
        assert!(replies.is_ok(), "{name}: {:?}", world.bot_texts(room));
    }
    let answered = burst.elapsed();
    // A clean stop finishes what is in flight: a duplicate would be posted before the exit.
    assert_eq!(gateway.stop().await, Some(0));

    for (name, room) in people.iter().zip(&rooms) {
        let expected: Vec<String> = (0..10).map(|n| format!("{name} #{n}")).collect();
        assert_eq!(world.bot_texts(room), expected, "exactly once, in order");
    }
    let requests = bot_requests(&world);
    let limited = requests.iter().filter(|r| r.status == 429).count();
    let busiest = busiest_minute(&requests);
    eprintln!(
        "rate-limit e2e: ready {ready:?} after spawn; 100 messages over 10 rooms answered in \
         {answered:?}; bot requests {}; busiest 60 s window {busiest}; 429s {limited}",
        requests.len()
    );
    assert_eq!(limited, 0, "the bot never hit the emulator's 300/min");
    assert!(busiest <= WEBEX_PER_MINUTE as usize);
}

/// The start-up requests (those before `/readyz` said 200) and the ready time, for `extra` config.
async fn start_and_measure(world: &World, home: &TestHome, extra: &str) -> RunningGateway {
    home.write_config(
        &world.config("webhook", &format!("{OPEN} {extra}")).replace(
            "webhook: { port: 0,",
            "webhook: { safetyPollSeconds: 2, port: 0,",
        ),
    );
    let spawned = Instant::now();
    let gateway = RunningGateway::start(home).await;
    let ready = spawned.elapsed();
    let startup = bot_requests(world);
    let span = match (startup.first(), startup.last()) {
        (Some(first), Some(last)) => last.at_ms - first.at_ms,
        _ => 0,
    };
    eprintln!(
        "rate-limit e2e [{}]: ready {ready:?} after spawn; {} start-up requests over {span} ms",
        if extra.is_empty() { "defaults" } else { extra },
        startup.len()
    );
    gateway
}

fn room_listings(world: &World) -> Vec<RecordedRequest> {
    bot_requests(world)
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/v1/rooms")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_safety_poll_starts_one_interval_after_the_catch_up() {
    let world = World::new().await;
    let home = TestHome::new();
    // The seed's budget (120/min, a bucket of 4) for comparison: start-up waits for tokens.
    let gateway = start_and_measure(
        &world,
        &home,
        "rateLimit: { requestsPerMinute: 120, burst: 4 },",
    )
    .await;
    assert_eq!(gateway.stop().await, Some(0));
    world.sim.clear_requests();

    let gateway = start_and_measure(&world, &home, "").await;
    // Ready means caught up: exactly one `GET /rooms` so far, the catch-up's.
    let catch_up = room_listings(&world);
    assert_eq!(catch_up.len(), 1, "{catch_up:?}");
    // The next one is the safety poll's first pass, one interval (2 s) later.
    let listings = wait::until(Duration::from_secs(15), || {
        let listings = room_listings(&world);
        (listings.len() >= 2).then_some(listings)
    })
    .await
    .unwrap_or_else(|_| room_listings(&world));
    assert!(
        listings.len() >= 2,
        "no safety poll: {}",
        gateway.stderr_text()
    );
    let gap = listings[1].at_ms - listings[0].at_ms;
    // Millisecond timestamps from the wall clock: allow for rounding, never for a repeat.
    assert!(gap >= 1_990, "safety poll {gap} ms after the catch-up");
    assert_eq!(gateway.stop().await, Some(0));
}
