//! [`LedgerRepo`](moltbot_core::store::LedgerRepo) cases: claims, message leases (expiry,
//! takeover, renewal, deferral), the re-drive and recovery queries, the "answered" commit and
//! pruning.

use moltbot_core::agent::{SenderInfo, Turn};
use moltbot_core::store::{
    renew_below_ms, AnswerRecord, Claim, ClaimOutcome, InboundState, OutboxPart, OutboxReply,
    OutboxState, SessionAppend,
};

use super::{Fixture, START_MS};

/// The channel most cases use.
pub const CHANNEL: &str = "chat";
/// The lease most claims take (ms).
pub const LEASE_MS: i64 = 30_000;

/// A claim of message `id` (room `room-1`, own timestamp `created_at`) by `owner`.
pub fn claim_of(id: &str, created_at: i64, owner: &str) -> Claim {
    Claim {
        channel: CHANNEL.into(),
        message_id: id.into(),
        room_id: "room-1".into(),
        created_at,
        owner: owner.into(),
        lease_ms: LEASE_MS,
    }
}

/// Claims `id` on [`CHANNEL`] for `owner`.
pub async fn claim(f: &Fixture, id: &str, created_at: i64, owner: &str) -> ClaimOutcome {
    f.store
        .ledger()
        .claim(&claim_of(id, created_at, owner))
        .await
        .unwrap()
}

/// "The agent answered `id`" with one text operation per entry of `texts`.
pub fn answer(id: &str, session: Option<SessionAppend>, texts: &[&str]) -> AnswerRecord {
    AnswerRecord {
        channel: CHANNEL.into(),
        message_id: id.into(),
        session,
        reply: OutboxReply {
            channel: CHANNEL.into(),
            inbound_message_id: Some(id.into()),
            room_id: "room-1".into(),
            parent_id: Some(id.into()),
            parts: texts.iter().map(|t| OutboxPart::text(*t)).collect(),
        },
        begin_first: true,
    }
}

async fn lease_of(f: &Fixture, id: &str) -> i64 {
    f.store
        .ledger()
        .get(CHANNEL, id)
        .await
        .unwrap()
        .unwrap()
        .lease_until
}

fn ids(entries: &[moltbot_core::store::LedgerEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.message_id.as_str()).collect()
}

pub async fn claim_records_the_message_with_its_lease(f: Fixture) {
    let ledger = f.store.ledger();
    assert_eq!(
        claim(&f, "m1", START_MS - 900, "node-a/1").await,
        ClaimOutcome::Claimed
    );
    let row = ledger.get(CHANNEL, "m1").await.unwrap().unwrap();
    assert_eq!(
        (
            row.channel.as_str(),
            row.message_id.as_str(),
            row.room_id.as_str()
        ),
        (CHANNEL, "m1", "room-1")
    );
    assert_eq!((row.state, row.reason), (InboundState::Received, None));
    assert_eq!(
        (row.created_at, row.received_at, row.updated_at),
        (START_MS - 900, START_MS, START_MS)
    );
    assert_eq!(row.attempts, 1, "the claim counts as the first attempt");
    assert_eq!(row.next_attempt_at, 0);
    assert_eq!(row.owner.as_deref(), Some("node-a/1"));
    assert_eq!(row.lease_until, START_MS + LEASE_MS);
    assert!(!row.deferred);
    assert_eq!(ledger.get(CHANNEL, "nope").await.unwrap(), None);
    assert_eq!(ledger.get("other", "m1").await.unwrap(), None);
}

pub async fn claim_is_idempotent_and_reports_the_current_state(f: Fixture) {
    let ledger = f.store.ledger();
    let at = START_MS - 1_000;
    assert_eq!(claim(&f, "m1", at, "a").await, ClaimOutcome::Claimed);
    assert_eq!(
        claim(&f, "m1", at, "b").await,
        ClaimOutcome::AlreadySeen(InboundState::Received)
    );
    // The same id on another channel is a different message.
    let elsewhere = Claim {
        channel: "other".into(),
        ..claim_of("m1", at, "a")
    };
    assert_eq!(
        ledger.claim(&elsewhere).await.unwrap(),
        ClaimOutcome::Claimed
    );

    assert!(ledger
        .finish(CHANNEL, "m1", InboundState::Replied, None)
        .await
        .unwrap());
    assert_eq!(
        claim(&f, "m1", at, "c").await,
        ClaimOutcome::AlreadySeen(InboundState::Replied)
    );
    // The losing claims changed nothing.
    let row = ledger.get(CHANNEL, "m1").await.unwrap().unwrap();
    assert_eq!((row.owner.as_deref(), row.attempts), (Some("a"), 1));
    assert_eq!(ledger.count(CHANNEL, None).await.unwrap(), 1);
    assert_eq!(ledger.count("other", None).await.unwrap(), 1);
}

pub async fn concurrent_claims_of_one_id_agree(f: Fixture) {
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move {
                let owner = format!("owner-{i}");
                let outcome = store
                    .ledger()
                    .claim(&claim_of("m1", START_MS - 500, &owner))
                    .await
                    .unwrap();
                (owner, outcome)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (owner, outcome) = task.await.unwrap();
        match outcome {
            ClaimOutcome::Claimed => winners.push(owner),
            ClaimOutcome::AlreadySeen(state) => assert_eq!(state, InboundState::Received),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one claim wins: {winners:?}");
    let ledger = f.store.ledger();
    let row = ledger.get(CHANNEL, "m1").await.unwrap().unwrap();
    assert_eq!(row.owner.as_deref(), Some(winners[0].as_str()));
    assert_eq!(row.attempts, 1);

    assert!(ledger
        .finish(CHANNEL, "m1", InboundState::Failed, Some("agent timeout"))
        .await
        .unwrap());
    assert_eq!(
        ledger.state_of(CHANNEL, "m1").await.unwrap(),
        Some(InboundState::Failed)
    );
    let row = ledger.get(CHANNEL, "m1").await.unwrap().unwrap();
    assert_eq!(row.reason.as_deref(), Some("agent timeout"));
    assert!(ledger.pending(CHANNEL, 0).await.unwrap().is_empty());
    assert_eq!(
        ledger
            .count(CHANNEL, Some(InboundState::Failed))
            .await
            .unwrap(),
        1
    );
    assert!(ledger
        .skip_stale(CHANNEL, START_MS, "old")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ledger.last_received_at(CHANNEL).await.unwrap(),
        Some(START_MS)
    );
    assert_eq!(ledger.prune_finished(START_MS + 1, 1000).await.unwrap(), 1);
    assert_eq!(ledger.count(CHANNEL, None).await.unwrap(), 0);
}

pub async fn finish_sets_state_reason_time_and_releases_the_lease(f: Fixture) {
    let ledger = f.store.ledger();
    claim(&f, "m1", START_MS - 900, "a").await;
    f.clock.advance(1_000);
    assert!(ledger
        .defer(CHANNEL, "m1", f.store.now_ms(), "not readable yet")
        .await
        .unwrap());
    f.clock.advance(1_000);
    let taken = ledger
        .take(CHANNEL, "m1", "b", None, LEASE_MS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.attempts, 2);
    f.clock.advance(1_000);
    assert!(ledger
        .finish(
            CHANNEL,
            "m1",
            InboundState::Skipped,
            Some("sender not in allowFrom")
        )
        .await
        .unwrap());

    let row = ledger.get(CHANNEL, "m1").await.unwrap().unwrap();
    assert_eq!(row.state, InboundState::Skipped);
    assert_eq!(row.reason.as_deref(), Some("sender not in allowFrom"));
    assert_eq!(row.attempts, 2);
    assert_eq!(
        (row.created_at, row.received_at, row.updated_at),
        (START_MS - 900, START_MS, START_MS + 3_000)
    );
    assert_eq!(row.lease_until, 0, "a finished message holds no lease");
    assert_eq!(row.room_id, "room-1");

    assert!(!ledger
        .finish(CHANNEL, "unknown", InboundState::Failed, None)
        .await
        .unwrap());
    assert_eq!(ledger.get(CHANNEL, "unknown").await.unwrap(), None);
    assert_eq!(
        ledger.state_of(CHANNEL, "m1").await.unwrap(),
        Some(InboundState::Skipped)
    );
    assert_eq!(ledger.state_of(CHANNEL, "nope").await.unwrap(), None);
}

pub async fn every_state_round_trips(f: Fixture) {
    for state in InboundState::ALL {
        assert_eq!(state.as_str().parse::<InboundState>().unwrap(), *state);
    }
    assert!("bogus".parse::<InboundState>().is_err());
    assert!(InboundState::Received.is_pending());
    assert!(InboundState::Processing.is_pending());
    assert!(!InboundState::Replied.is_pending());
    assert!(!InboundState::Skipped.is_pending());
    assert!(!InboundState::Failed.is_pending());

    // Each state, stored by the operation that leads to it, reads back as itself.
    let ledger = f.store.ledger();
    for state in InboundState::ALL {
        let id = state.as_str();
        claim(&f, id, START_MS, "a").await;
        match state {
            InboundState::Received => {}
            InboundState::Processing => {
                ledger
                    .record_answer(&answer(id, None, &["x"]))
                    .await
                    .unwrap();
            }
            done => {
                ledger.finish(CHANNEL, id, *done, None).await.unwrap();
            }
        }
        assert_eq!(ledger.state_of(CHANNEL, id).await.unwrap(), Some(*state));
        assert_eq!(ledger.count(CHANNEL, Some(*state)).await.unwrap(), 1);
    }
}

pub async fn pending_lists_unfinished_messages_oldest_first(f: Fixture) {
    let ledger = f.store.ledger();
    claim(&f, "late", START_MS - 20_000, "a").await;
    claim(&f, "early", START_MS - 30_000, "a").await;
    claim(&f, "stale", START_MS - 49_000, "a").await;
    claim(&f, "done", START_MS - 25_000, "a").await;
    let elsewhere = Claim {
        channel: "other".into(),
        ..claim_of("elsewhere", START_MS - 24_000, "a")
    };
    ledger.claim(&elsewhere).await.unwrap();
    ledger
        .record_answer(&answer("late", None, &["reply"]))
        .await
        .unwrap();
    ledger
        .finish(CHANNEL, "done", InboundState::Replied, None)
        .await
        .unwrap();

    let cutoff = START_MS - 40_000;
    let pending = ledger.pending(CHANNEL, cutoff).await.unwrap();
    assert_eq!(ids(&pending), ["early", "late"]);
    assert_eq!(pending[1].state, InboundState::Processing);

    assert_eq!(
        ledger.skip_stale(CHANNEL, cutoff, "too old").await.unwrap(),
        ["stale"]
    );
    assert_eq!(
        ledger.state_of(CHANNEL, "stale").await.unwrap(),
        Some(InboundState::Skipped)
    );
    assert_eq!(
        ledger
            .count(CHANNEL, Some(InboundState::Skipped))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        ledger
            .count(CHANNEL, Some(InboundState::Received))
            .await
            .unwrap(),
        1
    );
    assert_eq!(ledger.pending("other", 0).await.unwrap().len(), 1);
}

pub async fn skip_stale_returns_the_ids_and_releases_leases(f: Fixture) {
    let ledger = f.store.ledger();
    let cutoff = START_MS - 10_000;
    claim(&f, "s1", cutoff - 5, "a").await;
    claim(&f, "s2", cutoff, "a").await; // at the cutoff: stale
    claim(&f, "fresh", cutoff + 1, "a").await;
    claim(&f, "answered", cutoff - 7, "a").await;
    ledger
        .record_answer(&answer("answered", None, &["x"]))
        .await
        .unwrap();
    claim(&f, "done", cutoff - 9, "a").await;
    ledger
        .finish(CHANNEL, "done", InboundState::Replied, None)
        .await
        .unwrap();
    let elsewhere = Claim {
        channel: "other".into(),
        ..claim_of("s1", cutoff - 5, "a")
    };
    ledger.claim(&elsewhere).await.unwrap();

    f.clock.advance(1_000);
    let mut skipped = ledger.skip_stale(CHANNEL, cutoff, "too old").await.unwrap();
    skipped.sort();
    assert_eq!(skipped, ["answered", "s1", "s2"]);
    for id in ["answered", "s1", "s2"] {
        let row = ledger.get(CHANNEL, id).await.unwrap().unwrap();
        assert_eq!(row.state, InboundState::Skipped, "{id}");
        assert_eq!(row.reason.as_deref(), Some("too old"), "{id}");
        assert_eq!(row.lease_until, 0, "{id}: lease released");
        assert_eq!(row.updated_at, START_MS + 1_000, "{id}");
    }
    let done = ledger.get(CHANNEL, "done").await.unwrap().unwrap();
    assert_eq!((done.state, done.reason), (InboundState::Replied, None));
    assert_eq!(
        ledger.state_of(CHANNEL, "fresh").await.unwrap(),
        Some(InboundState::Received)
    );
    assert_eq!(
        ledger.state_of("other", "s1").await.unwrap(),
        Some(InboundState::Received)
    );
    assert!(ledger
        .skip_stale(CHANNEL, cutoff, "too old")
        .await
        .unwrap()
        .is_empty());
}

pub async fn last_received_and_prune(f: Fixture) {
    let ledger = f.store.ledger();
    assert_eq!(ledger.last_received_at(CHANNEL).await.unwrap(), None);
    claim(&f, "a", 1, "x").await;
    ledger
        .finish(CHANNEL, "a", InboundState::Replied, None)
        .await
        .unwrap();
    claim(&f, "pending", 2, "x").await;
    f.clock.advance(4_000);
    claim(&f, "b", 3, "x").await;
    assert_eq!(
        ledger.last_received_at(CHANNEL).await.unwrap(),
        Some(START_MS + 4_000)
    );

    // "a" finished at START_MS: kept by a cutoff at that instant, pruned by a later one.
    assert_eq!(ledger.prune_finished(START_MS, 1000).await.unwrap(), 0);
    assert_eq!(ledger.prune_finished(START_MS + 1, 1000).await.unwrap(), 1);
    assert_eq!(ledger.state_of(CHANNEL, "a").await.unwrap(), None);
    assert_eq!(
        ledger.state_of(CHANNEL, "b").await.unwrap(),
        Some(InboundState::Received)
    );

    // Pending messages are never pruned, however old.
    ledger
        .finish(CHANNEL, "b", InboundState::Failed, Some("e"))
        .await
        .unwrap();
    f.clock.advance(1_000);
    assert_eq!(
        ledger.prune_finished(f.store.now_ms(), 1000).await.unwrap(),
        1,
        "only the failed one"
    );
    assert_eq!(
        ledger.state_of(CHANNEL, "pending").await.unwrap(),
        Some(InboundState::Received)
    );
    assert_eq!(ledger.count(CHANNEL, None).await.unwrap(), 1);
}

pub async fn lease_expiry_and_takeover(f: Fixture) {
    let ledger = f.store.ledger();
    claim(&f, "m1", START_MS, "node-a/1").await;

    // B cannot take it while A's lease holds.
    assert_eq!(
        ledger
            .take(CHANNEL, "m1", "node-b/1", None, LEASE_MS)
            .await
            .unwrap(),
        None
    );
    f.clock.advance(LEASE_MS - 1);
    assert_eq!(
        ledger
            .take(CHANNEL, "m1", "node-b/1", None, LEASE_MS)
            .await
            .unwrap(),
        None,
        "not before lease_until"
    );
    let row = ledger.get(CHANNEL, "m1").await.unwrap().unwrap();
    assert_eq!(
        (row.owner.as_deref(), row.attempts),
        (Some("node-a/1"), 1),
        "failed takes change nothing"
    );

    // Past lease_until (A died), B takes it.
    f.clock.advance(2);
    let now = f.store.now_ms();
    let taken = ledger
        .take(CHANNEL, "m1", "node-b/1", None, LEASE_MS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.owner.as_deref(), Some("node-b/1"));
    assert_eq!(taken.attempts, 2);
    assert_eq!(taken.lease_until, now + LEASE_MS);
    assert_eq!(taken.state, InboundState::Received);
    assert_eq!(taken.updated_at, now);
    assert_eq!(
        ledger.get(CHANNEL, "m1").await.unwrap(),
        Some(taken.clone())
    );

    // A (back from a pause) renews nothing: the message is B's now.
    assert_eq!(ledger.renew_owned("node-a/1", LEASE_MS).await.unwrap(), 0);
    assert_eq!(
        ledger
            .get(CHANNEL, "m1")
            .await
            .unwrap()
            .unwrap()
            .lease_until,
        taken.lease_until
    );
    // Nor can A (or anyone) take it back while B's lease holds.
    assert_eq!(
        ledger
            .take(CHANNEL, "m1", "node-a/1", None, LEASE_MS)
            .await
            .unwrap(),
        None
    );

    // B's renewals keep it.
    f.clock.advance(10_000);
    assert_eq!(ledger.renew_owned("node-b/1", LEASE_MS).await.unwrap(), 1);
    let row = ledger.get(CHANNEL, "m1").await.unwrap().unwrap();
    assert_eq!(row.lease_until, f.store.now_ms() + LEASE_MS);
    assert_eq!(row.attempts, 2, "renewal is not an attempt");
}

pub async fn same_node_prefix_takes_at_once(f: Fixture) {
    let ledger = f.store.ledger();
    claim(&f, "m1", START_MS, "node-1/run-a").await;
    let taken = ledger
        .take(CHANNEL, "m1", "node-1/run-b", Some("node-1/"), LEASE_MS)
        .await
        .unwrap()
        .expect("a previous run of the same node cannot be alive");
    assert_eq!(taken.owner.as_deref(), Some("node-1/run-b"));
    assert_eq!(taken.attempts, 2);

    // The prefix is literal and whole: no other node's lease is taken.
    claim(&f, "m2", START_MS, "node-10/run-a").await;
    claim(&f, "m3", START_MS, "nodeX1/run-a").await;
    claim(&f, "m4", START_MS, "node-2/run-a").await;
    for (id, prefix) in [
        ("m2", "node-1/"),
        ("m3", "node_1/"),
        ("m3", "node%/"),
        ("m4", "node-1/"),
    ] {
        assert_eq!(
            ledger
                .take(CHANNEL, id, "node-1/run-b", Some(prefix), LEASE_MS)
                .await
                .unwrap(),
            None,
            "{id} with prefix {prefix}"
        );
    }
    // A finished message is not taken, whoever held it.
    ledger
        .finish(CHANNEL, "m1", InboundState::Replied, None)
        .await
        .unwrap();
    assert_eq!(
        ledger
            .take(CHANNEL, "m1", "node-1/run-c", Some("node-1/"), LEASE_MS)
            .await
            .unwrap(),
        None
    );
    // After expiry, m4 is anyone's.
    f.clock.advance(LEASE_MS + 1);
    let m4 = ledger
        .take(CHANNEL, "m4", "node-1/run-b", None, LEASE_MS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m4.owner.as_deref(), Some("node-1/run-b"));
}

pub async fn take_only_pending_known_messages(f: Fixture) {
    let ledger = f.store.ledger();
    assert_eq!(
        ledger
            .take(CHANNEL, "unknown", "b", None, LEASE_MS)
            .await
            .unwrap(),
        None
    );
    for (id, state) in [
        ("replied", InboundState::Replied),
        ("skipped", InboundState::Skipped),
        ("failed", InboundState::Failed),
    ] {
        claim(&f, id, START_MS, "a").await;
        ledger.finish(CHANNEL, id, state, None).await.unwrap();
    }
    f.clock.advance(LEASE_MS + 1);
    for id in ["replied", "skipped", "failed"] {
        assert_eq!(
            ledger.take(CHANNEL, id, "b", None, LEASE_MS).await.unwrap(),
            None,
            "{id}"
        );
        assert_eq!(ledger.get(CHANNEL, id).await.unwrap().unwrap().attempts, 1);
    }
    // A message being answered (processing) whose owner died is taken again.
    claim(&f, "answering", START_MS, "a").await;
    ledger
        .record_answer(&answer("answering", None, &["x"]))
        .await
        .unwrap();
    f.clock.advance(LEASE_MS + 1);
    let taken = ledger
        .take(CHANNEL, "answering", "b", None, LEASE_MS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.state, InboundState::Processing);
}

pub async fn renew_owned_extends_only_live_leases_of_the_owner(f: Fixture) {
    let ledger = f.store.ledger();
    claim(&f, "m1", START_MS, "a").await;
    claim(&f, "m2", START_MS, "a").await;
    claim(&f, "other-owner", START_MS, "b").await;
    claim(&f, "finished", START_MS, "a").await;
    ledger
        .finish(CHANNEL, "finished", InboundState::Replied, None)
        .await
        .unwrap();
    claim(&f, "deferred", START_MS, "a").await;
    ledger
        .defer(CHANNEL, "deferred", START_MS + 60_000, "later")
        .await
        .unwrap();
    let short = Claim {
        lease_ms: 1_000,
        ..claim_of("expired", START_MS, "a")
    };
    ledger.claim(&short).await.unwrap();

    f.clock.advance(10_000);
    let now = f.store.now_ms();
    assert_eq!(ledger.renew_owned("a", LEASE_MS).await.unwrap(), 2);
    for id in ["m1", "m2"] {
        let row = ledger.get(CHANNEL, id).await.unwrap().unwrap();
        assert_eq!(row.lease_until, now + LEASE_MS, "{id}");
    }
    assert_eq!(lease_of(&f, "other-owner").await, START_MS + LEASE_MS);
    assert_eq!(lease_of(&f, "finished").await, 0);
    assert_eq!(
        lease_of(&f, "deferred").await,
        0,
        "a released lease stays released"
    );
    assert_eq!(
        lease_of(&f, "expired").await,
        START_MS + 1_000,
        "an expired lease is not revived: someone may be taking it"
    );
    assert_eq!(ledger.renew_owned("nobody", LEASE_MS).await.unwrap(), 0);
}

pub async fn renew_owned_leaves_recent_leases_alone(f: Fixture) {
    let ledger = f.store.ledger();
    claim(&f, "fresh", START_MS, "a").await;
    let taken_until = lease_of(&f, "fresh").await;
    f.clock.advance(LEASE_MS - renew_below_ms(LEASE_MS) - 1);
    assert_eq!(
        ledger.renew_owned("a", LEASE_MS).await.unwrap(),
        0,
        "a lease taken less than a third of its length ago costs no write"
    );
    assert_eq!(lease_of(&f, "fresh").await, taken_until);
    f.clock.advance(1);
    assert_eq!(ledger.renew_owned("a", LEASE_MS).await.unwrap(), 1);
    assert_eq!(lease_of(&f, "fresh").await, f.store.now_ms() + LEASE_MS);
}

pub async fn defer_releases_the_lease_until_next_attempt(f: Fixture) {
    let ledger = f.store.ledger();
    claim(&f, "m1", START_MS - 100, "node-a/1").await;
    f.clock.advance(1_000);
    let next = f.store.now_ms() + 10_000;
    assert!(ledger
        .defer(CHANNEL, "m1", next, "not readable yet")
        .await
        .unwrap());
    let row = ledger.get(CHANNEL, "m1").await.unwrap().unwrap();
    assert_eq!(row.state, InboundState::Received);
    assert_eq!(row.reason.as_deref(), Some("not readable yet"));
    assert_eq!(row.next_attempt_at, next);
    assert_eq!(row.lease_until, 0, "released");
    assert!(row.deferred);
    assert_eq!(row.owner.as_deref(), Some("node-a/1"), "the last holder");
    assert_eq!(row.updated_at, START_MS + 1_000);
    assert_eq!(row.attempts, 1);

    // Due only at next_attempt_at.
    assert!(ledger.due(CHANNEL, 10).await.unwrap().is_empty());
    assert_eq!(ledger.next_due_at(CHANNEL).await.unwrap(), Some(next));
    f.clock.advance(9_999);
    assert!(ledger.due(CHANNEL, 10).await.unwrap().is_empty());
    f.clock.advance(1);
    let due = ledger.due(CHANNEL, 10).await.unwrap();
    assert_eq!(ids(&due), ["m1"]);
    assert_eq!(due[0], ledger.get(CHANNEL, "m1").await.unwrap().unwrap());

    // Taken again: held, still marked deferred, no longer due.
    let taken = ledger
        .take(CHANNEL, "m1", "node-b/1", None, LEASE_MS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.attempts, 2);
    assert!(taken.deferred);
    assert_eq!(taken.lease_until, f.store.now_ms() + LEASE_MS);
    assert!(ledger.due(CHANNEL, 10).await.unwrap().is_empty());
    if let Some(at) = ledger.next_due_at(CHANNEL).await.unwrap() {
        assert!(at >= taken.lease_until, "not due while held: {at}");
    }
    assert_eq!(ledger.renew_owned("node-a/1", LEASE_MS).await.unwrap(), 0);

    // Only pending messages are deferred.
    ledger
        .finish(CHANNEL, "m1", InboundState::Replied, None)
        .await
        .unwrap();
    assert!(!ledger.defer(CHANNEL, "m1", next, "again").await.unwrap());
    assert!(!ledger.defer(CHANNEL, "unknown", next, "x").await.unwrap());
    let row = ledger.get(CHANNEL, "m1").await.unwrap().unwrap();
    assert_eq!((row.state, row.reason), (InboundState::Replied, None));
    assert_eq!(ledger.next_due_at(CHANNEL).await.unwrap(), None);
}

pub async fn due_is_oldest_first_limited_and_unheld(f: Fixture) {
    let ledger = f.store.ledger();
    // Deferred and due at once, claimed out of order.
    for (id, created) in [("c", -3_000), ("a", -5_000), ("b", -4_000)] {
        claim(&f, id, START_MS + created, "a").await;
        ledger.defer(CHANNEL, id, START_MS, "retry").await.unwrap();
    }
    // Claimed by a process that dies: due when its lease expires.
    claim(&f, "orphan", START_MS - 2_000, "dead").await;
    // Held for a long time.
    let long = Claim {
        lease_ms: 10 * LEASE_MS,
        ..claim_of("held", START_MS - 6_000, "alive")
    };
    ledger.claim(&long).await.unwrap();
    // Deferred far into the future.
    claim(&f, "later", START_MS - 7_000, "a").await;
    ledger
        .defer(CHANNEL, "later", START_MS + 100 * LEASE_MS, "retry")
        .await
        .unwrap();
    // Finished.
    claim(&f, "done", START_MS - 8_000, "a").await;
    ledger
        .defer(CHANNEL, "done", START_MS, "retry")
        .await
        .unwrap();
    ledger
        .finish(CHANNEL, "done", InboundState::Skipped, Some("gave up"))
        .await
        .unwrap();
    // Another channel.
    let elsewhere = Claim {
        channel: "other".into(),
        ..claim_of("x", START_MS - 9_000, "a")
    };
    ledger.claim(&elsewhere).await.unwrap();
    ledger.defer("other", "x", START_MS, "retry").await.unwrap();

    assert_eq!(
        ids(&ledger.due(CHANNEL, 100).await.unwrap()),
        ["a", "b", "c"]
    );
    f.clock.advance(LEASE_MS + 1);
    assert_eq!(
        ids(&ledger.due(CHANNEL, 100).await.unwrap()),
        ["a", "b", "c", "orphan"]
    );
    assert_eq!(ids(&ledger.due(CHANNEL, 2).await.unwrap()), ["a", "b"]);
    assert!(ledger.due(CHANNEL, 0).await.unwrap().is_empty());
    assert_eq!(ids(&ledger.due("other", 100).await.unwrap()), ["x"]);

    // Taking one removes it from the due list.
    ledger
        .take(CHANNEL, "a", "b", None, LEASE_MS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ids(&ledger.due(CHANNEL, 100).await.unwrap()),
        ["b", "c", "orphan"]
    );
}

pub async fn next_due_at_is_the_earliest_waiting_message(f: Fixture) {
    let ledger = f.store.ledger();
    assert_eq!(ledger.next_due_at(CHANNEL).await.unwrap(), None);
    for id in ["m1", "m2", "m3"] {
        claim(&f, id, START_MS, "a").await;
    }
    assert_eq!(
        ledger.next_due_at(CHANNEL).await.unwrap(),
        None,
        "claimed messages are held, not waiting"
    );
    ledger
        .defer(CHANNEL, "m1", START_MS + 20_000, "retry")
        .await
        .unwrap();
    ledger
        .defer(CHANNEL, "m2", START_MS + 5_000, "retry")
        .await
        .unwrap();
    let elsewhere = Claim {
        channel: "other".into(),
        ..claim_of("x", START_MS, "a")
    };
    ledger.claim(&elsewhere).await.unwrap();
    ledger
        .defer("other", "x", START_MS + 1_000, "retry")
        .await
        .unwrap();
    assert_eq!(
        ledger.next_due_at(CHANNEL).await.unwrap(),
        Some(START_MS + 5_000)
    );
    assert_eq!(
        ledger.next_due_at("other").await.unwrap(),
        Some(START_MS + 1_000)
    );
    ledger
        .finish(CHANNEL, "m2", InboundState::Replied, None)
        .await
        .unwrap();
    assert_eq!(
        ledger.next_due_at(CHANNEL).await.unwrap(),
        Some(START_MS + 20_000)
    );
    ledger
        .finish(CHANNEL, "m1", InboundState::Failed, Some("e"))
        .await
        .unwrap();
    assert_eq!(ledger.next_due_at(CHANNEL).await.unwrap(), None);
}

/// Ann, with every detail a channel may know.
pub fn ann() -> SenderInfo {
    SenderInfo {
        id: "person-ann".into(),
        email: Some("ann@example.com".into()),
        display_name: Some("Ann Example".into()),
    }
}

pub async fn record_answer_writes_turns_and_ops_in_one_unit(f: Fixture) {
    let ledger = f.store.ledger();
    claim(&f, "m1", START_MS - 100, "a").await;
    f.clock.advance(1_000);
    let now = f.store.now_ms();
    let session = SessionAppend {
        session: "chat:dm:person-ann".into(),
        turns: vec![Turn::user_by("hello", ann()), Turn::assistant("hi Ann")],
        keep_turns: 50,
    };
    let ops = ledger
        .record_answer(&answer(
            "m1",
            Some(session.clone()),
            &["part one", "part two"],
        ))
        .await
        .unwrap();

    assert_eq!(ops.len(), 2);
    let bodies: Vec<&str> = ops.iter().map(|o| o.body.as_str()).collect();
    assert_eq!(bodies, ["part one", "part two"]);
    for (i, op) in ops.iter().enumerate() {
        assert_eq!(op.part_index, u32::try_from(i).unwrap());
        assert_eq!(op.state, OutboxState::Pending);
        assert_eq!(op.channel, CHANNEL);
        assert_eq!(op.inbound_message_id.as_deref(), Some("m1"));
        assert_eq!(op.room_id, "room-1");
        assert_eq!(op.parent_id.as_deref(), Some("m1"));
        assert_eq!((op.created_at, op.updated_at), (now, now));
        assert_eq!(op.remote_message_id, None);
    }
    assert_eq!(
        (ops[0].attempts, ops[1].attempts),
        (1, 0),
        "the first operation's attempt starts in the same commit"
    );
    assert_ne!(ops[0].id, ops[1].id);

    // What was returned is what is stored.
    assert_eq!(
        f.store.outbox().for_inbound(CHANNEL, "m1").await.unwrap(),
        ops
    );
    assert_eq!(f.store.outbox().pending(CHANNEL).await.unwrap(), ops);
    let row = ledger.get(CHANNEL, "m1").await.unwrap().unwrap();
    assert_eq!(row.state, InboundState::Processing);
    assert_eq!(row.updated_at, now);
    assert_eq!(row.owner.as_deref(), Some("a"), "still leased to its owner");
    assert!(row.lease_until > now);
    // The author (id, name, email) round-trips through the history.
    assert_eq!(
        f.store
            .sessions()
            .history("chat:dm:person-ann", 10)
            .await
            .unwrap(),
        session.turns
    );
}

pub async fn record_answer_is_idempotent(f: Fixture) {
    let ledger = f.store.ledger();
    claim(&f, "m1", START_MS, "a").await;
    let turns = vec![Turn::user_by("hello", ann()), Turn::assistant("hi")];
    let first = ledger
        .record_answer(&answer(
            "m1",
            Some(SessionAppend {
                session: "s".into(),
                turns: turns.clone(),
                keep_turns: 50,
            }),
            &["one", "two", "three"],
        ))
        .await
        .unwrap();
    f.clock.advance(1_000);

    // Recovery runs the agent again and gets another answer.
    let again = ledger
        .record_answer(&answer(
            "m1",
            Some(SessionAppend {
                session: "s".into(),
                turns: vec![Turn::user_by("hello", ann()), Turn::assistant("bonjour")],
                keep_turns: 50,
            }),
            &["ONE"],
        ))
        .await
        .unwrap();
    assert_eq!(again, first, "the operations already stored, unchanged");
    assert_eq!(
        f.store.sessions().history("s", 10).await.unwrap(),
        turns,
        "no turns appended the second time"
    );
    assert_eq!(
        f.store.outbox().for_inbound(CHANNEL, "m1").await.unwrap(),
        first
    );
    assert_eq!(
        ledger.get(CHANNEL, "m1").await.unwrap().unwrap().updated_at,
        START_MS,
        "nothing written"
    );
}

pub async fn record_answer_without_session_or_first_attempt(f: Fixture) {
    let ledger = f.store.ledger();
    claim(&f, "m1", START_MS, "a").await;
    // The session already has three turns and keeps three.
    f.store
        .sessions()
        .append(&SessionAppend {
            session: "s".into(),
            turns: vec![Turn::user("q0"), Turn::assistant("a0"), Turn::user("q1")],
            keep_turns: 3,
        })
        .await
        .unwrap();
    let mut record = answer("m1", None, &["one", "two"]);
    record.begin_first = false;
    let ops = ledger.record_answer(&record).await.unwrap();
    assert_eq!(
        ops.iter().map(|o| o.attempts).collect::<Vec<_>>(),
        [0, 0],
        "nothing begun"
    );
    assert_eq!(f.store.sessions().history("s", 10).await.unwrap().len(), 3);
    assert_eq!(
        ledger.state_of(CHANNEL, "m1").await.unwrap(),
        Some(InboundState::Processing)
    );

    // With a session, the same commit trims it to keep_turns.
    claim(&f, "m2", START_MS, "a").await;
    ledger
        .record_answer(&answer(
            "m2",
            Some(SessionAppend {
                session: "s".into(),
                turns: vec![Turn::user("q2"), Turn::assistant("a2")],
                keep_turns: 3,
            }),
            &["x"],
        ))
        .await
        .unwrap();
    assert_eq!(
        f.store.sessions().history("s", 10).await.unwrap(),
        [Turn::user("q1"), Turn::user("q2"), Turn::assistant("a2")]
    );
}

pub async fn only_a_received_message_takes_an_answer(f: Fixture) {
    let ledger = f.store.ledger();
    let append = || {
        Some(SessionAppend {
            session: "s".into(),
            turns: vec![Turn::user("q"), Turn::assistant("")],
            keep_turns: 50,
        })
    };
    // An empty answer (no operations) recorded twice appends its turns once.
    claim(&f, "m1", START_MS, "a").await;
    assert!(ledger
        .record_answer(&answer("m1", append(), &[]))
        .await
        .unwrap()
        .is_empty());
    assert!(ledger
        .record_answer(&answer("m1", append(), &[]))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(f.store.sessions().history("s", 10).await.unwrap().len(), 2);
    assert_eq!(
        ledger.state_of(CHANNEL, "m1").await.unwrap(),
        Some(InboundState::Processing)
    );

    // Unknown or finished messages take none.
    assert!(ledger
        .record_answer(&answer("never-claimed", append(), &["x"]))
        .await
        .unwrap()
        .is_empty());
    claim(&f, "m2", START_MS, "a").await;
    ledger
        .finish(CHANNEL, "m2", InboundState::Skipped, Some("policy"))
        .await
        .unwrap();
    assert!(ledger
        .record_answer(&answer("m2", append(), &["x"]))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(f.store.sessions().history("s", 10).await.unwrap().len(), 2);
    assert!(f.store.outbox().pending(CHANNEL).await.unwrap().is_empty());
    assert_eq!(
        ledger.state_of(CHANNEL, "m2").await.unwrap(),
        Some(InboundState::Skipped)
    );
}

pub async fn prune_goes_in_batches_of_the_limit(f: Fixture) {
    let ledger = f.store.ledger();
    for i in 0..5 {
        let id = format!("m{i}");
        claim(&f, &id, START_MS, "a").await;
        ledger
            .finish(CHANNEL, &id, InboundState::Replied, None)
            .await
            .unwrap();
    }
    f.clock.advance(1_000);
    let later = f.store.now_ms();
    assert_eq!(ledger.prune_finished(later, 2).await.unwrap(), 2);
    assert_eq!(ledger.prune_finished(later, 2).await.unwrap(), 2);
    assert_eq!(ledger.prune_finished(later, 2).await.unwrap(), 1);
    assert_eq!(ledger.prune_finished(later, 2).await.unwrap(), 0);
    assert_eq!(ledger.count(CHANNEL, None).await.unwrap(), 0);
}

/// A claim of `id` in `room` by `owner`.
fn claim_in(room: &str, id: &str, created_at: i64, owner: &str) -> Claim {
    Claim {
        room_id: room.into(),
        ..claim_of(id, created_at, owner)
    }
}

pub async fn first_ahead_is_the_oldest_pending_message_of_the_room(f: Fixture) {
    let ledger = f.store.ledger();
    let ahead = |id: &'static str| {
        let ledger = f.store.ledger();
        async move {
            ledger
                .first_ahead(CHANNEL, id)
                .await
                .unwrap()
                .map(|e| e.message_id)
        }
    };
    // Room r: m1 (replica a), m2 (b), m3 (c), in their own time order; claimed out of order.
    for (id, created, owner) in [("m3", 3_000, "c"), ("m1", 1_000, "a"), ("m2", 2_000, "b")] {
        ledger
            .claim(&claim_in("r", id, START_MS + created, owner))
            .await
            .unwrap();
    }
    // Another room, older: never ahead of room r's messages.
    ledger
        .claim(&claim_in("other", "o1", START_MS, "a"))
        .await
        .unwrap();
    // Another channel, same room and older.
    let elsewhere = Claim {
        channel: "other".into(),
        ..claim_in("r", "x1", START_MS, "a")
    };
    ledger.claim(&elsewhere).await.unwrap();

    assert_eq!(ahead("m3").await.as_deref(), Some("m1"));
    assert_eq!(ahead("m2").await.as_deref(), Some("m1"));
    assert_eq!(ahead("m1").await, None);
    assert_eq!(ahead("o1").await, None);
    assert_eq!(ahead("unknown").await, None);
    let row = ledger.first_ahead(CHANNEL, "m3").await.unwrap().unwrap();
    assert_eq!(
        (row.room_id.as_str(), row.owner.as_deref(), row.lease_until),
        ("r", Some("a"), START_MS + LEASE_MS)
    );

    // Finished messages no longer hold the room.
    ledger
        .finish(CHANNEL, "m1", InboundState::Replied, None)
        .await
        .unwrap();
    assert_eq!(ahead("m3").await.as_deref(), Some("m2"));
    // Nor does one set aside as unreadable, even once it is taken again.
    ledger
        .defer(CHANNEL, "m2", START_MS, "not readable yet")
        .await
        .unwrap();
    assert_eq!(ahead("m3").await, None);
    ledger
        .take(CHANNEL, "m2", "b", None, LEASE_MS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ahead("m3").await, None);

    // Same timestamp: the earlier arrival goes first, then the smaller id.
    ledger
        .claim(&claim_in("t", "t-b", START_MS, "a"))
        .await
        .unwrap();
    f.clock.advance(10);
    ledger
        .claim(&claim_in("t", "t-a", START_MS, "b"))
        .await
        .unwrap();
    ledger
        .claim(&claim_in("t", "t-c", START_MS, "b"))
        .await
        .unwrap();
    assert_eq!(ahead("t-a").await.as_deref(), Some("t-b"));
    assert_eq!(ahead("t-c").await.as_deref(), Some("t-b"));
    assert_eq!(ahead("t-b").await, None);
    // An expired lease is still ahead (the caller takes it over).
    f.clock.advance(LEASE_MS * 2);
    let row = ledger.first_ahead(CHANNEL, "t-a").await.unwrap().unwrap();
    assert!(row.lease_until <= f.store.now_ms());
}
