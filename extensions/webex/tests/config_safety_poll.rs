//! `channels.webex.webhook.safetyPollSeconds`: default, off, and refused values.

use std::path::Path;
use std::time::Duration;

use moltbot_core::config::parse_lenient;
use moltbot_webex::config::validate;

fn webhook_config(extra: &str) -> Result<moltbot_webex::config::WebexConfig, Vec<String>> {
    let text = format!(
        "{{ channels: {{ webex: {{ botToken: \"token-123456789\", webhook: {{ url: \"https://bot.example.com/hook\" {extra} }} }} }} }}"
    );
    let (cfg, issues) =
        parse_lenient(Path::new("moltbot.json"), true, text, &|_| None).expect("parses");
    assert!(issues.is_empty(), "{issues:?}");
    validate(&cfg, &|_| None).map_err(|issues| issues.iter().map(ToString::to_string).collect())
}

#[test]
fn defaults_to_a_minute_and_zero_turns_it_off() {
    assert_eq!(
        webhook_config("").unwrap().webhook.safety_poll,
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        webhook_config(", safetyPollSeconds: 0")
            .unwrap()
            .webhook
            .safety_poll,
        None
    );
    assert_eq!(
        webhook_config(", safetyPollSeconds: 5")
            .unwrap()
            .webhook
            .safety_poll,
        Some(Duration::from_secs(5))
    );
}

#[test]
fn a_fraction_of_a_second_is_refused_with_the_key_and_a_fix() {
    let issues = webhook_config(", safetyPollSeconds: 0.5").unwrap_err();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert!(
        issues[0].starts_with("channels.webex.webhook.safetyPollSeconds"),
        "{}",
        issues[0]
    );
    assert!(issues[0].contains("fix:"), "{}", issues[0]);
}
