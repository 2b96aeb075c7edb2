//! The seed's pairing workflow with the real binary: DM -> code -> `pairing list` ->
//! `pairing approve` -> approval DM -> the next message is answered.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::gateway::{RunningGateway, World};
use common::{output_text, TestHome};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_flow_from_first_dm_to_answer() {
    let world = World::new().await;
    let home = TestHome::new();
    // Defaults: dmPolicy "pairing".
    home.write_config(&world.config("webhook", ""));
    let gateway = RunningGateway::start(&home).await;

    let sent = world
        .sim
        .dm(&world.alice, &world.bot.email, "hi, who are you?")
        .await
        .unwrap();
    let room = sent["roomId"].as_str().unwrap().to_string();
    let replies = world.wait_bot_texts(&room, 1, WAIT).await;
    assert_eq!(
        replies.len(),
        1,
        "one pairing reply: {}",
        gateway.stderr_text()
    );
    assert!(replies[0].contains("alice@example.com"), "{}", replies[0]);
    assert!(
        replies[0].contains("moltbot pairing approve webex "),
        "{}",
        replies[0]
    );

    // A repeat DM reuses the code and gets no new reply; it is not processed either.
    let repeat = world
        .sim
        .dm(&world.alice, &world.bot.email, "hello?")
        .await
        .unwrap();
    let repeat_id = repeat["id"].as_str().unwrap().to_string();
    // Wait until the gateway has dealt with it (recorded as skipped), then check no reply.
    let store =
        moltbot_core::store::Store::open(home.state_dir().join("state/moltbot.sqlite")).unwrap();
    let start = std::time::Instant::now();
    let state = loop {
        let state = store.inbound().state_of("webex", &repeat_id).await.unwrap();
        if state == Some(moltbot_core::store::InboundState::Skipped) || start.elapsed() > WAIT {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(state, Some(moltbot_core::store::InboundState::Skipped));
    assert_eq!(world.bot_texts(&room).len(), 1);

    // The owner sees the request (same store, other process) and approves it.
    let out = home
        .moltbot()
        .args(["pairing", "list", "webex", "--json"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert!(out.status.success(), "{stderr}");
    let pending: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(pending.as_array().unwrap().len(), 1, "{stdout}");
    assert_eq!(pending[0]["email"], "alice@example.com");
    let code = pending[0]["code"].as_str().unwrap().to_string();
    assert!(replies[0].contains(&code), "reply names the code");

    let out = home
        .moltbot()
        .args(["pairing", "approve", "webex", &code.to_lowercase()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", output_text(&out));

    // The running gateway notices and sends the approval DM.
    let replies = world.wait_bot_texts(&room, 2, Duration::from_secs(5)).await;
    assert_eq!(replies.len(), 2, "approval DM: {}", gateway.stderr_text());
    assert!(
        replies[1].to_lowercase().contains("approved"),
        "{}",
        replies[1]
    );

    // Now alice is answered.
    world
        .sim
        .dm(&world.alice, &world.bot.email, "now?")
        .await
        .unwrap();
    let replies = world.wait_bot_texts(&room, 3, WAIT).await;
    assert_eq!(replies.last().map(String::as_str), Some("now?"));

    // Approvals never grant space access (groupPolicy allowlist by default).
    let space = world
        .sim
        .create_room("Team", &[&world.alice.email, &world.bot.email]);
    world
        .sim
        .post_in_room(
            &world.alice,
            &space.id,
            &format!("<@personEmail:{}|Molty> hi", world.bot.email),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(world.bot_texts(&space.id).is_empty());
    assert_eq!(gateway.stop().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_by_email_lets_a_person_in_without_a_code() {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&world.config("polling", r#"dmPolicy: "allowlist","#));
    let out = home
        .moltbot()
        .args(["pair", "webex", "bob@example.com"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", output_text(&out));
    let gateway = RunningGateway::start(&home).await;

    let sent = world
        .sim
        .dm(&world.bob, &world.bot.email, "let me in")
        .await
        .unwrap();
    let room = sent["roomId"].as_str().unwrap().to_string();
    let replies = world.wait_bot_texts(&room, 1, WAIT).await;
    assert!(
        replies.iter().any(|r| r == "let me in"),
        "{replies:?} {}",
        gateway.stderr_text()
    );

    // Alice is not on the list: silently dropped under allowlist.
    let sent = world
        .sim
        .dm(&world.alice, &world.bot.email, "me too")
        .await
        .unwrap();
    let alice_room = sent["roomId"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(world.bot_texts(&alice_room).is_empty());
    assert_eq!(gateway.stop().await, Some(0));
}
