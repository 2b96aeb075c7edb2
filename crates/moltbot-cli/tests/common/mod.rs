//! What only the CLI's tests share: output as text and snapshot scrubbing. Everything else
//! (homes, gateways, worlds, waiting) comes from `moltbot-testkit`.

#![allow(dead_code)]

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
