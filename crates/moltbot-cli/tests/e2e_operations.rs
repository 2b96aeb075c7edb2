//! Running the gateway like a service: graceful shutdown with work in flight, metrics that
//! move, and start-up failures reported in one clear line.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{output_text, TestHome};
use moltbot_testkit::{slow_echo_agent, RunningGateway, Scenario, World, OPEN_FAST as OPEN};

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
    let s = Scenario::start("webhook", OPEN).await;
    let before = scrape(s.gateway()).await;
    let counted = s.alice().dm_bot("count me").await;
    s.wait_replies(&counted, 1).await;
    s.settled().await;
    let after = scrape(s.gateway()).await;
    let get = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
    for series in [
        "moltbot_messages_received_total{channel=\"webex\"}",
        "moltbot_messages_answered_total{channel=\"webex\"}",
        "moltbot_reply_latency_seconds_count",
    ] {
        assert_eq!(get(&after, series) - get(&before, series), 1.0, "{series}");
    }
    let posts = "moltbot_api_requests_total{channel=\"webex\",method=\"POST\",endpoint=\"/messages\",status=\"200\"}";
    assert!(get(&after, posts) > get(&before, posts), "{after:?}");
    assert!(after.contains_key("moltbot_queue_depth"));
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_messages_in_flight_loses_none() {
    let world = World::new().await;
    let home = TestHome::new();
    // Each answer takes a second; a short shutdown deadline leaves some unfinished.
    let script = home.write_script("slow-echo.sh", &slow_echo_agent("1"));
    home.write_config(
        &world
            .config_with_command_agent("webhook", OPEN, &script, "", "")
            .replace(
                "  channels: {",
                "  gateway: { shutdownTimeoutSeconds: 1 },\n  channels: {",
            ),
    );
    let mut s = Scenario::start_in(world, home).await;
    let mut sent = Vec::new();
    for i in 0..4 {
        sent.push(s.alice().dm_bot(&format!("in flight {i}")).await);
    }
    // The gateway is answering the first and holds all four when it is told to stop.
    s.wait_agent_asked("in flight 0").await;
    for message in &sent {
        s.recorded(message).await;
    }
    assert_eq!(s.stop_gateway().await, Some(0), "graceful stop exits 0");
    assert!(
        s.bot_texts(&sent[0]).len() < 4,
        "some work was still in flight"
    );

    // The rest is answered after a restart, each message once, in order.
    s.start_gateway().await;
    s.wait_replies(&sent[0], 4).await;
    s.settled().await;
    assert_eq!(
        s.bot_texts(&sent[0]),
        ["in flight 0", "in flight 1", "in flight 2", "in flight 3"]
    );
    s.finish().await;
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
