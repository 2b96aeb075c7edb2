//! Stopping the gateway while an agent is still thinking: during the drain the process still
//! says it is alive (`/healthz` 200) and leaving (`/readyz` 503).

#![allow(clippy::unwrap_used)]

use std::path::Path;

use moltbot_testkit::{metric_at, wait, RunningGateway, Scenario, TestHome, World, OPEN};

/// The file where [`lingering_agent`] notes its own pid and its background `sleep`'s.
const AGENT_PIDS: &str = "agent.pids";

/// A `command` agent that never answers: it starts `sleep 300` in the background, notes
/// `<its pid> <the sleep's pid>` in `$MOLTBOT_STATE_DIR/agent.pids`, and waits for the sleep.
/// It holds the gateway's drain open, and leaves a grandchild behind if only it is killed.
fn lingering_agent() -> String {
    format!(
        "#!/bin/sh\ncat > /dev/null\nsleep 300 &\n\
         echo \"$$ $!\" > \"$MOLTBOT_STATE_DIR/{AGENT_PIDS}.tmp\"\n\
         mv \"$MOLTBOT_STATE_DIR/{AGENT_PIDS}.tmp\" \"$MOLTBOT_STATE_DIR/{AGENT_PIDS}\"\nwait\n"
    )
}

/// A world and a gateway (webhook mode) answering with [`lingering_agent`]; `gateway` is
/// spliced into the config's `gateway` section.
async fn gateway_with_a_lingering_agent(gateway: &str) -> Scenario {
    let world = World::new().await;
    let home = TestHome::new();
    let script = home.write_script("lingering-agent.sh", &lingering_agent());
    home.write_config(
        &world
            .config_with_command_agent("webhook", OPEN, &script, "", "")
            .replace(
                "  channels: {",
                &format!("  gateway: {{ {gateway} }},\n  channels: {{"),
            ),
    );
    Scenario::start_in(world, home).await
}

/// Waits until the pid file at `path` (`<pid> <pid>...`, written whole) exists; returns the pids.
async fn pids_in(path: &Path) -> Vec<u32> {
    let pids = wait::until(wait::TIMEOUT, || {
        let text = std::fs::read_to_string(path).ok()?;
        let pids: Vec<u32> = text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        (!pids.is_empty()).then_some(pids)
    })
    .await;
    pids.unwrap_or_else(|_| panic!("{} was never written", path.display()))
}

/// Waits until the gateway has taken the first signal (it then drains).
async fn draining(gateway: &RunningGateway) {
    let took = wait::until(wait::TIMEOUT, || {
        gateway
            .stderr_text()
            .contains("stopping (send the signal again to exit at once)")
            .then_some(())
    })
    .await;
    if took.is_err() {
        panic!(
            "the gateway did not take SIGTERM; log:\n{}",
            gateway.stderr_text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_the_drain_healthz_answers_200_readyz_503_and_the_webhook_takes_nothing_new() {
    // /metrics on an address of its own: it answers during the drain too.
    let mut s = gateway_with_a_lingering_agent(
        r#"shutdownTimeoutSeconds: 60, metrics: { listen: "127.0.0.1:0" }"#,
    )
    .await;
    let asked = s.alice().dm_bot("think about it").await;
    pids_in(&s.home.state_dir().join(AGENT_PIDS)).await;
    s.recorded(&asked).await;

    // SIGTERM: the agent's turn holds the drain open for up to 60 s.
    let gateway = s.gateway();
    gateway.sigterm();
    draining(gateway).await;
    let client = reqwest::Client::new();
    let status = |path: &str| {
        let url = format!("{}{path}", gateway.http);
        let client = client.clone();
        async move {
            match client.get(&url).send().await {
                Ok(resp) => resp.status().as_u16(),
                Err(err) => panic!("GET {url} during the drain: {err}"),
            }
        }
    };
    assert_eq!(status("/readyz").await, 503, "/readyz while shutting down");
    assert_eq!(
        status("/healthz").await,
        200,
        "/healthz while the process runs"
    );
    let metrics = gateway.metrics_http.as_deref().unwrap();
    let received = metric_at(
        metrics,
        "moltbot_messages_received_total{channel=\"webex\"}",
    )
    .await;
    assert!(received >= 1.0, "/metrics during the drain: {received}");
    // The webhook takes nothing new: 503 (a load balancer retries another replica, as it did
    // when the port was closed), and the connection is not kept.
    let delivery = client
        .post(format!("{}/webex/webhook", gateway.http))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(delivery.status().as_u16(), 503);
    assert_eq!(delivery.headers()["connection"], "close");
    // Still draining: the agent has not answered.
    assert_eq!(status("/healthz").await, 200);
    assert!(s.bot_texts(&asked).is_empty());

    gateway.sigterm();
    let (code, log) = s.wait_gateway_exit().await;
    assert_eq!(code, Some(130), "second signal; log:\n{log}");
}
