//! The gateway restarts a failing receiver with growing (capped exponential) delays.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moltbot_core::access::{AccessPolicy, DmPolicy, GroupPolicy};
use moltbot_core::agent::EchoAgent;
use moltbot_core::gateway::{
    BoxFuture, Channel, ChannelContext, ChannelError, Gateway, GatewayOptions, InboundMessage,
    OutgoingMessage,
};
use moltbot_core::store::Store;
use tokio_util::sync::CancellationToken;

/// A receiver that fails `failures` times, then runs until shutdown.
struct FlakyChannel {
    starts: Mutex<Vec<Instant>>,
    failures: usize,
    sent: Mutex<Vec<String>>,
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
                return Err(ChannelError::transient(format!("boom {attempt}")));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_is_restarted_with_growing_delays() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("state/moltbot.sqlite")).unwrap();
    let channel = Arc::new(FlakyChannel {
        starts: Mutex::new(Vec::new()),
        failures: 3,
        sent: Mutex::new(Vec::new()),
    });
    let mut gateway = Gateway::new(store, Arc::new(EchoAgent), GatewayOptions::default());
    gateway.add_channel(channel.clone());
    let status = gateway.status();
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(gateway.run(shutdown.clone(), |_| {}));

    // Ready only once the receiver finally runs (after 3 failures: 0.5 s + 1 s + 2 s).
    let start = Instant::now();
    while !status.is_ready() && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(status.is_ready());
    let starts = channel.starts.lock().unwrap().clone();
    assert_eq!(starts.len(), 4, "3 failures then a good run");
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, at_least) in gaps.iter().zip([500, 1000, 2000]) {
        assert!(
            *gap >= Duration::from_millis(at_least),
            "restart gaps should grow (capped exponential backoff): {gaps:?}"
        );
    }
    shutdown.cancel();
    run.await.unwrap().unwrap();
}
