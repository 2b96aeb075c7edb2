//! Loading the config file: missing and blank files, syntax errors, `${VAR}` substitution, key
//! locations and the rendering of issues.

use std::path::Path;

use insta::assert_snapshot;
use moltbot_core::config::{
    load, load_lenient, parse, parse_lenient, render_issues, ConfigError, ConfigIssue,
};
use serde_json::json;

fn no_env(_: &str) -> Option<String> {
    None
}

fn issues_of(source: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<ConfigIssue> {
    match parse(Path::new("moltbot.json"), source, env) {
        Err(ConfigError::Invalid(issues)) => issues,
        other => panic!("expected issues, got {other:?}"),
    }
}

#[test]
fn a_missing_file_is_an_empty_config_marked_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moltbot.json");
    let cfg = load(&path, &no_env).unwrap();
    assert!(!cfg.existed);
    assert_eq!(cfg.path, path);
    assert_eq!(cfg.value, json!({}));
    assert!(cfg.source.is_empty());
    assert!(cfg.core.channels.is_empty());
    assert_eq!(cfg.channel_section("webex"), None);
}

#[test]
fn a_file_of_only_comments_is_an_empty_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moltbot.json");
    std::fs::write(&path, "// nothing yet\n/* really */\n").unwrap();
    let cfg = load(&path, &no_env).unwrap();
    assert!(cfg.existed);
    assert_eq!(cfg.value, json!({}));
}

#[test]
fn an_unreadable_path_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(dir.path(), &no_env).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("cannot read config file"),
        "{err}"
    );
}

#[test]
fn reads_a_file_with_comments_and_trailing_commas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moltbot.json");
    std::fs::write(
        &path,
        "{\n  // my channel\n  channels: { webex: { mode: 'polling', }, },\n}\n",
    )
    .unwrap();
    let cfg = load(&path, &no_env).unwrap();
    assert!(cfg.existed);
    assert_eq!(
        cfg.channel_section("webex"),
        Some(&json!({"mode": "polling"}))
    );
    assert_eq!(cfg.core.channels["webex"], json!({"mode": "polling"}));
    assert_eq!(cfg.locate("channels.webex.mode"), Some((3, 24)));
}

#[test]
fn syntax_errors_report_line_and_column() {
    let source = "{\n  channels: {\n    webex: {\n      mode: \"polling\"\n      enabled: true\n    }\n  }\n}\n";
    let err = parse(Path::new("/home/me/.moltbot/moltbot.json"), source, &no_env).unwrap_err();
    match &err {
        // Just after `"polling"`, where the comma is missing.
        ConfigError::Syntax { line, column, .. } => assert_eq!((*line, *column), (4, 22)),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert_snapshot!("syntax_error", err.to_string());
}

#[test]
fn syntax_error_in_an_unterminated_string() {
    let source = "{\n  a: \"open\n}";
    let err = parse(Path::new("moltbot.json"), source, &no_env).unwrap_err();
    let ConfigError::Syntax { line, .. } = err else {
        panic!("expected a syntax error, got {err:?}");
    };
    assert_eq!(line, 2);
}

#[test]
fn substitutes_set_variables_in_every_string() {
    let env = |name: &str| match name {
        "TOKEN" => Some("abc".to_string()),
        "HOST" => Some("example.com".to_string()),
        _ => None,
    };
    let source = r#"{
  channels: { demo: { token: "${TOKEN}", urls: ["https://${HOST}/x", "$${TOKEN}"], n: 5 } },
}"#;
    let cfg = parse(Path::new("moltbot.json"), source, &env).unwrap();
    assert_eq!(
        cfg.channel_section("demo"),
        Some(&json!({"token": "abc", "urls": ["https://example.com/x", "${TOKEN}"], "n": 5}))
    );
    // The text itself is untouched.
    assert!(cfg.source.contains("${TOKEN}"));
}

#[test]
fn an_unset_variable_names_the_key_and_the_variable() {
    let source = "{\n  channels: {\n    demo: {\n      token: \"${DEMO_TOKEN}\",\n      list: [\"ok\", \"${OTHER}\"]\n    }\n  }\n}\n";
    let issues = issues_of(source, &no_env);
    assert_eq!(issues.len(), 2);
    // In file order.
    assert_eq!(issues[0].path, "channels.demo.token");
    assert_eq!((issues[0].line, issues[0].column), (Some(4), Some(7)));
    assert_eq!(issues[1].path, "channels.demo.list[1]");
    assert_eq!((issues[1].line, issues[1].column), (Some(5), Some(20)));
    assert_snapshot!("unset_variable", render_issues(&issues));
}

#[test]
fn lenient_loading_returns_the_config_with_its_issues() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moltbot.json");
    std::fs::write(
        &path,
        "{ channel: {}, gateway: { shutdownTimeoutSeconds: 3 } }",
    )
    .unwrap();
    let (cfg, issues) = load_lenient(&path, &no_env).unwrap();
    assert_eq!(cfg.core.gateway.shutdown_timeout_seconds, 3);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].path, "channel");
    assert_eq!(issues[0].fix.as_deref(), Some("did you mean `channels`?"));
}

#[test]
fn unknown_root_keys_suggest_the_nearest_name() {
    let source = "{\n  channel: {},\n  plugin: {},\n  agent: {},\n  zzz: 1,\n}\n";
    let issues = issues_of(source, &no_env);
    assert_snapshot!("unknown_root_keys", render_issues(&issues));
}

#[test]
fn the_root_must_be_an_object() {
    let issues = issues_of("[1, 2]", &no_env);
    assert_snapshot!("root_not_object", render_issues(&issues));
}

#[test]
fn issues_fall_back_to_the_nearest_located_ancestor() {
    let source = "{\n  channels: {\n    demo: { a: 1 }\n  }\n}\n";
    let (cfg, _) =
        parse_lenient(Path::new("moltbot.json"), true, source.to_string(), &no_env).unwrap();
    let exact = cfg.issue("channels.demo.a", "m", None);
    assert_eq!((exact.line, exact.column), (Some(3), Some(13)));
    let missing = cfg.issue("channels.demo.webhook.url", "m", Some("f"));
    assert_eq!((missing.line, missing.column), (Some(3), Some(5)));
    let near = cfg.issue_near("channels.demo.b", "channels.demo.a", "m", None);
    assert_eq!((near.line, near.column), (Some(3), Some(13)));
    let nowhere = cfg.issue("other.x", "m", None);
    assert_eq!((nowhere.line, nowhere.column), (None, None));
}

#[test]
fn issue_display_omits_unknown_parts() {
    let full = ConfigIssue {
        path: "channels.webex.mode".into(),
        line: Some(4),
        column: Some(7),
        message: "bad".into(),
        fix: Some("do this".into()),
    };
    assert_eq!(
        full.to_string(),
        "channels.webex.mode (line 4, column 7): bad\n  fix: do this"
    );
    let bare = ConfigIssue::new("channels.webex.mode", "bad", None);
    assert_eq!(bare.to_string(), "channels.webex.mode: bad");
    let err = ConfigError::Invalid(vec![full, bare]);
    assert_snapshot!("invalid_error_display", err.to_string());
}

#[test]
fn text_that_is_not_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moltbot.json");
    std::fs::write(&path, b"{\n  a: \"caf\xc3\xa9 \xff\" }").unwrap();
    let err = load(&path, &no_env).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "config file {} is not valid JSON5 (line 2, column 12): the file is not UTF-8 text \
             (byte 0xFF here): save it as UTF-8 in your editor",
            path.display()
        )
    );
    // A bad byte on the first line, and a truncated character at the end.
    std::fs::write(&path, b"\xfe{}").unwrap();
    assert!(matches!(
        load(&path, &no_env),
        Err(ConfigError::Syntax {
            line: 1,
            column: 1,
            ..
        })
    ));
    std::fs::write(&path, b"{}\n\xc3").unwrap();
    assert!(matches!(
        load(&path, &no_env),
        Err(ConfigError::Syntax {
            line: 2,
            column: 1,
            ..
        })
    ));
}

#[test]
fn substitution_problems_say_what_is_wrong() {
    let env = |name: &str| match name {
        "TOK" => Some(String::new()),
        "NESTED" => Some("a${B}c".to_string()),
        _ => None,
    };
    let source = r#"{ channels: { demo: {
  empty: "${TOK}",
  nested: "${NESTED}",
  none: "${}",
  open: "x ${TOK",
  bad: "${1BAD-NAME}",
  literal: "$${TOK} and $${",
} } }"#;
    let (cfg, issues) = parse_lenient(Path::new("m.json"), true, source.into(), &env).unwrap();
    // A value holding `${` is not scanned again; an escaped `$${` is the literal text.
    assert_eq!(cfg.value["channels"]["demo"]["nested"], "a${B}c");
    assert_eq!(cfg.value["channels"]["demo"]["literal"], "${TOK} and ${");
    assert!(cfg.is_unresolved("channels.demo.empty"));
    assert!(!cfg.is_unresolved("channels.demo.nested"));
    assert_snapshot!("substitution_problems", render_issues(&issues));
}
