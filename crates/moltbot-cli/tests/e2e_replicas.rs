//! Two `moltbot gateway` replicas in polling mode on one PostgreSQL store, through the binary
//! against webex-sim (skipped when `MOLTBOT_TEST_DATABASE_URL` is unset; a schema of its own):
//! one of them leads and polls, both are ready and report their role, messages are answered
//! once, and when the leader is SIGKILLed the other takes over within `store.leaseSeconds` and
//! answers the next message.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::time::{Duration, Instant};

use moltbot_core::store::scratch::ScratchSchema;
use moltbot_testkit::{wait, RunningGateway, TestHome, World, OPEN_FAST};
use webex_sim::SimMessage;

/// `store.leaseSeconds` of the replicas: a takeover fits in a few seconds.
const LEASE_SECONDS: u64 = 2;

/// The log line of a replica that wins the lead.
const BECAME_LEADER: &str = "became leader";

/// A home for one replica (a state folder, so a node id, of its own) on the store at `url`.
fn replica_home(world: &World, url: &str) -> TestHome {
    let home = TestHome::new();
    home.write_config(&world.config("polling", OPEN_FAST).replace(
        "  channels: {",
        &format!("  store: {{ url: \"{url}\", leaseSeconds: {LEASE_SECONDS} }},\n  channels: {{"),
    ));
    home
}

/// Which of `replicas` logged [`BECAME_LEADER`] (indices).
fn leaders(replicas: &[&RunningGateway]) -> Vec<usize> {
    (0..replicas.len())
        .filter(|&i| replicas[i].stderr_text().contains(BECAME_LEADER))
        .collect()
}

/// Waits until the bot has `n` messages in the room of `message` (whichever replica sent them).
async fn wait_bot_messages(world: &World, message: &SimMessage, n: usize) {
    let got = wait::until(wait::TIMEOUT, || {
        (world.bot_texts(message).len() >= n).then_some(())
    })
    .await;
    assert!(got.is_ok(), "{:?}", world.bot_texts(message));
}

/// `moltbot channels status` in `home`.
fn channels_status(home: &TestHome) -> String {
    let out = home
        .moltbot()
        .args(["channels", "status"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_answer_once_and_the_follower_takes_over_when_the_leader_dies() {
    let Some(schema) = ScratchSchema::from_env("e2e_replicas") else {
        return;
    };
    let world = World::new().await;
    // The second listens on another address (as two replicas on one host listen on two
    // ports): a per-machine setting, not a config difference.
    let homes = [
        replica_home(&world, schema.url()),
        replica_home(&world, schema.url()),
    ];
    let second = std::fs::read_to_string(homes[1].config_path()).unwrap();
    homes[1].write_config(&second.replace(
        "webhook: { port: 0,",
        "webhook: { host: \"127.0.0.1\", port: 0,",
    ));
    assert_ne!(
        std::fs::read_to_string(homes[1].config_path()).unwrap(),
        second
    );
    // Both come up ready (`/readyz` 200 on the follower too: it serves webhooks).
    let mut a = Some(RunningGateway::start(&homes[0]).await);
    let b = RunningGateway::start(&homes[1]).await;

    // Exactly one of them leads; the other stays a follower for as long as the leader lives.
    let both = || [a.as_ref().unwrap(), &b];
    let lead = wait::until(wait::TIMEOUT, || {
        let found = leaders(&both());
        (!found.is_empty()).then_some(found)
    })
    .await
    .unwrap();
    assert_eq!(lead.len(), 1, "one leader: {lead:?}");
    let (leader, follower) = if lead == [0] {
        (a.as_ref().unwrap(), &b)
    } else {
        (&b, a.as_ref().unwrap())
    };
    assert_eq!(leader.metric("moltbot_replica_leader").await, 1.0);
    assert_eq!(follower.metric("moltbot_replica_leader").await, 0.0);
    for replica in both() {
        assert_eq!(
            replica
                .metric("moltbot_store_backend_info{backend=\"postgres\"}")
                .await,
            1.0
        );
    }

    // A message is answered once, though both replicas run.
    let first = world.alice().dm_bot("one bot, two replicas").await;
    wait_bot_messages(&world, &first, 1).await;
    leader.settled(&world.sim, &world.bot).await;
    assert_eq!(world.bot_texts(&first), ["one bot, two replicas"]);
    tokio::time::sleep(Duration::from_secs(LEASE_SECONDS)).await;
    assert_eq!(leaders(&both()), lead, "the follower never took the lead");

    // `channels status` names the store and both replicas with their roles.
    let status = channels_status(&homes[0]);
    assert!(status.contains("Store: postgres"), "{status}");
    assert!(status.contains("Replicas: 2 running"), "{status}");
    assert_eq!(status.matches(" leader (beat").count(), 1, "{status}");
    assert_eq!(status.matches(" follower (beat").count(), 1, "{status}");
    assert!(!status.contains("config differs"), "{status}");
    // `--json` gives the same facts: the store, both replicas with their roles, same config.
    let out = homes[1]
        .moltbot()
        .args(["channels", "status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let store = &value[0]["store"];
    assert_eq!(store["backend"], "postgres", "{value}");
    let mut roles: Vec<&str> = store["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role"].as_str().unwrap())
        .collect();
    roles.sort_unstable();
    assert_eq!(roles, ["follower", "leader"], "{value}");
    for replica in store["replicas"].as_array().unwrap() {
        assert_eq!(replica["configDiffers"], false, "{value}");
        assert!(
            status.contains(replica["owner"].as_str().unwrap()),
            "{status}"
        );
    }

    // SIGKILL the leader: its lease is not released, so the follower takes over once it
    // expires, within the lease's time to live (plus one try interval).
    let (killed, survivor) = if lead == [0] {
        (a.take().unwrap(), b)
    } else {
        let survivor = a.take().unwrap();
        (b, survivor)
    };
    killed.kill().await;
    let died = Instant::now();
    wait::until(wait::TIMEOUT, || {
        survivor.stderr_text().contains(BECAME_LEADER).then_some(())
    })
    .await
    .unwrap();
    let took = died.elapsed();
    assert!(
        took < Duration::from_secs(LEASE_SECONDS * 2),
        "took over after {took:?}"
    );
    assert_eq!(survivor.metric("moltbot_replica_leader").await, 1.0);

    // The new leader polls: the next message is answered, the first one not again.
    let second = world.alice().dm_bot("after the failover").await;
    wait_bot_messages(&world, &second, 2).await;
    survivor.settled(&world.sim, &world.bot).await;
    assert_eq!(
        world.bot_texts(&second),
        ["one bot, two replicas", "after the failover"]
    );
    assert_eq!(survivor.stop().await, Some(0));
}
