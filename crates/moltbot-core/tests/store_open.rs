//! Opening the store: permissions, pragmas, migrations.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use moltbot_core::store::{migrations, Store, StoreError, SCHEMA_VERSION};
use rusqlite::Connection;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn open_creates_private_folder_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("state")
        .join("nested")
        .join("moltbot.sqlite");
    let store = Store::open(&path).unwrap();

    assert_eq!(mode(&dir.path().join("state")), 0o700);
    assert_eq!(mode(&dir.path().join("state").join("nested")), 0o700);
    assert_eq!(mode(&path), 0o600);
    let wal = dir.path().join("state/nested/moltbot.sqlite-wal");
    let shm = dir.path().join("state/nested/moltbot.sqlite-shm");
    assert!(
        wal.exists() && shm.exists(),
        "WAL mode creates -wal and -shm"
    );
    assert_eq!(mode(&wal), 0o600);
    assert_eq!(mode(&shm), 0o600);
    // The temp dir itself existed already and keeps its mode.
    assert_eq!(store.path(), path);
}

#[test]
fn open_tightens_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moltbot.sqlite");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    Store::open(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn open_sets_wal_busy_timeout_synchronous_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("s.sqlite")).unwrap();
    let (journal, sync, fk, busy) = store
        .call_blocking(|conn| {
            let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
            let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
            let fk: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
            let busy: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?;
            Ok((journal, sync, fk, busy))
        })
        .unwrap();
    assert_eq!(journal, "wal");
    assert_eq!(sync, 1, "synchronous=NORMAL");
    assert_eq!(fk, 1);
    assert_eq!(busy, 5000);
}

#[test]
fn fresh_store_is_at_the_current_schema_version_with_all_tables() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("s.sqlite")).unwrap();
    assert_eq!(SCHEMA_VERSION, migrations::MIGRATIONS.len() as u32);
    assert_eq!(store.schema_version_blocking().unwrap(), SCHEMA_VERSION);
    let tables: Vec<String> = store
        .call_blocking(|conn| {
            let mut stmt = conn.prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table'
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )?;
            let names = stmt.query_map([], |r| r.get(0))?;
            Ok(names.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap();
    assert_eq!(
        tables,
        [
            "approved_identities",
            "cursors",
            "inbound_messages",
            "kv",
            "outbound",
            "pairing_requests",
            "plugin_installs",
            "session_turns",
        ]
    );
}

#[test]
fn reopening_keeps_data_and_does_not_reapply_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    {
        let store = Store::open(&path).unwrap();
        store.kv().set_blocking("ns", "k", "v").unwrap();
    }
    // Migration 1 uses plain CREATE TABLE: re-applying it would fail.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version_blocking().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        store.kv().get_blocking("ns", "k").unwrap().as_deref(),
        Some("v")
    );
}

#[test]
fn a_store_from_a_newer_moltbot_is_refused_clearly() {
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
}

#[test]
fn migrations_apply_in_order_and_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("m.sqlite")).unwrap();
    let first = ["CREATE TABLE a (x INTEGER)", "CREATE TABLE b (y INTEGER)"];
    assert_eq!(migrations::apply(&mut conn, &first).unwrap(), 2);
    assert_eq!(migrations::schema_version(&conn).unwrap(), 2);
    // Same list again: nothing to do (plain CREATE TABLE would fail if re-run).
    assert_eq!(migrations::apply(&mut conn, &first).unwrap(), 2);

    let extended = [first[0], first[1], "ALTER TABLE b ADD COLUMN z TEXT"];
    assert_eq!(migrations::apply(&mut conn, &extended).unwrap(), 3);
    conn.execute("INSERT INTO b (y, z) VALUES (1, 'z')", [])
        .unwrap();
    assert!(matches!(
        migrations::apply(&mut conn, &first),
        Err(StoreError::TooNew {
            found: 3,
            supported: 2
        })
    ));
}

#[test]
fn a_failing_migration_leaves_the_store_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("m.sqlite")).unwrap();
    let broken = ["CREATE TABLE a (x INTEGER)", "THIS IS NOT SQL"];
    assert!(matches!(
        migrations::apply(&mut conn, &broken),
        Err(StoreError::Sqlite(_))
    ));
    assert_eq!(migrations::schema_version(&conn).unwrap(), 0);
    let a_exists: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'a'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(a_exists, 0, "the first script was rolled back too");
}

#[test]
fn open_reports_the_path_when_the_folder_cannot_be_created() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"").unwrap();
    let err = Store::open(blocker.join("s.sqlite")).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&*blocker.to_string_lossy()),
        "{err}"
    );
}
