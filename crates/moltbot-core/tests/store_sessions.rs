//! Agent session history in the state store.

#![allow(clippy::unwrap_used)] // tests may unwrap

use moltbot_core::agent::{Role, Turn};
use moltbot_core::store::Store;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("s.sqlite")).unwrap();
    (dir, store)
}

#[test]
fn history_is_oldest_first_and_limited() {
    let (_dir, store) = store();
    let sessions = store.sessions();
    for i in 0..4 {
        sessions
            .append_blocking("chat:dm:a", Role::User, &format!("q{i}"), 100)
            .unwrap();
        sessions
            .append_blocking("chat:dm:a", Role::Assistant, &format!("a{i}"), 100)
            .unwrap();
    }
    let all = sessions.history_blocking("chat:dm:a", 100).unwrap();
    assert_eq!(all.len(), 8);
    assert_eq!(all[0], Turn::user("q0"));
    assert_eq!(all[7], Turn::assistant("a3"));
    let last3 = sessions.history_blocking("chat:dm:a", 3).unwrap();
    assert_eq!(
        last3,
        vec![
            Turn::assistant("a2"),
            Turn::user("q3"),
            Turn::assistant("a3")
        ]
    );
    assert!(sessions
        .history_blocking("chat:dm:a", 0)
        .unwrap()
        .is_empty());
    assert!(sessions
        .history_blocking("chat:dm:b", 10)
        .unwrap()
        .is_empty());
}

#[test]
fn append_keeps_only_the_last_turns() {
    let (_dir, store) = store();
    let sessions = store.sessions();
    for i in 0..10 {
        sessions
            .append_blocking("s", Role::User, &i.to_string(), 4)
            .unwrap();
    }
    let texts: Vec<String> = sessions
        .history_blocking("s", 100)
        .unwrap()
        .into_iter()
        .map(|t| t.text)
        .collect();
    assert_eq!(texts, ["6", "7", "8", "9"]);
    let rows: i64 = store
        .call_blocking(|c| Ok(c.query_row("SELECT COUNT(*) FROM session_turns", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(rows, 4);
    // Keeping nothing empties the session.
    sessions
        .append_blocking("s", Role::Assistant, "x", 0)
        .unwrap();
    assert!(sessions.history_blocking("s", 100).unwrap().is_empty());
    // Numbering continues after trimming; order stays right.
    sessions.append_blocking("s", Role::User, "y", 4).unwrap();
    assert_eq!(
        sessions.history_blocking("s", 100).unwrap(),
        vec![Turn::user("y")]
    );
}

#[test]
fn clear_removes_only_that_session() {
    let (_dir, store) = store();
    let sessions = store.sessions();
    sessions.append_blocking("a", Role::User, "hi", 10).unwrap();
    sessions
        .append_blocking("a", Role::Assistant, "hello", 10)
        .unwrap();
    sessions.append_blocking("b", Role::User, "yo", 10).unwrap();
    assert_eq!(sessions.clear_blocking("a").unwrap(), 2);
    assert!(sessions.history_blocking("a", 10).unwrap().is_empty());
    assert_eq!(
        sessions.history_blocking("b", 10).unwrap(),
        vec![Turn::user("yo")]
    );
    assert_eq!(sessions.clear_blocking("a").unwrap(), 0);
}

#[tokio::test]
async fn async_forms_work() {
    let (_dir, store) = store();
    let sessions = store.sessions();
    sessions.append("k", Role::User, "ping", 2).await.unwrap();
    sessions
        .append("k", Role::Assistant, "pong", 2)
        .await
        .unwrap();
    sessions.append("k", Role::User, "again", 2).await.unwrap();
    assert_eq!(
        sessions.history("k", 10).await.unwrap(),
        vec![Turn::assistant("pong"), Turn::user("again")]
    );
    assert_eq!(sessions.clear("k").await.unwrap(), 2);
}
