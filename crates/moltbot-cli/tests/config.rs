//! `moltbot config validate` through the binary: each problem with key, location and fix.

mod common;

use common::{output_text, scrub, TestHome};

const INSTALLED: &str = "plugins: { entries: { webex: { enabled: true } } },";

fn validate(home: &TestHome, env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = home.moltbot();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["config", "validate"])
        .output()
        .expect("run moltbot");
    let (stdout, stderr) = output_text(&out);
    (
        out.status.code(),
        scrub(&stdout, home),
        scrub(&stderr, home),
    )
}

#[test]
fn each_validation_error_is_reported_with_key_location_and_fix() {
    let cases = [
        (
            "unknown_key",
            "channels: { webex: { mode: \"polling\", botToken: \"tok-123456789\", dmPolicyy: \"open\" } }",
        ),
        (
            "open_without_star",
            "channels: { webex: { mode: \"polling\", botToken: \"tok-123456789\", dmPolicy: \"open\", allowFrom: [\"a@b.c\"] } }",
        ),
        (
            "webhook_without_https_url",
            "channels: { webex: { mode: \"webhook\", botToken: \"tok-123456789\", webhook: { url: \"http://example.com/hook\" } } }",
        ),
        (
            "polling_interval_too_small",
            "channels: { webex: { mode: \"polling\", botToken: \"tok-123456789\", polling: { intervalSeconds: 0 } } }",
        ),
        ("missing_token", "channels: { webex: { mode: \"polling\" } }"),
    ];
    for (name, channels) in cases {
        let home = TestHome::new();
        home.write_config(&format!("{{\n  {INSTALLED}\n  {channels}\n}}\n"));
        let (code, stdout, stderr) = validate(&home, &[]);
        assert_eq!(code, Some(1), "{name}: {stdout}{stderr}");
        assert!(stderr.contains("line "), "{name}: no location in {stderr}");
        assert!(stderr.contains("fix: "), "{name}: no fix in {stderr}");
        insta::assert_snapshot!(format!("validate_{name}"), stderr);
    }
}

#[test]
fn missing_token_names_both_sources_and_env_fallback_fixes_it() {
    let home = TestHome::new();
    home.write_config(&format!(
        "{{ {INSTALLED} channels: {{ webex: {{ mode: \"polling\" }} }} }}"
    ));
    let (code, _, stderr) = validate(&home, &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("No credentials configured"), "{stderr}");
    assert!(stderr.contains("channels.webex.botToken"), "{stderr}");
    assert!(stderr.contains("WEBEX_BOT_TOKEN"), "{stderr}");

    let (code, stdout, stderr) = validate(&home, &[("WEBEX_BOT_TOKEN", "env-token-0123456789")]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
}

#[test]
fn a_token_never_appears_in_output() {
    let home = TestHome::new();
    let token = "Y2lzY29zcGFyazovL3VzL1NFQ1JFVC90b2tlbi0xMjM0NTY3ODkw";
    home.write_config(&format!(
        "{{ {INSTALLED} channels: {{ webex: {{ mode: \"webhook\", botToken: \"{token}\", dmPolicy: \"bogus\" }} }} }}"
    ));
    let (code, stdout, stderr) = validate(&home, &[]);
    assert_eq!(code, Some(1));
    assert!(
        !stdout.contains(token) && !stderr.contains(token),
        "{stdout}{stderr}"
    );
}

#[test]
fn syntax_errors_give_line_and_column() {
    let home = TestHome::new();
    home.write_config("{\n  channels: {\n    webex: { mode: \"polling\" \n  }\n");
    let (code, _, stderr) = validate(&home, &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("line "), "{stderr}");
    insta::assert_snapshot!(stderr);
}

#[test]
fn env_substitution_and_config_override_flag() {
    let home = TestHome::new();
    let other = home.state_dir().join("other.json5");
    std::fs::write(
        &other,
        format!("{{ {INSTALLED} channels: {{ webex: {{ mode: \"polling\", botToken: \"${{TOKEN_FROM_ENV}}\" }} }} }}"),
    )
    .unwrap();
    let out = home
        .moltbot()
        .args(["--config", other.to_str().unwrap(), "config", "validate"])
        .output()
        .unwrap();
    let (_, stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("TOKEN_FROM_ENV"), "{stderr}");

    let out = home
        .moltbot()
        .env("TOKEN_FROM_ENV", "substituted-token-123")
        .env("MOLTBOT_CONFIG_PATH", &other)
        .args(["config", "validate"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("other.json5"), "{stdout}");
}

/// Runs `moltbot gateway` at `debug` in `home` (until it stops by itself); returns its stdout,
/// stderr and `<state>/logs/gateway.log`.
fn gateway_at_debug(home: &TestHome) -> (String, String, String) {
    let out = home
        .moltbot()
        .env("MOLTBOT_LOG_LEVEL", "debug")
        .arg("gateway")
        .output()
        .expect("run moltbot gateway");
    let (stdout, stderr) = output_text(&out);
    let log = std::fs::read_to_string(home.state_dir().join("logs/gateway.log"))
        .expect("the gateway writes its log file");
    (stdout, stderr, log)
}

#[test]
fn the_gateway_log_never_holds_the_token() {
    let home = TestHome::new();
    let token = "Y2lzY29zcGFyazovL3VzL1NFQ1JFVC9ncmVwLW1lLWlmLXlvdS1jYW4";
    home.write_config(&format!(
        "{{ {INSTALLED} channels: {{ webex: {{ mode: \"polling\", botToken: \"{token}\" }} }} }}"
    ));
    let (stdout, stderr, log) = gateway_at_debug(&home);
    let log_path = home.state_dir().join("logs/gateway.log");
    assert!(
        log.contains("loaded config"),
        "the config was logged: {log}"
    );
    assert!(log.contains("Y2lz…"), "the token shows masked: {log}");
    for text in [&log, &stdout, &stderr] {
        assert!(!text.contains(token), "token leaked: {text}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn the_gateway_config_dump_masks_every_secret_by_key_and_url_passwords_whole() {
    let home = TestHome::new();
    let token = "Y2lzY29zcGFyazovL3VzL1NFQ1JFVC9kdW1wLXRva2Vu";
    let api_key = "sk-FAKEKEY-abcdef123456";
    let header = "Token hdr-FAKE-0123456789abcdef";
    let password = "SuperSecretPw";
    // No channel enabled: the gateway dumps the config, then stops before any connection.
    home.write_config(&format!(
        "{{ channels: {{ webex: {{ botToken: \"{token}\" }} }}, \
           models: {{ providers: {{ acme: {{ api: \"openai-completions\", \
             baseUrl: \"http://127.0.0.1:9/v1\", apiKey: \"{api_key}\", \
             headers: {{ Authorization: \"{header}\" }} }} }} }}, \
           store: {{ url: \"postgres://postgres:{password}@127.0.0.1:9/db\" }} }}"
    ));
    let (stdout, stderr, log) = gateway_at_debug(&home);
    let dump = log
        .lines()
        .find(|l| l.contains("loaded config"))
        .unwrap_or_else(|| panic!("no config dump: {log}"));
    assert!(
        dump.contains(r#""apiKey":"****""#),
        "the apiKey (shorter than 32 characters) is hidden whole: {dump}"
    );
    assert!(
        dump.contains("postgres://postgres:****@127.0.0.1:9/db"),
        "{dump}"
    );
    for text in [&log, &stdout, &stderr] {
        for secret in [
            token,
            api_key,
            "hdr-FAKE-0123456789abcdef",
            password,
            "Supe",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
}

#[test]
fn an_explicit_config_path_that_does_not_exist_is_an_error_naming_it() {
    let home = TestHome::new();
    // The reviewer's case: `--config nope.json5` once said "defaults apply" and exited 0.
    let out = home
        .moltbot()
        .args(["--config", "nope.json5", "config", "validate"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("config file nope.json5 does not exist"),
        "{stderr}"
    );
    assert!(!stdout.contains("defaults apply"), "{stdout}");
    // The same through the environment variable.
    let missing = home.state_dir().join("missing.json5");
    let (code, stdout, stderr) =
        validate(&home, &[("MOLTBOT_CONFIG_PATH", missing.to_str().unwrap())]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("missing.json5 does not exist"), "{stderr}");
    // The default path missing is still fine.
    let (code, stdout, _) = validate(&home, &[]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("defaults apply"), "{stdout}");
}

#[test]
fn an_empty_variable_is_reported_as_empty_once() {
    let home = TestHome::new();
    home.write_config(&format!(
        "{{ {INSTALLED} channels: {{ webex: {{ mode: \"polling\", botToken: \"${{TOK}}\" }} }} }}"
    ));
    let (code, _, stderr) = validate(&home, &[("TOK", "")]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("has 1 problem:"), "{stderr}");
    assert!(
        stderr.contains("environment variable `TOK` is set but empty"),
        "{stderr}"
    );
    let (code, _, stderr) = validate(&home, &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("has 1 problem:"), "{stderr}");
    assert!(stderr.contains("`TOK` is not set"), "{stderr}");
}

#[test]
fn streaming_with_the_placeholder_off_is_an_error_naming_both_keys() {
    let channels =
        "channels: { webex: { mode: \"polling\", botToken: \"tok-123456789\", dmPolicy: \"pairing\" } }";
    let home = TestHome::new();
    home.write_config(&format!(
        "{{\n  {INSTALLED}\n  agents: {{ defaults: {{ streaming: true, typingDelaySeconds: 0 }} }},\n  {channels}\n}}\n"
    ));
    let (code, stdout, stderr) = validate(&home, &[]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("agents.defaults.streaming")
            && stderr.contains("agents.defaults.typingDelaySeconds")
            && stderr.contains("fix: "),
        "{stderr}"
    );
    insta::assert_snapshot!("validate_streaming_without_placeholder", stderr);

    // The fix it names works: a typing delay above 0.
    home.write_config(&format!(
        "{{\n  {INSTALLED}\n  agents: {{ defaults: {{ streaming: true, typingDelaySeconds: 0.5 }} }},\n  {channels}\n}}\n"
    ));
    let (code, stdout, stderr) = validate(&home, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
}
