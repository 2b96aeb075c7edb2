//! The typed helper API: people who act, typed messages, request-log markers and the webhook
//! delivery count.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use webex_sim::{Faults, RoomType, SimServer};

async fn sim_with_bot() -> SimServer {
    let sim = SimServer::start().await.unwrap();
    sim.add_bot("molty@webex.bot", "Molty");
    sim
}

#[tokio::test]
async fn a_user_is_created_on_demand_and_dms_the_bot() {
    let sim = sim_with_bot().await;
    let alice = sim.user("alice");
    assert_eq!(alice.email(), "alice@example.com");
    assert_eq!(alice.person().display_name, "Alice");
    // The same person the next time, by name or by email.
    assert_eq!(sim.user("alice@example.com").id(), alice.id());

    let hi = alice.dm_bot("hi").await;
    assert_eq!(hi.room_type, RoomType::Direct);
    assert_eq!(hi.person_email, "alice@example.com");
    assert_eq!(hi.content(), "hi");
    assert!(hi.is_by(alice.person()));
    assert_eq!(hi.raw()["id"], json!(hi.id));
    assert!(sim.bot_replies_in(&hi).is_empty());

    let bot = sim.bot();
    let answer = sim.as_user(&bot).post(&hi, "**hello**").await;
    assert_eq!(answer.markdown.as_deref(), Some("**hello**"));
    assert_eq!(sim.bot_replies_in(&hi), vec![answer.clone()]);
    assert_eq!(sim.messages_in(&hi.room_id).len(), 2);
    assert_eq!(sim.messages_by(alice.person(), &hi), vec![hi]);
}

#[tokio::test]
async fn a_space_holds_the_bot_and_mentions_it_the_webex_way() {
    let sim = sim_with_bot().await;
    let team = sim.space("Team", &["alice", "bob"]);
    let asked = sim.user("bob").mention_bot(&team, "status?").await;
    assert_eq!(asked.room_type, RoomType::Group);
    assert_eq!(asked.room_id, team.id);
    assert_eq!(asked.mentioned_people, vec![sim.bot().id]);
    assert_eq!(asked.text.as_deref(), Some("Molty status?"));

    let reply = sim.user("alice").reply_in_thread(&asked, "me too").await;
    assert_eq!(reply.parent_id.as_deref(), Some(asked.id.as_str()));
    // The bot sees only the message that mentions it.
    let seen = get(
        &sim,
        &sim.bot(),
        &format!("/messages?roomId={}&mentionedPeople=me", team.id),
    )
    .await;
    assert_eq!(seen.items().len(), 1);
}

#[tokio::test]
async fn refusals_come_back_typed_from_the_try_forms() {
    let sim = sim_with_bot().await;
    let bob = sim.user("bob").person().clone();
    // A bot may not open a 1:1 with someone who never wrote to it.
    let err = sim
        .as_user(&sim.bot())
        .try_dm(&bob, "hello")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(!err.is_retryable());
    sim.fail_next("POST", "/messages", 503, 1);
    let err = sim.user("alice").try_dm(&bob, "hi").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("POST /messages answered 503"),
        "{err}"
    );
}

#[tokio::test]
#[should_panic(expected = "webex-sim has no bot")]
async fn dm_bot_without_a_bot_says_so() {
    let sim = SimServer::start().await.unwrap();
    sim.user("alice").dm_bot("anyone?").await;
}

#[tokio::test]
#[should_panic(expected = "webex-sim has 2 bots")]
async fn dm_bot_with_two_bots_says_so() {
    let sim = sim_with_bot().await;
    sim.add_bot("other@webex.bot", "Other");
    sim.user("alice").dm_bot("which one?").await;
}

#[tokio::test]
async fn a_marker_lists_only_later_calls_per_caller() {
    let sim = sim_with_bot().await;
    let alice = sim.user("alice");
    alice.dm_bot("before").await;
    let mark = sim.mark();
    assert!(sim.calls_since(mark).is_empty());
    alice.dm_bot("after").await;
    let bot = sim.bot();
    get(&sim, &bot, "/people/me").await;
    let by_alice = sim.calls_by(alice.person(), mark);
    assert_eq!(by_alice.len(), 1);
    assert_eq!(
        (by_alice[0].method.as_str(), by_alice[0].path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(sim.calls_by(&bot, mark).len(), 1);
    assert_eq!(sim.calls_since(mark).len(), 2);
    // Clearing the log does not renumber: an old marker still means "after that point".
    sim.clear_requests();
    get(&sim, &bot, "/people/me").await;
    assert_eq!(sim.calls_since(mark).len(), 1);
    assert!(sim.calls_since(sim.mark()).is_empty());
}

#[tokio::test]
async fn deliveries_in_flight_count_until_the_target_answered() {
    let sim = sim_with_bot().await;
    let mut rx = receiver().await;
    let bot = sim.bot();
    let hook = post(
        &sim,
        &bot,
        "/webhooks",
        json!({"name": "n", "targetUrl": rx.url, "resource": "messages", "event": "created"}),
    )
    .await;
    assert_eq!(hook.status, 200);
    sim.set_faults(Faults {
        webhook_delay_ms: 200,
        webhook_duplicate_ratio: 1.0,
        ..Faults::default()
    });
    assert_eq!(sim.deliveries_in_flight(), 0);
    sim.user("alice").dm_bot("one").await;
    // Delayed and sent twice: both deliveries are pending before either went out.
    assert_eq!(sim.deliveries_in_flight(), 2);
    tokio::time::timeout(Duration::from_secs(5), sim.deliveries_done())
        .await
        .unwrap();
    assert_eq!(sim.deliveries_in_flight(), 0);
    rx.next().await;
    rx.next().await;
    // Dropped deliveries never count.
    sim.set_faults(Faults {
        webhook_drop_ratio: 1.0,
        ..Faults::default()
    });
    sim.user("alice").dm_bot("two").await;
    assert_eq!(sim.deliveries_in_flight(), 0);
}

#[tokio::test]
async fn a_watcher_reads_only_the_messages_created_since_it_last_looked() {
    let sim = sim_with_bot().await;
    let (start, cursor) = sim.messages_since(webex_sim::MessageCursor::default());
    assert!(start.is_empty());

    let hi = sim.user("alice").dm_bot("hi").await;
    let team = sim.space("Team", &["bob"]);
    let asked = sim.user("bob").mention_bot(&team, "status?").await;
    // Every room, oldest first.
    let (new, cursor) = sim.messages_since(cursor);
    assert_eq!(new, vec![hi.clone(), asked.clone()]);
    // Nothing new: nothing again.
    let (none, cursor) = sim.messages_since(cursor);
    assert!(none.is_empty());

    let bot = sim.bot();
    let answer = sim.as_user(&bot).post(&hi, "hello").await;
    let (new, cursor) = sim.messages_since(cursor);
    assert_eq!(new, vec![answer]);

    // After a reset the numbering starts again: an old cursor reads from the first message,
    // however many were written since (more than before the reset, here).
    let before_reset = sim.message_cursor();
    assert_eq!(before_reset, cursor);
    sim.reset();
    sim.add_bot("molty@webex.bot", "Molty");
    let mut again = Vec::new();
    for i in 0..5 {
        again.push(
            sim.user("carol")
                .dm_bot(&format!("after the reset {i}"))
                .await,
        );
    }
    let (new, cursor) = sim.messages_since(cursor);
    assert_eq!(new, again);
    // The cursor taken now reads nothing that is already there.
    assert_eq!(sim.message_cursor(), cursor);
    assert!(sim.messages_since(sim.message_cursor()).0.is_empty());
}
