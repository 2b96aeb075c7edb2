//! What only the CLI's tests share: output as text, snapshot scrubbing, the pending pairing
//! requests and the `gateway --sim` demo. Everything else (homes, gateways, worlds, waiting)
//! comes from `moltbot-testkit`.

#![allow(dead_code)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[allow(unused_imports)]
pub use moltbot_testkit::{workspace_root, TestHome};

/// stdout and stderr of a finished command, as text.
pub fn output_text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Replaces the temp dir path so snapshots are stable.
pub fn scrub(text: &str, home: &TestHome) -> String {
    text.replace(&home.state_dir().display().to_string(), "[STATE]")
}

/// Collects a child's stderr lines.
fn capture_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let pipe = child.stderr.take().expect("stderr piped");
    let sink = Arc::clone(&text);
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut s = sink.lock().expect("stderr buffer");
            s.push_str(&line);
            s.push('\n');
        }
    });
    text
}

/// `moltbot gateway --sim` with the emulator on a free loopback port; returns the child, the
/// chat page URL and its stderr. Panics unless the demo's gateway printed that it listens on
/// loopback only (`http://127.0.0.1:PORT`) before the page URL.
pub async fn start_demo(home: &TestHome) -> (Child, String, Arc<Mutex<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moltbot"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.user_home())
        .env("MOLTBOT_STATE_DIR", home.state_dir())
        .env("MOLTBOT_SIM_LISTEN", "127.0.0.1:0")
        .args(["gateway", "--sim"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn moltbot gateway --sim");
    let stderr = capture_stderr(&mut child);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        let mut listening = None;
        while let Ok(Some(line)) = lines.next_line().await {
            println!("moltbot: {line}");
            if let Some(addr) = line.strip_prefix("moltbot gateway listening on ") {
                listening = Some(addr.trim().to_string());
            }
            if let Some(url) = line.strip_prefix("Open the chat: ") {
                // The demo's gateway is reachable from this machine only.
                let listening = listening.as_deref().unwrap_or("nothing");
                assert!(
                    listening.starts_with("http://127.0.0.1:"),
                    "the demo gateway listens on {listening}"
                );
                return Some(url.trim().to_string());
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let Some(url) = url else {
        let _ = child.kill().await;
        panic!(
            "`moltbot gateway --sim` printed no `Open the chat:` line; stderr:\n{}",
            stderr.lock().expect("stderr buffer")
        );
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url, stderr)
}

/// `moltbot pairing list webex --json` in `home`: the pending requests. Panics when the command
/// fails or prints something else than a JSON array.
pub fn pairing_list(home: &TestHome) -> Vec<serde_json::Value> {
    let out = home
        .moltbot()
        .args(["pairing", "list", "webex", "--json"])
        .output()
        .unwrap_or_else(|err| panic!("cannot run pairing list: {err}"));
    let (stdout, stderr) = output_text(&out);
    assert!(out.status.success(), "pairing list: {stderr}");
    match serde_json::from_str::<serde_json::Value>(&stdout) {
        Ok(serde_json::Value::Array(items)) => items,
        other => panic!("pairing list printed {stdout:?}: {other:?}"),
    }
}
