//! The gateway's heartbeat in the state store, so another process (`moltbot channels status`)
//! can tell whether a gateway is running without the network and without a pid file.
//!
//! While the gateway runs, [`run`] writes the current time (unix ms, as text) to the kv entry
//! [`NAMESPACE`]/[`KEY`] every [`INTERVAL`], and deletes it on a clean stop. A reader calls
//! [`is_running_blocking`]: a beat younger than [`STALE_AFTER`] means "running". A gateway that
//! crashed (SIGKILL, power loss) leaves a beat that turns stale within [`STALE_AFTER`].
//!
//! Each replica also beats under its own key (namespace [`REPLICAS`], key: its lease owner
//! `<node>/<instance>`, value `<unix ms> <role>` or `<unix ms> <role> <fingerprint>`), so
//! `moltbot channels status` can list the replicas sharing a store, which one leads, and which
//! run with another channel config than the leader's ([`replicas`]; the fingerprint is
//! [`super::replicas::fingerprint`]'s). On a clean stop a replica removes its own beat, and the
//! shared one only when no other replica's beat is fresh.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use crate::store::{Store, StoreError};

use super::status::GatewayStatus;

/// kv namespace of the heartbeat.
pub const NAMESPACE: &str = "gateway";
/// kv key of the heartbeat.
pub const KEY: &str = "heartbeat";
/// kv namespace of the per-replica heartbeats.
pub const REPLICAS: &str = "gateway-replicas";
/// How often the gateway writes its heartbeat.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// A heartbeat older than this is taken as a stopped (or crashed) gateway.
pub const STALE_AFTER: Duration = Duration::from_secs(15);

/// Writes the heartbeat (the shared one and this replica's, `owner`, with its role from
/// `status` and its config `fingerprint`, a word without spaces) every [`INTERVAL`] until
/// `shutdown` is cancelled, then removes it. Store errors are logged and retried on the next
/// beat; they never stop the gateway.
pub async fn run(
    store: Store,
    owner: Arc<str>,
    fingerprint: Option<Arc<str>>,
    status: Arc<GatewayStatus>,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {
                let now = store.now_ms();
                let mine = beat_value(now, status.role().as_str(), fingerprint.as_deref());
                let beat = async {
                    store.kv().set(NAMESPACE, KEY, &now.to_string()).await?;
                    store.kv().set(REPLICAS, &owner, &mine).await
                };
                if let Err(err) = beat.await {
                    tracing::warn!(error = %err, "cannot write the gateway heartbeat");
                }
            }
        }
    }
    let clear = async {
        store.kv().delete(REPLICAS, &owner).await?;
        let others = replicas(&store).await?;
        if !others
            .iter()
            .any(|r| is_fresh(Some(r.beat), store.now_ms()))
        {
            store.kv().delete(NAMESPACE, KEY).await?;
        }
        Ok::<_, StoreError>(())
    };
    if let Err(err) = clear.await {
        tracing::warn!(error = %err, "cannot remove the gateway heartbeat");
    }
}

/// The stored value of a replica's beat: `<unix ms> <role>[ <fingerprint>]`.
pub(crate) fn beat_value(now_ms: i64, role: &str, fingerprint: Option<&str>) -> String {
    match fingerprint {
        Some(fingerprint) => format!("{now_ms} {role} {fingerprint}"),
        None => format!("{now_ms} {role}"),
    }
}

/// One replica's last heartbeat (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaBeat {
    /// Its lease owner, `<node>/<instance>`.
    pub owner: String,
    /// When it last beat (unix ms).
    pub beat: i64,
    /// Its role then: `single`, `leader` or `follower`.
    pub role: String,
    /// The fingerprint of its channel config ([`super::replicas::fingerprint`]), when it
    /// published one (replicas of earlier versions did not).
    pub fingerprint: Option<String>,
}

/// Every replica beat still stored (fresh or not: check with [`is_fresh`]), by owner.
pub async fn replicas(store: &Store) -> Result<Vec<ReplicaBeat>, StoreError> {
    Ok(store
        .kv()
        .list(REPLICAS)
        .await?
        .into_iter()
        .filter_map(|(owner, value)| {
            let mut words = value.split(' ');
            let beat = words.next()?.parse().ok()?;
            let role = words.next()?.to_string();
            let fingerprint = words.next().map(str::to_string);
            Some(ReplicaBeat {
                owner,
                beat,
                role,
                fingerprint,
            })
        })
        .collect())
}

/// The last heartbeat (unix ms), if a gateway ever wrote one and did not stop cleanly since.
pub async fn last_beat(store: &Store) -> Result<Option<i64>, StoreError> {
    Ok(store
        .kv()
        .get(NAMESPACE, KEY)
        .await?
        .and_then(|v| v.trim().parse::<i64>().ok()))
}

/// Whether a heartbeat written at `last_beat` means a live gateway at `now_ms`.
pub fn is_fresh(last_beat: Option<i64>, now_ms: i64) -> bool {
    let stale_ms = i64::try_from(STALE_AFTER.as_millis()).unwrap_or(i64::MAX);
    // A beat slightly in the future (clocks of two processes) still counts as fresh.
    last_beat.is_some_and(|beat| now_ms.saturating_sub(beat) < stale_ms)
}

/// Whether a gateway using `store` is running now (its heartbeat is fresh).
pub async fn is_running(store: &Store) -> Result<bool, StoreError> {
    Ok(is_fresh(last_beat(store).await?, store.now_ms()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::ManualClock;

    #[test]
    fn freshness_window() {
        assert!(!is_fresh(None, 1_000_000));
        assert!(is_fresh(Some(1_000_000), 1_000_000));
        assert!(is_fresh(Some(1_000_000), 1_014_999));
        assert!(!is_fresh(Some(1_000_000), 1_015_000));
        assert!(is_fresh(Some(1_000_500), 1_000_000));
    }

    #[tokio::test(start_paused = true)]
    async fn beats_while_running_and_clears_on_stop() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(50_000);
        let store =
            Store::open_with_clock(dir.path().join("s.sqlite"), Arc::new(clock.clone())).unwrap();
        let shutdown = CancellationToken::new();
        let status = Arc::new(GatewayStatus::default());
        let task = tokio::spawn(run(
            store.clone(),
            "node/a".into(),
            Some("webex=0123abcd".into()),
            status,
            shutdown.clone(),
        ));

        // The first beat is immediate.
        tokio::time::sleep(Duration::from_millis(10)).await;
        wait_for_beat(&store, 50_000).await;
        assert!(is_running(&store).await.unwrap());
        let mine = ReplicaBeat {
            owner: "node/a".into(),
            beat: 50_000,
            role: "single".into(),
            fingerprint: Some("webex=0123abcd".into()),
        };
        assert_eq!(replicas(&store).await.unwrap(), vec![mine]);

        clock.advance(5_000);
        tokio::time::sleep(INTERVAL).await;
        wait_for_beat(&store, 55_000).await;

        shutdown.cancel();
        task.await.unwrap();
        assert_eq!(last_beat(&store).await.unwrap(), None);
        assert!(!is_running(&store).await.unwrap());
        assert_eq!(replicas(&store).await.unwrap(), Vec::new());
    }

    /// Store writes run on the blocking pool, which paused time does not wait for. Waits for
    /// both beats, the shared one and the replica's (written after it).
    async fn wait_for_beat(store: &Store, expected: i64) {
        for _ in 0..200 {
            let replica_beat = replicas(store).await.unwrap().first().map(|r| r.beat);
            if last_beat(store).await.unwrap() == Some(expected) && replica_beat == Some(expected) {
                return;
            }
            tokio::task::yield_now().await;
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("no heartbeat {expected}");
    }
}
