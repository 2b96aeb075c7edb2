//! Running the gateway like a service: graceful shutdown with work in flight, metrics that
//! move, and start-up failures reported in one clear line.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::gateway::{RunningGateway, World};
use common::{output_text, TestHome};

const OPEN: &str = r#"dmPolicy: "open", allowFrom: ["*"], groupPolicy: "open", rateLimit: { requestsPerMinute: 6000 },"#;
const WAIT: Duration = Duration::from_secs(15);

/// Parses Prometheus text: every sample line is `name{labels} value`; comments are HELP/TYPE.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("HELP ") || comment.starts_with("TYPE "),
                "bad comment line: {line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in: {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unterminated labels: {line}");
        }
        samples.insert(
            series.to_string(),
            value.parse::<f64>().expect("numeric value"),
        );
    }
    samples
}

async fn scrape(gateway: &RunningGateway) -> BTreeMap<String, f64> {
    let text = reqwest::get(format!("{}/metrics", gateway.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    parse_metrics(&text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_and_move_when_messages_flow() {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&world.config("webhook", OPEN));
    let gateway = RunningGateway::start(&home).await;
    let before = scrape(&gateway).await;
    let sent = world
        .sim
        .dm(&world.alice, &world.bot.email, "count me")
        .await
        .unwrap();
    let room = sent["roomId"].as_str().unwrap().to_string();
    world.wait_bot_texts(&room, 1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = scrape(&gateway).await;
    let get = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
    for series in [
        "moltbot_messages_received_total{channel=\"webex\"}",
        "moltbot_messages_answered_total{channel=\"webex\"}",
        "moltbot_reply_latency_seconds_count",
    ] {
        assert_eq!(get(&after, series) - get(&before, series), 1.0, "{series}");
    }
    let posts =
        "moltbot_api_requests_total{channel=\"webex\",endpoint=\"/messages\",status=\"200\"}";
    assert!(get(&after, posts) > get(&before, posts), "{after:?}");
    assert!(after.contains_key("moltbot_queue_depth"));
    assert_eq!(gateway.stop().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_messages_in_flight_loses_none() {
    let world = World::new().await;
    let home = TestHome::new();
    // Each answer takes a second; a short shutdown deadline leaves some unfinished.
    let script = home.write_script(
        "slow-echo.sh",
        "#!/bin/sh\nsleep 1\npython3 -c 'import json,sys; print(json.load(sys.stdin)[\"text\"])'\n",
    );
    let config = world
        .config_with_command_agent("webhook", OPEN, &script, "", "")
        .replace(
            "  channels: {",
            "  gateway: { shutdownTimeoutSeconds: 1 },\n  channels: {",
        );
    home.write_config(&config);
    let gateway = RunningGateway::start(&home).await;
    let mut room = String::new();
    for i in 0..4 {
        let sent = world
            .sim
            .dm(&world.alice, &world.bot.email, &format!("in flight {i}"))
            .await
            .unwrap();
        room = sent["roomId"].as_str().unwrap().to_string();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gateway.stop().await, Some(0), "graceful stop exits 0");
    let answered_before_restart = world.bot_texts(&room).len();
    assert!(answered_before_restart < 4, "some work was still in flight");

    // The rest is answered after a restart, each message once, in order.
    let gateway = RunningGateway::start(&home).await;
    let replies = world.wait_bot_texts(&room, 4, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        world.bot_texts(&room),
        vec!["in flight 0", "in flight 1", "in flight 2", "in flight 3"],
        "{replies:?} {}",
        gateway.stderr_text()
    );
    assert_eq!(gateway.stop().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_stops_the_start_with_one_clear_line() {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(
        &world
            .config("polling", OPEN)
            .replace(&world.bot.token, "not-a-valid-token-123456"),
    );
    let out = home.moltbot().arg("gateway").output().unwrap();
    let (_, stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(1));
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .expect("an error line");
    assert!(line.contains("401"), "{line}");
    assert!(line.contains("the bot token is invalid"), "{line}");
    assert!(
        !stderr.contains("not-a-valid-token-123456"),
        "token printed: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_stops_the_start_with_one_clear_line() {
    let world = World::new().await;
    let home = TestHome::new();
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    home.write_config(
        &world
            .config("polling", OPEN)
            .replace("webhook: { port: 0,", &format!("webhook: {{ port: {port},")),
    );
    let out = home.moltbot().arg("gateway").output().unwrap();
    let (_, stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(1));
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .expect("an error line");
    assert!(line.contains(&format!(":{port}")), "{line}");
    assert!(line.contains("channels.webex.webhook.port"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_webhook_registration_stops_the_start_with_one_clear_line() {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&world.config("webhook", OPEN));
    world.sim.fail_next("POST", "/v1/webhooks", 400, 5);
    let out = home.moltbot().arg("gateway").output().unwrap();
    let (_, stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .expect("an error line");
    assert!(line.contains("Webhook registration failed"), "{line}");
    assert!(line.contains("channels.webex.webhook.url"), "{line}");
}
