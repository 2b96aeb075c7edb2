//! The gateway on PostgreSQL, through the binary against webex-sim (skipped when
//! `MOLTBOT_TEST_DATABASE_URL` is unset; each test in a schema of its own): messages are
//! answered with every row in the database (no SQLite file is made), state survives a restart,
//! and an install moved from its SQLite file with `moltbot store copy` answers nothing twice.

#![allow(clippy::unwrap_used)] // tests may unwrap

use moltbot_core::store::scratch::ScratchSchema;
use moltbot_core::store::InboundState;
use moltbot_testkit::{Scenario, TestHome, World, OPEN_FAST};

/// `world`'s config for `mode`, with the store at `url`.
fn config_on(world: &World, mode: &str, url: &str) -> String {
    world.config(mode, OPEN_FAST).replace(
        "  channels: {",
        &format!("  store: {{ url: \"{url}\" }},\n  channels: {{"),
    )
}

/// `moltbot store status --json` in `home`.
fn status(home: &TestHome) -> serde_json::Value {
    let out = home
        .moltbot()
        .args(["store", "status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_keeps_everything_in_postgres_across_a_restart() {
    let Some(schema) = ScratchSchema::from_env("e2e_gateway") else {
        return;
    };
    let world = World::new().await;
    let home = TestHome::new();
    // A password in the URL (the test server trusts local connections and ignores it) is
    // masked in the gateway's log, whose debug lines dump the whole config.
    let (url, password) = schema.url_with_password();
    assert!(!password.is_empty(), "{url}");
    home.write_config(&config_on(&world, "webhook", &url));
    let mut s = Scenario::start_in(world, home).await;

    let hi = s.alice().dm_bot("hello postgres").await;
    assert_eq!(s.wait_replies(&hi, 1).await, ["hello postgres"]);
    assert_eq!(s.handled(&hi).await, InboundState::Replied);
    s.settled().await;
    let log = s.log();
    assert!(
        log.contains("loaded config"),
        "the config is dumped at debug:\n{log}"
    );
    assert!(!log.contains(&password), "{log}");
    s.restart().await;

    // After the restart the same database is used: the old message is known, a new one is
    // answered, each once.
    let again = s.alice().dm_bot("still here").await;
    assert_eq!(
        s.wait_replies(&again, 2).await,
        ["hello postgres", "still here"]
    );
    s.settled().await;
    let st = status(&s.home);
    assert_eq!(st["backend"], "postgres", "{st}");
    assert_eq!(st["rows"]["ledger"], 2, "{st}");
    assert!(st["rows"]["outbox"].as_u64() >= Some(2), "{st}");
    assert!(
        !s.home.store_path().exists(),
        "no SQLite store is made when store.url names PostgreSQL"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_moved_to_postgres_answers_nothing_twice() {
    let Some(schema) = ScratchSchema::from_env("e2e_move") else {
        return;
    };
    // A polling install on its SQLite file answers a message...
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&world.config("polling", OPEN_FAST));
    let mut s = Scenario::start_in(world, home).await;
    let before = s.alice().dm_bot("before the move").await;
    assert_eq!(s.wait_replies(&before, 1).await, ["before the move"]);
    s.settled().await;
    assert_eq!(s.stop_gateway().await, Some(0));

    // ...is copied to PostgreSQL and pointed at it...
    let out = s
        .home
        .moltbot()
        .args(["store", "copy", "--to", schema.url(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let copied: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(copied["verified"], true);
    assert_eq!(copied["tables"]["ledger"], 1);
    s.home.write_config(&config_on(&s, "polling", schema.url()));

    // ...and goes on from where it was: the old message is not answered again (its ledger row
    // and the polling cursors moved with it), a new one is answered once.
    s.start_gateway().await;
    let after = s.alice().dm_bot("after the move").await;
    assert_eq!(
        s.wait_replies(&after, 2).await,
        ["before the move", "after the move"]
    );
    s.settled().await;
    assert_eq!(s.bot_texts(&after), ["before the move", "after the move"]);
    assert_eq!(status(&s.home)["rows"]["ledger"], 2);
    s.finish().await;
}
