//! Two handles on one file (as the CLI and the gateway processes have) writing at once.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::{Arc, Barrier};
use std::thread;

use moltbot_core::store::{write_transaction, RecordOutcome, Store};
use rusqlite::{params, OptionalExtension};

const PER_THREAD: usize = 200;

/// Read-modify-write of a counter in the kv table, in an immediate transaction.
fn increment(store: &Store) {
    store
        .call_blocking(|conn| {
            write_transaction(conn, |tx| {
                let current: Option<String> = tx
                    .query_row(
                        "SELECT value FROM kv WHERE namespace = 't' AND key = 'n'",
                        [],
                        |r| r.get(0),
                    )
                    .optional()?;
                let next = current.map_or(0, |v| v.parse::<u64>().unwrap()) + 1;
                tx.execute(
                    "INSERT INTO kv (namespace, key, value, updated_at) VALUES ('t', 'n', ?1, 0)
                     ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
                    params![next.to_string()],
                )?;
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn two_handles_on_one_file_do_not_lose_updates_or_double_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("moltbot.sqlite");
    let barrier = Arc::new(Barrier::new(2));

    let workers: Vec<_> = (0..2)
        .map(|_| {
            let path = path.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                // Both open concurrently, the first time the file is created.
                barrier.wait();
                let store = Store::open(&path).unwrap();
                let mut inserted = 0;
                for i in 0..PER_THREAD {
                    increment(&store);
                    let id = format!("m{i}");
                    if store
                        .inbound()
                        .record_blocking("chat", &id, "r", 0)
                        .unwrap()
                        == RecordOutcome::Inserted
                    {
                        inserted += 1;
                    }
                }
                inserted
            })
        })
        .collect();
    let inserted: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();

    let store = Store::open(&path).unwrap();
    assert_eq!(
        inserted, PER_THREAD,
        "each message recorded by exactly one handle"
    );
    assert_eq!(
        store.inbound().count_blocking("chat", None).unwrap(),
        PER_THREAD as u64
    );
    assert_eq!(
        store.kv().get_blocking("t", "n").unwrap().as_deref(),
        Some((2 * PER_THREAD).to_string().as_str()),
        "no lost updates"
    );
}
