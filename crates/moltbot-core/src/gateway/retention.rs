//! The retention job: deletes what the store no longer needs, off the message path.
//!
//! Once an hour (and once shortly after start), ledger rows of finished messages and outbox
//! operations no longer pending that were last updated more than `store.retentionDays` ago are
//! deleted, with resolved pairing requests of the same age. Pending work is never deleted. A
//! finished message that is pruned can no longer be recognised as a duplicate, so the retention
//! must stay longer than any redelivery or catch-up window (`catchUp.maxAgeMinutes` can be up
//! to a week while the minimum retention is a day: the docs say to keep retention longer).
//! Rows go in batches of [`BATCH`] with a pause between, so a large backlog (the first pass
//! after an upgrade) never holds up the message path.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How often the job runs.
const EVERY: Duration = Duration::from_secs(3600);

/// The first run's delay after start (start-up stays quick).
const FIRST_AFTER: Duration = Duration::from_secs(60);

/// Rows deleted per unit of work: small enough that a message's commit never waits long behind
/// one (a backlog after an upgrade can hold hundreds of thousands).
const BATCH: usize = 500;

/// The pause between two batches, so the message path's writes go in between.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

/// Calls `prune` until it deletes less than a batch; returns the total.
async fn prune_in_batches<F>(
    mut prune: impl FnMut() -> F,
) -> Result<usize, crate::store::StoreError>
where
    F: std::future::Future<Output = Result<usize, crate::store::StoreError>>,
{
    let mut total = 0;
    loop {
        let deleted = prune().await?;
        total += deleted;
        if deleted < BATCH {
            return Ok(total);
        }
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
}

/// Runs the retention job until `shutdown`.
pub(crate) async fn run(store: Store, retention: Duration, shutdown: CancellationToken) {
    let mut wait = FIRST_AFTER;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
        wait = EVERY;
        prune(&store, retention).await;
    }
}

/// One pass: deletes finished rows older than `retention`; logs what it removed.
pub(crate) async fn prune(store: &Store, retention: Duration) {
    let cutoff = store
        .now_ms()
        .saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
    let ledger = prune_in_batches(|| store.ledger().prune_finished(cutoff, BATCH)).await;
    let outbox = prune_in_batches(|| store.outbox().prune_finished(cutoff, BATCH)).await;
    let pairing = store.pairing().prune_resolved(cutoff).await;
    match (ledger, outbox, pairing) {
        (Ok(messages), Ok(operations), Ok(requests)) => {
            if messages + operations + requests > 0 {
                tracing::info!(
                    messages,
                    operations,
                    pairing_requests = requests,
                    "retention: deleted finished records"
                );
            }
        }
        (ledger, outbox, pairing) => {
            for err in [ledger.err(), outbox.err(), pairing.err()]
                .into_iter()
                .flatten()
            {
                tracing::warn!(error = %err, "retention pass failed; retried in an hour");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use super::*;
    use crate::store::{Claim, ClaimOutcome, InboundState, ManualClock};

    const DAY_MS: i64 = 86_400_000;

    fn claim(id: &str) -> Claim {
        Claim {
            channel: "chat".into(),
            message_id: id.into(),
            room_id: "room".into(),
            created_at: 0,
            owner: "node/run".into(),
            lease_ms: 15_000,
        }
    }

    #[tokio::test]
    async fn prunes_finished_records_older_than_the_retention_and_keeps_pending_work() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(100 * DAY_MS);
        let store =
            Store::open_with_clock(dir.path().join("s.sqlite"), Arc::new(clock.clone())).unwrap();
        let ledger = store.ledger();
        for id in ["old-answered", "old-pending", "new-answered"] {
            assert_eq!(
                ledger.claim(&claim(id)).await.unwrap(),
                ClaimOutcome::Claimed
            );
        }
        ledger
            .finish("chat", "old-answered", InboundState::Replied, None)
            .await
            .unwrap();
        clock.advance(31 * DAY_MS);
        ledger
            .finish("chat", "new-answered", InboundState::Replied, None)
            .await
            .unwrap();

        prune(&store, Duration::from_secs(30 * 86_400)).await;

        assert_eq!(ledger.get("chat", "old-answered").await.unwrap(), None);
        assert!(ledger.get("chat", "new-answered").await.unwrap().is_some());
        let pending = ledger.get("chat", "old-pending").await.unwrap().unwrap();
        assert_eq!(
            pending.state,
            InboundState::Received,
            "pending work is never pruned"
        );
    }
}
