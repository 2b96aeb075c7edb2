//! A webex-sim scenario test, the way moltbot's own end-to-end tests are written: Alice DMs the
//! bot, the real `moltbot gateway` answers through the command agent in `command-agent/`, and
//! nothing else happens.

use std::path::{Path, PathBuf};

use moltbot_testkit::{moltbot_binary, Scenario, TestHome, World, OPEN};

/// The example agent, run exactly as a user would configure it.
fn example_agent() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("command-agent/agent.py")
}

/// `cargo test --workspace` builds `moltbot`; `cargo test -p moltbot-examples` alone may not.
fn ensure_moltbot_is_built() {
    if moltbot_binary().exists() {
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = std::process::Command::new(cargo)
        .args(["build", "-p", "moltbot-cli", "--bin", "moltbot"])
        .status();
    assert!(
        matches!(status, Ok(s) if s.success()),
        "building moltbot failed: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_talks_to_the_example_agent() {
    ensure_moltbot_is_built();
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&world.config_with_command_agent("webhook", OPEN, &example_agent(), "", ""));
    let s = Scenario::start_in(world, home).await;

    // The gateway looks the sender's display name up (Webex messages carry only the email), so
    // the agent greets Alice by name.
    let hi = s.alice().dm_bot("hi").await;
    assert_eq!(
        s.wait_replies(&hi, 1).await,
        ["Hi Alice Liddell, you said: hi (turn 1)"]
    );

    // The agent sees the session's history: the second message is its second turn.
    s.alice().dm_bot("still there?").await;
    let replies = s.wait_replies(&hi, 2).await;
    assert_eq!(
        replies[1],
        "Hi Alice Liddell, you said: still there? (turn 2)"
    );

    // Nothing else happens: no duplicate, no reply to the bot's own messages.
    s.settled().await;
    assert_eq!(s.bot_texts(&hi).len(), 2);
    s.finish().await;
}

/// The example agent copes with what the contract allows: null names, no history.
#[test]
fn the_example_agent_copes_with_null_fields_and_no_history() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let cases = [
        (
            r#"{"text":"hi","sender":{"email":"a@example.com"},"history":[]}"#,
            "Hi a@example.com, you said: hi (turn 1)",
        ),
        (
            r#"{"text":"x","sender":{"displayName":null,"email":null},"history":null}"#,
            "Hi there, you said: x (turn 1)",
        ),
        (
            r#"{"text":"é","sender":{"displayName":"Zoë"},"history":[{"role":"user","text":"a"},{"role":"assistant","text":"b"}]}"#,
            "Hi Zoë, you said: é (turn 2)",
        ),
    ];
    for (input, expected) in cases {
        let mut child = Command::new(example_agent())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run agent.py (python3 on PATH)");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write the request");
        let out = child.wait_with_output().expect("agent output");
        assert!(out.status.success(), "{input}");
        let reply: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON answer");
        assert_eq!(reply["text"], expected, "{input}");
    }
}
