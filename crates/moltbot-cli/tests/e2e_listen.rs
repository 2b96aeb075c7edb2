//! Where the gateway listens. `channels.webex.webhook.host`: the address of the gateway's HTTP
//! server (webhook, health, metrics); every interface by default, loopback when asked, and
//! loopback only in `gateway --sim`. `gateway.metrics.listen`: `/metrics` on an address of its
//! own, and then not on the webhook port.

#![allow(clippy::unwrap_used)]

mod common;

use moltbot_testkit::{metric_at, RunningGateway, Scenario, TestHome, World, OPEN};

/// `world.config` with `webhook.host` set to `host`.
fn config_with_host(world: &World, mode: &str, host: &str) -> String {
    world.config(mode, OPEN).replace(
        "webhook: { port: 0,",
        &format!("webhook: {{ host: \"{host}\", port: 0,"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_listens_on_every_interface_by_default() {
    let s = Scenario::start("webhook", OPEN).await;
    let listening = s.gateway().listening_on.clone();
    assert!(listening.starts_with("http://0.0.0.0:"), "{listening}");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_host_loopback_listens_on_loopback_only_and_still_answers() {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&config_with_host(&world, "webhook", "127.0.0.1"));
    let s = Scenario::start_in(world, home).await;
    let listening = s.gateway().listening_on.clone();
    assert!(listening.starts_with("http://127.0.0.1:"), "{listening}");

    let hi = s.alice().dm_bot("through loopback").await;
    assert_eq!(s.wait_replies(&hi, 1).await, ["through loopback"]);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_host_that_is_not_an_ip_address_is_refused_with_its_key() {
    let world = World::new().await;
    for bad in ["localhost:80", "example.com", "300.1.1.1"] {
        let home = TestHome::new();
        home.write_config(&config_with_host(&world, "polling", bad));
        let out = home
            .moltbot()
            .args(["config", "validate"])
            .output()
            .expect("run moltbot config validate");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad}: {text}");
        assert!(
            text.contains("channels.webex.webhook.host"),
            "{bad}: {text}"
        );
        assert!(text.contains("is not an IP address"), "{bad}: {text}");
        assert!(text.contains("127.0.0.1"), "the fix names loopback: {text}");
        // And the gateway refuses to start with the same problem.
        let start = RunningGateway::launch(&home, &Default::default()).await;
        assert!(start.is_err(), "{bad}: the gateway started");
    }
}

/// `world.config` with `gateway.metrics.listen` set to `listen`.
fn config_with_metrics_listen(world: &World, listen: &str) -> String {
    world.config("webhook", OPEN).replace(
        "  channels: {",
        &format!("  gateway: {{ metrics: {{ listen: \"{listen}\" }} }},\n  channels: {{"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_an_address_of_their_own_are_served_there_and_not_on_the_webhook_port() {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&config_with_metrics_listen(&world, "127.0.0.1:0"));
    let s = Scenario::start_in(world, home).await;
    let gateway = s.gateway();
    let metrics = gateway
        .metrics_http
        .clone()
        .expect("the metrics address is printed");
    assert!(metrics.starts_with("http://127.0.0.1:"), "{metrics}");
    assert_ne!(metrics, gateway.http);

    let get = |url: String| async move { reqwest::get(url).await.unwrap() };
    // The webhook port keeps its health endpoints but no longer serves /metrics ...
    assert_eq!(get(format!("{}/metrics", gateway.http)).await.status(), 404);
    assert_eq!(get(format!("{}/healthz", gateway.http)).await.status(), 200);
    // ... and the metrics address serves /metrics only.
    let answer = get(format!("{metrics}/metrics")).await;
    assert_eq!(answer.status(), 200);
    assert!(answer
        .text()
        .await
        .unwrap()
        .contains("moltbot_messages_received_total"));
    assert_eq!(get(format!("{metrics}/healthz")).await.status(), 404);
    assert_eq!(get(format!("{metrics}/webex/webhook")).await.status(), 404);

    // They are the live metrics: a message answered is counted there.
    let answered = "moltbot_messages_answered_total{channel=\"webex\"}";
    let before = metric_at(&metrics, answered).await;
    let hi = s.alice().dm_bot("count me over there").await;
    s.wait_replies(&hi, 1).await;
    s.settled().await;
    assert_eq!(metric_at(&metrics, answered).await, before + 1.0);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_listen_that_is_not_an_address_with_a_port_is_refused_with_its_key() {
    let world = World::new().await;
    for bad in ["9464", "localhost:9464", "127.0.0.1", "0.0.0.0:99999", ""] {
        let home = TestHome::new();
        home.write_config(&config_with_metrics_listen(&world, bad));
        let out = home
            .moltbot()
            .args(["config", "validate"])
            .output()
            .expect("run moltbot config validate");
        let (stdout, stderr) = common::output_text(&out);
        assert_eq!(out.status.code(), Some(1), "{bad}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!(
                "gateway.metrics.listen (line 3, column 25): {bad:?} is not an address with a port"
            )),
            "{bad}: {stderr}"
        );
        assert!(
            stderr.contains("\"127.0.0.1:9464\""),
            "the fix gives an example: {stderr}"
        );
        let start = RunningGateway::launch(&home, &Default::default()).await;
        assert!(start.is_err(), "{bad}: the gateway started");
    }
    // A second process cannot take a metrics address in use: one clear line, exit 1.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let home = TestHome::new();
    home.write_config(&config_with_metrics_listen(
        &world,
        &taken.local_addr().unwrap().to_string(),
    ));
    let out = home.moltbot().arg("gateway").output().unwrap();
    let (_, stderr) = common::output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("for /metrics (is another gateway running? change gateway.metrics.listen)"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_sim_listens_on_loopback_only() {
    let home = TestHome::new();
    // Panics unless the demo's gateway listens on 127.0.0.1.
    let (mut demo, chat_url, stderr) = common::start_demo(&home).await;
    assert!(chat_url.starts_with("http://127.0.0.1:"), "{chat_url}");
    let pid = demo.id().unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let status = tokio::time::timeout(std::time::Duration::from_secs(15), demo.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}: {}", stderr.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_listen_on_the_webhook_port_is_refused_naming_both_keys() {
    let world = World::new().await;
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let home = TestHome::new();
    for (metrics_host, webhook_host) in [("127.0.0.1", "0.0.0.0"), ("0.0.0.0", "127.0.0.1")] {
        let config = config_with_metrics_listen(&world, &format!("{metrics_host}:{port}")).replace(
            "webhook: { port: 0,",
            &format!("webhook: {{ host: \"{webhook_host}\", port: {port},"),
        );
        assert!(config.contains(&format!("port: {port}")), "{config}");
        home.write_config(&config);
        let out = home.moltbot().arg("gateway").output().unwrap();
        let (_, stderr) = common::output_text(&out);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "gateway.metrics.listen {metrics_host}:{port} is the port of the gateway's own HTTP server"
            )),
            "{stderr}"
        );
        assert!(stderr.contains("channels.webex.webhook.port"), "{stderr}");
    }
}
