//! Inbound dedupe and processing state.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::Arc;

use moltbot_core::store::{InboundState, ManualClock, RecordOutcome, Store};

fn store_at(clock: &ManualClock) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open_with_clock(dir.path().join("s.sqlite"), Arc::new(clock.clone())).unwrap();
    (dir, store)
}

#[test]
fn record_is_idempotent_and_reports_the_current_state() {
    let clock = ManualClock::new(10_000);
    let (_dir, store) = store_at(&clock);
    let inbound = store.inbound();

    assert_eq!(
        inbound.record_blocking("chat", "m1", "r1", 9_000).unwrap(),
        RecordOutcome::Inserted
    );
    assert_eq!(
        inbound.record_blocking("chat", "m1", "r1", 9_000).unwrap(),
        RecordOutcome::AlreadySeen(InboundState::Received)
    );
    // The same id on another channel is a different message.
    assert_eq!(
        inbound.record_blocking("other", "m1", "r1", 9_000).unwrap(),
        RecordOutcome::Inserted
    );

    assert!(inbound
        .mark_blocking("chat", "m1", InboundState::Replied, None)
        .unwrap());
    assert_eq!(
        inbound.record_blocking("chat", "m1", "r1", 9_000).unwrap(),
        RecordOutcome::AlreadySeen(InboundState::Replied)
    );
    assert_eq!(inbound.count_blocking("chat", None).unwrap(), 1);
    assert_eq!(inbound.count_blocking("other", None).unwrap(), 1);
}

#[test]
fn mark_updates_state_reason_time_and_attempts() {
    let clock = ManualClock::new(1_000);
    let (_dir, store) = store_at(&clock);
    let inbound = store.inbound();
    inbound.record_blocking("chat", "m1", "r1", 900).unwrap();

    clock.set(2_000);
    inbound
        .mark_blocking("chat", "m1", InboundState::Processing, None)
        .unwrap();
    clock.set(3_000);
    inbound
        .mark_blocking("chat", "m1", InboundState::Processing, None)
        .unwrap();
    clock.set(4_000);
    inbound
        .mark_blocking(
            "chat",
            "m1",
            InboundState::Skipped,
            Some("sender not in allowFrom"),
        )
        .unwrap();

    let row = inbound.get_blocking("chat", "m1").unwrap().unwrap();
    assert_eq!(row.state, InboundState::Skipped);
    assert_eq!(row.reason.as_deref(), Some("sender not in allowFrom"));
    assert_eq!(row.attempts, 2);
    assert_eq!(
        (row.created_at, row.received_at, row.updated_at),
        (900, 1_000, 4_000)
    );
    assert_eq!(row.room_id, "r1");

    assert!(!inbound
        .mark_blocking("chat", "unknown", InboundState::Failed, None)
        .unwrap());
    assert_eq!(
        inbound.state_of_blocking("chat", "m1").unwrap(),
        Some(InboundState::Skipped)
    );
    assert_eq!(inbound.state_of_blocking("chat", "nope").unwrap(), None);
}

#[test]
fn pending_lists_unfinished_messages_oldest_first() {
    let clock = ManualClock::new(50_000);
    let (_dir, store) = store_at(&clock);
    let inbound = store.inbound();
    inbound
        .record_blocking("chat", "late", "r", 30_000)
        .unwrap();
    inbound
        .record_blocking("chat", "early", "r", 20_000)
        .unwrap();
    inbound
        .record_blocking("chat", "stale", "r", 1_000)
        .unwrap();
    inbound
        .record_blocking("chat", "done", "r", 25_000)
        .unwrap();
    inbound
        .record_blocking("other", "elsewhere", "r", 26_000)
        .unwrap();
    inbound
        .mark_blocking("chat", "late", InboundState::Processing, None)
        .unwrap();
    inbound
        .mark_blocking("chat", "done", InboundState::Replied, None)
        .unwrap();

    let pending = inbound.pending_blocking("chat", 10_000).unwrap();
    let ids: Vec<&str> = pending.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, ["early", "late"]);
    assert_eq!(pending[1].state, InboundState::Processing);

    assert_eq!(
        inbound
            .skip_stale_blocking("chat", 10_000, "too old")
            .unwrap(),
        1
    );
    assert_eq!(
        inbound.state_of_blocking("chat", "stale").unwrap(),
        Some(InboundState::Skipped)
    );
    assert_eq!(
        inbound
            .count_blocking("chat", Some(InboundState::Skipped))
            .unwrap(),
        1
    );
    assert_eq!(
        inbound
            .count_blocking("chat", Some(InboundState::Received))
            .unwrap(),
        1
    );
}

#[test]
fn last_received_and_prune() {
    let clock = ManualClock::new(1_000);
    let (_dir, store) = store_at(&clock);
    let inbound = store.inbound();
    assert_eq!(inbound.last_received_at_blocking("chat").unwrap(), None);
    inbound.record_blocking("chat", "a", "r", 1).unwrap();
    inbound
        .mark_blocking("chat", "a", InboundState::Replied, None)
        .unwrap();
    clock.set(5_000);
    inbound.record_blocking("chat", "b", "r", 2).unwrap();
    assert_eq!(
        inbound.last_received_at_blocking("chat").unwrap(),
        Some(5_000)
    );

    // "a" finished at 1000, "b" is still pending: only "a" goes.
    assert_eq!(inbound.prune_finished_blocking(4_000).unwrap(), 1);
    assert_eq!(inbound.state_of_blocking("chat", "a").unwrap(), None);
    assert_eq!(
        inbound.state_of_blocking("chat", "b").unwrap(),
        Some(InboundState::Received)
    );
}

#[test]
fn state_texts_round_trip() {
    for state in InboundState::ALL {
        assert_eq!(state.as_str().parse::<InboundState>().unwrap(), *state);
    }
    assert!("bogus".parse::<InboundState>().is_err());
    assert!(InboundState::Processing.is_pending());
    assert!(!InboundState::Failed.is_pending());
}

#[tokio::test]
async fn async_forms_dedupe_across_concurrent_tasks() {
    let clock = ManualClock::new(1_000);
    let (_dir, store) = store_at(&clock);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .inbound()
                .record("chat", "m1", "r1", 500)
                .await
                .unwrap()
        }));
    }
    let mut inserted = 0;
    for task in tasks {
        if task.await.unwrap() == RecordOutcome::Inserted {
            inserted += 1;
        }
    }
    assert_eq!(inserted, 1);

    let inbound = store.inbound();
    assert!(inbound
        .mark("chat", "m1", InboundState::Failed, Some("agent timeout"))
        .await
        .unwrap());
    assert_eq!(
        inbound.state_of("chat", "m1").await.unwrap(),
        Some(InboundState::Failed)
    );
    let row = inbound.get("chat", "m1").await.unwrap().unwrap();
    assert_eq!(row.reason.as_deref(), Some("agent timeout"));
    assert!(inbound.pending("chat", 0).await.unwrap().is_empty());
    assert_eq!(
        inbound
            .count("chat", Some(InboundState::Failed))
            .await
            .unwrap(),
        1
    );
    assert_eq!(inbound.skip_stale("chat", 10_000, "old").await.unwrap(), 0);
    assert_eq!(inbound.last_received_at("chat").await.unwrap(), Some(1_000));
    assert_eq!(inbound.prune_finished(2_000).await.unwrap(), 1);
}
