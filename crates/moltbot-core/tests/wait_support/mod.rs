//! Waiting on state in moltbot-core's own tests (they cannot use moltbot-testkit, which depends
//! on this crate): poll a probe until it holds, with a deadline, no fixed pause.

#![allow(dead_code)] // not every test file uses every helper

use std::future::Future;
use std::time::Duration;

/// How long a wait lasts before it fails.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Polls `probe` (every few milliseconds, on tokio's clock) until it returns true; panics naming
/// `what` after `timeout`.
pub async fn until<F: Future<Output = bool>>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> F,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !probe().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
