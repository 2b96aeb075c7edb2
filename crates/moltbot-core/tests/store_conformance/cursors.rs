//! [`CursorRepo`](moltbot_core::store::CursorRepo) cases.

use super::{Fixture, START_MS};

pub async fn get_set_list_per_channel(f: Fixture) {
    let cursors = f.store.cursors();
    assert_eq!(cursors.get("chat", "room-b").await.unwrap(), None);
    assert!(cursors.list("chat").await.unwrap().is_empty());
    cursors.set("chat", "room-b", "t1").await.unwrap();
    f.clock.advance(10);
    cursors.set("chat", "room-a", "t2").await.unwrap();
    cursors.set("chat", "room-b", "t3").await.unwrap();
    cursors.set("other", "room-a", "x").await.unwrap();

    assert_eq!(
        cursors.get("chat", "room-b").await.unwrap().as_deref(),
        Some("t3")
    );
    assert_eq!(
        cursors.get("other", "room-a").await.unwrap().as_deref(),
        Some("x")
    );
    let listed = cursors.list("chat").await.unwrap();
    let rows: Vec<(&str, &str, &str, i64)> = listed
        .iter()
        .map(|c| {
            (
                c.channel.as_str(),
                c.key.as_str(),
                c.value.as_str(),
                c.updated_at,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("chat", "room-a", "t2", START_MS + 10),
            ("chat", "room-b", "t3", START_MS + 10)
        ]
    );
}

pub async fn set_from_many_tasks_keeps_every_key(f: Fixture) {
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move {
                let key = format!("room-{i:02}");
                store.cursors().set("chat", &key, "first").await.unwrap();
                store
                    .cursors()
                    .set("chat", &key, &format!("v{i}"))
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let listed = f.store.cursors().list("chat").await.unwrap();
    let values: Vec<(String, String)> = listed.into_iter().map(|c| (c.key, c.value)).collect();
    let expected: Vec<(String, String)> = (0..16)
        .map(|i| (format!("room-{i:02}"), format!("v{i}")))
        .collect();
    assert_eq!(values, expected);
}
