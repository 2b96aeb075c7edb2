//! Stopping the gateway while an agent is still thinking: during the drain the process still
//! says it is alive (`/healthz` 200) and leaving (`/readyz` 503), and when it exits, gracefully
//! or at once on a second signal, the programs it started (an agent's command and whatever that
//! started, the PDF reader) go with it.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use moltbot_testkit::{
    metric_at, openai_answer, wait, FakeModel, RunningGateway, Scenario, TestHome, World, OPEN,
};
use serde_json::json;
use webex_sim::SimFile;

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

/// Whether process `pid` is gone: no such process, or a zombie (killed, not reaped yet by
/// whoever inherited it).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // `pid (comm) S ...`: the state follows the last `)`.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// Waits until every process of `pids` is gone; panics naming `what` and those still running.
async fn all_gone(pids: &[u32], what: &str) {
    let done = wait::until(Duration::from_secs(5), || {
        pids.iter().all(|&p| gone(p)).then_some(())
    })
    .await;
    if done.is_err() {
        let running: Vec<_> = pids.iter().filter(|&&p| !gone(p)).collect();
        // Do not leave them running after the test either.
        for pid in &running {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        panic!("{what}: still running: {running:?}");
    }
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
    // 503 as soon as the gateway marks itself stopping, /healthz 200 all along.
    let leaving = wait::until_async(wait::TIMEOUT, || async {
        assert_eq!(
            status("/healthz").await,
            200,
            "/healthz while the process runs"
        );
        (status("/readyz").await == 503).then_some(())
    })
    .await;
    assert!(
        leaving.is_ok(),
        "/readyz never answered 503 while shutting down"
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_and_takes_the_agents_processes_with_it() {
    let mut s = gateway_with_a_lingering_agent("shutdownTimeoutSeconds: 60").await;
    s.alice().dm_bot("think about it").await;
    let pids = pids_in(&s.home.state_dir().join(AGENT_PIDS)).await;
    assert!(pids.iter().all(|&p| !gone(p)), "the agent runs: {pids:?}");

    s.gateway().sigterm();
    draining(s.gateway()).await;
    s.gateway().sigterm();
    let (code, log) = s.wait_gateway_exit().await;
    assert_eq!(code, Some(130), "exit at once; log:\n{log}");
    all_gone(&pids, "the agent's shell and its background sleep").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_past_its_deadline_takes_the_agents_processes_with_it() {
    let mut s = gateway_with_a_lingering_agent("shutdownTimeoutSeconds: 1").await;
    let asked = s.alice().dm_bot("think about it").await;
    let pids = pids_in(&s.home.state_dir().join(AGENT_PIDS)).await;

    assert_eq!(s.stop_gateway().await, Some(0), "graceful stop");
    all_gone(&pids, "the agent's shell and its background sleep").await;
    assert!(
        s.bot_texts(&asked).is_empty(),
        "the turn was cut, not answered"
    );
}

/// `moltbot` invoked through a symlink in a folder of its own, beside a `moltbot-pdf` that
/// notes its pid and its background `sleep`'s in `pids` and never answers (the gateway runs it
/// with an empty environment: it sets its own `PATH`).
fn moltbot_with_a_stuck_pdf_reader(folder: &Path, pids: &Path) -> PathBuf {
    let moltbot = folder.join("moltbot");
    std::os::unix::fs::symlink(moltbot_testkit::moltbot_binary(), &moltbot).unwrap();
    let reader = format!(
        "#!/bin/sh\nPATH=/usr/bin:/bin\nsleep 300 &\necho \"$$ $!\" > \"{0}.tmp\"\nmv \"{0}.tmp\" \"{0}\"\nwait\n",
        pids.display()
    );
    let path = folder.join("moltbot-pdf");
    std::fs::write(&path, reader).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    moltbot
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_also_takes_the_pdf_reader_with_it() {
    let folder = tempfile::tempdir().unwrap();
    let pids_file = folder.path().join("reader.pids");
    let binary = moltbot_with_a_stuck_pdf_reader(folder.path(), &pids_file);
    // An OpenAI-compatible provider does not read PDFs: the gateway runs the reader first.
    let model = FakeModel::start(vec![openai_answer("Got it.", json!({}))]).await;
    let world = World::new().await;
    let home = TestHome::with_binary(&binary);
    home.write_config(
        &world
            .config_with_model("webhook", OPEN, "openai-completions", &model, "")
            .replace(
                "  channels: {",
                "  gateway: { shutdownTimeoutSeconds: 60 },\n  channels: {",
            ),
    );
    let mut s = Scenario::prepare(world, home);
    s.start_gateway_with(&[("PATH", "/usr/bin:/bin")]).await;
    s.alice()
        .sends_file_to_bot(
            SimFile::pdf("report.pdf", "Quarterly revenue"),
            "Summarise this",
        )
        .await;
    let pids = pids_in(&pids_file).await;

    s.gateway().sigterm();
    draining(s.gateway()).await;
    s.gateway().sigterm();
    let (code, log) = s.wait_gateway_exit().await;
    assert_eq!(code, Some(130), "exit at once; log:\n{log}");
    all_gone(&pids, "the PDF reader and its background sleep").await;
}
