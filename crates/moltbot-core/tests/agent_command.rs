//! The command agent with small scripts in a temporary folder.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

mod agent_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agent_support::{ask, person, request};
use moltbot_core::agent::{Agent, AgentError, CommandAgent, Turn};
use serde_json::{json, Value};

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn agent(program: &Path, timeout: Duration) -> CommandAgent {
    CommandAgent::new("cmd/test", program.display().to_string(), vec![], timeout)
}

#[tokio::test]
async fn sends_the_request_as_json_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("stdin.json");
    let program = script(
        dir.path(),
        "agent.sh",
        &format!("cat > '{}'\necho '  the reply  '", saved.display()),
    );
    let req = request(
        "what's up?",
        vec![
            Turn::user_by("hi", person("Bob")),
            Turn::assistant("hello"),
            Turn::user("hm"),
        ],
        Some("Be kind."),
    );

    let reply = agent(&program, Duration::from_secs(5))
        .reply(&req)
        .await
        .unwrap();

    assert_eq!(reply.text, "the reply");
    let mut input: Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    // The turn's own folder, gone once the turn is over; no files with this message.
    let folder = input["folder"].as_str().unwrap().to_string();
    assert!(folder.contains("moltbot-turn-"), "{folder}");
    assert!(!std::path::Path::new(&folder).exists(), "{folder} removed");
    assert_eq!(input["files"], json!([]));
    let object = input.as_object_mut().unwrap();
    object.remove("folder");
    object.remove("files");
    assert_eq!(
        input,
        json!({
            "text": "what's up?",
            "sender": {"id": "person-1", "email": "alice@example.com", "displayName": "Alice"},
            "room": {"id": "room-1", "kind": "group", "title": "Team"},
            "channel": "chat",
            "session": "chat:room:room-1",
            // Each turn carries its author (the texts as written, without speaker prefixes).
            "history": [
                {"role": "user", "text": "hi", "author": {"id": "person-bob", "email": "bob@example.com", "displayName": "Bob"}},
                {"role": "assistant", "text": "hello", "author": null},
                {"role": "user", "text": "hm", "author": null}
            ],
            "systemPrompt": "Be kind.",
            // A typed message, not a card submission.
            "card": null
        })
    );
}

#[tokio::test]
async fn a_json_answer_with_text_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let program = script(
        dir.path(),
        "py.sh",
        r#"exec python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({"text": "you said " + r["text"] + " in " + r["room"]["kind"], "extra": 1}))'"#,
    );
    let reply = agent(&program, Duration::from_secs(5))
        .reply(&request("ping", vec![], None))
        .await
        .unwrap();
    assert_eq!(reply.text, "you said ping in group");
}

#[tokio::test]
async fn args_are_passed_and_stdin_may_be_ignored() {
    let agent = CommandAgent::new(
        "cmd/test",
        "sh",
        vec![
            "-c".to_string(),
            "printf '%s' \"$0\"".to_string(),
            "from-args".to_string(),
        ],
        Duration::from_secs(5),
    );
    let reply = agent
        .reply(&request("ignored", vec![], None))
        .await
        .unwrap();
    assert_eq!(reply.text, "from-args");
}

#[tokio::test]
async fn a_failing_command_reports_its_code_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let program = script(
        dir.path(),
        "fail.sh",
        "echo 'boom: model missing' >&2\necho 'second line' >&2\nexit 3",
    );
    let err = agent(&program, Duration::from_secs(5))
        .reply(&request("hi", vec![], None))
        .await
        .unwrap_err();
    match &err {
        AgentError::Exit { code, stderr, .. } => {
            assert_eq!(*code, Some(3));
            assert_eq!(stderr, "boom: model missing\nsecond line");
        }
        other => panic!("expected an exit error, got {other:?}"),
    }
    assert!(err
        .to_string()
        .contains("exited with code 3: boom: model missing"));
}

#[tokio::test]
async fn empty_output_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let program = script(dir.path(), "quiet.sh", "cat > /dev/null\necho '   '");
    let err = agent(&program, Duration::from_secs(5))
        .reply(&request("hi", vec![], None))
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::BadOutput(_)), "{err:?}");
}

#[tokio::test]
async fn a_slow_command_is_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("finished");
    let program = script(
        dir.path(),
        "slow.sh",
        &format!("sleep 5\ntouch '{}'", marker.display()),
    );
    let started = Instant::now();
    let err = agent(&program, Duration::from_millis(300))
        .reply(&request("hi", vec![], None))
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert!(!marker.exists());
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = agent(&dir.path().join("does-not-exist"), Duration::from_secs(5))
        .reply(&request("hi", vec![], None))
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::Spawn { .. }), "{err:?}");
}

#[tokio::test]
async fn through_answer_the_history_has_no_empty_turns_and_reasoning_stays_apart() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("stdin.json");
    let program = script(
        dir.path(),
        "agent.sh",
        &format!(
            "cat > '{}'\necho '{{\"text\": \"<think>hmm</think>Sunny.\", \"reasoning\": \"sky\"}}'",
            saved.display()
        ),
    );
    let history = vec![
        Turn::user(""),
        Turn::assistant("<think>old</think>Hello."),
        Turn::user("Weather?"),
        Turn::assistant("<think>only this</think>"),
    ];
    let agent = agent(&program, Duration::from_secs(5));

    let got = ask(&agent, "And now?", history, true).await;

    assert_eq!(got.posted(), "> sky\n>\n> hmm\n\nSunny.");
    assert_eq!(got.history.as_deref(), Some("Sunny."));
    let input: Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!(
        input["history"],
        json!([
            {"role": "assistant", "text": "Hello.", "author": null},
            {"role": "user", "text": "Weather?", "author": null}
        ])
    );
    assert_eq!(input["text"], "And now?");
}
