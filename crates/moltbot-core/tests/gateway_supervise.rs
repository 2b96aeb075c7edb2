//! The gateway restarts a failing receiver with growing (capped exponential) delays.

#![allow(clippy::unwrap_used)]

mod supervise_support;

use std::sync::Arc;
use std::time::Duration;

use moltbot_core::gateway::{ChannelError, ChannelErrorKind, GatewayError};
use supervise_support::{run_until_ready, FlakyChannel};

#[tokio::test(start_paused = true)]
async fn a_failing_receiver_is_restarted_with_growing_delays() {
    let channel = FlakyChannel::new(4, |n| ChannelError::transient(format!("boom {n}")));
    run_until_ready(Arc::clone(&channel)).await;

    let starts = channel.starts.lock().unwrap().clone();
    assert_eq!(starts.len(), 5, "4 failures then a good run");
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    // Restart n waits d/2..=d for d = 0.5 s * 2^(n-1) (equal jitter; virtual time, so the
    // gaps are the delays, give or take the timer's millisecond).
    for (n, gap) in gaps.iter().enumerate() {
        let full = Duration::from_millis(500) * (1 << n);
        assert!(
            *gap >= full / 2 && *gap <= full + Duration::from_millis(2),
            "restart {}: gap {gap:?} not in [{:?}, {full:?}]; all: {gaps:?}",
            n + 1,
            full / 2
        );
    }
}

#[tokio::test]
async fn a_receiver_whose_credentials_are_refused_stops_the_gateway_without_restarts() {
    let channel = FlakyChannel::new(3, |_| {
        ChannelError::message(ChannelErrorKind::Auth, "GET /rooms failed (bad token)")
    });
    let err = supervise_support::run_until_stopped(Arc::clone(&channel))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GatewayError::Stopped { channel, .. } if channel == "test"),
        "{err:?}"
    );
    assert_eq!(
        moltbot_core::error::chain(&err).to_string(),
        "channel test stopped: GET /rooms failed (bad token)"
    );
    assert_eq!(channel.starts.lock().unwrap().len(), 1, "never restarted");
}
