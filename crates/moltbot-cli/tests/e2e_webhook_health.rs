//! The running gateway keeps its webhooks: when Webex disables them (after many failed
//! deliveries), or someone deletes or redirects one, the next check (every
//! `webhook.safetyPollSeconds`) puts it back, logs a warning and counts it in `/metrics`; the
//! next message arrives by webhook again.

#![allow(clippy::unwrap_used)]

mod common;

use common::TestHome;
use moltbot_testkit::wait;
use moltbot_testkit::{Scenario, World, OPEN};
use serde_json::{json, Value};

/// A webhook-mode gateway checking its webhooks every second.
async fn start() -> Scenario {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&world.config("webhook", OPEN).replace(
        "webhook: { port: 0,",
        "webhook: { safetyPollSeconds: 1, port: 0,",
    ));
    Scenario::start_in(world, home).await
}

fn repairs(action: &str) -> String {
    format!("moltbot_webhook_repairs_total{{channel=\"webex\",action=\"{action}\"}}")
}

/// Waits until the emulator holds exactly the gateway's two webhooks, both active and
/// pointed at `target`; returns them.
async fn wait_webhooks_restored(s: &Scenario, target: &str) -> Vec<Value> {
    let restored = wait::until(wait::TIMEOUT, || {
        let hooks = s.sim.webhooks();
        (hooks.len() == 2
            && hooks
                .iter()
                .all(|h| h["status"] == "active" && h["targetUrl"] == target))
        .then_some(hooks)
    })
    .await;
    match restored {
        Ok(hooks) => hooks,
        Err(err) => panic!(
            "webhooks not restored: {err}; now {:?}\ngateway log:\n{}",
            s.sim.webhooks(),
            s.log()
        ),
    }
}

/// Alice's next DM is delivered by webhook (the emulator's target answered it) and answered.
async fn next_message_arrives_by_webhook(s: &Scenario, text: &str) {
    let before = s.sim.deliveries_answered();
    let dm = s.alice().dm_bot(text).await;
    assert_eq!(s.wait_replies(&dm, 1).await, [text]);
    tokio::time::timeout(wait::TIMEOUT, s.sim.deliveries_done())
        .await
        .unwrap();
    assert!(
        s.sim.deliveries_answered() > before,
        "the message was not delivered by webhook"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_disabled_by_webex_while_running_are_reactivated_warned_and_counted() {
    let s = start().await;
    let target = s.sim.webhooks()[0]["targetUrl"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(s.gateway().metric(&repairs("reactivated")).await, 0.0);

    // Webex disables both webhooks (as after 100 failed deliveries within five minutes).
    assert_eq!(s.sim.disable_webhooks(), 2);
    wait_webhooks_restored(&s, &target).await;

    wait::eventually("the re-activation warning", || {
        s.log()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("webhook was inactive"))
    })
    .await;
    assert_eq!(s.gateway().metric(&repairs("reactivated")).await, 2.0);
    next_message_arrives_by_webhook(&s, "are you back?").await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_deleted_or_redirected_by_someone_else_are_put_back() {
    let s = start().await;
    let hooks = s.sim.webhooks();
    let target = hooks[0]["targetUrl"].as_str().unwrap().to_string();
    let id = |i: usize| hooks[i]["id"].as_str().unwrap().to_string();

    // Someone with the bot's token deletes one webhook and points the other elsewhere.
    s.sim
        .call_as(
            &s.bot,
            reqwest::Method::DELETE,
            &format!("/webhooks/{}", id(0)),
            None,
        )
        .await
        .unwrap();
    s.sim
        .call_as(
            &s.bot,
            reqwest::Method::PUT,
            &format!("/webhooks/{}", id(1)),
            Some(json!({"name": hooks[1]["name"], "targetUrl": "https://elsewhere.example.com/hook"})),
        )
        .await
        .unwrap();

    let restored = wait_webhooks_restored(&s, &target).await;
    assert!(
        restored.iter().any(|h| h["id"] == id(1).as_str()),
        "the redirected webhook is updated in place"
    );
    wait::eventually("both warnings", || {
        let log = s.log();
        log.contains("webhook was missing at Webex") && log.contains("webhook had been changed")
    })
    .await;
    assert_eq!(s.gateway().metric(&repairs("recreated")).await, 1.0);
    assert_eq!(s.gateway().metric(&repairs("updated")).await, 1.0);
    assert_eq!(s.gateway().metric(&repairs("reactivated")).await, 0.0);
    next_message_arrives_by_webhook(&s, "still there?").await;
    s.finish().await;
}
