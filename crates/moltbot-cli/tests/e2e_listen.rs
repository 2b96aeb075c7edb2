//! `channels.webex.webhook.host`: the address of the gateway's HTTP server (webhook, health,
//! metrics). Every interface by default, loopback when asked (and in `gateway --sim`).

use moltbot_testkit::{RunningGateway, Scenario, TestHome, World, OPEN};

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
