//! [`KvRepo`](moltbot_core::store::KvRepo) cases.

use super::Fixture;

pub async fn get_set_delete(f: Fixture) {
    let kv = f.store.kv();
    assert_eq!(kv.get("webhook", "secret").await.unwrap(), None);
    kv.set("webhook", "secret", "one").await.unwrap();
    kv.set("webhook", "secret", "two").await.unwrap();
    kv.set("other", "secret", "three").await.unwrap();
    assert_eq!(
        kv.get("webhook", "secret").await.unwrap().as_deref(),
        Some("two")
    );
    assert_eq!(
        kv.get("other", "secret").await.unwrap().as_deref(),
        Some("three")
    );
    assert!(kv.delete("webhook", "secret").await.unwrap());
    assert!(!kv.delete("webhook", "secret").await.unwrap());
    assert_eq!(kv.get("webhook", "secret").await.unwrap(), None);
}

pub async fn get_or_insert_keeps_the_first_value(f: Fixture) {
    let kv = f.store.kv();
    let first = kv
        .get_or_insert("webhook", "secret", "generated-1")
        .await
        .unwrap();
    let second = kv
        .get_or_insert("webhook", "secret", "generated-2")
        .await
        .unwrap();
    assert_eq!(first, "generated-1");
    assert_eq!(second, "generated-1");
}

pub async fn get_or_insert_races_agree(f: Fixture) {
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move {
                store
                    .kv()
                    .get_or_insert("race", "value", &format!("candidate-{i}"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    seen.dedup();
    assert_eq!(
        seen.len(),
        1,
        "every racer must get the same stored value: {seen:?}"
    );
}

pub async fn list_gives_one_namespace_in_key_order(f: Fixture) {
    let kv = f.store.kv();
    assert_eq!(kv.list("replicas").await.unwrap(), Vec::new());
    kv.set("replicas", "b", "2").await.unwrap();
    kv.set("replicas", "a", "1").await.unwrap();
    kv.set("other", "c", "3").await.unwrap();
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kv.list("replicas").await.unwrap(),
        pairs(&[("a", "1"), ("b", "2")])
    );
    kv.delete("replicas", "a").await.unwrap();
    assert_eq!(kv.list("replicas").await.unwrap(), pairs(&[("b", "2")]));
}

/// [`Store::close`](moltbot_core::store::Store::close): later calls on any handle of that store
/// fail with `Closed`, closing twice is harmless, and what was written is still there for
/// another handle.
pub async fn close_keeps_the_data_and_refuses_later_work(f: Fixture) {
    use moltbot_core::store::StoreError;
    f.store.kv().set("webhook", "secret", "kept").await.unwrap();
    let clone = f.store.clone();
    f.store.close().await;
    clone.close().await;
    assert!(matches!(
        clone.kv().set("webhook", "secret", "late").await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(
        clone.kv().get("webhook", "secret").await,
        Err(StoreError::Closed)
    ));
    if let Some(reopen) = &f.reopen {
        let again = reopen(f.clock.clone()).await;
        assert_eq!(
            again
                .kv()
                .get("webhook", "secret")
                .await
                .unwrap()
                .as_deref(),
            Some("kept")
        );
    }
}
