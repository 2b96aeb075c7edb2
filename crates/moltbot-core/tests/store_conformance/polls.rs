//! [`PollRepo`](moltbot_core::store::PollRepo) cases.

use moltbot_core::store::{NewPoll, PollVote, VoteOutcome};

use super::{Fixture, START_MS};

fn lunch(id: &str, closes_at: Option<i64>) -> NewPoll {
    NewPoll {
        id: id.to_string(),
        channel: "chat".to_string(),
        room_id: "room-1".to_string(),
        question: "Lunch?".to_string(),
        options: vec![
            "Pizza".to_string(),
            "Sushi".to_string(),
            "Tacos".to_string(),
        ],
        multiple: false,
        created_by: "cli".to_string(),
        closes_at,
        card_message_id: None,
    }
}

pub async fn create_is_idempotent_and_round_trips(f: Fixture) {
    let polls = f.store.polls();
    assert_eq!(polls.poll("p1").await.unwrap(), None);
    assert!(polls
        .create_poll(&lunch("p1", Some(START_MS + 60_000)))
        .await
        .unwrap());
    let mut again = lunch("p1", None);
    again.question = "Something else?".to_string();
    assert!(
        !polls.create_poll(&again).await.unwrap(),
        "the first one stays"
    );
    let poll = polls.poll("p1").await.unwrap().unwrap();
    assert_eq!(poll.question, "Lunch?");
    assert_eq!(poll.options, ["Pizza", "Sushi", "Tacos"]);
    assert_eq!(poll.room_id, "room-1");
    assert!(!poll.multiple);
    assert_eq!(poll.created_by, "cli");
    assert_eq!(poll.created_at, START_MS);
    assert_eq!(poll.closes_at, Some(START_MS + 60_000));
    assert_eq!((poll.closed_at, poll.announced_at), (None, None));
    assert!(poll.is_open(START_MS));
    assert!(!poll.is_open(START_MS + 60_000));
}

pub async fn one_vote_per_person_changeable_until_close(f: Fixture) {
    let polls = f.store.polls();
    polls.create_poll(&lunch("p1", None)).await.unwrap();
    assert_eq!(
        polls.vote("p1", "alice", &[0]).await.unwrap(),
        VoteOutcome::Recorded
    );
    assert_eq!(
        polls.vote("p1", "bob", &[1]).await.unwrap(),
        VoteOutcome::Recorded
    );
    f.clock.advance(5);
    assert_eq!(
        polls.vote("p1", "alice", &[2]).await.unwrap(),
        VoteOutcome::Changed
    );
    assert_eq!(
        polls.vote("nope", "alice", &[0]).await.unwrap(),
        VoteOutcome::UnknownPoll
    );
    assert_eq!(
        polls.votes("p1").await.unwrap(),
        [
            PollVote {
                poll_id: "p1".into(),
                person_id: "alice".into(),
                choices: vec![2],
                voted_at: START_MS + 5,
            },
            PollVote {
                poll_id: "p1".into(),
                person_id: "bob".into(),
                choices: vec![1],
                voted_at: START_MS,
            },
        ]
    );

    f.clock.advance(5);
    let closed = polls.close_poll("p1").await.unwrap().unwrap();
    assert_eq!(closed.closed_at, Some(START_MS + 10));
    f.clock.advance(5);
    let again = polls.close_poll("p1").await.unwrap().unwrap();
    assert_eq!(
        again.closed_at,
        Some(START_MS + 10),
        "closing twice keeps the first close"
    );
    assert_eq!(polls.close_poll("nope").await.unwrap(), None);
    assert_eq!(
        polls.vote("p1", "carol", &[0]).await.unwrap(),
        VoteOutcome::Closed
    );
    assert_eq!(
        polls.vote("p1", "alice", &[0]).await.unwrap(),
        VoteOutcome::Closed
    );
    assert_eq!(polls.votes("p1").await.unwrap().len(), 2);
}

pub async fn due_polls_close_at_their_time_and_are_announced_once(f: Fixture) {
    let polls = f.store.polls();
    polls
        .create_poll(&lunch("soon", Some(START_MS + 1_000)))
        .await
        .unwrap();
    polls
        .create_poll(&lunch("later", Some(START_MS + 9_000)))
        .await
        .unwrap();
    polls.create_poll(&lunch("never", None)).await.unwrap();
    let mut elsewhere = lunch("other-channel", Some(START_MS + 1_000));
    elsewhere.channel = "other".to_string();
    polls.create_poll(&elsewhere).await.unwrap();

    assert_eq!(polls.close_due_polls("chat").await.unwrap(), 0);
    f.clock.advance(1_000);
    // Past its close time a poll takes no vote, even before the closing pass ran.
    assert_eq!(
        polls.vote("soon", "alice", &[0]).await.unwrap(),
        VoteOutcome::Closed
    );
    assert_eq!(polls.close_due_polls("chat").await.unwrap(), 1);
    assert_eq!(polls.close_due_polls("chat").await.unwrap(), 0);
    let soon = polls.poll("soon").await.unwrap().unwrap();
    assert_eq!(soon.closed_at, Some(START_MS + 1_000));
    assert!(polls
        .poll("later")
        .await
        .unwrap()
        .unwrap()
        .closed_at
        .is_none());

    f.clock.advance(10);
    polls.close_poll("never").await.unwrap();
    let ids: Vec<String> = polls
        .polls_to_announce("chat")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(
        ids,
        ["soon", "never"],
        "oldest close first, this channel only"
    );
    assert!(polls.mark_announced("soon").await.unwrap());
    assert!(!polls.mark_announced("soon").await.unwrap());
    let ids: Vec<String> = polls
        .polls_to_announce("chat")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, ["never"]);
    assert_eq!(
        polls.poll("soon").await.unwrap().unwrap().announced_at,
        Some(START_MS + 1_010)
    );
}

pub async fn concurrent_votes_keep_one_per_person(f: Fixture) {
    f.store
        .polls()
        .create_poll(&lunch("p1", None))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..24u32)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move {
                let person = format!("person-{}", i % 8);
                store.polls().vote("p1", &person, &[i % 3]).await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        let outcome = task.await.unwrap();
        assert!(matches!(
            outcome,
            VoteOutcome::Recorded | VoteOutcome::Changed
        ));
    }
    assert_eq!(f.store.polls().votes("p1").await.unwrap().len(), 8);
}

pub async fn a_poll_is_found_by_its_card_message(f: Fixture) {
    let polls = f.store.polls();
    let mut posted_first = lunch("p1", None);
    posted_first.card_message_id = Some("m-1".to_string());
    polls.create_poll(&posted_first).await.unwrap();
    polls.create_poll(&lunch("p2", None)).await.unwrap();
    assert_eq!(
        polls.poll("p2").await.unwrap().unwrap().card_message_id,
        None
    );
    assert_eq!(
        polls
            .poll_by_card_message("chat", "m-1")
            .await
            .unwrap()
            .unwrap()
            .id,
        "p1"
    );
    assert_eq!(
        polls.poll_by_card_message("chat", "m-2").await.unwrap(),
        None
    );

    assert!(polls.set_card_message("p2", "m-2").await.unwrap());
    assert!(!polls.set_card_message("nope", "m-3").await.unwrap());
    let p2 = polls
        .poll_by_card_message("chat", "m-2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (p2.id.as_str(), p2.card_message_id.as_deref()),
        ("p2", Some("m-2"))
    );
    assert_eq!(
        polls.poll_by_card_message("other", "m-2").await.unwrap(),
        None,
        "another channel's message"
    );
    // Posted again (after a crash): the new message is the card.
    assert!(polls.set_card_message("p2", "m-2b").await.unwrap());
    assert_eq!(
        polls.poll_by_card_message("chat", "m-2").await.unwrap(),
        None
    );
    assert_eq!(
        polls
            .poll_by_card_message("chat", "m-2b")
            .await
            .unwrap()
            .unwrap()
            .id,
        "p2"
    );
}
