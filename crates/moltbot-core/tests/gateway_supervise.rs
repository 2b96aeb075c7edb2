//! The gateway restarts a failing receiver with growing (capped exponential) delays, and logs
//! each failure with its whole source chain.

#![allow(clippy::unwrap_used)]

mod log_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use log_support::capture;
use moltbot_core::access::{AccessPolicy, DmPolicy, GroupPolicy};
use moltbot_core::agent::EchoAgent;
use moltbot_core::gateway::{
    BoxFuture, Channel, ChannelContext, ChannelError, ChannelErrorKind, Gateway, GatewayOptions,
    InboundMessage, OutgoingMessage,
};
use moltbot_core::store::Store;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A receiver that fails `failures` times (with the error `fail` makes for that start), then
/// runs until shutdown.
struct FlakyChannel {
    starts: Mutex<Vec<Instant>>,
    failures: usize,
    fail: fn(usize) -> ChannelError,
    sent: Mutex<Vec<String>>,
}

impl FlakyChannel {
    fn new(failures: usize, fail: fn(usize) -> ChannelError) -> Arc<Self> {
        Arc::new(Self {
            starts: Mutex::new(Vec::new()),
            failures,
            fail,
            sent: Mutex::new(Vec::new()),
        })
    }
}

impl Channel for FlakyChannel {
    fn id(&self) -> &str {
        "test"
    }

    fn connect(&self, _: Option<std::net::SocketAddr>) -> BoxFuture<'_, Result<(), ChannelError>> {
        Box::pin(async { Ok(()) })
    }

    fn run(self: Arc<Self>, ctx: ChannelContext) -> BoxFuture<'static, Result<(), ChannelError>> {
        Box::pin(async move {
            let attempt = {
                let mut starts = self.starts.lock().unwrap();
                starts.push(Instant::now());
                starts.len()
            };
            if attempt <= self.failures {
                return Err((self.fail)(attempt));
            }
            ctx.ready.mark_ready();
            ctx.shutdown.cancelled().await;
            Ok(())
        })
    }

    fn refetch<'a>(
        &'a self,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Option<InboundMessage>, ChannelError>> {
        Box::pin(async { Ok(None) })
    }

    fn access_policy(&self) -> AccessPolicy {
        AccessPolicy::new::<&str>("test", DmPolicy::Open, &["*"], GroupPolicy::Open, &[])
    }

    fn catch_up_max_age(&self) -> Duration {
        Duration::from_secs(900)
    }

    fn chunk(&self, markdown: &str) -> Vec<String> {
        vec![markdown.to_string()]
    }

    fn send<'a>(&'a self, m: &'a OutgoingMessage) -> BoxFuture<'a, Result<String, ChannelError>> {
        Box::pin(async move {
            self.sent.lock().unwrap().push(m.markdown.clone());
            Ok("sent".to_string())
        })
    }
}

/// Runs a gateway with `channel` until its receiver runs (ready), then stops it.
async fn run_until_ready(channel: Arc<FlakyChannel>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("state/moltbot.sqlite")).unwrap();
    let mut gateway = Gateway::new(store, Arc::new(EchoAgent), GatewayOptions::default());
    gateway.add_channel(channel);
    let status = gateway.status();
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(gateway.run(shutdown.clone(), |_| {}));
    let start = Instant::now();
    while !status.is_ready() && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(status.is_ready());
    shutdown.cancel();
    run.await.unwrap().unwrap();
}

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
