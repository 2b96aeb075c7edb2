//! What only the SQLite file backend promises (not part of the conformance suite): a private
//! file, WAL mode, the schema version, reopening, refusing a newer store, waiting for other
//! writers, two handles (processes) on one file, all-or-nothing commits, a WAL that does not
//! grow without bound. The file is inspected with a connection of the test's own; the store
//! hands out none.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod wait_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use moltbot_core::agent::Turn;
use moltbot_core::store::{
    AnswerRecord, BackendErrorKind, Claim, ClaimOutcome, InboundState, ManualClock, OutboxPart,
    OutboxReply, OutboxState, SentRecord, SessionAppend, Store, StoreError, BUSY_TIMEOUT,
    SCHEMA_VERSION,
};
use rusqlite::Connection;

const START_MS: i64 = 1_767_225_600_000;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A store in a fresh temp dir, with a manual clock.
fn fresh() -> (tempfile::TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let store = Store::open_with_clock(&path, Arc::new(ManualClock::new(START_MS))).unwrap();
    (dir, path, store)
}

fn claim(id: &str) -> Claim {
    Claim {
        channel: "chat".into(),
        message_id: id.into(),
        room_id: "room-1".into(),
        created_at: START_MS,
        owner: "node/1".into(),
        lease_ms: 30_000,
    }
}

fn answer(id: &str, texts: &[&str]) -> AnswerRecord {
    AnswerRecord {
        channel: "chat".into(),
        message_id: id.into(),
        session: Some(SessionAppend {
            session: "s".into(),
            turns: vec![Turn::user("question"), Turn::assistant("answer")],
            keep_turns: 20,
        }),
        reply: OutboxReply {
            channel: "chat".into(),
            inbound_message_id: Some(id.into()),
            room_id: "room-1".into(),
            parent_id: None,
            parts: texts.iter().map(|t| OutboxPart::text(*t)).collect(),
        },
        begin_first: true,
    }
}

fn count(conn: &Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// Makes the statement `event` (e.g. `INSERT ON kv`) fail when `condition` holds, with a trigger
/// named `injected`.
fn inject_failure(path: &Path, event: &str, condition: &str) {
    Connection::open(path)
        .unwrap()
        .execute_batch(&format!(
            "CREATE TRIGGER injected BEFORE {event} WHEN {condition}
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        ))
        .unwrap();
}

#[tokio::test]
async fn open_creates_private_folder_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("state")
        .join("nested")
        .join("moltbot.sqlite");
    let before = mode(dir.path());
    let store = Store::open(&path).unwrap();

    assert_eq!(mode(&dir.path().join("state")), 0o700);
    assert_eq!(mode(&dir.path().join("state").join("nested")), 0o700);
    assert_eq!(mode(&path), 0o600);
    let (wal, shm) = (companion(&path, "-wal"), companion(&path, "-shm"));
    assert!(
        wal.exists() && shm.exists(),
        "WAL mode creates -wal and -shm"
    );
    assert_eq!(mode(&wal), 0o600);
    assert_eq!(mode(&shm), 0o600);
    assert_eq!(
        mode(dir.path()),
        before,
        "an existing folder keeps its mode"
    );
    assert_eq!(store.path(), Some(path.as_path()));
    let info = store.backend_info();
    assert_eq!(info.name, "sqlite");
    assert_eq!(info.location, path.display().to_string());
}

#[tokio::test]
async fn open_tightens_an_existing_file_and_its_companions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moltbot.sqlite");
    drop(Store::open(&path).unwrap());
    // A copy restored with a wide umask, companions included.
    for file in [
        path.clone(),
        companion(&path, "-wal"),
        companion(&path, "-shm"),
    ] {
        if !file.exists() {
            std::fs::write(&file, b"").unwrap();
        }
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&companion(&path, "-wal")), 0o600);
    assert_eq!(mode(&companion(&path, "-shm")), 0o600);
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
}

#[tokio::test]
async fn the_file_is_in_wal_mode_and_the_store_waits_for_another_writer() {
    let (_dir, path, store) = fresh();
    let mut other = Connection::open(&path).unwrap();
    let journal: String = other
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    assert_eq!(BUSY_TIMEOUT, Duration::from_secs(5));

    // Another process holds the write lock: the store's write waits instead of failing.
    let tx = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    tx.execute(
        "INSERT INTO kv (namespace, key, value, updated_at) VALUES ('t', 'other', 'x', 0)",
        [],
    )
    .unwrap();
    let mut writer = {
        let store = store.clone();
        tokio::spawn(async move { store.kv().set("t", "mine", "y").await })
    };
    // Waiting for something not to happen: a short, bounded look.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut writer)
            .await
            .is_err(),
        "the write must wait for the lock, not fail"
    );
    // Reads do not wait for the writer (WAL).
    assert_eq!(store.kv().get("t", "other").await.unwrap(), None);
    tx.commit().unwrap();
    writer.await.unwrap().unwrap();
    assert_eq!(
        store.kv().get("t", "other").await.unwrap().as_deref(),
        Some("x")
    );
    assert_eq!(
        store.kv().get("t", "mine").await.unwrap().as_deref(),
        Some("y")
    );
}

#[tokio::test]
async fn fresh_store_is_at_the_current_schema_version_with_all_tables() {
    let (_dir, path, store) = fresh();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    let conn = Connection::open(&path).unwrap();
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table'
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .unwrap();
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tables,
        [
            "approved_identities",
            "cursors",
            "kv",
            "leases",
            "ledger",
            "outbox",
            "outbox_bodies",
            "pairing_requests",
            "plugin_installs",
            "poll_votes",
            "polls",
            "session_authors",
            "session_turns",
            "sessions",
        ]
    );
}

#[tokio::test]
async fn reopening_keeps_data_and_does_not_reapply_migrations() {
    let (dir, path, store) = fresh();
    store.kv().set("ns", "k", "v").await.unwrap();
    store.ledger().claim(&claim("m1")).await.unwrap();
    let ops = store
        .ledger()
        .record_answer(&answer("m1", &["one", "two"]))
        .await
        .unwrap();
    store
        .outbox()
        .record_sent(&SentRecord {
            op_id: ops[0].id,
            remote_message_id: "remote-0".into(),
            begin_next: Some(ops[1].id),
            finish_message: None,
        })
        .await
        .unwrap();
    store
        .leases()
        .acquire("poller", "node/1", 60_000)
        .await
        .unwrap();
    drop(store);

    // Migration 1 uses plain CREATE TABLE: re-applying it would fail.
    let store = Store::open_with_clock(&path, Arc::new(ManualClock::new(START_MS))).unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(
        store.kv().get("ns", "k").await.unwrap().as_deref(),
        Some("v")
    );
    assert_eq!(
        store.ledger().state_of("chat", "m1").await.unwrap(),
        Some(InboundState::Processing)
    );
    // After a restart, the part sent is not sent again and the one in flight is known.
    let stored = store.outbox().for_inbound("chat", "m1").await.unwrap();
    assert_eq!(
        stored
            .iter()
            .map(|o| (o.state, o.attempts, o.remote_message_id.as_deref()))
            .collect::<Vec<_>>(),
        [
            (OutboxState::Sent, 1, Some("remote-0")),
            (OutboxState::Pending, 1, None)
        ]
    );
    assert_eq!(
        store.sessions().history("s", 10).await.unwrap(),
        [Turn::user("question"), Turn::assistant("answer")]
    );
    assert_eq!(
        store
            .leases()
            .holder("poller")
            .await
            .unwrap()
            .unwrap()
            .owner,
        "node/1"
    );
    drop(dir);
}

#[tokio::test]
async fn a_store_from_a_newer_moltbot_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    drop(Store::open(&path).unwrap());
    let newer = SCHEMA_VERSION + 7;
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();

    let err = Store::open(&path).unwrap_err();
    match &err {
        StoreError::TooNew { found, supported } => {
            assert_eq!(*found, newer);
            assert_eq!(*supported, SCHEMA_VERSION);
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("newer than this moltbot supports"),
        "{message}"
    );
    assert!(message.contains("upgrade moltbot"), "{message}");
    // Refused without touching it.
    let version: u32 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, newer);
}

#[tokio::test]
async fn open_reports_the_path_when_the_folder_cannot_be_created() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"").unwrap();
    let err = Store::open(blocker.join("state").join("s.sqlite")).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&*blocker.to_string_lossy()),
        "{err}"
    );
}

/// Two handles on one file, as the gateway and a CLI command have (each its own writer thread),
/// opening it together the first time and then writing at once.
#[test]
fn two_handles_on_one_file_do_not_lose_updates_or_double_claim() {
    const PER_HANDLE: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("moltbot.sqlite");
    let barrier = Arc::new(Barrier::new(2));

    let workers: Vec<_> = (0..2)
        .map(|n| {
            let path = path.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let store = Store::open(&path).unwrap();
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let mut claimed = 0;
                    for i in 0..PER_HANDLE {
                        // Read-modify-write of the session's turn numbers, across processes.
                        store
                            .sessions()
                            .append(&SessionAppend {
                                session: "shared".into(),
                                turns: vec![Turn::user(format!("{n}-{i}"))],
                                keep_turns: 10 * PER_HANDLE,
                            })
                            .await
                            .unwrap();
                        let outcome = store
                            .ledger()
                            .claim(&Claim {
                                owner: format!("handle-{n}"),
                                ..claim(&format!("m{i}"))
                            })
                            .await
                            .unwrap();
                        if outcome == ClaimOutcome::Claimed {
                            claimed += 1;
                        }
                    }
                    claimed
                })
            })
        })
        .collect();
    let claimed: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(
        claimed, PER_HANDLE,
        "each message claimed by exactly one handle"
    );

    let store = Store::open(&path).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(
            store.ledger().count("chat", None).await.unwrap(),
            PER_HANDLE as u64
        );
        let history = store
            .sessions()
            .history("shared", 10 * PER_HANDLE)
            .await
            .unwrap();
        assert_eq!(history.len(), 2 * PER_HANDLE, "no lost turn");
        for n in 0..2 {
            // Each handle's turns are all there, in its order.
            let own: Vec<String> = history
                .iter()
                .filter(|t| t.text.starts_with(&format!("{n}-")))
                .map(|t| t.text.clone())
                .collect();
            let expected: Vec<String> = (0..PER_HANDLE).map(|i| format!("{n}-{i}")).collect();
            assert_eq!(own, expected);
        }
    });
}

#[tokio::test]
async fn record_answer_is_all_or_nothing() {
    let (_dir, path, store) = fresh();
    store.ledger().claim(&claim("m1")).await.unwrap();
    // Make the last write of the unit fail.
    inject_failure(&path, "INSERT ON outbox_bodies", "NEW.body = 'poison'");
    let err = store
        .ledger()
        .record_answer(&answer("m1", &["fine", "poison"]))
        .await
        .unwrap_err();
    assert!(err.backend_kind().is_some(), "{err:?}");
    assert!(format!("{err:?}").contains("injected failure"), "{err:?}");

    assert_eq!(
        store.ledger().state_of("chat", "m1").await.unwrap(),
        Some(InboundState::Received),
        "the state change was rolled back"
    );
    assert!(store.sessions().history("s", 10).await.unwrap().is_empty());
    assert!(store
        .outbox()
        .for_inbound("chat", "m1")
        .await
        .unwrap()
        .is_empty());
    let conn = Connection::open(&path).unwrap();
    assert_eq!(
        (count(&conn, "outbox"), count(&conn, "outbox_bodies")),
        (0, 0)
    );

    // Once the cause is gone, the same answer is recorded whole.
    conn.execute_batch("DROP TRIGGER injected").unwrap();
    let ops = store
        .ledger()
        .record_answer(&answer("m1", &["fine", "poison"]))
        .await
        .unwrap();
    assert_eq!(ops.len(), 2);
    assert_eq!(store.sessions().history("s", 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn record_sent_is_all_or_nothing() {
    let (_dir, path, store) = fresh();
    store.ledger().claim(&claim("m1")).await.unwrap();
    let ops = store
        .ledger()
        .record_answer(&answer("m1", &["one", "two"]))
        .await
        .unwrap();
    inject_failure(&path, "UPDATE OF state ON ledger", "NEW.state = 'replied'");
    let sent = SentRecord {
        op_id: ops[1].id,
        remote_message_id: "remote-1".into(),
        begin_next: None,
        finish_message: Some(("chat".into(), "m1".into())),
    };
    store.outbox().record_sent(&sent).await.unwrap_err();
    let op = store.outbox().get(ops[1].id).await.unwrap().unwrap();
    assert_eq!(
        (op.state, op.remote_message_id),
        (OutboxState::Pending, None),
        "not marked sent without the message marked replied"
    );
}

#[tokio::test]
async fn one_failing_write_does_not_undo_the_others_of_its_commit() {
    let (_dir, path, store) = fresh();
    inject_failure(&path, "INSERT ON kv", "NEW.key = 'k13'");
    // Many writes at once, so they share commits.
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.kv().set("t", &format!("k{i}"), "v").await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.unwrap();
        if i == 13 {
            let err = result.unwrap_err();
            assert_eq!(
                err.backend_kind(),
                Some(BackendErrorKind::Constraint),
                "{err:?}"
            );
        } else {
            result.unwrap();
        }
    }
    for i in 0..64 {
        let value = store.kv().get("t", &format!("k{i}")).await.unwrap();
        assert_eq!(value.is_some(), i != 13, "k{i}");
    }
}

#[tokio::test]
async fn pruned_operations_leave_no_bodies() {
    let (_dir, path, store) = fresh();
    let reply = |id: &str| OutboxReply {
        channel: "chat".into(),
        inbound_message_id: Some(id.into()),
        room_id: "room-1".into(),
        parent_id: None,
        parts: vec![OutboxPart::text("a"), OutboxPart::text("b")],
    };
    let done = store.outbox().enqueue(&reply("done")).await.unwrap();
    store.outbox().enqueue(&reply("waiting")).await.unwrap();
    for op in &done {
        store
            .outbox()
            .mark(op.id, OutboxState::Sent, None)
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .outbox()
            .prune_finished(START_MS + 1, 1000)
            .await
            .unwrap(),
        2
    );
    let conn = Connection::open(&path).unwrap();
    assert_eq!(
        (count(&conn, "outbox"), count(&conn, "outbox_bodies")),
        (2, 2)
    );
    let orphans: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM outbox_bodies WHERE op_id NOT IN (SELECT id FROM outbox)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
}

/// The write connection never checkpoints inside a commit; the background checkpointer copies
/// the WAL into the database, after which the WAL is reused from its start instead of growing.
#[tokio::test]
async fn the_wal_does_not_grow_without_bound() {
    const ROUNDS: usize = 3;
    const SETS: usize = 500;
    let (_dir, path, store) = fresh();
    let wal = companion(&path, "-wal");
    let wal_len = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let written = || store.written_bytes().unwrap();

    let mut largest = 0;
    for round in 0..ROUNDS {
        for i in 0..SETS {
            store
                .kv()
                .set("load", &format!("key-{}", i % 50), &format!("{round}-{i}"))
                .await
                .unwrap();
        }
        largest = largest.max(wal_len());
        let copied = written().db;
        wait_support::until(
            &format!("round {round}: the checkpointer to run"),
            wait_support::TIMEOUT,
            || async { written().db > copied },
        )
        .await;
    }
    let appended = written().wal;
    eprintln!(
        "WAL appended {appended} bytes in {ROUNDS} rounds; file at most {largest} bytes, now {}",
        wal_len()
    );
    assert!(
        largest < 4 * 1024 * 1024,
        "WAL file grew to {largest} bytes"
    );
    assert!(
        largest * 2 < appended,
        "the WAL is reused after checkpoints: file {largest} bytes, appended {appended}"
    );
}
