//! The seed's pairing workflow with the real binary: DM -> code -> `pairing list` ->
//! `pairing approve` -> approval DM -> the next message is answered.

#![allow(clippy::unwrap_used)]

mod common;

use common::output_text;
use moltbot_core::store::InboundState;
use moltbot_testkit::Scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_flow_from_first_dm_to_answer() {
    // Defaults: dmPolicy "pairing".
    let s = Scenario::start("webhook", "").await;

    let hi = s.alice().dm_bot("hi, who are you?").await;
    let replies = s.wait_replies(&hi, 1).await;
    assert!(replies[0].contains("alice@example.com"), "{}", replies[0]);
    assert!(
        replies[0].contains("moltbot pairing approve webex "),
        "{}",
        replies[0]
    );

    // A repeat DM reuses the code and gets no new reply; it is not processed either.
    let repeat = s.alice().dm_bot("hello?").await;
    assert_eq!(s.handled(&repeat).await, InboundState::Skipped);
    s.settled().await;
    assert_eq!(s.bot_texts(&hi).len(), 1, "one pairing reply");

    // The owner sees the request (same store, other process) and approves it.
    let out = s
        .home
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

    let out = s
        .home
        .moltbot()
        .args(["pairing", "approve", "webex", &code.to_lowercase()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", output_text(&out));

    // The running gateway notices and sends the approval DM.
    let replies = s.wait_replies(&hi, 2).await;
    assert!(
        replies[1].to_lowercase().contains("approved"),
        "{}",
        replies[1]
    );

    // Now alice is answered.
    s.alice().dm_bot("now?").await;
    let replies = s.wait_replies(&hi, 3).await;
    assert_eq!(replies.last().map(String::as_str), Some("now?"));

    // Approvals never grant space access (groupPolicy allowlist by default).
    let team = s.sim.space("Team", &["alice"]);
    let asked = s.alice().mention_bot(&team, "hi").await;
    assert_eq!(s.handled(&asked).await, InboundState::Skipped);
    s.settled().await;
    assert!(s.bot_texts(&team).is_empty());
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_by_email_lets_a_person_in_without_a_code() {
    let world = moltbot_testkit::World::new().await;
    let home = moltbot_testkit::TestHome::new();
    home.write_config(&world.config("polling", r#"dmPolicy: "allowlist","#));
    let out = home
        .moltbot()
        .args(["pair", "webex", "bob@example.com"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", output_text(&out));
    let s = Scenario::start_in(world, home).await;

    let let_in = s.bob().dm_bot("let me in").await;
    let replies = s.wait_replies(&let_in, 1).await;
    assert!(replies.iter().any(|r| r == "let me in"), "{replies:?}");

    // Alice is not on the list: silently dropped under allowlist.
    let me_too = s.alice().dm_bot("me too").await;
    assert_eq!(s.handled(&me_too).await, InboundState::Skipped);
    s.settled().await;
    assert!(s.bot_texts(&me_too).is_empty());
    s.finish().await;
}
