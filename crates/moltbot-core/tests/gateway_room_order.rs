//! Room order across replicas (`GatewayOptions::leader_lease`, see `gateway/room_order.rs`): a
//! message a follower receives waits for an older message of its room that another replica
//! holds, and once that replica's lease on it expires (it died) the follower takes the older
//! message over and answers it first. On SQLite here (the check runs wherever there is an
//! election), so it runs everywhere; the binary's tests on PostgreSQL are
//! `crates/moltbot-cli/tests/e2e_replica_chaos.rs`.

#![allow(clippy::unwrap_used)]

mod wait_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use moltbot_core::access::{AccessPolicy, DmPolicy, GroupPolicy};
use moltbot_core::agent::EchoAgent;
use moltbot_core::gateway::{
    BoxFuture, Channel, ChannelContext, ChannelError, ConversationKind, Fetched, Gateway,
    GatewayOptions, InboundMessage, InboundSink, OutgoingMessage, SenderInfo,
};
use moltbot_core::store::{Claim, InboundState, Store};
use tokio_util::sync::CancellationToken;

const ROOM: &str = "room-alice";

/// The lease of the replica that died holding the older message.
const DEAD_LEASE: Duration = Duration::from_millis(1500);

/// A channel whose messages are in a map; it keeps the sink it is given (as a follower, or its
/// receivers' as the leader, as the Webex channel's webhook route does) and records what it
/// sends, in order.
struct Room {
    messages: HashMap<String, InboundMessage>,
    sink: OnceLock<InboundSink>,
    sent: Mutex<Vec<String>>,
}

impl Channel for Room {
    fn id(&self) -> &str {
        "test"
    }

    fn connect(&self, _: Option<std::net::SocketAddr>) -> BoxFuture<'_, Result<(), ChannelError>> {
        Box::pin(async { Ok(()) })
    }

    fn follow(&self, sink: &InboundSink) {
        let _ = self.sink.set(sink.clone());
    }

    fn run(self: Arc<Self>, ctx: ChannelContext) -> BoxFuture<'static, Result<(), ChannelError>> {
        Box::pin(async move {
            let _ = self.sink.set(ctx.sink.clone());
            ctx.ready.mark_ready();
            ctx.shutdown.cancelled().await;
            Ok(())
        })
    }

    fn refetch<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Fetched, ChannelError>> {
        Box::pin(async move {
            Ok(match self.messages.get(id) {
                Some(message) => Fetched::ready(message.clone()),
                None => Fetched::skip("gone"),
            })
        })
    }

    fn access_policy(&self) -> AccessPolicy {
        AccessPolicy::new::<&str>("test", DmPolicy::Open, &["*"], GroupPolicy::Open, &[])
    }

    fn catch_up_max_age(&self) -> Duration {
        Duration::from_secs(900)
    }

    fn send<'a>(&'a self, m: &'a OutgoingMessage) -> BoxFuture<'a, Result<String, ChannelError>> {
        Box::pin(async move {
            let mut sent = self.sent.lock().unwrap();
            sent.push(m.markdown.clone());
            Ok(format!("reply-{}", sent.len()))
        })
    }
}

fn dm(id: &str, text: &str, created_at_ms: i64) -> InboundMessage {
    let sender = SenderInfo {
        id: "alice".into(),
        email: Some("alice@example.com".into()),
        display_name: Some("Alice".into()),
    };
    let mut message = InboundMessage::new("test", id, ROOM, ConversationKind::Direct, sender, text);
    message.created_at_ms = created_at_ms;
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_waits_for_an_older_one_of_its_room_and_takes_it_over_when_its_owner_dies() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("state/moltbot.sqlite")).unwrap();
    let now = store.now_ms();
    let (older, newer) = (
        dm("m1", "first", now - 2_000),
        dm("m2", "second", now - 1_000),
    );
    // Another replica claimed the older message and died before answering it.
    let dead = Claim {
        channel: "test".into(),
        message_id: older.id.clone(),
        room_id: ROOM.into(),
        created_at: older.created_at_ms,
        owner: "dead-node/1".into(),
        lease_ms: i64::try_from(DEAD_LEASE.as_millis()).unwrap(),
    };
    store.ledger().claim(&dead).await.unwrap();

    let channel = Arc::new(Room {
        messages: [older.clone(), newer.clone()]
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect(),
        sink: OnceLock::new(),
        sent: Mutex::new(Vec::new()),
    });
    let options = GatewayOptions {
        leader_lease: Some(Duration::from_millis(300)),
        lease: Duration::from_secs(3),
        typing_delay: None,
        ..GatewayOptions::default()
    };
    let mut gateway = Gateway::new(store.clone(), Arc::new(EchoAgent), options);
    gateway.add_channel(Arc::clone(&channel) as _);
    let status = gateway.status();
    let stop = CancellationToken::new();
    let run = tokio::spawn(gateway.run(stop.clone(), |_| {}));
    wait_support::until("ready", wait_support::TIMEOUT, || {
        std::future::ready(status.is_ready())
    })
    .await;

    // The newer message reaches this replica (a webhook delivery through its sink).
    let sink = channel
        .sink
        .get()
        .expect("the channel has its sink")
        .clone();
    sink.claim(&newer.id, ROOM, newer.created_at_ms)
        .await
        .unwrap();
    sink.deliver_unfetched(&newer.id, ROOM).await.unwrap();

    wait_support::until("both answered", wait_support::TIMEOUT, || {
        std::future::ready(channel.sent.lock().unwrap().len() >= 2)
    })
    .await;
    // The older one first, though it was received later here: it was taken over.
    assert_eq!(*channel.sent.lock().unwrap(), ["first", "second"]);
    let ledger = store.ledger();
    let taken = ledger.get("test", &older.id).await.unwrap().unwrap();
    assert_eq!(taken.state, InboundState::Replied);
    assert_eq!(
        taken.attempts, 2,
        "claimed by the dead replica, then taken over"
    );
    assert_eq!(
        ledger.state_of("test", &newer.id).await.unwrap(),
        Some(InboundState::Replied)
    );
    stop.cancel();
    run.await.unwrap().unwrap();
    // Answered once each.
    assert_eq!(channel.sent.lock().unwrap().len(), 2);
}
