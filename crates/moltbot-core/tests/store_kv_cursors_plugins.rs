//! kv, cursors and plugin install records.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::Arc;

use moltbot_core::store::{ManualClock, Store};

fn store_at(clock: &ManualClock) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open_with_clock(dir.path().join("s.sqlite"), Arc::new(clock.clone())).unwrap();
    (dir, store)
}

#[test]
fn kv_get_set_delete() {
    let clock = ManualClock::new(1_000);
    let (_dir, store) = store_at(&clock);
    let kv = store.kv();
    assert_eq!(kv.get_blocking("webhook", "secret").unwrap(), None);
    kv.set_blocking("webhook", "secret", "one").unwrap();
    kv.set_blocking("webhook", "secret", "two").unwrap();
    kv.set_blocking("other", "secret", "three").unwrap();
    assert_eq!(
        kv.get_blocking("webhook", "secret").unwrap().as_deref(),
        Some("two")
    );
    assert_eq!(
        kv.get_blocking("other", "secret").unwrap().as_deref(),
        Some("three")
    );
    assert!(kv.delete_blocking("webhook", "secret").unwrap());
    assert!(!kv.delete_blocking("webhook", "secret").unwrap());
    assert_eq!(kv.get_blocking("webhook", "secret").unwrap(), None);
}

#[test]
fn kv_get_or_insert_keeps_the_first_value() {
    let clock = ManualClock::new(1_000);
    let (_dir, store) = store_at(&clock);
    let first = store
        .kv()
        .get_or_insert_blocking("webhook", "secret", "generated-1")
        .unwrap();
    let second = store
        .kv()
        .get_or_insert_blocking("webhook", "secret", "generated-2")
        .unwrap();
    assert_eq!(first, "generated-1");
    assert_eq!(second, "generated-1");
}

#[test]
fn cursors_get_set_list_per_channel() {
    let clock = ManualClock::new(5_000);
    let (_dir, store) = store_at(&clock);
    let cursors = store.cursors();
    assert_eq!(cursors.get_blocking("chat", "room-b").unwrap(), None);
    cursors.set_blocking("chat", "room-b", "t1").unwrap();
    clock.advance(10);
    cursors.set_blocking("chat", "room-a", "t2").unwrap();
    cursors.set_blocking("chat", "room-b", "t3").unwrap();
    cursors.set_blocking("other", "room-a", "x").unwrap();

    assert_eq!(
        cursors.get_blocking("chat", "room-b").unwrap().as_deref(),
        Some("t3")
    );
    let listed = cursors.list_blocking("chat").unwrap();
    let pairs: Vec<(&str, &str, i64)> = listed
        .iter()
        .map(|c| (c.key.as_str(), c.value.as_str(), c.updated_at))
        .collect();
    assert_eq!(pairs, [("room-a", "t2", 5_010), ("room-b", "t3", 5_010)]);
}

#[test]
fn plugin_installs_upsert_list_get_remove() {
    let clock = ManualClock::new(100);
    let (_dir, store) = store_at(&clock);
    let plugins = store.plugins();
    assert!(plugins.list_blocking().unwrap().is_empty());

    let rec = plugins
        .record_install_blocking("zeta", "@moltbot/zeta", "0.1.0", "@moltbot/zeta")
        .unwrap();
    assert_eq!(rec.installed_at, 100);
    clock.set(200);
    plugins
        .record_install_blocking("alpha", "@moltbot/alpha", "1.0.0", "./extensions/alpha")
        .unwrap();
    clock.set(300);
    // Re-install replaces the record.
    plugins
        .record_install_blocking("zeta", "@moltbot/zeta", "0.2.0", "./extensions/zeta")
        .unwrap();

    let list = plugins.list_blocking().unwrap();
    let ids: Vec<&str> = list.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["alpha", "zeta"]);
    let zeta = plugins.get_blocking("zeta").unwrap().unwrap();
    assert_eq!(zeta.version, "0.2.0");
    assert_eq!(zeta.source, "./extensions/zeta");
    assert_eq!(zeta.installed_at, 300);

    assert!(plugins.remove_blocking("zeta").unwrap());
    assert!(!plugins.remove_blocking("zeta").unwrap());
    assert_eq!(plugins.get_blocking("zeta").unwrap(), None);
    assert_eq!(plugins.list_blocking().unwrap().len(), 1);
}

#[tokio::test]
async fn async_forms_work_from_tasks() {
    let clock = ManualClock::new(42);
    let (_dir, store) = store_at(&clock);
    let task_store = store.clone();
    tokio::spawn(async move {
        task_store.kv().set("ns", "k", "v").await.unwrap();
        task_store.cursors().set("chat", "room", "c").await.unwrap();
        task_store
            .plugins()
            .record_install("p", "@m/p", "1", "src")
            .await
            .unwrap();
    })
    .await
    .unwrap();

    assert_eq!(
        store.kv().get("ns", "k").await.unwrap().as_deref(),
        Some("v")
    );
    assert_eq!(store.kv().get_or_insert("ns", "k", "w").await.unwrap(), "v");
    assert_eq!(
        store
            .cursors()
            .get("chat", "room")
            .await
            .unwrap()
            .as_deref(),
        Some("c")
    );
    assert_eq!(store.cursors().list("chat").await.unwrap().len(), 1);
    assert_eq!(store.plugins().list().await.unwrap().len(), 1);
    assert_eq!(
        store
            .plugins()
            .get("p")
            .await
            .unwrap()
            .unwrap()
            .installed_at,
        42
    );
    assert!(store.plugins().remove("p").await.unwrap());
    assert!(store.kv().delete("ns", "k").await.unwrap());
    let n: i64 = store
        .call(|conn| Ok(conn.query_row("SELECT COUNT(*) FROM kv", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(n, 0);
}
