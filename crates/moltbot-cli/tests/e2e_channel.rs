//! The Webex channel end to end: the real `moltbot gateway` binary against webex-sim over HTTP,
//! in webhook, polling and both modes.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::gateway::{RunningGateway, World};
use common::TestHome;

const OPEN: &str = r#"dmPolicy: "open", allowFrom: ["*"], groupPolicy: "open","#;
const WAIT: Duration = Duration::from_secs(15);

async fn dm_and_space_in_mode(mode: &str) {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&world.config(mode, OPEN));
    let gateway = RunningGateway::start(&home).await;

    // A DM gets the echo.
    let sent = world
        .sim
        .dm(&world.alice, &world.bot.email, "hello bot")
        .await
        .expect("alice DMs the bot");
    let room = sent["roomId"].as_str().unwrap().to_string();
    let replies = world.wait_bot_texts(&room, 1, WAIT).await;
    assert_eq!(
        replies,
        vec!["hello bot".to_string()],
        "{}",
        gateway.stderr_text()
    );

    // In a space: mentioned -> answered without the mention; not mentioned -> never seen.
    let space = world.sim.create_room(
        "Team",
        &[&world.alice.email, &world.bob.email, &world.bot.email],
    );
    world
        .sim
        .post_in_room(&world.bob, &space.id, "just chatting")
        .await
        .unwrap();
    world
        .sim
        .post_in_room(
            &world.bob,
            &space.id,
            &format!("<@personEmail:{}|Molty> what's up?", world.bot.email),
        )
        .await
        .unwrap();
    let replies = world.wait_bot_texts(&space.id, 1, WAIT).await;
    assert_eq!(
        replies,
        vec!["what's up?".to_string()],
        "{}",
        gateway.stderr_text()
    );

    // Nothing more arrives: no duplicate, the bot never answers itself.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(world.bot_texts(&room).len(), 1);
    assert_eq!(world.bot_texts(&space.id).len(), 1);
    assert_eq!(gateway.stop().await, Some(0));
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

async fn restart_between_messages(mode: &str) {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&world.config(mode, OPEN));

    let gateway = RunningGateway::start(&home).await;
    let sent = world
        .sim
        .dm(&world.alice, &world.bot.email, "one")
        .await
        .unwrap();
    let room = sent["roomId"].as_str().unwrap().to_string();
    assert_eq!(world.wait_bot_texts(&room, 1, WAIT).await.len(), 1);
    assert_eq!(gateway.stop().await, Some(0));

    // Sent while the gateway is down: picked up by the catch-up / polling cursor on restart.
    world
        .sim
        .dm(&world.alice, &world.bot.email, "two")
        .await
        .unwrap();
    let gateway = RunningGateway::start(&home).await;
    world
        .sim
        .dm(&world.alice, &world.bot.email, "three")
        .await
        .unwrap();
    let replies = world.wait_bot_texts(&room, 3, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let replies_later = world.bot_texts(&room);
    assert_eq!(
        replies,
        vec!["one", "two", "three"],
        "{}",
        gateway.stderr_text()
    );
    assert_eq!(replies_later.len(), 3, "no duplicates: {replies_later:?}");
    assert_eq!(gateway.stop().await, Some(0));
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
    let world = World::new().await;
    world.sim.set_faults(webex_sim::Faults {
        webhook_duplicate_ratio: 1.0,
        ..Default::default()
    });
    let home = TestHome::new();
    home.write_config(&world.config("webhook", OPEN));
    let gateway = RunningGateway::start(&home).await;
    let sent = world
        .sim
        .dm(&world.alice, &world.bot.email, "once please")
        .await
        .unwrap();
    let room = sent["roomId"].as_str().unwrap().to_string();
    world.wait_bot_texts(&room, 1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        world.bot_texts(&room),
        vec!["once please"],
        "{}",
        gateway.stderr_text()
    );
    assert_eq!(gateway.stop().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_mid_reply_is_answered_once_after_restart() {
    let world = World::new().await;
    let home = TestHome::new();
    // A slow command agent: the gateway is killed while it thinks.
    let script = home.write_script(
        "slow-agent.sh",
        "#!/bin/sh\nsleep 1.5\npython3 -c 'import json,sys; print(json.load(sys.stdin)[\"text\"])'\n",
    );
    let config = world.config_with_command_agent("webhook", OPEN, &script, "", "");
    home.write_config(&config);
    let gateway = RunningGateway::start(&home).await;
    let sent = world
        .sim
        .dm(&world.alice, &world.bot.email, "survive this")
        .await
        .unwrap();
    let room = sent["roomId"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(700)).await;
    gateway.kill().await;
    assert!(world.bot_texts(&room).is_empty(), "killed before replying");

    let gateway = RunningGateway::start(&home).await;
    let replies = world.wait_bot_texts(&room, 1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(replies, vec!["survive this"], "{}", gateway.stderr_text());
    assert_eq!(world.bot_texts(&room).len(), 1, "answered exactly once");
    assert_eq!(gateway.stop().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_endpoint_rejects_bad_input() {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&world.config("webhook", OPEN));
    let gateway = RunningGateway::start(&home).await;
    let url = format!("{}/webex/webhook", gateway.http);
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
        .get(format!("{}/healthz", gateway.http))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let metrics = client
        .get(format!("{}/metrics", gateway.http))
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
    assert_eq!(gateway.stop().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_and_5xx_bursts_delay_replies_but_lose_none() {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&world.config("polling", OPEN));
    let gateway = RunningGateway::start(&home).await;
    world.sim.set_faults(webex_sim::Faults {
        rate_limit_per_minute: Some(20),
        retry_after_seconds: Some(1),
        ..Default::default()
    });
    world.sim.fail_next("GET", "/v1/rooms", 503, 2);
    world.sim.fail_next("GET", "/v1/messages", 502, 2);
    let mut rooms = Vec::new();
    for i in 0..5 {
        let sent = world
            .sim
            .dm(&world.alice, &world.bot.email, &format!("m{i}"))
            .await
            .unwrap();
        rooms.push(sent["roomId"].as_str().unwrap().to_string());
    }
    let room = rooms[0].clone();
    let replies = world
        .wait_bot_texts(&room, 5, Duration::from_secs(40))
        .await;
    assert_eq!(
        replies,
        vec!["m0", "m1", "m2", "m3", "m4"],
        "{}",
        gateway.stderr_text()
    );
    assert_eq!(gateway.stop().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_in_one_room_is_answered_in_order() {
    let world = World::new().await;
    let home = TestHome::new();
    let fast = format!("{OPEN} rateLimit: {{ requestsPerMinute: 6000 }},");
    home.write_config(&world.config("webhook", &fast));
    let gateway = RunningGateway::start(&home).await;
    let mut room = String::new();
    let expected: Vec<String> = (0..15).map(|i| format!("burst {i}")).collect();
    for text in &expected {
        let sent = world
            .sim
            .dm(&world.alice, &world.bot.email, text)
            .await
            .unwrap();
        room = sent["roomId"].as_str().unwrap().to_string();
    }
    let replies = world.wait_bot_texts(&room, expected.len(), WAIT).await;
    assert_eq!(replies, expected, "{}", gateway.stderr_text());
    assert_eq!(gateway.stop().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20000_character_reply_with_code_fences_is_chunked() {
    let world = World::new().await;
    let home = TestHome::new();
    // An agent whose answer is ~20 000 characters of prose and fenced code.
    let script = home.write_script(
        "long-agent.py",
        r#"#!/usr/bin/env python3
import sys
parts = []
for i in range(40):
    parts.append("Paragraph %d: " % i + "words and more words é ü 🦀 " * 12)
    if i % 8 == 0:
        parts.append("```rust\n" + "\n".join("let x%d = %d; // line of code" % (j, j) for j in range(60)) + "\n```")
sys.stdout.write("\n\n".join(parts))
"#,
    );
    let fast = format!("{OPEN} rateLimit: {{ requestsPerMinute: 6000 }},");
    let config = world.config_with_command_agent("webhook", &fast, &script, "", "");
    home.write_config(&config);
    let gateway = RunningGateway::start(&home).await;
    let sent = world
        .sim
        .dm(&world.alice, &world.bot.email, "tell me a lot")
        .await
        .unwrap();
    let room = sent["roomId"].as_str().unwrap().to_string();
    // The last chunk holds the last paragraph.
    let chunks = world
        .wait_bot_texts_until(
            &room,
            |texts| texts.last().is_some_and(|t| t.contains("Paragraph 39:")),
            WAIT,
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let chunks_after = world.bot_texts(&room);
    assert_eq!(
        chunks,
        chunks_after,
        "all chunks arrived: {}",
        gateway.stderr_text()
    );
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
    assert_eq!(gateway.stop().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_space_can_have_its_own_system_prompt() {
    let world = World::new().await;
    let home = TestHome::new();
    let space = world
        .sim
        .create_room("Team", &[&world.alice.email, &world.bot.email]);
    // An agent that answers with the system prompt it was given.
    let script = home.write_script(
        "prompt-agent.sh",
        "#!/bin/sh\npython3 -c 'import json,sys; print(json.load(sys.stdin).get(\"systemPrompt\") or \"none\")'\n",
    );
    let config = world.config_with_command_agent(
        "webhook",
        OPEN,
        &script,
        "systemPrompt: \"default prompt\"",
        &format!(
            "rooms: {{ \"{}\": {{ systemPrompt: \"team prompt\" }} }}",
            space.id
        ),
    );
    home.write_config(&config);
    let gateway = RunningGateway::start(&home).await;
    world
        .sim
        .post_in_room(
            &world.alice,
            &space.id,
            &format!("<@personEmail:{}|Molty> which prompt?", world.bot.email),
        )
        .await
        .unwrap();
    let sent = world
        .sim
        .dm(&world.alice, &world.bot.email, "and here?")
        .await
        .unwrap();
    let dm = sent["roomId"].as_str().unwrap().to_string();
    assert_eq!(
        world.wait_bot_texts(&space.id, 1, WAIT).await,
        vec!["team prompt"],
        "{}",
        gateway.stderr_text()
    );
    assert_eq!(
        world.wait_bot_texts(&dm, 1, WAIT).await,
        vec!["default prompt"]
    );
    assert_eq!(gateway.stop().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_on_post_is_retried_and_answered_once() {
    let world = World::new().await;
    let home = TestHome::new();
    // A slightly slow agent, so the failures can be armed after the user's own POST.
    let script = home.write_script(
        "slow-echo.sh",
        "#!/bin/sh\nsleep 0.5\npython3 -c 'import json,sys; print(json.load(sys.stdin)[\"text\"])'\n",
    );
    let fast = format!("{OPEN} rateLimit: {{ requestsPerMinute: 6000 }},");
    home.write_config(&world.config_with_command_agent("webhook", &fast, &script, "", ""));
    let gateway = RunningGateway::start(&home).await;
    let sent = world
        .sim
        .dm(&world.alice, &world.bot.email, "are you there?")
        .await
        .unwrap();
    // The bot's next two replies fail with a 502: Webex gives no way to know whether they
    // landed; the gateway looks (in a DM it can), finds nothing, and sends again.
    world.sim.fail_next("POST", "/v1/messages", 502, 2);
    let room = sent["roomId"].as_str().unwrap().to_string();
    let replies = world.wait_bot_texts(&room, 1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(replies, vec!["are you there?"], "{}", gateway.stderr_text());
    assert_eq!(world.bot_texts(&room).len(), 1, "answered once");
    let failed_posts = world
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.path == "/v1/messages"
                && r.status == 502
                && r.caller.as_deref() == Some(world.bot.id.as_str())
        })
        .count();
    assert_eq!(failed_posts, 2, "the bot's own sends took both failures");
    assert_eq!(gateway.stop().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_webhook_mode_a_delivery_that_never_comes_is_found_by_the_safety_poll() {
    let world = World::new().await;
    let home = TestHome::new();
    let config = world.config("webhook", OPEN).replace(
        "webhook: { port: 0,",
        "webhook: { safetyPollSeconds: 1, port: 0,",
    );
    home.write_config(&config);
    let gateway = RunningGateway::start(&home).await;
    // Every webhook delivery is lost on the way.
    world.sim.set_faults(webex_sim::Faults {
        webhook_drop_ratio: 1.0,
        ..Default::default()
    });
    let sent = world
        .sim
        .dm(&world.alice, &world.bot.email, "did you get this?")
        .await
        .unwrap();
    let room = sent["roomId"].as_str().unwrap().to_string();
    let replies = world.wait_bot_texts(&room, 1, WAIT).await;
    assert_eq!(
        replies,
        vec!["did you get this?"],
        "{}",
        gateway.stderr_text()
    );
    assert_eq!(gateway.stop().await, Some(0));
}
