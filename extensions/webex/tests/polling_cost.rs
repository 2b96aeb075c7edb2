//! What polling costs with many rooms: one request per idle pass, `Link` pages of rooms only
//! when every room of a page moved.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod polling_support;

use std::time::Duration;

use polling_support::{Harness, BOT_EMAIL};

const FIFTEEN_MINUTES: Duration = Duration::from_secs(15 * 60);

/// 490 spaces and 10 DMs.
async fn five_hundred_rooms(h: &Harness) -> Vec<String> {
    let mut spaces = Vec::new();
    for i in 0..490 {
        spaces.push(
            h.sim
                .create_room(&format!("Space {i}"), &["alice@example.com", BOT_EMAIL])
                .id,
        );
    }
    for i in 0..10 {
        let person = h
            .sim
            .add_person(&format!("user{i}@example.com"), &format!("User {i}"));
        h.dm(&person, "hello from before the start").await;
    }
    spaces
}

#[tokio::test]
async fn an_idle_pass_is_exactly_one_request_with_500_rooms() {
    let h = Harness::start(FIFTEEN_MINUTES).await;
    five_hundred_rooms(&h).await;
    let mut poller = h.poller();
    let first = poller.poll_once().await.unwrap();
    assert_eq!(first.requests, 1);

    h.sim.clear_requests();
    for _ in 0..3 {
        let report = poller.poll_once().await.unwrap();
        assert_eq!(
            (report.requests, report.rooms_read, report.new_messages),
            (1, 0, 0)
        );
    }
    let requests = h.sim.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(requests
        .iter()
        .all(|r| r.method == "GET" && r.path == "/v1/rooms" && r.status == 200));
    assert!(requests.iter().all(|r| r
        .query
        .as_deref()
        .unwrap_or("")
        .contains("sortBy=lastactivity")));
    assert_eq!(h.claimed().await, 0);
}

#[tokio::test]
async fn rooms_past_the_first_page_are_read_when_every_room_on_it_moved() {
    let h = Harness::start(FIFTEEN_MINUTES).await;
    let spaces = five_hundred_rooms(&h).await;
    let mut poller = h.poller();
    poller.poll_once().await.unwrap();

    // 60 spaces get a mention: the first page (50) all moved, so the second page is read,
    // and the walk stops on it at the first room that did not move.
    for space in spaces.iter().take(60) {
        h.sim
            .post_in_room(&h.alice, space, &format!("<@personEmail:{BOT_EMAIL}> hi"))
            .await
            .unwrap();
    }
    h.sim.clear_requests();
    let report = poller.poll_once().await.unwrap();
    assert_eq!(report.rooms_read, 60);
    assert_eq!(report.new_messages, 60);
    assert_eq!(h.bot_requests("GET", "/v1/rooms").len(), 2);
    assert_eq!(h.bot_requests("GET", "/v1/messages").len(), 60);
    assert_eq!(report.requests, 62);
    h.wait_for_sent(60).await;

    // The bot's replies in the spaces move them, but none mentions the bot: one cheap
    // listing each, nothing new; after that the cost is back to one request.
    let after_replies = poller.poll_once().await.unwrap();
    assert_eq!(after_replies.new_messages, 0);
    let idle = poller.poll_once().await.unwrap();
    assert_eq!(idle.requests, 1);
}

#[tokio::test]
async fn a_dm_whose_last_activity_is_not_listed_is_read_once_more_not_forever() {
    let h = Harness::start(FIFTEEN_MINUTES).await;
    let mut poller = h.poller();
    poller.poll_once().await.unwrap();
    h.dm(&h.alice, "a").await;
    poller.poll_once().await.unwrap();
    h.wait_for_sent(1).await;
    poller.poll_once().await.unwrap(); // the bot's own reply

    // A message that moves the room but is gone (deleted) by the time the room is read, as
    // when Webex lists the activity before the message is readable.
    let gone = h.dm(&h.alice, "b").await;
    let id = gone.id;
    h.sim
        .call_as(
            &h.alice,
            reqwest::Method::DELETE,
            &format!("/messages/{id}"),
            None,
        )
        .await
        .unwrap();

    let moved = poller.poll_once().await.unwrap();
    assert_eq!(
        (moved.requests, moved.rooms_read, moved.new_messages),
        (2, 1, 0)
    );
    let second_look = poller.poll_once().await.unwrap();
    assert_eq!((second_look.requests, second_look.rooms_read), (2, 1));
    let idle = poller.poll_once().await.unwrap();
    assert_eq!(idle.requests, 1, "one extra read at most");
}
