//! What replicas sharing a store coordinate besides the leader lease (`docs/operations.md`,
//! "Replicas"):
//!
//! - **The request budget.** A network's rate limit is per bot identity, not per process, so
//!   every replica gives its channels a share of the budget: [`Channel::share_budget`] with the
//!   number of live replicas (fresh heartbeats, [`super::heartbeat`]), re-read every
//!   [`SYNC_EVERY`]. A pause the network ordered (a 429's `Retry-After`) is published by the
//!   channel that got it ([`publish_pause`], kv [`PAUSE_NAMESPACE`] / `<channel>`, unix ms) and
//!   applied by every other replica within one [`SYNC_EVERY`] ([`Channel::pause_requests`]).
//! - **The config fingerprint.** Each replica publishes [`fingerprint`] of its channels'
//!   configs with its heartbeat. The leader logs a warning once per live replica whose
//!   fingerprint differs from its own; `moltbot channels status` lists them.
//! - **Who may lead.** The leader records its fingerprint ([`LEADER_FINGERPRINT`]) when it takes
//!   the lead. A replica with another fingerprint does not stand for the lead ([`may_lead`])
//!   while a live replica other than the last leader has the recorded one, so the lead (and
//!   with it the webhook's target) stays with the configuration that had it. When no such
//!   replica is left, any replica stands, and the winner's fingerprint becomes the recorded one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreError};

use super::channel::Channel;
use super::heartbeat::{self, ReplicaBeat};
use super::singleton::LEADER_LEASE;
use super::status::{GatewayStatus, ReplicaRole};

/// How often a replica re-reads the live replicas and the published pauses.
pub const SYNC_EVERY: Duration = Duration::from_millis(500);

/// kv namespace of the published pauses: key `<channel id>`, value the pause's end (unix ms).
pub const PAUSE_NAMESPACE: &str = "ratelimit-pause";

/// kv key (namespace [`heartbeat::NAMESPACE`]) of the last leader's fingerprint, value
/// `<fingerprint> <owner>`.
pub const LEADER_FINGERPRINT: &str = "leader-fingerprint";

/// The fingerprint of a replica's channel configs: `<channel>=<fingerprint>` per channel that
/// has one ([`Channel::config_fingerprint`]), joined by `,` (one word, no spaces); `None` when
/// no channel has one.
pub fn fingerprint(channels: &[Arc<dyn Channel>]) -> Option<String> {
    let parts: Vec<String> = channels
        .iter()
        .filter_map(|c| {
            let fp = c.config_fingerprint()?;
            Some(format!("{}={}", c.id(), fp.replace([' ', ','], "_")))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// Publishes that the network paused `channel`'s requests until `until_ms` (unix ms, store
/// time), unless a later end is already published. Replicas apply it within [`SYNC_EVERY`].
///
/// # Errors
/// The store's.
pub async fn publish_pause(store: &Store, channel: &str, until_ms: i64) -> Result<(), StoreError> {
    let current = store
        .kv()
        .get(PAUSE_NAMESPACE, channel)
        .await?
        .and_then(|v| v.trim().parse::<i64>().ok());
    if current.is_some_and(|current| current >= until_ms) {
        return Ok(());
    }
    store
        .kv()
        .set(PAUSE_NAMESPACE, channel, &until_ms.to_string())
        .await
}

/// The live replicas (fresh beats) sharing `store`.
async fn live(store: &Store) -> Result<Vec<ReplicaBeat>, StoreError> {
    let now = store.now_ms();
    Ok(heartbeat::replicas(store)
        .await?
        .into_iter()
        .filter(|r| heartbeat::is_fresh(Some(r.beat), now))
        .collect())
}

/// The recorded fingerprint of the last leader and that leader's owner.
async fn leader_fingerprint(store: &Store) -> Result<Option<(String, String)>, StoreError> {
    Ok(store
        .kv()
        .get(heartbeat::NAMESPACE, LEADER_FINGERPRINT)
        .await?
        .and_then(|v| {
            let (fp, owner) = v.split_once(' ')?;
            Some((fp.to_string(), owner.to_string()))
        }))
}

/// Records `fingerprint` as the leader's (called by a replica that just took the lead).
pub(crate) async fn record_leader(
    store: &Store,
    owner: &str,
    fingerprint: Option<&str>,
) -> Result<(), StoreError> {
    match fingerprint {
        Some(fp) => {
            store
                .kv()
                .set(
                    heartbeat::NAMESPACE,
                    LEADER_FINGERPRINT,
                    &format!("{fp} {owner}"),
                )
                .await
        }
        None => {
            store
                .kv()
                .delete(heartbeat::NAMESPACE, LEADER_FINGERPRINT)
                .await?;
            Ok(())
        }
    }
}

/// Whether the replica `owner` with `mine` may stand for the lead (see the module
/// documentation). `Err` when the store cannot tell (the caller then tries: the lease decides).
pub async fn may_lead(store: &Store, owner: &str, mine: Option<&str>) -> Result<bool, StoreError> {
    let Some((recorded, last_leader)) = leader_fingerprint(store).await? else {
        return Ok(true);
    };
    if mine == Some(recorded.as_str()) {
        return Ok(true);
    }
    // A live holder of the lease wins every attempt anyway; when it died (or stopped), its
    // beat may still look fresh: it does not count.
    let holder = store.leases().holder(LEADER_LEASE).await?;
    let gone = holder.as_ref().map(|l| l.owner.as_str()) != Some(last_leader.as_str());
    let matching = live(store).await?.into_iter().any(|r| {
        r.owner != owner
            && r.fingerprint.as_deref() == Some(recorded.as_str())
            && !(gone && r.owner == last_leader)
    });
    Ok(!matching)
}

/// Keeps this replica's share of the budget and the published pauses applied to its channels,
/// and (while it leads) warns once about each replica with another config.
pub(crate) struct Coordinator {
    pub(crate) store: Store,
    pub(crate) owner: Arc<str>,
    pub(crate) fingerprint: Option<Arc<str>>,
    pub(crate) channels: Vec<Arc<dyn Channel>>,
    pub(crate) status: Arc<GatewayStatus>,
    pub(crate) metrics: Arc<super::metrics::Metrics>,
    /// Replicas already warned about, with the fingerprint they were warned for.
    warned: HashMap<String, Option<String>>,
    /// The pause end (unix ms) last applied, per channel.
    applied: HashMap<String, i64>,
    /// Whether reading the store failed at the last tick (logged once per failure stretch).
    failing: bool,
}

impl Coordinator {
    pub(crate) fn new(
        store: Store,
        owner: Arc<str>,
        fingerprint: Option<Arc<str>>,
        channels: Vec<Arc<dyn Channel>>,
        status: Arc<GatewayStatus>,
        metrics: Arc<super::metrics::Metrics>,
    ) -> Self {
        Self {
            store,
            owner,
            fingerprint,
            channels,
            status,
            metrics,
            warned: HashMap::new(),
            applied: HashMap::new(),
            failing: false,
        }
    }

    /// One pass; store errors are logged (once per stretch) and the last share stays.
    pub(crate) async fn tick(&mut self) {
        match self.try_tick().await {
            Ok(()) => self.failing = false,
            Err(err) => {
                if !self.failing {
                    tracing::warn!(error = %err, "cannot read the replicas' budget and pauses from the state store; keeping the last share");
                }
                self.failing = true;
            }
        }
    }

    async fn try_tick(&mut self) -> Result<(), StoreError> {
        let live = live(&self.store).await?;
        // This replica counts even before its first beat is stored.
        let others = live.iter().filter(|r| *r.owner != *self.owner).count();
        let share = u32::try_from(others).unwrap_or(u32::MAX).saturating_add(1);
        let now = self.store.now_ms();
        for channel in &self.channels {
            channel.share_budget(share);
            let until = self
                .store
                .kv()
                .get(PAUSE_NAMESPACE, channel.id())
                .await?
                .and_then(|v| v.trim().parse::<i64>().ok());
            if let Some(until) = until.filter(|until| *until > now) {
                if self.applied.get(channel.id()) != Some(&until) {
                    self.applied.insert(channel.id().to_string(), until);
                    let wait = Duration::from_millis(u64::try_from(until - now).unwrap_or(0));
                    tracing::info!(
                        channel = channel.id(),
                        wait_ms = wait.as_millis() as u64,
                        "a replica was rate limited: pausing this replica's requests too"
                    );
                    channel.pause_requests(wait);
                }
            }
        }
        let differing = if self.status.role() == ReplicaRole::Leader {
            self.warn_about_differing(&live)
        } else {
            0
        };
        self.metrics.set_replicas(share, differing);
        Ok(())
    }

    /// The leader's warning, once per replica (and again if its fingerprint changes). Returns
    /// how many live replicas differ.
    fn warn_about_differing(&mut self, live: &[ReplicaBeat]) -> u32 {
        let mut differing = 0;
        let live_owners: HashSet<&str> = live.iter().map(|r| r.owner.as_str()).collect();
        self.warned
            .retain(|owner, _| live_owners.contains(owner.as_str()));
        for replica in live {
            if *replica.owner == *self.owner
                || replica.fingerprint.as_deref() == self.fingerprint.as_deref()
            {
                continue;
            }
            differing += 1;
            if self.warned.get(&replica.owner) == Some(&replica.fingerprint) {
                continue;
            }
            tracing::warn!(
                replica = %replica.owner,
                fingerprint = replica.fingerprint.as_deref().unwrap_or("-"),
                leader_fingerprint = self.fingerprint.as_deref().unwrap_or("-"),
                "a replica runs with another channel config than the leader's (say, another webhook.url): it never takes the lead while a replica with the leader's config lives; give every replica the same config"
            );
            self.warned
                .insert(replica.owner.clone(), replica.fingerprint.clone());
        }
        differing
    }

    /// Ticks every [`SYNC_EVERY`] until `shutdown`.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(SYNC_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => self.tick().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn beat(store: &Store, owner: &str, role: &str, fp: &str) {
        let value = heartbeat::beat_value(store.now_ms(), role, Some(fp));
        store
            .kv()
            .set(heartbeat::REPLICAS, owner, &value)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_replica_with_another_config_stands_only_when_no_matching_one_lives() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.sqlite")).unwrap();
        // Nothing recorded: everyone stands.
        assert!(may_lead(&store, "n/odd", Some("webex=b")).await.unwrap());

        // `n/a` leads with fingerprint `a`; `n/b` has the same config, `n/odd` another.
        let lease = store
            .leases()
            .acquire(LEADER_LEASE, "n/a", 60_000)
            .await
            .unwrap();
        assert!(lease.is_some());
        record_leader(&store, "n/a", Some("webex=a")).await.unwrap();
        beat(&store, "n/a", "leader", "webex=a").await;
        beat(&store, "n/b", "follower", "webex=a").await;
        beat(&store, "n/odd", "follower", "webex=b").await;
        assert!(may_lead(&store, "n/b", Some("webex=a")).await.unwrap());
        assert!(!may_lead(&store, "n/odd", Some("webex=b")).await.unwrap());

        // The leader dies (its lease is gone, its beat still fresh): `n/b` matches, so the odd
        // one still does not stand.
        store.leases().release(LEADER_LEASE, "n/a").await.unwrap();
        assert!(!may_lead(&store, "n/odd", Some("webex=b")).await.unwrap());
        // ... and once `n/b` is gone too, it does (the last leader's stale-looking beat does
        // not count).
        store.kv().delete(heartbeat::REPLICAS, "n/b").await.unwrap();
        assert!(may_lead(&store, "n/odd", Some("webex=b")).await.unwrap());
    }

    #[tokio::test]
    async fn a_pause_is_published_unless_a_later_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.sqlite")).unwrap();
        publish_pause(&store, "webex", 2_000).await.unwrap();
        publish_pause(&store, "webex", 1_000).await.unwrap();
        assert_eq!(
            store.kv().get(PAUSE_NAMESPACE, "webex").await.unwrap(),
            Some("2000".to_string())
        );
        publish_pause(&store, "webex", 3_000).await.unwrap();
        assert_eq!(
            store.kv().get(PAUSE_NAMESPACE, "webex").await.unwrap(),
            Some("3000".to_string())
        );
    }
}
