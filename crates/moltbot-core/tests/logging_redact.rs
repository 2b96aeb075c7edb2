//! Redaction, level parsing and the redacting writer stack (captured with `with_default`).

#![allow(clippy::unwrap_used)] // tests may unwrap

mod log_support;

use log_support::capture;
use moltbot_core::logging::{
    is_registered, mask_secret, parse_level, redact, register_secret, LoggingError,
};
use tracing::level_filters::LevelFilter;

/// A config holding a token, with derived Debug and a careless Display.
#[derive(Debug)]
#[allow(dead_code)]
struct ChannelConfig {
    bot_token: String,
    mode: &'static str,
}

impl std::fmt::Display for ChannelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mode={} token={}", self.mode, self.bot_token)
    }
}

#[test]
fn mask_shows_first_and_last_four_or_stars() {
    assert_eq!(
        mask_secret("Y2lzY29zcGFyazovL3VzL1BFT1BMRS9habcd"),
        "Y2lz…abcd"
    );
    assert_eq!(mask_secret("12345678901234567890123456789012"), "1234…9012");
    // Shorter secrets are hidden whole: at most a quarter of a secret is ever shown.
    assert_eq!(mask_secret("1234567890123456789012345678901"), "****");
    assert_eq!(mask_secret("abcdefghijkl"), "****");
    assert_eq!(mask_secret(""), "****");
}

#[test]
fn registered_secrets_are_masked_in_any_text() {
    let token = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9hYmNkredact1";
    register_secret(&format!("  {token}\n"));
    assert!(is_registered(token));
    let out = redact(&format!("token {token} and again:{token}."));
    assert!(!out.contains(token), "{out}");
    assert_eq!(
        out,
        format!("token {m} and again:{m}.", m = mask_secret(token))
    );
}

#[test]
fn short_secrets_are_not_registered() {
    register_secret("seven77");
    assert!(!is_registered("seven77"));
    assert_eq!(redact("the word seven77 stays"), "the word seven77 stays");
}

#[test]
fn bearer_values_are_masked_even_when_not_registered() {
    let out = redact("request failed: Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123456789");
    assert_eq!(out, "request failed: Authorization: Bearer abcd…6789");
    let out = redact(r#"headers: {"authorization": "Bearer tok_123456789xyz"}"#);
    assert_eq!(out, r#"headers: {"authorization": "Bearer ****"}"#);
}

#[test]
fn secrets_escaped_by_debug_are_masked_too() {
    let token = r#"quote"in\side-token-0042"#;
    register_secret(token);
    let debug = format!("{token:?}");
    assert_ne!(debug.trim_matches('"'), token, "Debug escapes it");
    let out = redact(&debug);
    assert!(!out.contains(debug.trim_matches('"')), "{out}");
}

#[test]
fn level_values() {
    assert_eq!(parse_level(None).unwrap(), LevelFilter::INFO);
    assert_eq!(parse_level(Some("")).unwrap(), LevelFilter::INFO);
    assert_eq!(parse_level(Some("error")).unwrap(), LevelFilter::ERROR);
    assert_eq!(parse_level(Some("WARN")).unwrap(), LevelFilter::WARN);
    assert_eq!(parse_level(Some(" debug ")).unwrap(), LevelFilter::DEBUG);
    assert_eq!(parse_level(Some("trace")).unwrap(), LevelFilter::TRACE);
    let err = parse_level(Some("verbose")).unwrap_err();
    assert!(matches!(&err, LoggingError::InvalidLevel { value } if value == "verbose"));
    assert_eq!(
        err.to_string(),
        "invalid MOLTBOT_LOG_LEVEL \"verbose\": expected one of error, warn, info, debug, trace"
    );
}

#[test]
fn captured_stderr_never_shows_a_registered_token() {
    let token = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9jYXB0dXJlZA";
    register_secret(token);
    let config = ChannelConfig {
        bot_token: token.to_owned(),
        mode: "webhook",
    };
    let error = std::io::Error::other(format!("401 Unauthorized for token {token}"));

    let (captured, subscriber) = capture("info");
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(?config, "loaded config");
        tracing::info!(%config, "loaded config (display)");
        tracing::warn!(error = %error, "probe failed");
        tracing::error!("probe failed: {error}");
        tracing::info!(token = token, "field value");
    });

    let text = captured.text();
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(!text.contains(token), "{text}");
    assert_eq!(text.matches(&mask_secret(token)).count(), 5, "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "no ANSI colours when not a terminal"
    );
}

#[test]
fn level_filter_and_noisy_libraries() {
    let (captured, subscriber) = capture("trace");
    tracing::subscriber::with_default(subscriber, || {
        tracing::trace!("ours at trace");
        tracing::debug!(target: "hyper::proto", "hyper chatter");
        tracing::info!(target: "hyper::proto", "hyper info");
    });
    let text = captured.text();
    assert!(text.contains("ours at trace"), "{text}");
    assert!(!text.contains("hyper chatter"), "{text}");
    assert!(text.contains("hyper info"), "{text}");

    let (captured, subscriber) = capture("warn");
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("hidden info");
        tracing::warn!("shown warning");
    });
    let text = captured.text();
    assert!(!text.contains("hidden info"), "{text}");
    assert!(text.contains("shown warning"), "{text}");
}
