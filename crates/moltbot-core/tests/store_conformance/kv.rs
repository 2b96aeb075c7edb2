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
