//! [`LeaseRepo`](moltbot_core::store::LeaseRepo) cases: named leases with fencing tokens.

use moltbot_core::store::Lease;

use super::{Fixture, START_MS};

const TTL: i64 = 10_000;

pub async fn acquire_and_renew_keep_the_token(f: Fixture) {
    let leases = f.store.leases();
    assert_eq!(leases.holder("poller").await.unwrap(), None);
    let first = leases.acquire("poller", "a", TTL).await.unwrap().unwrap();
    assert_eq!(
        first,
        Lease {
            name: "poller".into(),
            owner: "a".into(),
            token: first.token,
            until: START_MS + TTL,
        }
    );
    assert_eq!(leases.holder("poller").await.unwrap(), Some(first.clone()));

    // Renewing while it holds keeps the token and moves the expiry.
    f.clock.advance(TTL - 1);
    let renewed = leases.acquire("poller", "a", TTL).await.unwrap().unwrap();
    assert_eq!(renewed.token, first.token);
    assert_eq!(renewed.until, START_MS + 2 * TTL - 1);
    assert_eq!(
        leases.holder("poller").await.unwrap(),
        Some(renewed.clone())
    );

    // Someone else cannot take it meanwhile, and trying changes nothing.
    assert_eq!(leases.acquire("poller", "b", TTL).await.unwrap(), None);
    f.clock.advance(TTL - 1);
    assert_eq!(leases.acquire("poller", "b", TTL).await.unwrap(), None);
    assert_eq!(leases.holder("poller").await.unwrap(), Some(renewed));

    // Leases are independent by name.
    let other = leases.acquire("webhook", "b", TTL).await.unwrap().unwrap();
    assert_eq!(other.owner, "b");
}

pub async fn takeover_after_expiry_gets_a_larger_token(f: Fixture) {
    let leases = f.store.leases();
    let a = leases.acquire("poller", "a", TTL).await.unwrap().unwrap();
    f.clock.advance(TTL + 1);
    assert_eq!(
        leases.holder("poller").await.unwrap(),
        None,
        "an expired lease has no holder"
    );
    let b = leases.acquire("poller", "b", TTL).await.unwrap().unwrap();
    assert_eq!(b.owner, "b");
    assert!(b.token > a.token, "{} > {}", b.token, a.token);
    assert_eq!(b.until, f.store.now_ms() + TTL);
    assert_eq!(leases.holder("poller").await.unwrap(), Some(b.clone()));
    // The old holder is refused, and cannot release the new holder's lease.
    assert_eq!(leases.acquire("poller", "a", TTL).await.unwrap(), None);
    assert!(!leases.release("poller", "a").await.unwrap());
    assert_eq!(leases.holder("poller").await.unwrap(), Some(b.clone()));

    // Even the same owner coming back after expiry starts a new tenure.
    f.clock.advance(TTL + 1);
    let b2 = leases.acquire("poller", "b", TTL).await.unwrap().unwrap();
    assert!(b2.token > b.token);
}

pub async fn release_frees_the_lease_for_the_next_holder(f: Fixture) {
    let leases = f.store.leases();
    let a = leases.acquire("timer", "a", TTL).await.unwrap().unwrap();
    assert!(!leases.release("timer", "b").await.unwrap(), "not b's");
    assert!(!leases.release("unknown", "a").await.unwrap());
    assert_eq!(leases.holder("timer").await.unwrap(), Some(a.clone()));
    assert!(leases.release("timer", "a").await.unwrap());
    assert_eq!(leases.holder("timer").await.unwrap(), None);

    // At once (no expiry to wait for), with a larger token.
    let b = leases.acquire("timer", "b", TTL).await.unwrap().unwrap();
    assert!(b.token > a.token);
    assert_eq!(leases.holder("timer").await.unwrap(), Some(b.clone()));
    // A released holder re-acquiring later gets a larger token still.
    assert!(leases.release("timer", "b").await.unwrap());
    let a2 = leases.acquire("timer", "a", TTL).await.unwrap().unwrap();
    assert!(a2.token > b.token);
}

pub async fn concurrent_acquires_agree(f: Fixture) {
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move {
                store
                    .leases()
                    .acquire("singleton", &format!("owner-{i}"), TTL)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut held = Vec::new();
    for task in tasks {
        if let Some(lease) = task.await.unwrap() {
            held.push(lease);
        }
    }
    assert_eq!(held.len(), 1, "exactly one holder: {held:?}");
    assert_eq!(
        f.store.leases().holder("singleton").await.unwrap(),
        held.pop()
    );
}
