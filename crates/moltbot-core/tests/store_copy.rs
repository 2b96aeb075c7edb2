//! Copying a store into another (`moltbot store copy`): every row of every table arrives as it
//! was, counts are checked, a non-empty target is refused unless replaced, and a running
//! gateway blocks the copy. SQLite to SQLite always; SQLite to PostgreSQL and back when
//! `MOLTBOT_TEST_DATABASE_URL` is set.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::Arc;

use moltbot_core::agent::{SenderInfo, Turn};
use moltbot_core::store::scratch::ScratchSchema;
use moltbot_core::store::tables::{Row, TABLES};
use moltbot_core::store::{
    AnswerRecord, Claim, CopyError, ManualClock, OutboxPart, OutboxReply, SentRecord,
    SessionAppend, Store,
};

const NOW: i64 = 1_767_225_600_000;

fn sqlite(dir: &tempfile::TempDir, name: &str) -> Store {
    Store::open_with_clock(dir.path().join(name), Arc::new(ManualClock::new(NOW))).unwrap()
}

fn reply(inbound: Option<&str>, texts: &[&str]) -> OutboxReply {
    OutboxReply {
        channel: "chat".into(),
        inbound_message_id: inbound.map(str::to_owned),
        room_id: "room-1".into(),
        parent_id: None,
        parts: texts.iter().map(|t| OutboxPart::text(*t)).collect(),
    }
}

/// Puts rows in every table through the store's API.
async fn fill(store: &Store) {
    store.kv().set("webhook", "secret", "s3cret").await.unwrap();
    store
        .cursors()
        .set("chat", "room-1", "2026-01-01T00:00:00Z")
        .await
        .unwrap();
    store
        .plugins()
        .record_install("chat", "@moltbot/chat", "1.0.0", "./chat")
        .await
        .unwrap();
    let pairing = store.pairing();
    let asked = pairing.request("chat", "p-ann", Some("Ann@Example.com"), Some("Ann"), 3);
    let code = match asked.await.unwrap() {
        moltbot_core::store::PairingOutcome::Created(r) => r.code,
        other => panic!("{other:?}"),
    };
    pairing
        .request("chat", "p-bob", None, None, 3)
        .await
        .unwrap();
    pairing.approve_code("chat", &code).await.unwrap();
    let ledger = store.ledger();
    for id in ["m1", "m2", "m3"] {
        let claim = Claim {
            channel: "chat".into(),
            message_id: id.into(),
            room_id: "room-1".into(),
            created_at: NOW - 1_000,
            owner: "node/1".into(),
            lease_ms: 30_000,
        };
        ledger.claim(&claim).await.unwrap();
    }
    let ops = ledger
        .record_answer(&AnswerRecord {
            channel: "chat".into(),
            message_id: "m1".into(),
            session: Some(SessionAppend {
                session: "chat:dm:p-ann".into(),
                turns: vec![
                    Turn::user_by(
                        "hello",
                        SenderInfo {
                            id: "p-ann".into(),
                            email: Some("ann@example.com".into()),
                            display_name: Some("Ann".into()),
                        },
                    ),
                    Turn::assistant("hi"),
                ],
                keep_turns: 20,
            }),
            reply: reply(Some("m1"), &["hi", "there"]),
            begin_first: true,
        })
        .await
        .unwrap();
    store
        .outbox()
        .record_sent(&SentRecord {
            op_id: ops[0].id,
            remote_message_id: "r-1".into(),
            begin_next: Some(ops[1].id),
            finish_message: None,
        })
        .await
        .unwrap();
    ledger
        .finish(
            "chat",
            "m2",
            moltbot_core::store::InboundState::Skipped,
            Some("policy"),
        )
        .await
        .unwrap();
    ledger
        .defer("chat", "m3", NOW + 5_000, "not readable yet")
        .await
        .unwrap();
    store
        .outbox()
        .enqueue(&reply(None, &["proactive"]))
        .await
        .unwrap();
    store
        .sessions()
        .append(&SessionAppend {
            session: "chat:room:r".into(),
            turns: vec![Turn::user("q")],
            keep_turns: 20,
        })
        .await
        .unwrap();
    store
        .leases()
        .acquire("poller", "node/1", 15_000)
        .await
        .unwrap();
    store
        .polls()
        .create_poll(&moltbot_core::store::NewPoll {
            id: "p1".into(),
            channel: "chat".into(),
            room_id: "room-1".into(),
            question: "Lunch?".into(),
            options: vec!["Pizza".into(), "Sushi".into()],
            multiple: true,
            created_by: "cli".into(),
            closes_at: Some(NOW + 60_000),
            card_message_id: Some("m-card".into()),
        })
        .await
        .unwrap();
    store.polls().vote("p1", "p-ann", &[0, 1]).await.unwrap();
    for (table, rows) in store.row_counts().await.unwrap() {
        assert!(rows > 0, "the fixture leaves {table} empty");
    }
}

/// Every row of every table, in key order.
async fn dump(store: &Store) -> Vec<(&'static str, Vec<Row>)> {
    let mut out = Vec::new();
    for table in TABLES {
        out.push((
            table.name,
            store.read_rows(table, None, 100_000).await.unwrap(),
        ));
    }
    out
}

/// Rows read in pages of 2 are the rows read at once (paging by key loses and repeats none).
async fn paged(store: &Store) -> Vec<(&'static str, Vec<Row>)> {
    let mut out = Vec::new();
    for table in TABLES {
        let (mut rows, mut after): (Vec<Row>, Option<Row>) = (Vec::new(), None);
        loop {
            let page = store.read_rows(table, after.as_deref(), 2).await.unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last[..table.key_len].to_vec());
            rows.extend(page);
        }
        out.push((table.name, rows));
    }
    out
}

#[tokio::test]
async fn a_copy_between_sqlite_files_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (sqlite(&dir, "a.sqlite"), sqlite(&dir, "b.sqlite"));
    fill(&source).await;
    let report = source.copy_to(&target, false).await.unwrap();
    assert_eq!(report.tables, source.row_counts().await.unwrap());
    assert!(report.total() >= TABLES.len() as u64);
    assert_eq!(dump(&target).await, dump(&source).await);
    assert_eq!(paged(&source).await, dump(&source).await);

    // Again: the target is not empty now.
    let err = source.copy_to(&target, false).await.unwrap_err();
    assert!(
        matches!(
            err,
            CopyError::TargetNotEmpty {
                table: "kv",
                rows: 1
            }
        ),
        "{err}"
    );
    // Replacing it gives the same rows, and new ids continue after the copied ones.
    source.copy_to(&target, true).await.unwrap();
    assert_eq!(dump(&target).await, dump(&source).await);
    let max = target
        .outbox()
        .pending("chat")
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .max();
    let new = target
        .outbox()
        .enqueue(&reply(None, &["after"]))
        .await
        .unwrap();
    assert!(Some(new[0].id) > max, "{new:?} after {max:?}");

    assert!(matches!(
        source.copy_to(&source.clone(), true).await,
        Err(CopyError::SameStore(_))
    ));
}

#[tokio::test]
async fn a_copy_is_refused_while_a_gateway_runs_on_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (sqlite(&dir, "a.sqlite"), sqlite(&dir, "b.sqlite"));
    fill(&source).await;
    source
        .kv()
        .set("gateway", "heartbeat", &NOW.to_string())
        .await
        .unwrap();
    let err = source.copy_to(&target, false).await.unwrap_err();
    assert!(matches!(err, CopyError::GatewayRunning), "{err}");
    assert!(target
        .row_counts()
        .await
        .unwrap()
        .iter()
        .all(|(_, n)| *n == 0));
}

#[tokio::test]
async fn sqlite_to_postgres_and_back_keeps_every_row() {
    let Some(schema) = ScratchSchema::from_env("copy") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite(&dir, "a.sqlite");
    fill(&source).await;
    let clock = Arc::new(ManualClock::new(NOW));
    let pg = Store::connect_with_clock(&schema.location().unwrap(), clock)
        .await
        .unwrap();
    let report = source.copy_to(&pg, false).await.unwrap();
    assert_eq!(report.tables, source.row_counts().await.unwrap());
    assert_eq!(dump(&pg).await, dump(&source).await);
    assert_eq!(paged(&pg).await, dump(&pg).await);

    // The data reads back through the PostgreSQL backend's own queries.
    assert_eq!(
        pg.kv().get("webhook", "secret").await.unwrap().as_deref(),
        Some("s3cret")
    );
    assert!(pg
        .pairing()
        .is_approved("chat", "p-ann", None)
        .await
        .unwrap());
    let m1 = pg.outbox().for_inbound("chat", "m1").await.unwrap();
    assert_eq!(m1.iter().map(|o| o.attempts).collect::<Vec<_>>(), [1, 1]);
    assert_eq!(
        pg.sessions()
            .history("chat:dm:p-ann", 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        pg.ledger()
            .get("chat", "m3")
            .await
            .unwrap()
            .unwrap()
            .deferred
    );

    assert!(matches!(
        source.copy_to(&pg, false).await,
        Err(CopyError::TargetNotEmpty { .. })
    ));
    // New ids in PostgreSQL continue after the copied ones.
    let max = m1.iter().map(|o| o.id).max();
    let new = pg.outbox().enqueue(&reply(None, &["after"])).await.unwrap();
    assert!(Some(new[0].id) > max);
    // So do the ids of sessions and authors (a clash would be refused as a duplicate key).
    let newcomer = Turn::user_by(
        "first",
        SenderInfo {
            id: "p-new".into(),
            email: None,
            display_name: Some("New".into()),
        },
    );
    pg.sessions()
        .append(&SessionAppend {
            session: "chat:dm:p-new".into(),
            turns: vec![newcomer.clone()],
            keep_turns: 20,
        })
        .await
        .unwrap();
    assert_eq!(
        pg.sessions().history("chat:dm:p-new", 10).await.unwrap(),
        [newcomer]
    );

    // And back into a new SQLite file.
    let back = sqlite(&dir, "back.sqlite");
    pg.copy_to(&back, false).await.unwrap();
    assert_eq!(dump(&back).await, dump(&pg).await);
}
