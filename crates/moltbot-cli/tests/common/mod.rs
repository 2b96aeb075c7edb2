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
