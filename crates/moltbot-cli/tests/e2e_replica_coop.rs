//! Three `moltbot gateway` replicas on one PostgreSQL store behind one webhook URL (a
//! round-robin forwarder), through the binary against webex-sim (skipped when
//! `MOLTBOT_TEST_DATABASE_URL` is unset; a schema of its own per test): they share Webex's
//! per-bot request budget and its 429 pauses, only the leader registers the webhooks, and a
//! replica with another config is reported and never takes the lead.

#![allow(clippy::unwrap_used)] // tests may unwrap

#[path = "common/load.rs"]
mod load;
#[path = "common/replicas.rs"]
mod replicas;

use std::sync::Arc;
use std::time::Duration;

use moltbot_core::store::scratch::ScratchSchema;
use moltbot_testkit::{wait, RunningGateway, World, OPEN, OPEN_FAST};
use webex_sim::{Faults, Marker, RecordedRequest};

use load::{busiest_minute, dm_burst};
use replicas::{
    channels_status, logged, wait_logged, webhook_replica_home, Forwarder, BECAME_LEADER,
    PAUSED_BY_A_REPLICA, WEBHOOKS_REGISTERED,
};

/// `store.leaseSeconds` of the replicas: a takeover fits in a few seconds.
const LEASE_SECONDS: u64 = 2;

/// Webex's figure for most APIs (developer.webex.com/blog/rate-limiting-and-the-webex-api),
/// per bot token: what the emulator enforces and the replicas' default `rateLimit`.
const WEBEX_PER_MINUTE: u32 = 300;

fn bot_requests(world: &World) -> Vec<RecordedRequest> {
    world.sim.calls_by(&world.bot, Marker(0))
}

fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Starts three replicas on `schema` behind `forwarder` (the first one alone first, so it
/// leads), with `extra` in `channels.webex`; returns their homes and the running replicas.
async fn three_replicas(
    world: &World,
    schema: &ScratchSchema,
    forwarder: &Forwarder,
    extra: &str,
) -> (Vec<moltbot_testkit::TestHome>, Vec<RunningGateway>) {
    let url = format!("{}/webex/webhook", forwarder.url);
    let homes: Vec<_> = (0..3)
        .map(|_| webhook_replica_home(world, schema.url(), LEASE_SECONDS, &url, extra))
        .collect();
    let first = RunningGateway::start(&homes[0]).await;
    wait_logged(&first, BECAME_LEADER, wait::TIMEOUT).await;
    let (second, third) = tokio::join!(
        RunningGateway::start(&homes[1]),
        RunningGateway::start(&homes[2])
    );
    let running = vec![first, second, third];
    forwarder.set_replicas(&running.iter().collect::<Vec<_>>());
    (homes, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_at_full_load_stay_within_the_bots_budget_and_only_the_leader_registers() {
    let Some(schema) = ScratchSchema::from_env("e2e_coop_budget") else {
        eprintln!("skipped: MOLTBOT_TEST_DATABASE_URL is unset");
        return;
    };
    let world = Arc::new(World::new().await);
    world.sim.set_faults(Faults {
        rate_limit_per_minute: Some(WEBEX_PER_MINUTE),
        retry_after_seconds: Some(5),
        ..Faults::default()
    });
    let forwarder = Forwarder::start().await;
    // The defaults: no rateLimit keys (300 a minute, a bucket of 50, for the whole bot).
    let (_homes, running) = three_replicas(&world, &schema, &forwarder, OPEN).await;
    let all: Vec<&RunningGateway> = running.iter().collect();

    // One leader, and only it registered the webhooks, once, for the public URL.
    assert_eq!(logged(&all, BECAME_LEADER), [0]);
    assert_eq!(logged(&all, WEBHOOKS_REGISTERED), [0]);
    let webhooks = world.sim.webhooks();
    assert!(!webhooks.is_empty());
    for hook in &webhooks {
        assert_eq!(
            hook["targetUrl"],
            format!("{}/webex/webhook", forwarder.url),
            "{webhooks:?}"
        );
    }
    let registrations = bot_requests(&world)
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/webhooks")
        .count();
    assert_eq!(registrations, webhooks.len(), "no follower registered");
    // Each replica counts three live replicas: it takes a third of the budget.
    for replica in &all {
        let three = wait::until_async(wait::TIMEOUT, || async {
            (replica.metric("moltbot_replicas_live").await == 3.0).then_some(())
        })
        .await;
        assert!(three.is_ok(), "{}", replica.stderr_text());
    }

    // Fifteen people DM the bot ten messages each, all at once (each person's in order).
    let people: Vec<String> = (0..15).map(|i| format!("load{i}")).collect();
    let rooms = dm_burst(&world, &people, 10).await;
    for (name, room) in people.iter().zip(&rooms) {
        let replies = wait::until(Duration::from_secs(180), || {
            let texts = world.bot_texts(room);
            (texts.len() >= 10).then_some(texts)
        })
        .await;
        assert!(replies.is_ok(), "{name}: {:?}", world.bot_texts(room));
    }
    // Every replica served webhook deliveries (followers too).
    let answered = forwarder.answered();
    assert_eq!(answered.len(), 3, "{answered:?}");
    // A clean stop finishes what is in flight: a duplicate would be posted before the exit.
    for replica in running {
        assert_eq!(replica.stop().await, Some(0));
    }

    // Exactly once. (The order within a room across replicas that each took some of its
    // deliveries is another matter: see the room-order tests.)
    for (name, room) in people.iter().zip(&rooms) {
        let expected: Vec<String> = (0..10).map(|n| format!("{name} #{n}")).collect();
        let mut texts = world.bot_texts(room);
        texts.sort_by_key(|t| t.rsplit('#').next().and_then(|n| n.parse::<u32>().ok()));
        assert_eq!(texts, expected, "exactly once");
    }
    let requests = bot_requests(&world);
    let limited = requests.iter().filter(|r| r.status == 429).count();
    let busiest = busiest_minute(&requests);
    eprintln!(
        "replica budget e2e: 150 messages over 15 rooms, 3 replicas; bot requests {}; busiest \
         60 s window {busiest}; 429s {limited}; deliveries per replica {answered:?}",
        requests.len()
    );
    assert_eq!(
        limited, 0,
        "three replicas together never hit the bot's 300/min"
    );
    assert!(busiest <= WEBEX_PER_MINUTE as usize, "{busiest}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_seen_by_one_replica_pauses_every_replica_until_its_retry_after() {
    let Some(schema) = ScratchSchema::from_env("e2e_coop_pause") else {
        eprintln!("skipped: MOLTBOT_TEST_DATABASE_URL is unset");
        return;
    };
    const RETRY_AFTER_MS: u64 = 8_000;
    let world = World::new().await;
    world.sim.set_faults(Faults {
        retry_after_seconds: Some(RETRY_AFTER_MS / 1000),
        ..Faults::default()
    });
    let forwarder = Forwarder::start().await;
    let (_homes, running) = three_replicas(&world, &schema, &forwarder, OPEN_FAST).await;
    let all: Vec<&RunningGateway> = running.iter().collect();
    let warm_up = world.alice().dm_bot("warm up").await;
    wait::until(wait::TIMEOUT, || {
        (world.bot_texts(&warm_up).len() == 1).then_some(())
    })
    .await
    .unwrap();

    // The next message fetch is answered 429 with Retry-After: 8.
    world.sim.fail_next("GET", "/v1/messages/", 429, 1);
    let first = world.bob().dm_bot("the one that meets the 429").await;
    let limited = wait::until(wait::TIMEOUT, || {
        bot_requests(&world).into_iter().find(|r| r.status == 429)
    })
    .await
    .unwrap();
    let pause_end = limited.at_ms + RETRY_AFTER_MS;
    // Every replica applies the pause (the one that met it too, reading it back).
    wait::until(wait::TIMEOUT, || {
        (logged(&all, PAUSED_BY_A_REPLICA).len() == 3).then_some(())
    })
    .await
    .unwrap();
    let seen = now_ms();
    assert!(
        seen + 2_000 < pause_end,
        "the replicas took {} ms to see the pause: nothing left to check",
        seen - limited.at_ms
    );

    // Six people DM the bot now: the forwarder hands their deliveries to all three replicas,
    // and none of them calls Webex before the pause ends.
    let before: Vec<(String, usize)> = forwarder.answered();
    let mut later = Vec::new();
    for i in 0..6 {
        later.push(
            world
                .user(&format!("paused{i}"))
                .dm_bot("while paused")
                .await,
        );
    }
    for message in later.iter().chain([&first]) {
        wait::until(Duration::from_secs(30), || {
            (world.bot_texts(message).len() == 1).then_some(())
        })
        .await
        .unwrap();
    }
    let after = forwarder.answered();
    let served = after
        .iter()
        .filter(|(url, n)| before.iter().find(|(u, _)| u == url).map_or(0, |(_, m)| *m) < *n)
        .count();
    assert_eq!(
        served, 3,
        "every replica took deliveries: {before:?} -> {after:?}"
    );

    let early: Vec<RecordedRequest> = bot_requests(&world)
        .into_iter()
        .filter(|r| r.at_ms >= seen && r.at_ms + 20 < pause_end)
        .collect();
    assert!(
        early.is_empty(),
        "requests during the pause (429 at {}, pause until {pause_end}): {early:?}",
        limited.at_ms
    );
    // They were answered after it, once each.
    let replies_after = bot_requests(&world)
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/messages" && r.at_ms >= seen)
        .count();
    assert_eq!(replies_after, 7, "seven replies, posted after the pause");
    for replica in running {
        assert_eq!(replica.stop().await, Some(0));
    }
    assert_eq!(world.bot_texts(&first), ["the one that meets the 429"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_another_webhook_url_is_reported_and_never_leads() {
    let Some(schema) = ScratchSchema::from_env("e2e_coop_odd") else {
        eprintln!("skipped: MOLTBOT_TEST_DATABASE_URL is unset");
        return;
    };
    let world = World::new().await;
    let forwarder = Forwarder::start().await;
    let public = format!("{}/webex/webhook", forwarder.url);
    let home =
        |url: &str| webhook_replica_home(&world, schema.url(), LEASE_SECONDS, url, OPEN_FAST);
    let homes = [
        home(&public),
        home(&public),
        home("http://127.0.0.1:9/somewhere/else"),
    ];
    let a = RunningGateway::start(&homes[0]).await;
    wait_logged(&a, BECAME_LEADER, wait::TIMEOUT).await;
    let b = RunningGateway::start(&homes[1]).await;
    let odd = RunningGateway::start(&homes[2]).await;
    forwarder.set_replicas(&[&a, &b, &odd]);

    // The leader warns once about the odd one; the odd one says it does not stand.
    wait_logged(
        &a,
        "a replica runs with another channel config",
        wait::TIMEOUT,
    )
    .await;
    wait_logged(&odd, "not standing for the lead", wait::TIMEOUT).await;
    // `channels status` (any replica's home) names it.
    let status = wait::until(wait::TIMEOUT, || {
        let status = channels_status(&homes[1]);
        status.contains("Replicas: 3 running").then_some(status)
    })
    .await
    .unwrap();
    assert_eq!(
        status.matches("config differs from the leader's").count(),
        1,
        "{status}"
    );
    let odd_line = status
        .lines()
        .find(|l| l.contains("config differs"))
        .unwrap();
    assert!(odd_line.contains(" follower "), "{status}");
    assert!(
        status.contains("Config: 1 replica(s) run another channel config"),
        "{status}"
    );

    // The leader dies: the matching follower takes over, the odd one stays a follower.
    a.kill().await;
    wait_logged(&b, BECAME_LEADER, wait::TIMEOUT).await;
    // Several lease lifetimes: the odd one never takes it.
    tokio::time::sleep(Duration::from_secs(LEASE_SECONDS * 2)).await;
    assert!(
        !odd.stderr_text().contains(BECAME_LEADER),
        "{}",
        odd.stderr_text()
    );
    assert!(!odd.stderr_text().contains(WEBHOOKS_REGISTERED));
    assert_eq!(b.metric("moltbot_replica_leader").await, 1.0);
    assert_eq!(odd.metric("moltbot_replica_leader").await, 0.0);
    // The new leader counts the odd one in /metrics too (once its own sync ran as leader).
    let differs = wait::until_async(wait::TIMEOUT, || async {
        (b.metric("moltbot_replicas_config_differs").await == 1.0).then_some(())
    })
    .await;
    assert!(differs.is_ok(), "{}", b.stderr_text());
    assert_eq!(odd.metric("moltbot_replicas_config_differs").await, 0.0);
    // The webhooks still point at the public URL, and a message is answered once.
    for hook in world.sim.webhooks() {
        assert_eq!(hook["targetUrl"], public);
    }
    let message = world.alice().dm_bot("after the failover").await;
    wait::until(wait::TIMEOUT, || {
        (world.bot_texts(&message).len() == 1).then_some(())
    })
    .await
    .unwrap();
    b.settled(&world.sim, &world.bot).await;
    assert_eq!(world.bot_texts(&message), ["after the failover"]);

    // With no replica of the leader's config left, the odd one does take the lead (the bot
    // is never left without one), and then the webhooks follow its config.
    // (The killed leader's last beat looks alive for up to 15 s: it counts until then.)
    assert_eq!(b.stop().await, Some(0));
    wait_logged(&odd, BECAME_LEADER, Duration::from_secs(30)).await;
    assert_eq!(odd.stop().await, Some(0));
}
