//! Every `json5` example of the user doc (`docs` seed), copied verbatim into
//! `tests/fixtures/seed/`, parses to the typed values it describes.

use std::path::Path;
use std::time::Duration;

use insta::assert_snapshot;
use moltbot_core::config::{parse, render_issues, LoadedConfig};
use moltbot_webex::config::{
    validate, DmPolicy, GroupPolicy, Mode, PollingConfig, Secret, TokenSource, WebexConfig,
    WebhookConfig,
};

fn no_env(_: &str) -> Option<String> {
    None
}

fn load_fixture(name: &str) -> LoadedConfig {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/seed")
        .join(name);
    let source = std::fs::read_to_string(&file).expect("fixture is readable");
    parse(&file, &source, &no_env).expect("fixture parses")
}

fn valid(name: &str) -> WebexConfig {
    let cfg = load_fixture(name);
    validate(&cfg, &no_env).unwrap_or_else(|issues| panic!("{}", render_issues(&issues)))
}

fn public_webhook() -> WebhookConfig {
    WebhookConfig {
        port: 3979,
        path: "/webex/webhook".into(),
        url: Some("https://your-domain.com/webex/webhook".into()),
        secret: None,
        ..WebhookConfig::default()
    }
}

#[test]
fn minimal_config_needs_a_webhook_url_for_its_webhook_mode() {
    // The seed's first example uses mode "webhook" without webhook.url; the contract requires it
    // (section 2), so the gateway refuses it and says how to fix it.
    let cfg = load_fixture("minimal.json5");
    assert_eq!(
        cfg.channel_section("webex").unwrap()["botToken"],
        "YOUR_BOT_ACCESS_TOKEN"
    );
    let issues = validate(&cfg, &no_env).unwrap_err();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].path, "channels.webex.webhook.url");
    assert_snapshot!("seed_minimal", render_issues(&issues));
}

#[test]
fn webhook_setup_example() {
    assert_eq!(
        valid("webhook-setup.json5"),
        WebexConfig {
            mode: Mode::Webhook,
            bot_token: Secret::new("YOUR_TOKEN"),
            token_source: TokenSource::Config,
            webhook: public_webhook(),
            ..WebexConfig::default()
        }
    );
}

#[test]
fn polling_minimal_example() {
    let cfg = valid("polling-minimal.json5");
    assert_eq!(
        cfg,
        WebexConfig {
            mode: Mode::Polling,
            bot_token: Secret::new("YOUR_TOKEN"),
            token_source: TokenSource::Config,
            ..WebexConfig::default()
        }
    );
    // Everything else has the documented defaults.
    assert!(cfg.enabled);
    assert_eq!(cfg.api_base_url, "https://webexapis.com/v1");
    assert_eq!(cfg.dm_policy, DmPolicy::Pairing);
    assert_eq!(cfg.group_policy, GroupPolicy::Allowlist);
    assert_eq!(cfg.polling.interval, Duration::from_secs(5));
    assert_eq!(cfg.webhook.port, 3979);
    assert_eq!(cfg.webhook.path, "/webex/webhook");
    assert_eq!(cfg.webhook.url, None);
    assert_eq!(cfg.text_chunk_limit, 7000);
    assert_eq!(cfg.rate_limit.requests_per_minute, 300);
    assert_eq!(cfg.rate_limit.burst, 50);
    assert_eq!(cfg.catch_up.max_age, Duration::from_secs(15 * 60));
}

#[test]
fn polling_mode_example() {
    assert_eq!(
        valid("polling-mode.json5"),
        WebexConfig {
            mode: Mode::Polling,
            bot_token: Secret::new("YOUR_BOT_ACCESS_TOKEN"),
            token_source: TokenSource::Config,
            dm_policy: DmPolicy::Allowlist,
            allow_from: vec!["user@example.com".into()],
            ..WebexConfig::default()
        }
    );
}

#[test]
fn webhook_mode_example() {
    assert_eq!(
        valid("webhook-mode.json5"),
        WebexConfig {
            mode: Mode::Webhook,
            bot_token: Secret::new("YOUR_BOT_ACCESS_TOKEN"),
            token_source: TokenSource::Config,
            dm_policy: DmPolicy::Allowlist,
            allow_from: vec!["user@example.com".into()],
            webhook: public_webhook(),
            ..WebexConfig::default()
        }
    );
}

#[test]
fn both_modes_example() {
    let cfg = valid("both-modes.json5");
    assert_eq!(
        cfg,
        WebexConfig {
            mode: Mode::Both,
            bot_token: Secret::new("YOUR_BOT_ACCESS_TOKEN"),
            token_source: TokenSource::Config,
            dm_policy: DmPolicy::Allowlist,
            allow_from: vec!["user@example.com".into()],
            webhook: public_webhook(),
            polling: PollingConfig {
                interval: Duration::from_secs(10)
            },
            ..WebexConfig::default()
        }
    );
    assert!(cfg.mode.uses_webhook() && cfg.mode.uses_polling());
}

#[test]
fn full_configuration_example() {
    assert_eq!(
        valid("full.json5"),
        WebexConfig {
            mode: Mode::Polling,
            bot_token: Secret::new("YOUR_BOT_ACCESS_TOKEN"),
            token_source: TokenSource::Config,
            dm_policy: DmPolicy::Pairing,
            allow_from: vec![
                "user@example.com".into(),
                "Y2lzY29zcGFyazovL3VzL1BFT1BMRS8xMjM0NTY3OA==".into()
            ],
            group_policy: GroupPolicy::Mention,
            group_allow_from: vec!["admin@example.com".into()],
            webhook: public_webhook(),
            ..WebexConfig::default()
        }
    );
}

#[test]
fn keys_of_the_full_example_are_located() {
    let cfg = load_fixture("full.json5");
    assert_eq!(cfg.locate("channels.webex.mode"), Some((5, 7)));
    assert_eq!(cfg.locate("channels.webex.dmPolicy"), Some((9, 7)));
    assert_eq!(cfg.locate("channels.webex.allowFrom[1]"), Some((12, 9)));
    assert_eq!(cfg.locate("channels.webex.groupPolicy"), Some((16, 7)));
    assert_eq!(
        cfg.locate("channels.webex.polling.intervalSeconds"),
        Some((30, 9))
    );
}
