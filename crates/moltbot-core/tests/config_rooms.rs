//! `agents.rooms.<roomId>.systemPrompt`: per-room system prompts.

use std::path::Path;

use moltbot_core::config::{parse, ConfigError};

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn room_prompts_are_read_and_checked() {
    let cfg = parse(
        Path::new("moltbot.json"),
        r#"{ agents: { defaults: { systemPrompt: "be brief" }, rooms: { "ROOM1": { systemPrompt: "you are in Team" } } } }"#,
        &no_env,
    )
    .unwrap();
    assert_eq!(
        cfg.core.agents.defaults.system_prompt.as_deref(),
        Some("be brief")
    );
    assert_eq!(
        cfg.core.agents.rooms["ROOM1"].system_prompt.as_deref(),
        Some("you are in Team")
    );

    let err = parse(
        Path::new("moltbot.json"),
        "{ agents: { rooms: { R: { systemPromt: \"x\" } } } }",
        &no_env,
    )
    .unwrap_err();
    let ConfigError::Invalid(issues) = err else {
        panic!("expected issues")
    };
    assert_eq!(issues[0].path, "agents.rooms.R.systemPromt");
    assert!(issues[0]
        .fix
        .as_deref()
        .unwrap_or_default()
        .contains("systemPrompt"));
}
