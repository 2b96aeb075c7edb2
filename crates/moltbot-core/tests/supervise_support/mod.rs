//! A gateway channel whose receiver fails a given number of times, for the supervision tests.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use moltbot_core::access::{AccessPolicy, DmPolicy, GroupPolicy};
use moltbot_core::agent::EchoAgent;
use moltbot_core::gateway::{
    BoxFuture, Channel, ChannelContext, ChannelError, Fetched, Gateway, GatewayOptions,
    OutgoingMessage,
};
use moltbot_core::store::Store;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A receiver that fails `failures` times (with the error `fail` makes for that start), then
/// runs until shutdown.
pub struct FlakyChannel {
    pub starts: Mutex<Vec<Instant>>,
    failures: usize,
    fail: fn(usize) -> ChannelError,
    sent: Mutex<Vec<String>>,
    /// Calls of the replica hooks: `register`, and the last `share_budget` and the
    /// `pause_requests` waits.
    pub registrations: Mutex<usize>,
    pub follows: Mutex<usize>,
    pub share: Mutex<Option<u32>>,
    pub pauses: Mutex<Vec<Duration>>,
    /// What `config_fingerprint` says.
    pub fingerprint: Mutex<Option<String>>,
}

impl FlakyChannel {
    pub fn new(failures: usize, fail: fn(usize) -> ChannelError) -> Arc<Self> {
        Arc::new(Self {
            starts: Mutex::new(Vec::new()),
            failures,
            fail,
            sent: Mutex::new(Vec::new()),
            registrations: Mutex::new(0),
            follows: Mutex::new(0),
            share: Mutex::new(None),
            pauses: Mutex::new(Vec::new()),
            fingerprint: Mutex::new(None),
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

    fn register(&self, _: Option<std::net::SocketAddr>) -> BoxFuture<'_, Result<(), ChannelError>> {
        *self.registrations.lock().unwrap() += 1;
        Box::pin(async { Ok(()) })
    }

    fn follow(&self, _: &moltbot_core::gateway::InboundSink) {
        *self.follows.lock().unwrap() += 1;
    }

    fn config_fingerprint(&self) -> Option<String> {
        self.fingerprint.lock().unwrap().clone()
    }

    fn share_budget(&self, processes: u32) {
        *self.share.lock().unwrap() = Some(processes);
    }

    fn pause_requests(&self, wait: Duration) {
        self.pauses.lock().unwrap().push(wait);
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

    fn refetch<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Fetched, ChannelError>> {
        Box::pin(async { Ok(Fetched::skip("gone")) })
    }

    fn access_policy(&self) -> AccessPolicy {
        AccessPolicy::new::<&str>("test", DmPolicy::Open, &["*"], GroupPolicy::Open, &[])
    }

    fn catch_up_max_age(&self) -> Duration {
        Duration::from_secs(900)
    }

    fn send<'a>(&'a self, m: &'a OutgoingMessage) -> BoxFuture<'a, Result<String, ChannelError>> {
        Box::pin(async move {
            self.sent.lock().unwrap().push(m.markdown.clone());
            Ok("sent".to_string())
        })
    }
}

/// Runs a gateway with `channel` until its receiver runs (ready), then stops it.
pub async fn run_until_ready(channel: Arc<FlakyChannel>) {
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

/// Runs a gateway with `channel` until it stops by itself (real time: at most 30 s); returns
/// how it ended.
pub async fn run_until_stopped(
    channel: Arc<FlakyChannel>,
) -> Result<(), moltbot_core::gateway::GatewayError> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("state/moltbot.sqlite")).unwrap();
    let mut gateway = Gateway::new(store, Arc::new(EchoAgent), GatewayOptions::default());
    gateway.add_channel(channel);
    tokio::time::timeout(
        Duration::from_secs(30),
        gateway.run(CancellationToken::new(), |_| {}),
    )
    .await
    .expect("the gateway stopped by itself")
}
