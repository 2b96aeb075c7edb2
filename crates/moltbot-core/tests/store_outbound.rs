//! Outbound chunks recorded before sending.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::Arc;

use moltbot_core::store::{ManualClock, OutboundReply, OutboundState, Store};

fn store_at(clock: &ManualClock) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open_with_clock(dir.path().join("s.sqlite"), Arc::new(clock.clone())).unwrap();
    (dir, store)
}

fn reply(inbound: Option<&str>, chunks: &[&str]) -> OutboundReply {
    OutboundReply {
        channel: "chat".into(),
        inbound_message_id: inbound.map(Into::into),
        room_id: "room-1".into(),
        parent_id: Some("parent-1".into()),
        chunks: chunks.iter().map(|c| (*c).to_owned()).collect(),
    }
}

#[test]
fn enqueue_stores_all_chunks_pending_in_order() {
    let clock = ManualClock::new(7_000);
    let (_dir, store) = store_at(&clock);
    let chunks = store
        .outbound()
        .enqueue_blocking(&reply(Some("in-1"), &["a", "b", "c"]))
        .unwrap();
    assert_eq!(chunks.len(), 3);
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.chunk_index, i as u32);
        assert_eq!(chunk.state, OutboundState::Pending);
        assert_eq!(chunk.attempts, 0);
        assert_eq!(chunk.room_id, "room-1");
        assert_eq!(chunk.parent_id.as_deref(), Some("parent-1"));
        assert_eq!(chunk.inbound_message_id.as_deref(), Some("in-1"));
        assert_eq!(chunk.created_at, 7_000);
    }
    let bodies: Vec<&str> = chunks.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(bodies, ["a", "b", "c"]);
}

#[test]
fn crash_between_chunks_does_not_resend_sent_ones() {
    let clock = ManualClock::new(1_000);
    let (dir, store) = store_at(&clock);
    let chunks = store
        .outbound()
        .enqueue_blocking(&reply(Some("in-1"), &["one", "two", "three"]))
        .unwrap();

    // Chunk 0 is sent; chunk 1 starts sending and the process dies.
    let out = store.outbound();
    assert_eq!(out.begin_attempt_blocking(chunks[0].id).unwrap(), Some(1));
    assert!(out.mark_sent_blocking(chunks[0].id, "remote-0").unwrap());
    assert_eq!(out.begin_attempt_blocking(chunks[1].id).unwrap(), Some(1));
    drop(store);

    // After restart, recovery re-runs the agent and enqueues the same inbound message again.
    let store =
        Store::open_with_clock(dir.path().join("s.sqlite"), Arc::new(clock.clone())).unwrap();
    let again = store
        .outbound()
        .enqueue_blocking(&reply(Some("in-1"), &["ONE", "TWO"]))
        .unwrap();
    assert_eq!(again.len(), 3, "existing chunks returned, nothing added");
    assert_eq!(again[0].state, OutboundState::Sent);
    assert_eq!(again[0].remote_message_id.as_deref(), Some("remote-0"));
    assert_eq!(again[1].body, "two");

    let pending = store.outbound().pending_blocking("chat").unwrap();
    let view: Vec<(u32, u32)> = pending
        .iter()
        .map(|c| (c.chunk_index, c.attempts))
        .collect();
    assert_eq!(
        view,
        [(1, 1), (2, 0)],
        "chunk 1 was in flight, chunk 2 never tried"
    );
}

#[test]
fn mark_records_failures_and_unknown_outcomes() {
    let clock = ManualClock::new(1_000);
    let (_dir, store) = store_at(&clock);
    let out = store.outbound();
    let chunks = out.enqueue_blocking(&reply(None, &["x", "y"])).unwrap();
    clock.set(2_000);
    assert!(out
        .mark_blocking(chunks[0].id, OutboundState::Unknown, Some("timeout"))
        .unwrap());
    assert!(out
        .mark_blocking(
            chunks[1].id,
            OutboundState::Failed,
            Some("403 trackingId=T1")
        )
        .unwrap());
    let first = out.get_blocking(chunks[0].id).unwrap().unwrap();
    assert_eq!(
        (first.state, first.error.as_deref(), first.updated_at),
        (OutboundState::Unknown, Some("timeout"), 2_000)
    );
    assert!(out.pending_blocking("chat").unwrap().is_empty());
    assert!(!out
        .mark_blocking(9_999, OutboundState::Failed, None)
        .unwrap());
    assert_eq!(out.begin_attempt_blocking(9_999).unwrap(), None);

    // Proactive messages (no inbound id) are never merged.
    let more = out.enqueue_blocking(&reply(None, &["z"])).unwrap();
    assert_eq!(more.len(), 1);
    assert_ne!(more[0].id, chunks[0].id);
}

#[test]
fn last_sent_at_reflects_sent_chunks_only() {
    let clock = ManualClock::new(1_000);
    let (_dir, store) = store_at(&clock);
    let out = store.outbound();
    let chunks = out.enqueue_blocking(&reply(Some("i"), &["a"])).unwrap();
    assert_eq!(out.last_sent_at_blocking("chat").unwrap(), None);
    clock.set(3_000);
    out.mark_sent_blocking(chunks[0].id, "r").unwrap();
    assert_eq!(out.last_sent_at_blocking("chat").unwrap(), Some(3_000));
    assert_eq!(out.for_inbound_blocking("chat", "i").unwrap().len(), 1);
}

#[tokio::test]
async fn async_forms() {
    let clock = ManualClock::new(1_000);
    let (_dir, store) = store_at(&clock);
    let out = store.outbound();
    let chunks = out.enqueue(reply(Some("in"), &["a", "b"])).await.unwrap();
    assert_eq!(out.begin_attempt(chunks[0].id).await.unwrap(), Some(1));
    assert!(out.mark_sent(chunks[0].id, "r0").await.unwrap());
    assert!(out
        .mark(chunks[1].id, OutboundState::Failed, Some("e"))
        .await
        .unwrap());
    assert!(out.pending("chat").await.unwrap().is_empty());
    let all = out.for_inbound("chat", "in").await.unwrap();
    assert_eq!(
        all.iter().map(|c| c.state).collect::<Vec<_>>(),
        [OutboundState::Sent, OutboundState::Failed]
    );
    assert_eq!(
        out.get(chunks[1].id)
            .await
            .unwrap()
            .unwrap()
            .error
            .as_deref(),
        Some("e")
    );
    assert_eq!(out.last_sent_at("chat").await.unwrap(), Some(1_000));
}
