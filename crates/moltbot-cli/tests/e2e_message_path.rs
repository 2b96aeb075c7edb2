//! The message path through the binary: a message that cannot be read yet does not hold up its
//! room, and a burst over many rooms keeps each room's order.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::HashMap;

use moltbot_testkit::{wait, Scenario, OPEN_FAST};
use webex_sim::{Faults, InRoom};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_unreadable_for_a_while_does_not_hold_up_its_room() {
    let s = Scenario::start("webhook", OPEN_FAST).await;
    // Alice's first message cannot be read for a while: its delivery is held back long enough
    // for every read of it to be made to fail (8 answers 503: two fetches of four tries each).
    s.sim.set_faults(Faults {
        webhook_delay_ms: 300,
        ..Faults::default()
    });
    let stuck = s.alice().dm_bot("first, but unreadable for a while").await;
    s.sim
        .fail_next("GET", &format!("/v1/messages/{}", stuck.id), 503, 8);
    let set_aside = s
        .gateway()
        .ledger()
        .wait_set_aside(&stuck.id, wait::TIMEOUT)
        .await;
    assert!(set_aside.state.is_pending(), "{set_aside:?}");
    s.sim.set_faults(Faults::default());

    // Her next messages go ahead of it...
    let second = s.alice().dm_bot("second").await;
    let third = s.alice().dm_bot("third").await;
    assert_eq!(s.wait_replies(&second, 2).await, ["second", "third"]);
    assert!(
        s.gateway()
            .ledger()
            .state_of(&stuck.id)
            .await
            .unwrap()
            .unwrap()
            .is_pending(),
        "the unreadable message is still waiting"
    );

    // ...and it is answered once it can be read, in a thread under it.
    assert_eq!(
        s.wait_replies(&third, 3).await,
        ["second", "third", "first, but unreadable for a while"]
    );
    let replies = s.sim.bot_replies_in(&stuck);
    let late = replies.last().unwrap();
    assert_eq!(late.parent_id.as_deref(), Some(stuck.id.as_str()));
    assert!(replies[..2].iter().all(|r| r.parent_id.is_none()));
    s.settled().await;
    assert_eq!(s.bot_texts(&stuck).len(), 3, "each message answered once");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_200_over_10_rooms_is_answered_in_order_in_each_room() {
    let s = Scenario::start("webhook", OPEN_FAST).await;
    let users: Vec<String> = (0..10).map(|i| format!("user{i}")).collect();
    // Everyone writes at once: 20 messages each, each user's in order.
    let sent = futures::future::join_all(users.iter().map(|name| {
        let s = &s;
        async move {
            let user = s.user(name);
            let mut sent = Vec::new();
            for n in 0..20 {
                sent.push(user.dm_bot(&format!("{name} message {n}")).await);
            }
            sent
        }
    }))
    .await;
    for messages in &sent {
        let expected: Vec<String> = messages.iter().map(|m| m.content().to_string()).collect();
        assert_eq!(s.wait_replies(&messages[0], 20).await, expected);
    }
    s.settled().await;
    let mut answers: HashMap<String, usize> = HashMap::new();
    for messages in &sent {
        *answers
            .entry(messages[0].room_id().to_string())
            .or_default() += s.bot_texts(&messages[0]).len();
    }
    assert!(answers.values().all(|n| *n == 20), "{answers:?}");
    s.finish().await;
}
