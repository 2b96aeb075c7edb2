//! The singleton runner: work that only one of several processes sharing a store may do at a
//! time (a poller, webhook registration, timers), run while this process holds a named lease
//! of the store ([`LeaseRepo`](crate::store::LeaseRepo), with fencing tokens).
//!
//! [`Singleton::run`] tries to take the lease every third of its time to live; once it holds
//! it, it starts the work and renews the lease every third of its time to live. The work is
//! cancelled (its [`Held::lost`] token fires) when:
//! - a renewal finds the lease held by someone else (it expired and was taken over);
//! - the store cannot be reached long enough that the lease might have run out: the work stops
//!   one renewal interval *before* the lease's end, so two holders never overlap by this
//!   process's clock;
//! - the runner is shut down (then the lease is released, so another process takes over at
//!   once rather than after the time to live).
//!
//! After losing the lease the runner tries again, and starts the work afresh if it wins. Each
//! tenure comes with its fencing token ([`Held::token`]), larger than any earlier holder's.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// The lease whose holder leads the replicas sharing a store: it runs the channels' receivers
/// (see [`GatewayOptions::leader_lease`](super::GatewayOptions)).
pub const LEADER_LEASE: &str = "gateway-leader";

/// One tenure of the lease, given to the work.
#[derive(Debug, Clone)]
pub struct Held {
    /// The fencing token of this tenure (larger than every earlier holder's).
    pub token: i64,
    /// Cancelled when the lease is lost or the runner stops: the work must return soon after.
    pub lost: CancellationToken,
}

/// Whether this process may stand for the lease now (asked before each attempt to take it,
/// never while it is held): see [`Singleton::with_candidacy`].
pub type Candidacy =
    std::sync::Arc<dyn Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync>;

/// Runs work under a named lease of the store (see the module documentation).
#[derive(Clone)]
pub struct Singleton {
    store: Store,
    name: String,
    owner: String,
    ttl: Duration,
    candidacy: Option<Candidacy>,
}

impl std::fmt::Debug for Singleton {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Singleton")
            .field("name", &self.name)
            .field("owner", &self.owner)
            .field("ttl", &self.ttl)
            .field("candidacy", &self.candidacy.is_some())
            .finish_non_exhaustive()
    }
}

/// What the runner saw at one attempt to take or renew the lease.
enum Attempt {
    /// This process holds it (until the given store time, unix ms).
    Held { token: i64, until: i64 },
    /// Someone else holds it.
    Taken,
    /// The store failed.
    Failed,
}

impl Singleton {
    /// A runner of lease `name` held as `owner` (unique per process, e.g. `<node id>/<run id>`)
    /// for `ttl` at a time (at least 3 ms; a few seconds in practice).
    pub fn new(
        store: Store,
        name: impl Into<String>,
        owner: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Self {
            store,
            name: name.into(),
            owner: owner.into(),
            ttl: ttl.max(Duration::from_millis(3)),
            candidacy: None,
        }
    }

    /// Asks `may_stand` before every attempt to take the lease (not to renew it): when it
    /// says no, this process does not try, as if another held it.
    #[must_use]
    pub fn with_candidacy(mut self, may_stand: Candidacy) -> Self {
        self.candidacy = Some(may_stand);
        self
    }

    /// How often the lease is tried or renewed: a third of its time to live.
    fn every(&self) -> Duration {
        self.ttl / 3
    }

    async fn attempt(&self) -> Attempt {
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        match self
            .store
            .leases()
            .acquire(&self.name, &self.owner, ttl_ms)
            .await
        {
            Ok(Some(lease)) => Attempt::Held {
                token: lease.token,
                until: lease.until,
            },
            Ok(None) => Attempt::Taken,
            Err(err) => {
                tracing::warn!(lease = %self.name, error = %err, "cannot take or renew the lease");
                Attempt::Failed
            }
        }
    }

    /// Runs `work` whenever this process holds the lease, until `shutdown` is cancelled; then
    /// waits for the work to return and releases the lease.
    pub async fn run<F, Fut>(self, shutdown: CancellationToken, work: F)
    where
        F: FnMut(Held) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.run_reporting(shutdown, work, None).await;
    }

    /// [`Singleton::run`], telling `first` whether the first attempt took the lease (the work
    /// is then already started).
    pub async fn run_reporting<F, Fut>(
        self,
        shutdown: CancellationToken,
        mut work: F,
        mut first: Option<tokio::sync::oneshot::Sender<bool>>,
    ) where
        F: FnMut(Held) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let every = self.every();
        let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
        // The work running now, with its tenure, and when the lease was last known to end.
        let mut running: Option<(Held, tokio::task::JoinHandle<()>, i64)> = None;
        loop {
            let standing = match (&running, &self.candidacy) {
                (None, Some(may_stand)) => may_stand().await,
                _ => true,
            };
            let attempt = if standing {
                self.attempt().await
            } else {
                Attempt::Taken
            };
            let now = self.store.now_ms();
            running = match (running, attempt) {
                (None, Attempt::Held { token, until }) => {
                    tracing::info!(lease = %self.name, token, "lease taken: starting its work");
                    let held = Held {
                        token,
                        lost: shutdown.child_token(),
                    };
                    let task = tokio::spawn(work(held.clone()));
                    Some((held, task, until))
                }
                (Some((held, task, _)), Attempt::Held { token, until }) if token == held.token => {
                    Some((held, task, until))
                }
                (Some((held, task, until)), Attempt::Failed)
                    if now.saturating_add(every_ms) < until =>
                {
                    Some((held, task, until))
                }
                (Some((held, task, _)), _) => {
                    tracing::warn!(lease = %self.name, token = held.token, "lease lost: stopping its work");
                    held.lost.cancel();
                    let _ = task.await;
                    None
                }
                (None, _) => None,
            };
            if let Some(first) = first.take() {
                let _ = first.send(running.is_some());
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
        }
        if let Some((held, task, _)) = running {
            held.lost.cancel();
            let _ = task.await;
            match self.store.leases().release(&self.name, &self.owner).await {
                Ok(_) => tracing::info!(lease = %self.name, "lease released"),
                Err(err) => {
                    tracing::warn!(lease = %self.name, error = %err, "cannot release the lease")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    const TTL: Duration = Duration::from_millis(300);

    /// Counts tenures started and how many run at once (never more than one).
    #[derive(Default)]
    struct Tally {
        started: AtomicUsize,
        running: AtomicUsize,
        overlapped: AtomicUsize,
    }

    fn counting(tally: Arc<Tally>) -> impl FnMut(Held) -> futures::future::BoxFuture<'static, ()> {
        move |held: Held| {
            let tally = Arc::clone(&tally);
            Box::pin(async move {
                tally.started.fetch_add(1, Ordering::SeqCst);
                if tally.running.fetch_add(1, Ordering::SeqCst) > 0 {
                    tally.overlapped.fetch_add(1, Ordering::SeqCst);
                }
                held.lost.cancelled().await;
                tally.running.fetch_sub(1, Ordering::SeqCst);
            })
        }
    }

    async fn until(what: &str, check: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_of_two_runs_the_work_and_the_other_takes_over_when_it_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let tally = Arc::new(Tally::default());
        let (stop_a, stop_b) = (CancellationToken::new(), CancellationToken::new());
        let a = Singleton::new(Store::open(&path).unwrap(), "poller", "a", TTL);
        let b = Singleton::new(Store::open(&path).unwrap(), "poller", "b", TTL);
        let run_a = tokio::spawn(a.run(stop_a.clone(), counting(Arc::clone(&tally))));
        until("a holder", || tally.started.load(Ordering::SeqCst) == 1).await;
        let run_b = tokio::spawn(b.run(stop_b.clone(), counting(Arc::clone(&tally))));
        // Several renewal intervals: the holder keeps it, the other never starts.
        tokio::time::sleep(TTL * 2).await;
        assert_eq!(tally.started.load(Ordering::SeqCst), 1);

        let store = Store::open(&path).unwrap();
        let first = store.leases().holder("poller").await.unwrap().unwrap();
        let (stop_first, run_first, stop_second, run_second) = if first.owner == "a" {
            (stop_a, run_a, stop_b, run_b)
        } else {
            (stop_b, run_b, stop_a, run_a)
        };
        stop_first.cancel();
        run_first.await.unwrap();
        // Released on stop: the other takes over within one try interval, with a larger token.
        until("the takeover", || tally.started.load(Ordering::SeqCst) == 2).await;
        let second = store.leases().holder("poller").await.unwrap().unwrap();
        assert_ne!(second.owner, first.owner);
        assert!(second.token > first.token);
        stop_second.cancel();
        run_second.await.unwrap();
        assert_eq!(tally.running.load(Ordering::SeqCst), 0);
        assert_eq!(tally.overlapped.load(Ordering::SeqCst), 0);
        assert_eq!(store.leases().holder("poller").await.unwrap(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_stops_when_the_lease_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.sqlite")).unwrap();
        let tally = Arc::new(Tally::default());
        let stop = CancellationToken::new();
        let runner = Singleton::new(store.clone(), "timer", "a", TTL);
        let run = tokio::spawn(runner.run(stop.clone(), counting(Arc::clone(&tally))));
        until("the work", || tally.running.load(Ordering::SeqCst) == 1).await;

        // As if the lease had expired while this process stalled: another holder takes it.
        store.leases().release("timer", "a").await.unwrap();
        let other = store
            .leases()
            .acquire("timer", "b", 60_000)
            .await
            .unwrap()
            .unwrap();
        until("the work to stop", || {
            tally.running.load(Ordering::SeqCst) == 0
        })
        .await;
        assert_eq!(store.leases().holder("timer").await.unwrap(), Some(other));
        stop.cancel();
        run.await.unwrap();
        assert_eq!(
            tally.started.load(Ordering::SeqCst),
            1,
            "b holds it: no second tenure"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_stops_before_the_lease_ends_when_the_store_fails() {
        let Some(schema) = crate::store::scratch::ScratchSchema::from_env("singleton") else {
            return;
        };
        let store = Store::connect(&schema.location().unwrap()).await.unwrap();
        let tally = Arc::new(Tally::default());
        let stop = CancellationToken::new();
        let runner = Singleton::new(store.clone(), "poller", "a", Duration::from_secs(3));
        let run = tokio::spawn(runner.run(stop.clone(), counting(Arc::clone(&tally))));
        until("the work", || tally.running.load(Ordering::SeqCst) == 1).await;

        // Renewals fail from now on (the table is renamed away, so its last lease stays
        // readable). The work must stop before that last renewal's lease ends (the runner stops
        // one renewal interval early), so no other process can hold it while this one still
        // works. Checked against the lease's own end, not against a fixed time.
        let (client, connection) = tokio_postgres::connect(schema.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .batch_execute("ALTER TABLE leases RENAME TO leases_gone")
            .await
            .unwrap();
        until("the work to stop", || {
            tally.running.load(Ordering::SeqCst) == 0
        })
        .await;
        let stopped_by = store.now_ms();
        let row = client
            .query_one(
                "SELECT lease_until FROM leases_gone WHERE name = 'poller'",
                &[],
            )
            .await
            .unwrap();
        let lease_end: i64 = row.get(0);
        assert!(
            stopped_by < lease_end,
            "the work stopped at {stopped_by}, after its lease ended at {lease_end}"
        );
        stop.cancel();
        run.await.unwrap();
        drop(client);
    }
}
