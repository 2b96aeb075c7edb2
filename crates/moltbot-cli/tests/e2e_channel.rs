//! The Webex channel end to end: the real `moltbot gateway` binary against webex-sim over HTTP,
//! in webhook, polling and both modes.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use moltbot_testkit::{slow_echo_agent, Scenario, TestHome, World, OPEN, OPEN_FAST};
use webex_sim::Faults;

async fn dm_and_space_in_mode(mode: &str) {
    let s = Scenario::start(mode, OPEN).await;

    // A DM gets the echo.
    let hi = s.alice().dm_bot("hello bot").await;
    assert_eq!(s.wait_replies(&hi, 1).await, ["hello bot"]);

    // In a space: mentioned -> answered without the mention; not mentioned -> never seen.
    let team = s.sim.space("Team", &["alice", "bob"]);
    s.bob().post(&team, "just chatting").await;
    s.bob().mention_bot(&team, "what's up?").await;
    assert_eq!(s.wait_replies(&team, 1).await, ["what's up?"]);

    // Nothing more arrives: no duplicate, the bot never answers itself.
    s.settled().await;
    assert_eq!(s.bot_texts(&hi), ["hello bot"]);
    assert_eq!(s.bot_texts(&team), ["what's up?"]);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_mode_answers_dms_and_mentions() {
    dm_and_space_in_mode("webhook").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_mode_answers_dms_and_mentions() {
    dm_and_space_in_mode("polling").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_mode_answers_each_message_once() {
    dm_and_space_in_mode("both").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_stopped_with_sigterm_leaves_its_store_one_whole_file() {
    let mut s = Scenario::start("polling", OPEN).await;
    let hi = s.alice().dm_bot("keep me").await;
    assert_eq!(s.wait_replies(&hi, 1).await, ["keep me"]);
    assert_eq!(s.stop_gateway().await, Some(0));
    let store = s.home.store_path();
    for suffix in ["-wal", "-shm"] {
        let companion = format!("{}{suffix}", store.display());
        assert!(
            !std::path::Path::new(&companion).exists(),
            "{companion} left behind"
        );
    }
    // The file alone holds the answered message.
    let status = s
        .home
        .moltbot()
        .args(["store", "status", "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(status["rows"]["ledger"].as_u64() >= Some(1), "{status}");
    drop(s);
}

async fn restart_between_messages(mode: &str) {
    let mut s = Scenario::start(mode, OPEN).await;
    let one = s.alice().dm_bot("one").await;
    assert_eq!(s.wait_replies(&one, 1).await, ["one"]);
    assert_eq!(s.stop_gateway().await, Some(0));

    // Sent while the gateway is down: picked up by the catch-up / polling cursor on restart.
    s.alice().dm_bot("two").await;
    s.start_gateway().await;
    s.alice().dm_bot("three").await;
    assert_eq!(s.wait_replies(&one, 3).await, ["one", "two", "three"]);
    s.settled().await;
    assert_eq!(s.bot_texts(&one).len(), 3, "no duplicates");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_mode_restart_loses_nothing() {
    restart_between_messages("webhook").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_mode_restart_loses_nothing() {
    restart_between_messages("polling").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_mode_restart_loses_nothing() {
    restart_between_messages("both").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_webhook_deliveries_are_answered_once() {
    let s = Scenario::start("webhook", OPEN).await;
    s.sim.set_faults(Faults {
        webhook_duplicate_ratio: 1.0,
        ..Faults::default()
    });
    let once = s.alice().dm_bot("once please").await;
    s.wait_replies(&once, 1).await;
    s.settled().await;
    assert_eq!(s.bot_texts(&once), ["once please"]);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_mid_reply_is_answered_once_after_restart() {
    // A slow agent: the gateway is killed while it thinks. No placeholder (a loaded machine can
    // make the agent slower than the typing delay; the placeholder has its own SIGKILL test).
    let world = World::new().await;
    let home = TestHome::new();
    let script = home.write_script("agent", &slow_echo_agent("1.5"));
    home.write_config(&world.config_with_command_agent(
        "webhook",
        OPEN,
        &script,
        "typingDelaySeconds: 0",
        "",
    ));
    let mut s = Scenario::start_in(world, home).await;
    let asked = s.alice().dm_bot("survive this").await;
    s.wait_agent_asked("survive this").await;
    s.kill_gateway().await;
    assert!(s.bot_texts(&asked).is_empty(), "killed before replying");

    s.start_gateway().await;
    assert_eq!(s.wait_replies(&asked, 1).await, ["survive this"]);
    s.settled().await;
    assert_eq!(s.bot_texts(&asked).len(), 1, "answered exactly once");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_endpoint_rejects_bad_input() {
    let s = Scenario::start("webhook", OPEN).await;
    let url = format!("{}/webex/webhook", s.gateway().http);
    let client = reqwest::Client::new();

    // The seed's curl check: reachable, but no signature.
    let resp = client
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"test": true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("missing X-Spark-Signature"));

    let resp = client
        .post(&url)
        .header("x-spark-signature", "00ff")
        .body(r#"{"resource":"messages","event":"created","data":{"id":"x"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    // Over 1 MiB: 413, or the server closes the connection while the body is still streaming.
    // A client of its own: the server closes that connection after refusing the body.
    match reqwest::Client::new()
        .post(&url)
        .body(vec![b'a'; 2 * 1024 * 1024])
        .send()
        .await
    {
        Ok(resp) => assert_eq!(resp.status().as_u16(), 413),
        Err(err) => assert!(!err.is_timeout(), "unexpected error: {err}"),
    }

    // Health endpoints are served beside the webhook.
    let health = client
        .get(format!("{}/healthz", s.gateway().http))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let metrics = client
        .get(format!("{}/metrics", s.gateway().http))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("moltbot_messages_received_total"),
        "{metrics}"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_and_5xx_bursts_delay_replies_but_lose_none() {
    let s = Scenario::start("polling", OPEN).await;
    s.sim.set_faults(Faults {
        rate_limit_per_minute: Some(20),
        retry_after_seconds: Some(1),
        ..Faults::default()
    });
    s.sim.fail_next("GET", "/v1/rooms", 503, 2);
    s.sim.fail_next("GET", "/v1/messages", 502, 2);
    let first = s.alice().dm_bot("m0").await;
    for i in 1..5 {
        s.alice().dm_bot(&format!("m{i}")).await;
    }
    let replies = s
        .wait_replies_until(&first, Duration::from_secs(40), "5 replies", |t| {
            t.len() >= 5
        })
        .await;
    assert_eq!(replies, ["m0", "m1", "m2", "m3", "m4"]);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_in_one_room_is_answered_in_order() {
    let s = Scenario::start("webhook", OPEN_FAST).await;
    let expected: Vec<String> = (0..15).map(|i| format!("burst {i}")).collect();
    let mut last = None;
    for text in &expected {
        last = Some(s.alice().dm_bot(text).await);
    }
    let room = last.unwrap();
    assert_eq!(s.wait_replies(&room, expected.len()).await, expected);
    s.finish().await;
}

/// An agent whose answer is ~20 000 characters of prose and fenced code.
const LONG_AGENT: &str = r#"#!/usr/bin/env python3
import sys
parts = []
for i in range(40):
    parts.append("Paragraph %d: " % i + "words and more words é ü 🦀 " * 12)
    if i % 8 == 0:
        parts.append("```rust\n" + "\n".join("let x%d = %d; // line of code" % (j, j) for j in range(60)) + "\n```")
sys.stdout.write("\n\n".join(parts))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20000_character_reply_with_code_fences_is_chunked() {
    let s = Scenario::start_with_agent("webhook", OPEN_FAST, LONG_AGENT).await;
    let asked = s.alice().dm_bot("tell me a lot").await;
    // The last chunk holds the last paragraph; then nothing more comes.
    s.wait_replies_until(
        &asked,
        moltbot_testkit::wait::TIMEOUT,
        "the last paragraph",
        |t| t.last().is_some_and(|t| t.contains("Paragraph 39:")),
    )
    .await;
    s.settled().await;
    let chunks = s.bot_texts(&asked);
    let total: usize = chunks.iter().map(|c| c.chars().count()).sum();
    assert!(total >= 20_000, "{total} chars in {} chunks", chunks.len());
    for chunk in &chunks {
        assert!(chunk.len() <= 7439, "chunk of {} bytes", chunk.len());
        assert!(chunk.chars().count() <= 7000);
        let fences = chunk
            .lines()
            .filter(|l| l.trim_start().starts_with("```"))
            .count();
        assert_eq!(fences % 2, 0, "balanced fences in:\n{chunk}");
    }
    assert!(chunks[0].starts_with("Paragraph 0:"));
    assert!(chunks.last().unwrap().contains("Paragraph 39:"));
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_space_can_have_its_own_system_prompt() {
    let world = World::new().await;
    let home = TestHome::new();
    let team = world.sim.space("Team", &["alice"]);
    // An agent that answers with the system prompt it was given.
    let script = home.write_script(
        "prompt-agent.sh",
        "#!/bin/sh\npython3 -c 'import json,sys; print(json.load(sys.stdin).get(\"systemPrompt\") or \"none\")'\n",
    );
    home.write_config(&world.config_with_command_agent(
        "webhook",
        OPEN,
        &script,
        "systemPrompt: \"default prompt\"",
        &format!(
            "rooms: {{ \"{}\": {{ systemPrompt: \"team prompt\" }} }}",
            team.id
        ),
    ));
    let s = Scenario::start_in(world, home).await;
    s.alice().mention_bot(&team, "which prompt?").await;
    let dm = s.alice().dm_bot("and here?").await;
    assert_eq!(s.wait_replies(&team, 1).await, ["team prompt"]);
    assert_eq!(s.wait_replies(&dm, 1).await, ["default prompt"]);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_on_post_is_retried_and_answered_once() {
    // A slightly slow agent, so the failures can be armed after the user's own POST.
    let s = Scenario::start_with_agent("webhook", OPEN_FAST, &slow_echo_agent("0.5")).await;
    let mark = s.sim.mark();
    let asked = s.alice().dm_bot("are you there?").await;
    // The bot's next two replies fail with a 502: Webex gives no way to know whether they
    // landed; the gateway looks (in a DM it can), finds nothing, and sends again.
    s.sim.fail_next("POST", "/v1/messages", 502, 2);
    assert_eq!(s.wait_replies(&asked, 1).await, ["are you there?"]);
    s.settled().await;
    assert_eq!(s.bot_texts(&asked).len(), 1, "answered once");
    let failed_posts = s
        .sim
        .calls_by(&s.bot, mark)
        .iter()
        .filter(|c| c.method == "POST" && c.path == "/v1/messages" && c.status == 502)
        .count();
    assert_eq!(failed_posts, 2, "the bot's own sends took both failures");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_webhook_mode_a_delivery_that_never_comes_is_found_by_the_safety_poll() {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&world.config("webhook", OPEN).replace(
        "webhook: { port: 0,",
        "webhook: { safetyPollSeconds: 1, port: 0,",
    ));
    let s = Scenario::start_in(world, home).await;
    // Every webhook delivery is lost on the way.
    s.sim.set_faults(Faults {
        webhook_drop_ratio: 1.0,
        ..Faults::default()
    });
    let lost = s.alice().dm_bot("did you get this?").await;
    assert_eq!(s.wait_replies(&lost, 1).await, ["did you get this?"]);
    s.finish().await;
}
