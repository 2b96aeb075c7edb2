//! `moltbot channels status webex [--deep] [--json]`: the account line, its warnings, and the
//! deep checks against webex-sim (token, webhook registration) and an unreachable API.

#![allow(clippy::unwrap_used)]

mod common;
mod ops_support;

use std::sync::Arc;

use common::TestHome;
use moltbot_core::gateway::heartbeat;
use moltbot_core::store::{Claim, ManualClock, OutboxPart, OutboxReply, SentRecord, Store};
use moltbot_testkit::{Scenario, World};
use ops_support::{closed_port, config, moltbot, scrub, texts};
use serde_json::{json, Value};

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Traffic as the gateway would have recorded it: a message received `in_ago` ms ago, a reply
/// sent `out_ago` ms ago, and (optionally) a fresh heartbeat.
async fn record_traffic(home: &TestHome, in_ago: i64, out_ago: i64, heartbeat: bool) {
    let now = now_ms();
    let clock = ManualClock::new(now - in_ago);
    let file = home.state_dir().join("state").join("moltbot.sqlite");
    let store = Store::open_with_clock(&file, Arc::new(clock.clone())).unwrap();
    store
        .ledger()
        .claim(&Claim {
            channel: "webex".into(),
            message_id: "m1".into(),
            room_id: "room1".into(),
            created_at: now - in_ago,
            owner: "test/run".into(),
            lease_ms: 15_000,
        })
        .await
        .unwrap();
    clock.set(now - out_ago);
    let parts = store
        .outbox()
        .enqueue(&OutboxReply {
            channel: "webex".into(),
            inbound_message_id: Some("m1".into()),
            room_id: "room1".into(),
            parent_id: None,
            parts: vec![OutboxPart::text("hello")],
        })
        .await
        .unwrap();
    store
        .outbox()
        .record_sent(&SentRecord {
            op_id: parts[0].id,
            remote_message_id: "sent1".into(),
            begin_next: None,
            finish_message: Some(("webex".into(), "m1".into())),
        })
        .await
        .unwrap();
    if heartbeat {
        store
            .kv()
            .set(heartbeat::NAMESPACE, heartbeat::KEY, &now.to_string())
            .await
            .unwrap();
    }
}

/// Registers the bot's `messages:created` webhook in the emulator, as the gateway does.
async fn register_webhook(world: &World, status: &str) {
    let hook = world
        .sim
        .call_as(
            &world.bot,
            reqwest::Method::POST,
            "/webhooks",
            Some(json!({
                "name": "moltbot",
                "targetUrl": "http://127.0.0.1:9/webex/webhook",
                "resource": "messages",
                "event": "created",
            })),
        )
        .await
        .unwrap();
    if status != "active" {
        let id = hook["id"].as_str().unwrap();
        world
            .sim
            .call_as(
                &world.bot,
                reqwest::Method::PUT,
                &format!("/webhooks/{id}"),
                Some(json!({
                    "name": "moltbot",
                    "targetUrl": "http://127.0.0.1:9/webex/webhook",
                    "status": status,
                })),
            )
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reads_config_and_store_only() {
    let home = TestHome::new();
    // Nothing listens at the API: status without --deep never calls it.
    let api = format!("http://127.0.0.1:{}/v1", closed_port());
    home.write_config(&config("polling", &api, None, ""));
    record_traffic(&home, 125_000, 65_000, true).await;
    let env = [("WEBEX_BOT_TOKEN", "env-token-0123456789abcdef")];
    let out = moltbot(&home, &["channels", "status", "webex"], &env).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The store line names the SQLite file, in a temporary folder.
    let stdout = stdout.replace(&home.state_dir().display().to_string(), "[state]");
    insta::assert_snapshot!(stdout);

    // A stale heartbeat (a crashed gateway) is not "running"; no argument lists every channel.
    let home = TestHome::new();
    home.write_config(&config("polling", &api, None, ""));
    record_traffic(&home, 10_000, 5_000, false).await;
    let out = moltbot(&home, &["channels", "status"], &env).await;
    let (stdout, _) = texts(&out);
    assert!(
        stdout.starts_with("Webex default: enabled, configured, not running, "),
        "{stdout}"
    );
    assert!(stdout.contains("in:10s ago, out:5s ago"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_without_a_token_or_a_store_says_not_configured() {
    let home = TestHome::new();
    home.write_config(&config(
        "webhook",
        "https://webexapis.com/v1",
        None,
        r#"dmPolicy: "open", allowFrom: ["*"],"#,
    ));
    let out = moltbot(&home, &["channels", "status", "webex"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !home.state_dir().join("state").exists(),
        "status must not create the store"
    );
    insta::assert_snapshot!(scrub(
        &stdout,
        &[(&home.config_path().display().to_string(), "[CONFIG]")]
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_status_of_a_healthy_webhook_account() {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&config(
        "webhook",
        &world.sim.api_base(),
        Some(&world.bot.token),
        r#"webhook: { port: 0, url: "http://127.0.0.1:9/webex/webhook", secret: "configured-secret-123" },"#,
    ));
    register_webhook(&world, "active").await;
    let out = moltbot(&home, &["channels", "status", "webex", "--deep"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(!stdout.contains(&world.bot.token), "{stdout}");
    insta::assert_snapshot!(scrub(&stdout, &[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_status_reports_an_inactive_webhook_and_open_dms() {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&config(
        "both",
        &world.sim.api_base(),
        Some(&world.bot.token),
        r#"dmPolicy: "open", allowFrom: ["*"],"#,
    ));
    register_webhook(&world, "inactive").await;
    let out = moltbot(&home, &["channels", "status", "webex", "--deep"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    insta::assert_snapshot!(scrub(&stdout, &[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_status_with_a_bad_token_fails() {
    let world = World::new().await;
    let home = TestHome::new();
    let token = "revoked-token-0123456789abcdef";
    home.write_config(&config("polling", &world.sim.api_base(), Some(token), ""));
    let out = moltbot(&home, &["channels", "status", "webex", "--deep"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains(token), "{stdout}");
    insta::assert_snapshot!(scrub(&stdout, &[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_status_when_webex_is_unreachable_fails() {
    let home = TestHome::new();
    let port = closed_port();
    let api = format!("http://127.0.0.1:{port}/v1");
    home.write_config(&config(
        "polling",
        &api,
        Some("some-token-0123456789abcdef"),
        "",
    ));
    let out = moltbot(&home, &["channels", "status", "webex", "--deep"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    insta::assert_snapshot!(scrub(&stdout, &[(&port.to_string(), "[PORT]")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_status_has_a_stable_shape() {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&config(
        "webhook",
        &world.sim.api_base(),
        Some(&world.bot.token),
        "",
    ));
    record_traffic(&home, 3_600_000, 60_000, false).await;
    let out = moltbot(
        &home,
        &["channels", "status", "webex", "--deep", "--json"],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let mut value: Value = serde_json::from_str(&stdout).unwrap();
    let account = &mut value[0];
    assert_eq!(account["deep"]["bot"]["id"], json!(world.bot.id));
    assert!(account["deep"]["latencyMs"].is_u64());
    assert!(account["lastInboundAt"].as_str().unwrap().ends_with('Z'));
    account["deep"]["bot"]["id"] = json!("[BOT_ID]");
    account["deep"]["latencyMs"] = json!("[N]");
    account["lastInboundAt"] = json!("[TIME]");
    account["lastOutboundAt"] = json!("[TIME]");
    // The store, as the text's `Store:` line says it (no gateway runs: no replica).
    let location = account["store"]["location"].as_str().unwrap();
    assert!(location.ends_with("moltbot.sqlite"), "{location}");
    account["store"]["location"] = json!("[STORE]");
    insta::assert_json_snapshot!(value);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_works_while_the_gateway_runs() {
    let s = Scenario::start("polling", r#"dmPolicy: "open", allowFrom: ["*"],"#).await;
    let ping = s.alice().dm_bot("ping").await;
    s.wait_replies(&ping, 1).await;

    let out = moltbot(&s.home, &["channels", "status", "webex", "--deep"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    // "running" follows the gateway's heartbeat in the store.
    let running = heartbeat::is_running(s.gateway().ledger().store())
        .await
        .unwrap();
    let expected = if running { "running" } else { "not running" };
    assert!(
        stdout.starts_with(&format!("Webex default: enabled, configured, {expected}, ")),
        "{stdout}"
    );
    assert!(
        !stdout.contains("in:never") && !stdout.contains("out:never"),
        "{stdout}"
    );
    assert!(stdout.contains("  token valid: Molty"), "{stdout}");

    // `--json` gives the same facts as the text: the store, and the running gateway as one
    // replica with the role its `Replicas:` line shows.
    let out = moltbot(&s.home, &["channels", "status", "webex", "--json"], &[]).await;
    let (json_out, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{json_out}{stderr}");
    let value: Value = serde_json::from_str(&json_out).unwrap();
    let store = &value[0]["store"];
    assert_eq!(store["backend"], "sqlite", "{json_out}");
    let location = store["location"].as_str().unwrap();
    assert!(
        stdout.contains(&format!("Store: sqlite ({location})")),
        "{stdout}\n{json_out}"
    );
    let replicas = store["replicas"].as_array().unwrap();
    if running {
        assert!(stdout.contains("Replicas: 1 running"), "{stdout}");
        assert_eq!(replicas.len(), 1, "{json_out}");
        let replica = &replicas[0];
        let line = format!(
            "  {} {} (beat ",
            replica["owner"].as_str().unwrap(),
            replica["role"].as_str().unwrap()
        );
        assert!(stdout.contains(&line), "{stdout}\n{json_out}");
        assert_eq!(replica["role"], "single", "{json_out}");
        assert_eq!(replica["configDiffers"], false, "{json_out}");
        assert!(replica["beatAgoSeconds"].is_u64(), "{json_out}");
        // `<channel>=<16 hex digits>` per channel.
        assert!(
            replica["fingerprint"]
                .as_str()
                .unwrap()
                .starts_with("webex="),
            "{json_out}"
        );
    }
    s.finish().await;
}
