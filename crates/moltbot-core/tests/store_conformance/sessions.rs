//! [`SessionRepo`](moltbot_core::store::SessionRepo) cases: history order and limits, trimming,
//! clearing, authors (and their display names over time), sessions kept apart.

use moltbot_core::agent::{SenderInfo, Turn};
use moltbot_core::store::SessionAppend;

use super::ledger::ann;
use super::Fixture;

fn append(session: &str, turns: Vec<Turn>, keep_turns: usize) -> SessionAppend {
    SessionAppend {
        session: session.into(),
        turns,
        keep_turns,
    }
}

async fn texts(f: &Fixture, session: &str) -> Vec<String> {
    f.store
        .sessions()
        .history(session, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.text)
        .collect()
}

pub async fn history_is_oldest_first_and_limited(f: Fixture) {
    let sessions = f.store.sessions();
    for i in 0..4 {
        sessions
            .append(&append("chat:dm:a", vec![Turn::user(format!("q{i}"))], 100))
            .await
            .unwrap();
        sessions
            .append(&append(
                "chat:dm:a",
                vec![Turn::assistant(format!("a{i}"))],
                100,
            ))
            .await
            .unwrap();
    }
    let all = sessions.history("chat:dm:a", 100).await.unwrap();
    assert_eq!(all.len(), 8);
    assert_eq!(all[0], Turn::user("q0"));
    assert_eq!(all[7], Turn::assistant("a3"));
    assert_eq!(
        sessions.history("chat:dm:a", 3).await.unwrap(),
        [
            Turn::assistant("a2"),
            Turn::user("q3"),
            Turn::assistant("a3")
        ]
    );
    assert!(sessions.history("chat:dm:a", 0).await.unwrap().is_empty());
    assert!(sessions.history("chat:dm:b", 10).await.unwrap().is_empty());
}

pub async fn append_keeps_only_the_last_turns(f: Fixture) {
    let sessions = f.store.sessions();
    for i in 0..10 {
        sessions
            .append(&append("s", vec![Turn::user(i.to_string())], 4))
            .await
            .unwrap();
    }
    assert_eq!(texts(&f, "s").await, ["6", "7", "8", "9"]);
    // Keeping nothing empties the session.
    sessions
        .append(&append("s", vec![Turn::assistant("x")], 0))
        .await
        .unwrap();
    assert!(texts(&f, "s").await.is_empty());
    // Numbering continues after trimming; order stays right.
    sessions
        .append(&append("s", vec![Turn::user("y")], 4))
        .await
        .unwrap();
    sessions
        .append(&append("s", vec![Turn::assistant("z")], 4))
        .await
        .unwrap();
    assert_eq!(
        sessions.history("s", 100).await.unwrap(),
        [Turn::user("y"), Turn::assistant("z")]
    );
}

pub async fn one_append_of_several_turns_trims_in_the_same_call(f: Fixture) {
    let sessions = f.store.sessions();
    sessions
        .append(&append(
            "k",
            vec![Turn::user("ping"), Turn::assistant("pong")],
            2,
        ))
        .await
        .unwrap();
    sessions
        .append(&append(
            "k",
            vec![
                Turn::user("again"),
                Turn::assistant("pong again"),
                Turn::user("third"),
            ],
            2,
        ))
        .await
        .unwrap();
    assert_eq!(
        sessions.history("k", 10).await.unwrap(),
        [Turn::assistant("pong again"), Turn::user("third")]
    );
    // An empty append still trims to the rule given.
    sessions.append(&append("k", Vec::new(), 1)).await.unwrap();
    assert_eq!(texts(&f, "k").await, ["third"]);
    assert_eq!(sessions.clear("k").await.unwrap(), 1);
}

pub async fn clear_removes_only_that_session(f: Fixture) {
    let sessions = f.store.sessions();
    sessions
        .append(&append(
            "a",
            vec![Turn::user("hi"), Turn::assistant("hello")],
            10,
        ))
        .await
        .unwrap();
    sessions
        .append(&append("b", vec![Turn::user("yo")], 10))
        .await
        .unwrap();
    assert_eq!(sessions.clear("a").await.unwrap(), 2);
    assert!(sessions.history("a", 10).await.unwrap().is_empty());
    assert_eq!(sessions.history("b", 10).await.unwrap(), [Turn::user("yo")]);
    assert_eq!(sessions.clear("a").await.unwrap(), 0);
    // A cleared session starts again.
    sessions
        .append(&append("a", vec![Turn::user("back")], 10))
        .await
        .unwrap();
    assert_eq!(texts(&f, "a").await, ["back"]);
}

pub async fn authors_round_trip(f: Fixture) {
    let only_id = SenderInfo {
        id: "person-bob".into(),
        email: None,
        display_name: None,
    };
    let no_name = SenderInfo {
        id: "person-cy".into(),
        email: Some("cy@example.com".into()),
        display_name: None,
    };
    let no_email = SenderInfo {
        id: "person-di".into(),
        email: None,
        display_name: Some("Di, \"the\" boss ✓".into()),
    };
    let turns = vec![
        Turn::user_by("from Ann", ann()),
        Turn::user_by("from Bob", only_id),
        Turn::user_by("from Cy", no_name),
        Turn::user_by("from Di", no_email),
        Turn::user("from someone unknown"),
        Turn::assistant("answer to all"),
    ];
    f.store
        .sessions()
        .append(&append("chat:group:room-1", turns.clone(), 50))
        .await
        .unwrap();
    assert_eq!(
        f.store
            .sessions()
            .history("chat:group:room-1", 50)
            .await
            .unwrap(),
        turns
    );
}

pub async fn concurrent_appends_lose_no_turn(f: Fixture) {
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move {
                store
                    .sessions()
                    .append(&append(
                        "shared",
                        vec![
                            Turn::user(format!("q{i}")),
                            Turn::assistant(format!("a{i}")),
                        ],
                        1_000,
                    ))
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let history = f.store.sessions().history("shared", 1_000).await.unwrap();
    assert_eq!(history.len(), 32);
    // Each append's turns stay together and in order.
    for pair in history.chunks(2) {
        let n = pair[0].text.strip_prefix('q').unwrap();
        assert_eq!(pair[1], Turn::assistant(format!("a{n}")));
    }
    let mut questions: Vec<&str> = history.iter().step_by(2).map(|t| t.text.as_str()).collect();
    questions.sort_unstable();
    questions.dedup();
    assert_eq!(questions.len(), 16);
}

pub async fn a_new_display_name_leaves_older_turns_as_they_were(f: Fixture) {
    let sessions = f.store.sessions();
    let renamed = SenderInfo {
        display_name: Some("Ann Renamed".into()),
        ..ann()
    };
    let no_email = SenderInfo {
        email: None,
        ..renamed.clone()
    };
    let said = [
        Turn::user_by("before", ann()),
        Turn::assistant("noted"),
        Turn::user_by("after", renamed.clone()),
        Turn::user_by("without email", no_email.clone()),
        Turn::user_by("back to the old name", ann()),
    ];
    for turn in &said {
        sessions
            .append(&append("chat:dm:person-ann", vec![turn.clone()], 20))
            .await
            .unwrap();
    }
    assert_eq!(
        sessions.history("chat:dm:person-ann", 20).await.unwrap(),
        said
    );
    // An empty name or email is the same as none: it reads back as unknown.
    let blank = SenderInfo {
        id: "person-bob".into(),
        email: Some(String::new()),
        display_name: Some(String::new()),
    };
    sessions
        .append(&append(
            "chat:dm:person-bob",
            vec![Turn::user_by("hi", blank)],
            20,
        ))
        .await
        .unwrap();
    assert_eq!(
        sessions.history("chat:dm:person-bob", 20).await.unwrap(),
        [Turn::user_by(
            "hi",
            SenderInfo {
                id: "person-bob".into(),
                email: None,
                display_name: None,
            }
        )]
    );
}

pub async fn sessions_never_share_turns(f: Fixture) {
    let sessions = f.store.sessions();
    // Interleaved appends by the same person to two sessions (one key a prefix of the other).
    for i in 0..6 {
        for key in ["chat:dm:a", "chat:dm:ab"] {
            sessions
                .append(&append(
                    key,
                    vec![
                        Turn::user_by(format!("{key} q{i}"), ann()),
                        Turn::assistant(format!("{key} a{i}")),
                    ],
                    4,
                ))
                .await
                .unwrap();
        }
    }
    for key in ["chat:dm:a", "chat:dm:ab"] {
        assert_eq!(
            sessions.history(key, 100).await.unwrap(),
            [
                Turn::user_by(format!("{key} q4"), ann()),
                Turn::assistant(format!("{key} a4")),
                Turn::user_by(format!("{key} q5"), ann()),
                Turn::assistant(format!("{key} a5")),
            ]
        );
    }
    // Trimming and clearing one session leaves the other whole.
    sessions
        .append(&append("chat:dm:a", Vec::new(), 1))
        .await
        .unwrap();
    assert_eq!(texts(&f, "chat:dm:a").await, ["chat:dm:a a5"]);
    assert_eq!(texts(&f, "chat:dm:ab").await.len(), 4);
    assert_eq!(sessions.clear("chat:dm:ab").await.unwrap(), 4);
    assert_eq!(texts(&f, "chat:dm:a").await, ["chat:dm:a a5"]);
    // Clearing or trimming a session that never had a turn is harmless.
    assert_eq!(sessions.clear("chat:dm:nobody").await.unwrap(), 0);
    sessions
        .append(&SessionAppend::clear("chat:dm:nobody"))
        .await
        .unwrap();
    assert!(texts(&f, "chat:dm:nobody").await.is_empty());
}

pub async fn a_new_author_in_many_sessions_at_once_is_one_author(f: Fixture) {
    // Authors are shared by every session: appends to different sessions may add the same
    // new one at the same time.
    let newcomer = SenderInfo {
        id: "person-new".into(),
        email: Some("new@example.com".into()),
        display_name: Some("New".into()),
    };
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (store, newcomer) = (f.store.clone(), newcomer.clone());
            tokio::spawn(async move {
                store
                    .sessions()
                    .append(&append(
                        &format!("chat:group:room-{i}"),
                        vec![Turn::user_by(format!("hello {i}"), newcomer)],
                        20,
                    ))
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    for i in 0..16 {
        assert_eq!(
            f.store
                .sessions()
                .history(&format!("chat:group:room-{i}"), 20)
                .await
                .unwrap(),
            [Turn::user_by(format!("hello {i}"), newcomer.clone())]
        );
    }
    let rows = f.store.row_counts().await.unwrap();
    let rows_of = |table: &str| rows.iter().find(|(t, _)| *t == table).map(|(_, n)| *n);
    assert_eq!(
        (rows_of("sessions"), rows_of("session_authors")),
        (Some(16), Some(1))
    );
}
