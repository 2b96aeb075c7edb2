//! Websocket mode end to end: the real `moltbot gateway` binary listening on webex-sim's
//! Mercury websocket (U2C catalog -> WDM device -> websocket), with the safety poll off unless a
//! test needs it, so what is answered came over the socket.

#![allow(clippy::unwrap_used)]

mod common;
mod ops_support;

use moltbot_core::store::InboundState;
use moltbot_testkit::proxy::ForwardProxy;
use moltbot_testkit::{wait, Scenario, TestHome, World, OPEN, OPEN_FAST};
use serde_json::json;

/// `channels.webex` for websocket mode without the safety poll (plus `extra`).
fn socket_only(extra: &str) -> String {
    format!("{extra} {OPEN_FAST}")
}

/// A websocket-mode scenario; `safety_poll` is spliced into `websocket` (e.g.
/// `safetyPollSeconds: 0`).
async fn start(websocket: &str, extra: &str) -> Scenario {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&world.websocket_config(websocket, &socket_only(extra)));
    Scenario::start_in(world, home).await
}

fn events(kind: &str) -> String {
    format!("moltbot_listener_events_total{{channel=\"webex\",kind=\"{kind}\"}}")
}

fn reconnects(cause: &str) -> String {
    format!("moltbot_listener_reconnects_total{{channel=\"webex\",cause=\"{cause}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_and_a_space_mention_are_answered_over_the_websocket() {
    let s = start("safetyPollSeconds: 0", "").await;
    let devices = s.sim.devices_of(&s.bot);
    assert_eq!(devices.len(), 1, "one device registered: {devices:?}");
    assert!(devices[0].connected);

    let hi = s.alice().dm_bot("hello over the socket").await;
    assert_eq!(s.wait_replies(&hi, 1).await, ["hello over the socket"]);

    let team = s.sim.space("Team", &["alice", "bob"]);
    s.bob().post(&team, "just chatting").await;
    s.bob().mention_bot(&team, "what's up?").await;
    assert_eq!(s.wait_replies(&team, 1).await, ["what's up?"]);

    s.settled().await;
    assert_eq!(s.bot_texts(&hi), ["hello over the socket"]);
    assert_eq!(s.bot_texts(&team), ["what's up?"]);
    // Two messages came as events (the unmentioned post is not sent to a bot), and each was
    // acknowledged; the bot's own two replies came back as its own activities.
    let gateway = s.gateway();
    assert_eq!(gateway.metric(&events("message")).await, 2.0);
    assert!(
        gateway
            .metric("moltbot_listener_acks_total{channel=\"webex\"}")
            .await
            >= 4.0
    );
    assert_eq!(
        gateway
            .metric("moltbot_listener_connected{channel=\"webex\"}")
            .await,
        1.0
    );
    // Nothing was polled after the start-up catch-up: the socket brought both.
    assert!(!s.log().contains("poll pass"), "{}", s.log());
    // The test config also sets webhook.url, which this mode does not use: said once at start.
    assert!(
        s.log().lines().any(|l| l
            .contains("settings of another receive mode are not used in this mode")
            && l.contains("channels.webex.webhook.url")),
        "{}",
        s.log()
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_socket_is_covered_by_the_safety_poll_and_answered_once() {
    // The socket brings events 3 s late (as one that stays silent would never); the safety
    // poll, every second, finds the message first; the late event is then a duplicate.
    let s = start("safetyPollSeconds: 1", "").await;
    s.sim.delay_events(std::time::Duration::from_secs(3));
    let hi = s.alice().dm_bot("anyone?").await;
    assert_eq!(s.wait_replies(&hi, 1).await, ["anyone?"]);
    let late = wait::until_async(wait::TIMEOUT, || async {
        let duplicates = s
            .gateway()
            .metric("moltbot_messages_duplicate_total{channel=\"webex\"}")
            .await;
        (duplicates >= 1.0).then_some(())
    })
    .await;
    assert!(
        late.is_ok(),
        "the late event came as a duplicate:\n{}",
        s.log()
    );
    s.settled().await;
    assert_eq!(s.bot_texts(&hi), ["anyone?"]);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_and_sigkill_answer_each_message_once_on_one_device() {
    let mut s = start("safetyPollSeconds: 0", "").await;
    let one = s.alice().dm_bot("one").await;
    assert_eq!(s.wait_replies(&one, 1).await, ["one"]);

    // Stopped: sent meanwhile, found by the start-up catch-up (or redelivered).
    assert_eq!(s.stop_gateway().await, Some(0));
    let two = s.alice().dm_bot("two").await;
    s.start_gateway().await;
    assert_eq!(s.wait_replies(&one, 2).await, ["one", "two"]);

    // Crashed: the same. (Killed only once "two" is recorded as replied: a kill between the
    // reply's POST and its record is the documented duplicate window, not this test's story.)
    s.wait_state(&two, InboundState::Replied).await;
    s.kill_gateway().await;
    s.alice().dm_bot("three").await;
    s.start_gateway().await;
    s.alice().dm_bot("four").await;
    assert_eq!(
        s.wait_replies(&one, 4).await,
        ["one", "two", "three", "four"]
    );

    // Two more starts: the device registered on the first start is the one in use.
    for _ in 0..2 {
        s.restart().await;
    }
    s.settled().await;
    assert_eq!(s.bot_texts(&one), ["one", "two", "three", "four"]);
    let devices = s.sim.devices_of(&s.bot);
    assert_eq!(devices.len(), 1, "five starts, one device: {devices:?}");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_dropped_mid_burst_loses_nothing_and_answers_once() {
    let s = start("safetyPollSeconds: 0", "").await;
    let texts: Vec<String> = (0..40).map(|i| format!("burst {i}")).collect();
    let mut first = None;
    for (i, text) in texts.iter().enumerate() {
        let sent = s.alice().dm_bot(text).await;
        first.get_or_insert(sent);
        if i % 10 == 5 {
            // A network failure: no close frame. Un-acked events come again after the
            // reconnect; the catch-up pass finds anything else.
            s.sim.drop_websockets();
        }
    }
    let first = first.unwrap();
    let replies = s.wait_replies(&first, texts.len()).await;
    assert_eq!(replies, texts, "every message answered, in order");
    s.settled().await;
    assert_eq!(s.bot_texts(&first).len(), texts.len(), "no duplicate");
    let gateway = s.gateway();
    let reconnected =
        gateway.metric(&reconnects("closed")).await + gateway.metric(&reconnects("error")).await;
    assert!(reconnected >= 1.0, "{}", s.log());
    assert!(s.log().contains("websocket reconnected; catching up"));
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_events_get_one_reply() {
    let s = start("safetyPollSeconds: 0", "").await;
    s.sim.duplicate_events(true);
    let texts: Vec<String> = (0..8).map(|i| format!("twice {i}")).collect();
    let mut first = None;
    for text in &texts {
        first.get_or_insert(s.alice().dm_bot(text).await);
    }
    let first = first.unwrap();
    assert_eq!(s.wait_replies(&first, texts.len()).await, texts);
    s.settled().await;
    assert_eq!(s.bot_texts(&first), texts, "one reply per message");
    assert!(
        s.gateway()
            .metric("moltbot_messages_duplicate_total{channel=\"webex\"}")
            .await
            >= texts.len() as f64
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_stops_the_gateway_with_a_clear_error_and_no_reconnect_storm() {
    let mut s = start("safetyPollSeconds: 0", "").await;
    let hi = s.alice().dm_bot("before").await;
    assert_eq!(s.wait_replies(&hi, 1).await, ["before"]);

    // The token is revoked: Mercury closes with 4401; the gateway checks the token.
    assert!(s.sim.revoke_token(&s.bot));
    let (code, log) = s.wait_gateway_exit().await;
    assert_eq!(code, Some(1), "exit code; log:\n{log}");
    assert!(
        log.contains("the bot token is invalid"),
        "the error names the token:\n{log}"
    );
    let attempts = log.matches("websocket lost; reconnecting").count();
    assert!(attempts <= 1, "no reconnect storm ({attempts}):\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_socket_is_taken_for_dead_and_reconnected() {
    let s = start(
        "safetyPollSeconds: 0, pingIntervalSeconds: 0.3, pongTimeoutSeconds: 0.3",
        "",
    )
    .await;
    s.sim.stop_answering_pings();
    let reconnected = wait::until_async(wait::TIMEOUT, || async {
        (s.gateway().metric(&reconnects("pong_timeout")).await >= 1.0).then_some(())
    })
    .await;
    assert!(
        reconnected.is_ok(),
        "no reconnect after a missed pong:\n{}",
        s.log()
    );
    s.sim.answer_pings();
    let hi = s.alice().dm_bot("still there?").await;
    assert_eq!(s.wait_replies(&hi, 1).await, ["still there?"]);
    assert!(s.log().contains("did not answer a ping"), "{}", s.log());
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_submission_over_the_socket_takes_the_webhook_path() {
    let s = start("safetyPollSeconds: 0", "").await;
    // The bot posts a card to Alice (cards come from bots); Alice submits it.
    let hi = s.alice().dm_bot("show me the card").await;
    s.wait_replies(&hi, 1).await;
    let posted = s
        .sim
        .call_as(
            &s.bot,
            reqwest::Method::POST,
            "/messages",
            Some(json!({
                "toPersonEmail": s.alice().email(),
                "markdown": "a card",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {"type": "AdaptiveCard", "version": "1.2", "body": [],
                                "actions": [{"type": "Action.Submit", "title": "Go"}]}
                }]
            })),
        )
        .await
        .unwrap();
    let card = webex_sim::SimMessage::from_value(posted).unwrap();
    let action = s.alice().submit_card(&card, json!({"choice": "A"})).await;
    let action_id = action["id"].as_str().unwrap().to_string();
    wait::eventually("the card submission logged", || {
        s.log()
            .lines()
            .any(|l| l.contains("card submitted") && l.contains(&action_id))
    })
    .await;
    assert_eq!(s.gateway().metric(&events("card_action")).await, 1.0);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_and_websocket_go_through_the_configured_proxy() {
    let proxy = ForwardProxy::start().await.unwrap();
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&world.websocket_config("safetyPollSeconds: 0", OPEN));
    let mut s = Scenario::prepare(world, home);
    // The emulator speaks plain http on loopback: HTTP_PROXY is the variable for it (for
    // Webex itself, https and wss, it is HTTPS_PROXY; both are honoured).
    s.start_gateway_with(&[("HTTP_PROXY", &proxy.url()), ("NO_PROXY", "")])
        .await;
    let hi = s.alice().dm_bot("through the proxy").await;
    assert_eq!(s.wait_replies(&hi, 1).await, ["through the proxy"]);
    assert!(
        proxy.tunnels() >= 1,
        "websocket tunnelled: {:?}",
        proxy.uses()
    );
    assert!(proxy.forwarded() >= 1, "REST forwarded: {:?}", proxy.uses());
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_socket_and_probe_reaches_the_websocket_services() {
    let mut s = start("safetyPollSeconds: 0", "").await;
    let hi = s.alice().dm_bot("status?").await;
    s.wait_replies(&hi, 1).await;
    let device = s.sim.devices_of(&s.bot).remove(0);
    let name = device.name.unwrap();

    let out = ops_support::moltbot(&s.home, &["channels", "status", "webex", "--json"], &[]).await;
    let (stdout, stderr) = ops_support::texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let text = status.to_string();
    assert!(text.contains("connected for"), "{text}");
    assert!(text.contains(&name), "the device is named: {text}");
    assert!(
        text.contains("last event") && !text.contains("no event yet"),
        "the first event is recorded at once: {text}"
    );

    let out = ops_support::moltbot(&s.home, &["channels", "probe", "webex"], &[]).await;
    let (stdout, stderr) = ops_support::texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("websocket: catalog") && stdout.contains("1 device(s) registered"),
        "{stdout}"
    );
    assert_eq!(s.stop_gateway().await, Some(0));

    // Stopped: the status says so, from what the gateway left in the store.
    let out = ops_support::moltbot(&s.home, &["channels", "status", "webex"], &[]).await;
    let (stdout, _) = ops_support::texts(&out);
    assert!(
        stdout.contains("stopped (the gateway is not running)"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_names_an_unreachable_service_catalog() {
    let world = World::new().await;
    let home = TestHome::new();
    let port = ops_support::closed_port();
    home.write_config(&world.config("websocket", OPEN).replace(
        &world.sim.u2c_url(),
        &format!("http://127.0.0.1:{port}/u2c/api/v1"),
    ));
    let out = ops_support::moltbot(&home, &["channels", "probe", "webex"], &[]).await;
    let (stdout, stderr) = ops_support::texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(
        stderr.contains(&port.to_string()),
        "names the catalog: {stderr}"
    );
}
