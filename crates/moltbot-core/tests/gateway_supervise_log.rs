//! A receiver's failure is logged with its whole source chain.
//!
//! Its own test binary: the log is captured with a thread-local subscriber, and tracing caches
//! each call site's interest process-wide, so another test hitting the same log line at the same
//! moment without a subscriber could hide it.

#![allow(clippy::unwrap_used)]

mod log_support;
mod supervise_support;

use log_support::capture;
use moltbot_core::gateway::{ChannelError, ChannelErrorKind};
use supervise_support::{run_until_ready, FlakyChannel};

/// The evidence a network client's error carries, below a wrapper that quotes none of it.
#[derive(Debug, thiserror::Error)]
#[error("upstream answered 503 (trackingId T-42)")]
struct Upstream(#[source] std::io::Error);

#[tokio::test(start_paused = true)]
async fn a_receiver_failure_is_logged_with_its_whole_source_chain() {
    let (captured, subscriber) = capture("warn");
    // A current-thread runtime: the gateway's tasks log through this thread's subscriber.
    let _default = tracing::subscriber::set_default(subscriber);

    let channel = FlakyChannel::new(1, |_| {
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
        ChannelError::new(ChannelErrorKind::Transient, Upstream(reset))
            .with_context("GET /updates failed")
    });
    run_until_ready(channel).await;

    let logs = captured.text();
    let line = logs
        .lines()
        .find(|l| l.contains("receiver failed; restarting"))
        .unwrap_or_else(|| panic!("no restart line in:\n{logs}"));
    assert!(
        line.contains(
            "error=GET /updates failed: upstream answered 503 (trackingId T-42): connection reset"
        ),
        "{line}"
    );
}
