//! Gateways sharing one store with a leader election (`GatewayOptions::leader_lease`): only the
//! leader runs the channel's receivers; both are ready; when the leader stops, the other takes
//! over. (On SQLite here, so it runs everywhere; the binary's test on PostgreSQL is
//! `crates/moltbot-cli/tests/e2e_replicas.rs`.)

#![allow(clippy::unwrap_used)]

mod supervise_support;
mod wait_support;

use std::sync::Arc;
use std::time::Duration;

use moltbot_core::agent::EchoAgent;
use moltbot_core::gateway::{
    replicas, Gateway, GatewayOptions, GatewayStatus, Metrics, ReplicaRole,
};
use moltbot_core::store::Store;
use supervise_support::FlakyChannel;
use tokio_util::sync::CancellationToken;

const LEASE: Duration = Duration::from_millis(300);

/// One replica: its channel (whose receiver starts are counted), status, metrics and stop.
struct Replica {
    channel: Arc<FlakyChannel>,
    status: Arc<GatewayStatus>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    run: tokio::task::JoinHandle<Result<(), moltbot_core::gateway::GatewayError>>,
}

impl Replica {
    fn start(store: Store) -> Self {
        let options = GatewayOptions {
            leader_lease: Some(LEASE),
            ..GatewayOptions::default()
        };
        let mut gateway = Gateway::new(store, Arc::new(EchoAgent), options);
        let channel = FlakyChannel::new(0, |_| unreachable!("never fails"));
        gateway.add_channel(Arc::clone(&channel) as _);
        let (status, metrics) = (gateway.status(), gateway.metrics());
        let stop = CancellationToken::new();
        let run = tokio::spawn(gateway.run(stop.clone(), |_| {}));
        Self {
            channel,
            status,
            metrics,
            stop,
            run,
        }
    }

    fn receiver_starts(&self) -> usize {
        self.channel.starts.lock().unwrap().len()
    }

    fn leader_gauge(&self) -> bool {
        self.metrics
            .render()
            .unwrap()
            .contains("\nmoltbot_replica_leader 1\n")
    }
}

/// Waits until `check` holds ([`wait_support::until`] with a synchronous probe).
async fn until(what: &str, check: impl Fn() -> bool) {
    wait_support::until(what, wait_support::TIMEOUT, || std::future::ready(check())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_runs_receivers_and_the_other_takes_over_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/moltbot.sqlite");
    let a = Replica::start(Store::open(&path).unwrap());
    let b = Replica::start(Store::open(&path).unwrap());

    // Both are ready (a follower serves webhooks); exactly one runs the receiver.
    until("both ready", || a.status.is_ready() && b.status.is_ready()).await;
    until("a leader", || {
        a.receiver_starts() + b.receiver_starts() == 1
    })
    .await;
    // Several renewals later, still one: the follower never started its receiver.
    tokio::time::sleep(LEASE * 3).await;
    assert_eq!(a.receiver_starts() + b.receiver_starts(), 1);
    let (leader, follower) = if a.receiver_starts() == 1 {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(leader.status.role(), ReplicaRole::Leader);
    assert_eq!(follower.status.role(), ReplicaRole::Follower);
    assert!(leader.leader_gauge());
    assert!(!follower.leader_gauge());

    // The leader stops cleanly (releasing the lease): the follower takes over.
    leader.stop.cancel();
    leader.run.await.unwrap().unwrap();
    until("the takeover", || follower.receiver_starts() == 1).await;
    until("the role", || follower.status.role() == ReplicaRole::Leader).await;
    assert!(follower.leader_gauge());
    follower.stop.cancel();
    follower.run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_budget_and_pauses_and_only_the_leader_registers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/moltbot.sqlite");
    let store = Store::open(&path).unwrap();
    let a = Replica::start(Store::open(&path).unwrap());
    until("a leads", || a.receiver_starts() == 1).await;
    let b = Replica::start(Store::open(&path).unwrap());
    until("b ready", || b.status.is_ready()).await;

    // Both count two live replicas (once b's first beat is stored) and take half the budget.
    until("a half each", || {
        *a.channel.share.lock().unwrap() == Some(2) && *b.channel.share.lock().unwrap() == Some(2)
    })
    .await;
    // Only the leader registered; the follower follows (its routes deliver to its sink at
    // once), the leader's own receivers open its routes.
    assert_eq!(*a.channel.registrations.lock().unwrap(), 1);
    assert_eq!(*b.channel.registrations.lock().unwrap(), 0);
    assert_eq!(*a.channel.follows.lock().unwrap(), 0);
    assert_eq!(*b.channel.follows.lock().unwrap(), 1);

    // A pause one of them was told of reaches both, once each.
    let until_ms = store.now_ms() + 60_000;
    replicas::publish_pause(&store, "test", until_ms)
        .await
        .unwrap();
    until("both paused", || {
        a.channel.pauses.lock().unwrap().len() == 1 && b.channel.pauses.lock().unwrap().len() == 1
    })
    .await;
    tokio::time::sleep(replicas::SYNC_EVERY * 3).await;
    for replica in [&a, &b] {
        let pauses = replica.channel.pauses.lock().unwrap().clone();
        assert_eq!(pauses.len(), 1, "applied once: {pauses:?}");
        assert!(
            pauses[0] > Duration::from_secs(50) && pauses[0] <= Duration::from_secs(60),
            "{pauses:?}"
        );
    }

    // The follower stops: the leader has the whole budget again once its beat is gone.
    b.stop.cancel();
    b.run.await.unwrap().unwrap();
    until("the whole budget", || {
        *a.channel.share.lock().unwrap() == Some(1)
    })
    .await;
    a.stop.cancel();
    a.run.await.unwrap().unwrap();
}
