//! Validation of `channels.webex`: every kind of mistake is reported with its key path, location
//! and fix, all at once, and never with the token in the message.

use std::path::Path;
use std::time::Duration;

use insta::assert_snapshot;
use moltbot_core::config::{parse, parse_lenient, render_issues, ConfigError, ConfigIssue};
use moltbot_core::plugin::ChannelPlugin;
use moltbot_webex::config::{validate, Mode, TokenSource, WebexConfig};
use moltbot_webex::output::tables::TableMode;
use moltbot_webex::WebexPlugin;

const TOKEN: &str = "Y2lzY29zcGFyazovL3VzL0FQUExJQ0FUSU9OL3NlY3JldC10b2tlbg";

fn no_env(_: &str) -> Option<String> {
    None
}

fn token_env(name: &str) -> Option<String> {
    (name == "WEBEX_BOT_TOKEN").then(|| TOKEN.to_string())
}

fn run(
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<WebexConfig, Vec<ConfigIssue>> {
    let cfg = parse(Path::new("moltbot.json"), source, env)
        .unwrap_or_else(|e| panic!("core config should load: {e}"));
    validate(&cfg, env)
}

fn issues(source: &str) -> Vec<ConfigIssue> {
    let issues = run(source, &no_env).expect_err("expected validation issues");
    for issue in &issues {
        assert!(!issue.to_string().contains(TOKEN), "token leaked: {issue}");
        assert!(issue.fix.is_some(), "no fix for {issue}");
    }
    issues
}

fn rendered(source: &str) -> String {
    render_issues(&issues(source))
}

#[test]
fn unknown_keys_at_every_level_name_the_nearest_valid_key() {
    let source = format!(
        r#"{{
  channels: {{
    webex: {{
      mode: "polling",
      botToken: "{TOKEN}",
      dmPolicyy: "allowlist",
      allowfrom: ["a@example.com"],
      webhook: {{ prot: 8080 }},
      polling: {{ interval: 5 }},
      rateLimit: {{ perMinute: 60 }},
      catchUp: {{ maxAge: 10 }},
      colour: "blue",
    }},
  }},
}}"#
    );
    let issues = issues(&source);
    assert_eq!(issues[0].fix.as_deref(), Some("did you mean `dmPolicy`?"));
    assert_snapshot!("unknown_keys", render_issues(&issues));
}

#[test]
fn wrong_types_say_what_was_expected() {
    let source = r#"{
  channels: {
    webex: {
      enabled: "yes",
      mode: 1,
      botToken: 12345,
      allowFrom: "a@example.com",
      groupAllowFrom: ["ok@example.com", 7],
      webhook: "https://example.com/hook",
      polling: { intervalSeconds: "5" },
      textChunkLimit: 12.5,
    },
  },
}"#;
    assert_snapshot!("wrong_types", rendered(source));
}

#[test]
fn enum_values_list_the_valid_ones() {
    let source = format!(
        r#"{{
  channels: {{
    webex: {{
      mode: "pollling",
      botToken: "{TOKEN}",
      dmPolicy: "allow",
      groupPolicy: "everyone",
    }},
  }},
}}"#
    );
    assert_snapshot!("enum_values", rendered(&source));
}

#[test]
fn websocket_mode_needs_no_webhook_url_and_takes_its_own_settings() {
    let source = format!(
        r#"{{ channels: {{ webex: {{ mode: "websocket", botToken: "{TOKEN}",
              websocket: {{ u2cUrl: "http://127.0.0.1:9/u2c/api/v1/", safetyPollSeconds: 0 }} }} }} }}"#
    );
    let webex = run(&source, &no_env).unwrap();
    assert_eq!(webex.mode, Mode::Websocket);
    assert_eq!(webex.websocket.u2c_url, "http://127.0.0.1:9/u2c/api/v1");
    assert_eq!(webex.websocket.safety_poll, None);

    // By default the socket has a safety poll beside it (the socket is not an official API),
    // and Webex's public catalog.
    let plain =
        format!(r#"{{ channels: {{ webex: {{ mode: "websocket", botToken: "{TOKEN}" }} }} }}"#);
    let webex = run(&plain, &no_env).unwrap();
    assert_eq!(webex.websocket.safety_poll, Some(Duration::from_secs(60)));
    assert_eq!(webex.websocket.u2c_url, "https://u2c.wbx2.com/u2c/api/v1");
    assert_eq!(webex.websocket.ping_interval, Duration::from_secs(15));
    assert_eq!(webex.websocket.pong_timeout, Duration::from_secs(14));
}

#[test]
fn websocket_settings_are_checked() {
    let source = format!(
        r#"{{ channels: {{ webex: {{ mode: "websocket", botToken: "{TOKEN}",
              websocket: {{ u2cUrl: "http://u2c.example.com", safetyPollSeconds: 0.2, port: 1 }} }} }} }}"#
    );
    let issues = issues(&source);
    let joined = render_issues(&issues);
    assert_eq!(issues.len(), 3, "{joined}");
    assert!(
        joined.contains("channels.webex.websocket.u2cUrl"),
        "{joined}"
    );
    assert!(joined.contains("must use https"), "{joined}");
    assert!(
        joined.contains("channels.webex.websocket.safetyPollSeconds"),
        "{joined}"
    );
    assert!(joined.contains("channels.webex.websocket.port"), "{joined}");
}

#[test]
fn open_dm_policy_requires_a_star_in_allow_from() {
    let source = format!(
        r#"{{
  channels: {{
    webex: {{
      mode: "polling",
      botToken: "{TOKEN}",
      dmPolicy: "open",
      allowFrom: ["a@example.com"],
    }},
  }},
}}"#
    );
    assert_snapshot!("open_without_star", rendered(&source));
    let ok = source.replace(r#"["a@example.com"]"#, r#"["*"]"#);
    let cfg = run(&ok, &no_env).unwrap();
    assert_eq!(cfg.allow_from, ["*"]);
}

#[test]
fn webhook_and_both_modes_need_a_webhook_url() {
    for mode in ["webhook", "both"] {
        let source = format!(
            "{{\n  channels: {{\n    webex: {{\n      mode: \"{mode}\",\n      botToken: \"{TOKEN}\",\n      webhook: {{ port: 3979 }},\n    }},\n  }},\n}}"
        );
        assert_snapshot!(format!("missing_webhook_url_{mode}"), rendered(&source));
    }
    // mode defaults to webhook.
    let issues = issues(&format!(
        r#"{{ channels: {{ webex: {{ botToken: "{TOKEN}" }} }} }}"#
    ));
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].path, "channels.webex.webhook.url");
}

#[test]
fn webhook_url_must_be_https_except_on_loopback() {
    let source = format!(
        r#"{{
  channels: {{
    webex: {{
      botToken: "{TOKEN}",
      webhook: {{ url: "http://bot.example.com/webex/webhook" }},
    }},
  }},
}}"#
    );
    assert_snapshot!("http_webhook_url", rendered(&source));
    for bad in ["ftp://example.com/x", "not a url", "/webex/webhook"] {
        let source = format!(
            r#"{{ channels: {{ webex: {{ botToken: "{TOKEN}", webhook: {{ url: "{bad}" }} }} }} }}"#
        );
        let issues = issues(&source);
        assert_eq!(issues.len(), 1, "{bad}: {}", render_issues(&issues));
        assert_eq!(issues[0].path, "channels.webex.webhook.url");
    }
    for loopback in [
        "http://127.0.0.1:3979/webex/webhook",
        "http://127.8.9.10/hook",
        "http://localhost:8080/hook",
        "http://[::1]:3979/hook",
        "https://example.com/hook",
    ] {
        let source = format!(
            r#"{{ channels: {{ webex: {{ botToken: "{TOKEN}", webhook: {{ url: "{loopback}" }} }} }} }}"#
        );
        let cfg =
            run(&source, &no_env).unwrap_or_else(|i| panic!("{loopback}: {}", render_issues(&i)));
        assert_eq!(cfg.webhook.url.as_deref(), Some(loopback));
    }
}

#[test]
fn api_base_url_may_point_at_a_local_emulator() {
    let source = format!(
        r#"{{ channels: {{ webex: {{ mode: "polling", botToken: "{TOKEN}", apiBaseUrl: "http://127.0.0.1:4010/v1/" }} }} }}"#
    );
    let cfg = run(&source, &no_env).unwrap();
    assert_eq!(cfg.api_base_url, "http://127.0.0.1:4010/v1");
    let bad = source.replace("127.0.0.1:4010", "webex.example.com");
    assert_eq!(issues(&bad)[0].path, "channels.webex.apiBaseUrl");
}

#[test]
fn numeric_limits_are_enforced() {
    let source = format!(
        r#"{{
  channels: {{
    webex: {{
      mode: "polling",
      botToken: "{TOKEN}",
      polling: {{ intervalSeconds: 0.5 }},
      textChunkLimit: 0,
      rateLimit: {{ requestsPerMinute: 0, burst: 0 }},
      catchUp: {{ maxAgeMinutes: -1 }},
      webhook: {{ port: 70000, path: "webex/webhook" }},
    }},
  }},
}}"#
    );
    assert_snapshot!("numeric_limits", rendered(&source));
    let absurd = source
        .replace("textChunkLimit: 0", "textChunkLimit: 100000")
        .replace("intervalSeconds: 0.5", "intervalSeconds: 2")
        .replace(
            "requestsPerMinute: 0, burst: 0",
            "requestsPerMinute: 60, burst: 1000",
        )
        .replace("maxAgeMinutes: -1", "maxAgeMinutes: 0")
        .replace("port: 70000, path: \"webex/webhook\"", "port: 0");
    let issues = issues(&absurd);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].path, "channels.webex.textChunkLimit");
}

#[test]
fn a_rate_limit_burst_outside_1_to_1000_is_refused_with_the_key_and_a_fix() {
    for bad in ["0", "1001", "2.5", "-1", "\"50\""] {
        let source = format!(
            r#"{{ channels: {{ webex: {{ mode: "polling", botToken: "{TOKEN}", rateLimit: {{ burst: {bad} }} }} }} }}"#
        );
        let issues = issues(&source);
        assert_eq!(issues.len(), 1, "{bad}: {issues:?}");
        assert_eq!(issues[0].path, "channels.webex.rateLimit.burst", "{bad}");
    }
}

#[test]
fn tuning_values_are_read() {
    let source = format!(
        r#"{{ channels: {{ webex: {{ mode: "polling", botToken: "{TOKEN}", polling: {{ intervalSeconds: 1.5 }},
             textChunkLimit: 7439, rateLimit: {{ requestsPerMinute: 30, burst: 3 }}, catchUp: {{ maxAgeMinutes: 0 }},
             webhook: {{ port: 0, secret: "s3cret-value" }} }} }} }}"#
    );
    let cfg = run(&source, &no_env).unwrap();
    assert_eq!(cfg.polling.interval, Duration::from_millis(1500));
    assert_eq!(cfg.text_chunk_limit, 7439);
    assert_eq!(cfg.rate_limit.requests_per_minute, 30);
    assert_eq!(cfg.rate_limit.burst, 3);
    assert_eq!(cfg.catch_up.max_age, Duration::ZERO);
    assert_eq!(cfg.webhook.port, 0);
    assert_eq!(
        cfg.webhook.secret.as_ref().unwrap().expose(),
        "s3cret-value"
    );
    assert!(!format!("{cfg:?}").contains("s3cret-value"));
}

#[test]
fn a_missing_token_says_no_credentials_configured() {
    let source = "{\n  channels: {\n    webex: {\n      mode: \"polling\",\n    },\n  },\n}\n";
    let issues = issues(source);
    assert_eq!(issues.len(), 1);
    let text = issues[0].to_string();
    assert!(text.contains("No credentials configured"), "{text}");
    assert!(text.contains("channels.webex.botToken"), "{text}");
    assert!(text.contains("WEBEX_BOT_TOKEN"), "{text}");
    assert_snapshot!("no_credentials", text);
    // An empty variable counts as unset.
    let empty = |name: &str| (name == "WEBEX_BOT_TOKEN").then(String::new);
    assert!(run(source, &empty).is_err());
}

#[test]
fn the_token_falls_back_to_webex_bot_token() {
    let source = r#"{ channels: { webex: { mode: "polling" } } }"#;
    let cfg = run(source, &token_env).unwrap();
    assert_eq!(cfg.token_source, TokenSource::Env);
    assert_eq!(cfg.bot_token.expose(), TOKEN);
    assert!(!format!("{cfg:?}").contains(TOKEN));
    // botToken in the config wins over the variable.
    let source = r#"{ channels: { webex: { mode: "polling", botToken: "from-config-token" } } }"#;
    let cfg = run(source, &token_env).unwrap();
    assert_eq!(cfg.token_source, TokenSource::Config);
    assert_eq!(cfg.bot_token.expose(), "from-config-token");
}

#[test]
fn an_absent_section_is_an_empty_one() {
    let cfg = run("{}", &token_env);
    let issues = cfg.unwrap_err();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].path, "channels.webex.webhook.url");
    assert_eq!((issues[0].line, issues[0].column), (None, None));
}

#[test]
fn a_disabled_channel_needs_no_token_or_url() {
    let cfg = run(r#"{ channels: { webex: { enabled: false } } }"#, &no_env).unwrap();
    assert!(!cfg.enabled);
    assert_eq!(cfg.mode, Mode::Webhook);
    assert_eq!(cfg.token_source, TokenSource::Missing);
    assert!(cfg.bot_token.is_empty());
}

#[test]
fn bot_token_substitution_set_and_unset() {
    let source = r#"{ channels: { webex: { mode: "polling", botToken: "${MY_WEBEX_TOKEN}" } } }"#;
    let env = |name: &str| (name == "MY_WEBEX_TOKEN").then(|| TOKEN.to_string());
    let cfg = run(source, &env).unwrap();
    assert_eq!(cfg.token_source, TokenSource::Config);
    assert_eq!(cfg.bot_token.expose(), TOKEN);

    // Unset: loading fails, naming the key and the variable.
    let err = parse(Path::new("moltbot.json"), source, &no_env).unwrap_err();
    let ConfigError::Invalid(core_issues) = &err else {
        panic!("expected issues, got {err:?}");
    };
    assert_eq!(core_issues.len(), 1);
    assert_eq!(core_issues[0].path, "channels.webex.botToken");
    assert!(core_issues[0].message.contains("MY_WEBEX_TOKEN"));
    // One cause, one error: the webex validator does not report the leftover reference again
    // (nor "no credentials"), and the reference is not taken for a secret to mask.
    let (cfg, _) =
        parse_lenient(Path::new("moltbot.json"), true, source.to_string(), &no_env).unwrap();
    let webex = validate(&cfg, &no_env).unwrap();
    assert_eq!(webex.token_source, TokenSource::Missing);
    assert!(WebexPlugin::new().secrets(&cfg, &no_env).is_empty());
}

#[test]
fn a_long_unset_token_variable_is_named_in_full_once() {
    // The reviewer's case: the fix line showed `${WE…KEN}` (the reference masked as a secret).
    let source =
        r#"{ channels: { webex: { mode: "polling", botToken: "${WEBEX_BOT_TOKEN_FOR_TESTS}" } } }"#;
    let (cfg, mut issues) =
        parse_lenient(Path::new("moltbot.json"), true, source.to_string(), &no_env).unwrap();
    for secret in WebexPlugin::new().secrets(&cfg, &no_env) {
        moltbot_core::logging::register_secret(&secret);
    }
    issues.extend(validate(&cfg, &no_env).err().unwrap_or_default());
    let text = moltbot_core::logging::redact(&render_issues(&issues));
    assert_eq!(issues.len(), 1, "{text}");
    assert!(text.contains("fix: set WEBEX_BOT_TOKEN_FOR_TESTS in the environment, or write the value in place of `${WEBEX_BOT_TOKEN_FOR_TESTS}`"), "{text}");
    // An empty variable, the same way: one error saying it is empty.
    let env = |name: &str| (name == "WEBEX_BOT_TOKEN_FOR_TESTS").then(String::new);
    let (cfg, mut issues) =
        parse_lenient(Path::new("moltbot.json"), true, source.to_string(), &env).unwrap();
    issues.extend(validate(&cfg, &env).err().unwrap_or_default());
    assert_eq!(issues.len(), 1);
    assert!(
        issues[0].message.ends_with("is set but empty"),
        "{}",
        issues[0]
    );
}

#[test]
fn empty_or_escaped_tokens_are_refused() {
    let source = "{\n  channels: {\n    webex: {\n      mode: \"polling\",\n      botToken: \"  \",\n    },\n  },\n}\n";
    assert_snapshot!("empty_token", rendered(source));
    // `$${VAR}` is the literal text `${VAR}`: what the fix promises, it gives (for botToken as
    // for any string), and a value containing `${` is never scanned again.
    let escaped = source.replace("\"  \"", "\"$${WEBEX_BOT_TOKEN}\"");
    let cfg = run(&escaped, &token_env).unwrap();
    assert_eq!(cfg.bot_token.expose(), "${WEBEX_BOT_TOKEN}");
    let from_env = source.replace("\"  \"", "\"${ODD}\"");
    let env = |name: &str| (name == "ODD").then(|| "ab${CD}".to_string());
    assert_eq!(run(&from_env, &env).unwrap().bot_token.expose(), "ab${CD}");
    // Malformed references are one error each, saying what is wrong.
    for (bad, says) in [
        ("${}", "`${}` names no environment variable"),
        ("${TOK", "`${TOK` is not closed: the `}` is missing"),
        (
            "${1BAD-NAME}",
            "`${1BAD-NAME}` is not a valid environment variable name",
        ),
    ] {
        let text = source.replace("\"  \"", &format!("\"{bad}\""));
        let (cfg, mut issues) =
            parse_lenient(Path::new("moltbot.json"), true, text, &no_env).unwrap();
        issues.extend(validate(&cfg, &no_env).err().unwrap_or_default());
        assert_eq!(issues.len(), 1, "{bad}: {issues:?}");
        assert_eq!(issues[0].message, says);
        assert!(!issues[0]
            .fix
            .as_deref()
            .unwrap_or("")
            .contains("set the environment"));
    }
}

#[test]
fn huge_and_fractional_numbers_are_held_to_each_key_range() {
    // The reviewer's inputs: once accepted (1e23, 2^64) or refused with the wrong rule.
    let cases = [
        (
            "polling: { intervalSeconds: 1e23 }",
            "polling.intervalSeconds",
            "expected a number from 1 to 86400, found 1e+23",
        ),
        (
            "polling: { intervalSeconds: 18446744073709551616 }",
            "polling.intervalSeconds",
            "expected a number from 1 to 86400, found 1.8446744073709552e+19",
        ),
        (
            "catchUp: { maxAgeMinutes: 1e300 }",
            "catchUp.maxAgeMinutes",
            "expected a number from 0 to 10080, found 1e+300",
        ),
        (
            "rateLimit: { requestsPerMinute: 1e20 }",
            "rateLimit.requestsPerMinute",
            "expected a whole number from 1 to 1000000, found 1e+20",
        ),
        (
            "webhook: { safetyPollSeconds: 1e30 }",
            "webhook.safetyPollSeconds",
            "expected a number from 0 to 86400, found 1e+30",
        ),
        (
            "webhook: { port: 18446744073709551615 }",
            "webhook.port",
            "expected a whole number from 0 to 65535, found 18446744073709551615",
        ),
        (
            "textChunkLimit: 7440",
            "textChunkLimit",
            "expected a whole number from 1 to 7439, found 7440",
        ),
        (
            "rateLimit: { burst: 1.5 }",
            "rateLimit.burst",
            "expected a whole number from 1 to 1000, found 1.5",
        ),
    ];
    for (setting, key, message) in cases {
        let source = format!(
            r#"{{ channels: {{ webex: {{ mode: "polling", botToken: "{TOKEN}", {setting} }} }} }}"#
        );
        let issues = issues(&source);
        assert_eq!(issues.len(), 1, "{setting}: {issues:?}");
        assert_eq!(issues[0].path, format!("channels.webex.{key}"));
        assert_eq!(issues[0].message, message, "{setting}");
    }
    // Fractions where the docs allow them; the largest values are accepted.
    let source = format!(
        r#"{{ channels: {{ webex: {{ mode: "polling", botToken: "{TOKEN}",
          polling: {{ intervalSeconds: 1.5 }}, catchUp: {{ maxAgeMinutes: 10080 }},
          webhook: {{ safetyPollSeconds: 86400 }}, rateLimit: {{ requestsPerMinute: 1000000 }} }} }} }}"#
    );
    let cfg = run(&source, &no_env).unwrap();
    assert_eq!(cfg.polling.interval, Duration::from_millis(1500));
    assert_eq!(cfg.catch_up.max_age, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(cfg.webhook.safety_poll, Some(Duration::from_secs(86_400)));
}

#[test]
fn many_problems_are_reported_together_in_file_order() {
    let source = format!(
        r#"{{
  channels: {{
    webex: {{
      botToken: "{TOKEN}",
      mode: "both",
      dmPolicy: "open",
      groupPolicy: "mentions",
      webhook: {{ url: "http://public.example.com/hook", scret: "x" }},
      polling: {{ intervalSeconds: 0 }},
    }},
  }},
}}"#
    );
    let issues = issues(&source);
    let lines: Vec<_> = issues.iter().map(|i| i.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
    assert_snapshot!("many_problems", render_issues(&issues));
}

#[test]
fn a_section_that_is_not_an_object_is_reported() {
    let cfg = parse_lenient(
        Path::new("moltbot.json"),
        true,
        r#"{ channels: { webex: "on" } }"#.to_string(),
        &no_env,
    )
    .unwrap()
    .0;
    let issues = validate(&cfg, &token_env).unwrap_err();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].message, "expected an object, found a string");
}

/// `setting` (a key and value written in `channels.webex`) is the one issue, naming `key` and
/// with `fix` in its text.
fn assert_one_issue(setting: &str, key: &str, fix: &str) {
    let source = format!(
        r#"{{ channels: {{ webex: {{ mode: "polling", botToken: "{TOKEN}", {setting} }} }} }}"#
    );
    let found = issues(&source);
    assert_eq!(found.len(), 1, "{setting}: {found:?}");
    let text = found[0].to_string();
    assert!(text.contains(key), "{setting}: {text}");
    assert!(text.contains(fix), "{setting}: {text}");
}

#[test]
fn output_settings_have_their_defaults() {
    let source =
        format!(r#"{{ channels: {{ webex: {{ mode: "polling", botToken: "{TOKEN}" }} }} }}"#);
    let config = run(&source, &no_env).expect("valid");
    assert!(!config.agent_mentions);
    assert_eq!(config.markdown_tables, TableMode::Code);
    assert_eq!(config.max_reply_messages, 6);
}

#[test]
fn output_settings_are_read() {
    let source = format!(
        r#"{{ channels: {{ webex: {{ mode: "polling", botToken: "{TOKEN}",
          agentMentions: true, markdown: {{ tables: "bullets" }}, maxReplyMessages: 12 }} }} }}"#
    );
    let config = run(&source, &no_env).expect("valid");
    assert!(config.agent_mentions);
    assert_eq!(config.markdown_tables, TableMode::Bullets);
    assert_eq!(config.max_reply_messages, 12);
    let off = source.replace("\"bullets\"", "\"off\"");
    assert_eq!(
        run(&off, &no_env).expect("valid").markdown_tables,
        TableMode::Off
    );
}

#[test]
fn bad_output_settings_name_the_key_and_the_fix() {
    for (setting, key, fix) in [
        (
            "agentMentions: \"yes\"",
            "channels.webex.agentMentions",
            "true or false",
        ),
        (
            "markdown: { tables: \"html\" }",
            "channels.webex.markdown.tables",
            "\"code\", \"bullets\", \"off\"",
        ),
        (
            "markdown: { table: \"code\" }",
            "channels.webex.markdown.table",
            "tables",
        ),
        ("markdown: \"code\"", "channels.webex.markdown", "object"),
        (
            "maxReplyMessages: 0",
            "channels.webex.maxReplyMessages",
            "use 6 (the default)",
        ),
        (
            "maxReplyMessages: 51",
            "channels.webex.maxReplyMessages",
            "from 1 to 50",
        ),
        (
            "maxReplyMessages: 2.5",
            "channels.webex.maxReplyMessages",
            "use 6 (the default)",
        ),
    ] {
        assert_one_issue(setting, key, fix);
    }
}

#[test]
fn chat_commands_are_on_by_default_and_can_be_turned_off() {
    let source =
        format!(r#"{{ channels: {{ webex: {{ mode: "polling", botToken: "{TOKEN}" }} }} }}"#);
    assert!(run(&source, &no_env).expect("valid").commands_enabled);
    let off = format!(
        r#"{{ channels: {{ webex: {{ mode: "polling", botToken: "{TOKEN}",
          commands: {{ enabled: false }} }} }} }}"#
    );
    assert!(!run(&off, &no_env).expect("valid").commands_enabled);
    let empty = off.replace("enabled: false", "");
    assert!(run(&empty, &no_env).expect("valid").commands_enabled);
}

#[test]
fn bad_command_settings_name_the_key_and_the_fix() {
    for (setting, key, fix) in [
        (
            "commands: { enabled: \"no\" }",
            "channels.webex.commands.enabled",
            "true or false",
        ),
        (
            "commands: { enable: false }",
            "channels.webex.commands.enable",
            "enabled",
        ),
        ("commands: false", "channels.webex.commands", "object"),
        (
            "command: { enabled: false }",
            "channels.webex.command",
            "commands",
        ),
    ] {
        assert_one_issue(setting, key, fix);
    }
}
