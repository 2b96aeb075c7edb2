//! The global subscriber writing to a log file (its own test binary: `init` runs once per
//! process).

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use moltbot_core::logging::{init, mask_secret, register_secret, LogOptions, LoggingError};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[derive(Debug)]
#[allow(dead_code)]
struct Settings {
    bot_token: String,
    api_base_url: String,
}

impl std::fmt::Display for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} with {}", self.api_base_url, self.bot_token)
    }
}

#[test]
fn init_logs_to_a_private_file_without_secrets() {
    // An invalid level fails before anything is installed.
    let err = init(LogOptions {
        level_env: Some("loud".into()),
        log_file: None,
        stderr: false,
    })
    .unwrap_err();
    assert!(matches!(err, LoggingError::InvalidLevel { .. }), "{err:?}");
    assert!(
        err.to_string().contains("error, warn, info, debug, trace"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs").join("gateway.log");
    let guard = init(LogOptions {
        level_env: Some("debug".into()),
        log_file: Some(log.clone()),
        stderr: false,
    })
    .unwrap();
    assert_eq!(guard.log_file(), Some(log.as_path()));

    let token = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9maWxldGVzdA";
    register_secret(token);
    let settings = Settings {
        bot_token: token.to_owned(),
        api_base_url: "https://example.test/v1".to_owned(),
    };
    let error = std::io::Error::other(format!("bad credentials {token}"));
    tracing::debug!(?settings, "settings (debug)");
    tracing::info!(%settings, "settings (display)");
    tracing::error!(%error, "call failed");
    tracing::info!("header was Authorization: Bearer {token}");
    // Noisy libraries stay at info when we log at debug (prefixes of their targets).
    tracing::debug!(target: "hyper::proto::h1", "hyper chatter");
    tracing::debug!(target: "hyper_util::client", "pool chatter");
    tracing::info!(target: "hyper::server", "hyper notice");
    tracing::debug!(target: "moltbot_core::gateway", "our debug line");

    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(!text.contains("chatter"), "{text}");
    assert!(text.contains("hyper notice"), "{text}");
    assert!(text.contains("our debug line"), "{text}");
    assert!(!text.contains(token), "{text}");
    assert!(text.contains(&mask_secret(token)), "{text}");
    assert!(text.contains("settings (debug)"), "{text}");
    assert!(!text.contains('\u{1b}'), "the file never gets ANSI colours");
    assert_eq!(mode(&log), 0o600);
    assert_eq!(mode(&dir.path().join("logs")), 0o700);

    // Only one global subscriber per process.
    let again = init(LogOptions::default()).unwrap_err();
    assert!(
        matches!(again, LoggingError::AlreadyInitialized),
        "{again:?}"
    );
    drop(guard);
}

#[test]
fn an_existing_log_file_is_appended_to_and_tightened() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("gateway.log");
    std::fs::write(&log, "old line\n").unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut file = moltbot_core::logging::open_log_file(&log).unwrap();
    std::io::Write::write_all(&mut file, b"new line\n").unwrap();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "old line\nnew line\n"
    );
    assert_eq!(mode(&log), 0o600);
}
