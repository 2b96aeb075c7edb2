//! [`PluginRepo`](moltbot_core::store::PluginRepo) cases.

use super::{Fixture, START_MS};

pub async fn record_list_get_remove(f: Fixture) {
    let plugins = f.store.plugins();
    assert!(plugins.list().await.unwrap().is_empty());
    assert_eq!(plugins.get("zeta").await.unwrap(), None);

    let rec = plugins
        .record_install("zeta", "@moltbot/zeta", "0.1.0", "@moltbot/zeta")
        .await
        .unwrap();
    assert_eq!(rec.installed_at, START_MS);
    assert_eq!(plugins.get("zeta").await.unwrap(), Some(rec));
    f.clock.advance(100);
    plugins
        .record_install("alpha", "@moltbot/alpha", "1.0.0", "./extensions/alpha")
        .await
        .unwrap();
    f.clock.advance(100);
    // Re-install replaces the record.
    let upgraded = plugins
        .record_install("zeta", "@moltbot/zeta", "0.2.0", "./extensions/zeta")
        .await
        .unwrap();

    let list = plugins.list().await.unwrap();
    let ids: Vec<&str> = list.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["alpha", "zeta"]);
    assert_eq!(list[0].installed_at, START_MS + 100);
    let zeta = plugins.get("zeta").await.unwrap().unwrap();
    assert_eq!(zeta, upgraded);
    assert_eq!(zeta.name, "@moltbot/zeta");
    assert_eq!(zeta.version, "0.2.0");
    assert_eq!(zeta.source, "./extensions/zeta");
    assert_eq!(zeta.installed_at, START_MS + 200);

    assert!(plugins.remove("zeta").await.unwrap());
    assert!(!plugins.remove("zeta").await.unwrap());
    assert_eq!(plugins.get("zeta").await.unwrap(), None);
    assert_eq!(plugins.list().await.unwrap().len(), 1);
}

pub async fn records_from_another_task_are_seen(f: Fixture) {
    let store = f.store.clone();
    tokio::spawn(async move {
        store
            .plugins()
            .record_install("p", "@m/p", "1", "src")
            .await
            .unwrap();
    })
    .await
    .unwrap();
    let got = f.store.plugins().get("p").await.unwrap().unwrap();
    assert_eq!(
        (got.name.as_str(), got.version.as_str(), got.source.as_str()),
        ("@m/p", "1", "src")
    );
    assert_eq!(got.installed_at, START_MS);
}
