//! [`OutboxRepo`](moltbot_core::store::OutboxRepo) cases: operations stored before they are
//! carried out, attempts, the "sent and replied" commit, typed operations and pruning.

use moltbot_core::store::{
    InboundState, OutboxOpKind, OutboxPart, OutboxPartKind, OutboxReply, OutboxState, SentRecord,
};

use super::ledger::{answer, claim, CHANNEL};
use super::{Fixture, START_MS};

/// A reply in `room-1` under `parent-1` with one text operation per chunk.
fn reply(inbound: Option<&str>, chunks: &[&str]) -> OutboxReply {
    OutboxReply {
        channel: CHANNEL.into(),
        inbound_message_id: inbound.map(Into::into),
        room_id: "room-1".into(),
        parent_id: Some("parent-1".into()),
        parts: chunks.iter().map(|c| OutboxPart::text(*c)).collect(),
    }
}

/// Stores `parts` as the reply to `inbound` in `room-1`, not in a thread.
async fn enqueue_in_room(
    f: &Fixture,
    inbound: &str,
    parts: Vec<OutboxPart>,
) -> Vec<moltbot_core::store::OutboxEntry> {
    f.store
        .outbox()
        .enqueue(&OutboxReply {
            channel: CHANNEL.into(),
            inbound_message_id: Some(inbound.into()),
            room_id: "room-1".into(),
            parent_id: None,
            parts,
        })
        .await
        .unwrap()
}

fn sent(op_id: i64, remote: &str) -> SentRecord {
    SentRecord {
        op_id,
        remote_message_id: remote.into(),
        begin_next: None,
        finish_message: None,
    }
}

pub async fn enqueue_stores_all_parts_pending_in_order(f: Fixture) {
    f.clock.advance(7_000);
    let ops = f
        .store
        .outbox()
        .enqueue(&reply(Some("in-1"), &["a", "b", "c"]))
        .await
        .unwrap();
    assert_eq!(ops.len(), 3);
    for (i, op) in ops.iter().enumerate() {
        assert_eq!(op.part_index, u32::try_from(i).unwrap());
        assert_eq!(op.state, OutboxState::Pending);
        assert_eq!(
            (op.op, op.part),
            (OutboxOpKind::Create, OutboxPartKind::Text)
        );
        assert_eq!(op.attempts, 0);
        assert_eq!(op.channel, CHANNEL);
        assert_eq!(op.room_id, "room-1");
        assert_eq!(op.parent_id.as_deref(), Some("parent-1"));
        assert_eq!(op.inbound_message_id.as_deref(), Some("in-1"));
        assert_eq!((op.target_id.as_deref(), op.error.as_deref()), (None, None));
        assert_eq!(op.remote_message_id, None);
        assert_eq!(
            (op.created_at, op.updated_at),
            (START_MS + 7_000, START_MS + 7_000)
        );
    }
    let bodies: Vec<&str> = ops.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(bodies, ["a", "b", "c"]);
    assert_eq!(f.store.outbox().pending(CHANNEL).await.unwrap(), ops);
    assert_eq!(
        f.store.outbox().get(ops[1].id).await.unwrap().as_ref(),
        Some(&ops[1])
    );
    assert!(f.store.outbox().pending("other").await.unwrap().is_empty());
}

pub async fn recovery_finds_the_stored_parts_and_resends_none_that_were_sent(f: Fixture) {
    let out = f.store.outbox();
    let ops = out
        .enqueue(&reply(Some("in-1"), &["one", "two", "three"]))
        .await
        .unwrap();

    // Part 0 is sent; part 1 starts sending and the process dies.
    assert_eq!(out.begin_attempt(ops[0].id).await.unwrap(), Some(1));
    assert!(out.record_sent(&sent(ops[0].id, "remote-0")).await.unwrap());
    assert_eq!(out.begin_attempt(ops[1].id).await.unwrap(), Some(1));

    // Recovery re-runs the agent and stores the (different) reply again.
    let again = out
        .enqueue(&reply(Some("in-1"), &["ONE", "TWO"]))
        .await
        .unwrap();
    assert_eq!(again.len(), 3, "existing parts returned, nothing added");
    assert_eq!(again[0].state, OutboxState::Sent);
    assert_eq!(again[0].remote_message_id.as_deref(), Some("remote-0"));
    assert_eq!(again[1].body, "two");
    assert_eq!(out.for_inbound(CHANNEL, "in-1").await.unwrap(), again);

    let pending = out.pending(CHANNEL).await.unwrap();
    let view: Vec<(u32, u32)> = pending.iter().map(|c| (c.part_index, c.attempts)).collect();
    assert_eq!(
        view,
        [(1, 1), (2, 0)],
        "part 1 was in flight, part 2 never tried"
    );
}

pub async fn mark_records_failures_and_unknown_outcomes(f: Fixture) {
    let out = f.store.outbox();
    let ops = out.enqueue(&reply(None, &["x", "y"])).await.unwrap();
    f.clock.advance(1_000);
    assert!(out
        .mark(ops[0].id, OutboxState::Unknown, Some("timeout"))
        .await
        .unwrap());
    assert!(out
        .mark(ops[1].id, OutboxState::Failed, Some("403 trackingId=T1"))
        .await
        .unwrap());
    let first = out.get(ops[0].id).await.unwrap().unwrap();
    assert_eq!(
        (first.state, first.error.as_deref(), first.updated_at),
        (OutboxState::Unknown, Some("timeout"), START_MS + 1_000)
    );
    let second = out.get(ops[1].id).await.unwrap().unwrap();
    assert_eq!(
        (second.state, second.error.as_deref()),
        (OutboxState::Failed, Some("403 trackingId=T1"))
    );
    assert!(out.pending(CHANNEL).await.unwrap().is_empty());
    assert!(!out
        .mark(9_999_999, OutboxState::Failed, None)
        .await
        .unwrap());
    assert_eq!(out.begin_attempt(9_999_999).await.unwrap(), None);
    assert_eq!(out.get(9_999_999).await.unwrap(), None);

    // Proactive messages (no inbound id) are never merged.
    let more = out.enqueue(&reply(None, &["z"])).await.unwrap();
    assert_eq!(more.len(), 1);
    assert!(ops.iter().all(|o| o.id != more[0].id));

    // A later success clears the error.
    assert!(out.record_sent(&sent(ops[0].id, "r0")).await.unwrap());
    let first = out.get(ops[0].id).await.unwrap().unwrap();
    assert_eq!((first.state, first.error), (OutboxState::Sent, None));
}

pub async fn sent_and_failed_parts_leave_pending(f: Fixture) {
    let out = f.store.outbox();
    let ops = out.enqueue(&reply(Some("in"), &["a", "b"])).await.unwrap();
    assert_eq!(out.begin_attempt(ops[0].id).await.unwrap(), Some(1));
    assert_eq!(out.begin_attempt(ops[0].id).await.unwrap(), Some(2));
    assert!(out.record_sent(&sent(ops[0].id, "r0")).await.unwrap());
    assert!(out
        .mark(ops[1].id, OutboxState::Failed, Some("e"))
        .await
        .unwrap());
    assert!(out.pending(CHANNEL).await.unwrap().is_empty());
    let all = out.for_inbound(CHANNEL, "in").await.unwrap();
    assert_eq!(
        all.iter()
            .map(|c| (c.state, c.attempts))
            .collect::<Vec<_>>(),
        [(OutboxState::Sent, 2), (OutboxState::Failed, 0)]
    );
    assert_eq!(all[1].error.as_deref(), Some("e"));
    assert_eq!(out.last_sent_at(CHANNEL).await.unwrap(), Some(START_MS));
    assert!(out.for_inbound(CHANNEL, "other").await.unwrap().is_empty());
}

pub async fn last_sent_at_reflects_sent_parts_only(f: Fixture) {
    let out = f.store.outbox();
    let ops = out.enqueue(&reply(Some("i"), &["a", "b"])).await.unwrap();
    assert_eq!(out.last_sent_at(CHANNEL).await.unwrap(), None);
    f.clock.advance(2_000);
    out.record_sent(&sent(ops[0].id, "r")).await.unwrap();
    f.clock.advance(1_000);
    out.mark(ops[1].id, OutboxState::Failed, Some("e"))
        .await
        .unwrap();
    assert_eq!(
        out.last_sent_at(CHANNEL).await.unwrap(),
        Some(START_MS + 2_000)
    );
    assert_eq!(out.last_sent_at("other").await.unwrap(), None);
    assert_eq!(out.for_inbound(CHANNEL, "i").await.unwrap().len(), 2);
}

pub async fn record_sent_begins_the_next_and_finishes_the_message(f: Fixture) {
    claim(&f, "m1", START_MS, "a").await;
    let ops = f
        .store
        .ledger()
        .record_answer(&answer("m1", None, &["one", "two", "three"]))
        .await
        .unwrap();
    let out = f.store.outbox();

    f.clock.advance(1_000);
    assert!(out
        .record_sent(&SentRecord {
            op_id: ops[0].id,
            remote_message_id: "remote-0".into(),
            begin_next: Some(ops[1].id),
            finish_message: None,
        })
        .await
        .unwrap());
    let now = f.store.now_ms();
    let stored = out.for_inbound(CHANNEL, "m1").await.unwrap();
    assert_eq!(stored[0].state, OutboxState::Sent);
    assert_eq!(stored[0].remote_message_id.as_deref(), Some("remote-0"));
    assert_eq!(stored[0].updated_at, now);
    assert_eq!(
        stored.iter().map(|o| o.attempts).collect::<Vec<_>>(),
        [1, 1, 0],
        "the next operation's attempt started in the same commit"
    );
    assert_eq!(stored[1].state, OutboxState::Pending);
    assert_eq!(
        f.store.ledger().state_of(CHANNEL, "m1").await.unwrap(),
        Some(InboundState::Processing)
    );

    f.clock.advance(1_000);
    out.record_sent(&SentRecord {
        op_id: ops[1].id,
        remote_message_id: "remote-1".into(),
        begin_next: Some(ops[2].id),
        finish_message: None,
    })
    .await
    .unwrap();
    f.clock.advance(1_000);
    assert!(out
        .record_sent(&SentRecord {
            op_id: ops[2].id,
            remote_message_id: "remote-2".into(),
            begin_next: None,
            finish_message: Some((CHANNEL.into(), "m1".into())),
        })
        .await
        .unwrap());
    let now = f.store.now_ms();
    let stored = out.for_inbound(CHANNEL, "m1").await.unwrap();
    assert_eq!(
        stored
            .iter()
            .map(|o| (o.state, o.remote_message_id.as_deref(), o.attempts))
            .collect::<Vec<_>>(),
        [
            (OutboxState::Sent, Some("remote-0"), 1),
            (OutboxState::Sent, Some("remote-1"), 1),
            (OutboxState::Sent, Some("remote-2"), 1),
        ]
    );
    let row = f.store.ledger().get(CHANNEL, "m1").await.unwrap().unwrap();
    assert_eq!((row.state, row.reason), (InboundState::Replied, None));
    assert_eq!(row.updated_at, now);
    assert_eq!(row.lease_until, 0, "a replied message holds no lease");
    assert!(out.pending(CHANNEL).await.unwrap().is_empty());
    assert_eq!(out.last_sent_at(CHANNEL).await.unwrap(), Some(now));
}

pub async fn record_sent_of_an_unknown_op_changes_nothing(f: Fixture) {
    claim(&f, "m1", START_MS, "a").await;
    let ops = f
        .store
        .ledger()
        .record_answer(&answer("m1", None, &["one", "two"]))
        .await
        .unwrap();
    assert!(!f
        .store
        .outbox()
        .record_sent(&SentRecord {
            op_id: ops[1].id + 1_000,
            remote_message_id: "remote".into(),
            begin_next: Some(ops[1].id),
            finish_message: Some((CHANNEL.into(), "m1".into())),
        })
        .await
        .unwrap());
    assert_eq!(
        f.store.outbox().for_inbound(CHANNEL, "m1").await.unwrap(),
        ops
    );
    assert_eq!(
        f.store.ledger().state_of(CHANNEL, "m1").await.unwrap(),
        Some(InboundState::Processing),
        "not marked replied for an operation that does not exist"
    );
}

pub async fn typed_ops_round_trip(f: Fixture) {
    let file =
        r#"{"url":"https://example.com/report.pdf","name":"report.pdf","type":"application/pdf"}"#;
    let card = r#"{"card":{"type":"AdaptiveCard","version":"1.3"},"fallback":"a card"}"#;
    let parts = vec![
        OutboxPart::text("**bold** text"),
        OutboxPart {
            op: OutboxOpKind::Edit,
            part: OutboxPartKind::Text,
            body: "edited text".into(),
            target_id: Some("remote-earlier".into()),
        },
        OutboxPart {
            op: OutboxOpKind::Delete,
            part: OutboxPartKind::Text,
            body: String::new(),
            target_id: Some("remote-older".into()),
        },
        OutboxPart {
            op: OutboxOpKind::Upload,
            part: OutboxPartKind::File,
            body: file.into(),
            target_id: None,
        },
        OutboxPart {
            op: OutboxOpKind::Create,
            part: OutboxPartKind::Card,
            body: card.into(),
            target_id: None,
        },
        OutboxPart {
            op: OutboxOpKind::Create,
            part: OutboxPartKind::File,
            body: "émoji ✓ and 'quotes' \"double\" \n newline".into(),
            target_id: None,
        },
    ];
    let stored = enqueue_in_room(&f, "in", parts.clone()).await;
    let read = f.store.outbox().for_inbound(CHANNEL, "in").await.unwrap();
    assert_eq!(read, stored);
    assert_eq!(read.len(), parts.len());
    for (op, part) in read.iter().zip(&parts) {
        assert_eq!(
            (op.op, op.part, op.body.as_str(), op.target_id.as_deref()),
            (
                part.op,
                part.part,
                part.body.as_str(),
                part.target_id.as_deref()
            )
        );
        assert_eq!(op.parent_id, None);
        assert_eq!(
            f.store.outbox().get(op.id).await.unwrap().as_ref(),
            Some(op)
        );
    }

    for kind in OutboxOpKind::ALL {
        assert_eq!(kind.as_str().parse::<OutboxOpKind>().unwrap(), *kind);
    }
    for kind in OutboxPartKind::ALL {
        assert_eq!(kind.as_str().parse::<OutboxPartKind>().unwrap(), *kind);
    }
    for state in OutboxState::ALL {
        assert_eq!(state.as_str().parse::<OutboxState>().unwrap(), *state);
        // Every state is stored and read back.
        f.store
            .outbox()
            .mark(read[0].id, *state, None)
            .await
            .unwrap();
        assert_eq!(
            f.store
                .outbox()
                .get(read[0].id)
                .await
                .unwrap()
                .unwrap()
                .state,
            *state
        );
    }
    assert!("bogus".parse::<OutboxOpKind>().is_err());
}

pub async fn prune_finished_removes_done_ops_with_their_bodies(f: Fixture) {
    let out = f.store.outbox();
    let old = out
        .enqueue(&reply(
            Some("old"),
            &["sent", "failed", "unknown", "pending"],
        ))
        .await
        .unwrap();
    out.record_sent(&sent(old[0].id, "r0")).await.unwrap();
    out.mark(old[1].id, OutboxState::Failed, Some("e"))
        .await
        .unwrap();
    out.mark(old[2].id, OutboxState::Unknown, Some("timeout"))
        .await
        .unwrap();
    f.clock.advance(10_000);
    let recent = out.enqueue(&reply(Some("recent"), &["r"])).await.unwrap();
    out.record_sent(&sent(recent[0].id, "r1")).await.unwrap();

    // Strictly before the cutoff: nothing last changed at START_MS goes with a cutoff there.
    assert_eq!(out.prune_finished(START_MS, 1000).await.unwrap(), 0);
    assert_eq!(out.prune_finished(START_MS + 1, 1000).await.unwrap(), 3);
    for op in &old[..3] {
        assert_eq!(out.get(op.id).await.unwrap(), None, "{}", op.body);
    }
    let left = out.for_inbound(CHANNEL, "old").await.unwrap();
    assert_eq!(left.len(), 1, "pending operations are never pruned");
    assert_eq!(
        (left[0].body.as_str(), left[0].state),
        ("pending", OutboxState::Pending)
    );
    assert_eq!(
        out.get(recent[0].id).await.unwrap().unwrap().body,
        "r",
        "recent ones stay"
    );
    assert_eq!(
        out.prune_finished(f.store.now_ms() + 1, 1000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(out.get(recent[0].id).await.unwrap(), None);
    assert_eq!(out.pending(CHANNEL).await.unwrap().len(), 1);
}

/// Every kind of reply part (text, URL file, uploaded file with its bytes, card) reads back as
/// written, a 2 MiB upload included: a reply's files live in the store until they are sent.
pub async fn reply_parts_round_trip_with_their_bytes(f: Fixture) {
    use moltbot_core::agent::{LocalFile, ReplyFile};
    use moltbot_core::gateway::ReplyPart;
    let bytes: Vec<u8> = (0..2 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let parts = vec![
        ReplyPart::Text("the text".into()),
        ReplyPart::card(
            serde_json::json!({"type": "AdaptiveCard", "version": "1.3", "body": []}),
            "the text",
        ),
        ReplyPart::File(ReplyFile::Url("https://example.com/a.pdf".into())),
        ReplyPart::File(ReplyFile::Local(LocalFile::new(
            "data.bin",
            "application/octet-stream",
            bytes,
        ))),
    ];
    let stored = enqueue_in_room(
        &f,
        "in-parts",
        parts.iter().map(ReplyPart::to_outbox).collect(),
    )
    .await;
    let read = f
        .store
        .outbox()
        .for_inbound(CHANNEL, "in-parts")
        .await
        .unwrap();
    assert_eq!(read, stored);
    let back: Vec<ReplyPart> = read
        .iter()
        .map(|entry| ReplyPart::from_entry(entry).unwrap())
        .collect();
    assert_eq!(back, parts);
    assert_eq!(read[3].op, OutboxOpKind::Upload);
}
