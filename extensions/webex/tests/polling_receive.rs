//! The polling receiver against webex-sim: first start, mentions, pagination, restarts,
//! catch-up age, the bot's own messages, the run loop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod polling_support;

use std::time::Duration;

use moltbot_core::store::InboundState;
use moltbot_webex::polling::cursor::{room_key, RoomCursor};
use moltbot_webex::polling::TOO_OLD_REASON;
use moltbot_webex::shared::CHANNEL;
use polling_support::{created_of, Harness};
use tokio_util::sync::CancellationToken;

const FIFTEEN_MINUTES: Duration = Duration::from_secs(15 * 60);

/// Waits until this machine's clock has moved past `ms` (unix ms), so two moments compare.
async fn after_ms(ms: i64) {
    while polling_support::real_now_ms() <= ms {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn first_start_answers_what_came_after_connect_but_not_history() {
    // A message that arrives while the receivers start (its webhook delivery answered 503,
    // since nothing can claim it yet) must be found by the first catch-up, although the
    // cursor of a first start is "now": history before `connect` stays unanswered.
    let h = Harness::start(FIFTEEN_MINUTES).await;
    let space = h.sim.space("Team", &["alice"]);
    let alice = h.sim.as_user(&h.alice);
    let old_dm = h.dm(&h.alice, "history dm").await;
    let old_mention = alice.mention_bot(&space, "history").await;
    after_ms(created_of(&old_mention)).await;
    let connected = polling_support::real_now_ms();
    after_ms(connected).await;
    h.shared.connected_at_ms.set(connected).unwrap();
    let dm = h.dm(&h.alice, "sent while the gateway started").await;
    let mention = alice.mention_bot(&space, "me too").await;

    let mut poller = h.poller();
    let first = poller.poll_once().await.unwrap();
    assert_eq!(first.new_messages, 2, "{first:?}");
    let ledger = h.store.ledger();
    assert!(ledger.get(CHANNEL, &dm.id).await.unwrap().is_some());
    assert!(ledger.get(CHANNEL, &mention.id).await.unwrap().is_some());
    for old in [&old_dm, &old_mention] {
        assert!(
            ledger.get(CHANNEL, &old.id).await.unwrap().is_none(),
            "history before connect is not answered"
        );
    }
    assert_eq!(h.claimed().await, 2);
}

#[tokio::test]
async fn first_start_ignores_history_then_takes_new_dms_and_mentions_only() {
    let h = Harness::start(FIFTEEN_MINUTES).await;
    let space = h.sim.space("Team", &["alice"]);
    let alice = h.sim.as_user(&h.alice);
    h.dm(&h.alice, "history dm").await;
    alice.mention_bot(&space, "history").await;

    let mut poller = h.poller();
    let first = poller.poll_once().await.unwrap();
    assert_eq!(
        first.requests, 1,
        "first start: one GET /rooms, nothing read"
    );
    assert_eq!(first.rooms_read, 0);
    assert_eq!(first.new_messages, 0);
    assert_eq!(h.claimed().await, 0, "history is not answered");

    let dm = h.dm(&h.alice, "hello bot").await;
    let mention = alice.mention_bot(&space, "help me").await;
    let chatter = alice.post(&space, "just chatting, no mention").await;
    h.sim.clear_requests();

    let report = poller.poll_once().await.unwrap();
    assert_eq!(report.new_messages, 2);
    assert_eq!(report.rooms_read, 2);
    assert_eq!(h.claimed().await, 2);
    let inbound = h.store.ledger();
    assert!(inbound.get(CHANNEL, &dm.id).await.unwrap().is_some());
    assert!(inbound.get(CHANNEL, &mention.id).await.unwrap().is_some());
    assert!(
        inbound.get(CHANNEL, &chatter.id).await.unwrap().is_none(),
        "a space message without a mention is never read"
    );

    // Every listing of the space asked only for mentions (Webex answers 403 otherwise).
    let listings = h.bot_requests("GET", "/v1/messages");
    assert_eq!(listings.len(), 2);
    let space_listings: Vec<_> = listings
        .iter()
        .filter(|r| r.query.as_deref().unwrap_or("").contains(&space.id))
        .collect();
    assert_eq!(space_listings.len(), 1);
    assert!(space_listings.iter().all(|r| r
        .query
        .as_deref()
        .unwrap()
        .contains("mentionedPeople=me")));
    assert!(listings.iter().all(|r| r.status == 200));

    let mut replies = h.wait_for_sent(2).await;
    replies.sort();
    assert_eq!(
        replies,
        vec!["hello bot".to_string(), "help me".to_string()]
    );
}

#[tokio::test]
async fn a_burst_of_120_messages_is_read_back_to_the_cursor_oldest_first() {
    let h = Harness::start(FIFTEEN_MINUTES).await;
    let mut poller = h.poller();
    h.dm(&h.alice, "before start").await;
    poller.poll_once().await.unwrap();

    let mut sent = Vec::new();
    for i in 0..120 {
        sent.push(h.dm(&h.alice, &format!("m{i:03}")).await);
    }
    h.sim.clear_requests();
    let report = poller.poll_once().await.unwrap();
    assert_eq!(report.new_messages, 120);
    assert_eq!(report.rooms_read, 1);
    // One GET /rooms, then pages of 50: 50 + 50 + 20 (the third page reaches the cursor).
    assert_eq!(report.requests, 4);
    assert_eq!(h.bot_requests("GET", "/v1/messages").len(), 3);
    assert_eq!(h.bot_requests("GET", "/v1/rooms").len(), 1);
    assert_eq!(h.claimed().await, 120);

    // Delivered oldest first: the echo replies come back in the order they were written.
    let replies = h.wait_for_sent(120).await;
    let expected: Vec<String> = (0..120).map(|i| format!("m{i:03}")).collect();
    assert_eq!(replies, expected);

    // The room cursor sits on the newest message.
    let room_id = sent[0].room_id.as_str();
    let stored = h
        .store
        .cursors()
        .get(CHANNEL, &room_key(room_id))
        .await
        .unwrap()
        .unwrap();
    let cursor = RoomCursor::decode(&stored).unwrap();
    assert_eq!(cursor.id, sent[119].id);
    assert_eq!(cursor.created_ms, created_of(&sent[119]));
}

#[tokio::test]
async fn the_bots_own_messages_are_claimed_and_skipped_and_idle_returns_to_one_request() {
    let h = Harness::start(FIFTEEN_MINUTES).await;
    let mut poller = h.poller();
    poller.poll_once().await.unwrap();

    h.dm(&h.alice, "ping").await;
    h.sim.clear_requests();
    let read = poller.poll_once().await.unwrap();
    assert_eq!((read.requests, read.new_messages), (2, 1));
    h.wait_for_sent(1).await;
    let room_id = h.sim.direct_room(&h.alice, &h.bot).unwrap();
    let own = h.sim.messages_by(&h.bot, &room_id);
    assert_eq!(own.len(), 1, "the echo reply reached the sim");

    // The reply moved the room: it is read once more and the bot's message is passed over
    // without a store write (not even a ledger row: it is never answered).
    let echo = poller.poll_once().await.unwrap();
    assert_eq!(
        (echo.requests, echo.rooms_read, echo.new_messages),
        (2, 1, 0)
    );
    assert_eq!(
        h.store.ledger().get(CHANNEL, &own[0].id).await.unwrap(),
        None
    );

    let idle = poller.poll_once().await.unwrap();
    assert_eq!(
        (idle.requests, idle.rooms_read, idle.new_messages),
        (1, 0, 0)
    );

    // Measured cost of one answered DM beyond the idle GET /rooms of each pass: two
    // GET /messages (the question, then the bot's own reply) and the POST of the reply.
    assert_eq!(h.bot_requests("GET", "/v1/messages").len(), 2);
    assert_eq!(h.bot_requests("POST", "/v1/messages").len(), 1);
    assert_eq!(h.bot_requests("GET", "/v1/rooms").len(), 3);
    assert_eq!(h.sent().len(), 1, "the bot never answers itself");
}

#[tokio::test]
async fn a_restart_resumes_from_the_cursor_and_skips_what_is_too_old() {
    let max_age = Duration::from_secs(60);
    let h = Harness::start(max_age).await;
    let space = h.sim.space("Team", &["alice"]);
    {
        let mut before = h.poller();
        before.poll_once().await.unwrap();
        h.dm(&h.alice, "before restart").await;
        assert_eq!(before.poll_once().await.unwrap().new_messages, 1);
        h.wait_for_sent(1).await;
        before.poll_once().await.unwrap(); // the bot's own reply
    }

    // Down: three messages arrive; the first is "old" by the time we come back.
    let old = h.dm(&h.alice, "sent long ago").await;
    let fresh = h.dm(&h.alice, "sent while down").await;
    let mention = h
        .sim
        .as_user(&h.alice)
        .mention_bot(&space, "while down")
        .await;
    let max_age_ms = i64::try_from(max_age.as_millis()).unwrap();
    h.clock.set(created_of(&old) + max_age_ms + 1);

    let mut after = h.poller();
    let report = after.poll_once().await.unwrap();
    assert_eq!(report.new_messages, 3);
    assert_eq!(report.rooms_read, 2);

    let inbound = h.store.ledger();
    let old_record = inbound.get(CHANNEL, &old.id).await.unwrap().unwrap();
    assert_eq!(old_record.state, InboundState::Skipped);
    assert_eq!(old_record.reason.as_deref(), Some(TOO_OLD_REASON));
    for message in [&fresh, &mention] {
        let record = inbound.get(CHANNEL, &message.id).await.unwrap().unwrap();
        assert_ne!(record.state, InboundState::Skipped);
    }
    let mut replies = h.wait_for_sent(3).await;
    replies.sort();
    assert_eq!(
        replies,
        vec![
            "before restart".to_string(),
            "sent while down".to_string(),
            "while down".to_string()
        ]
    );

    // Nothing is claimed twice after the restart: the next pass only finds the bot's reply in
    // the DM (its reply in the space does not mention it, so it is not listed there), which it
    // passes over without recording it.
    let claimed = h.claimed().await;
    let again = after.poll_once().await.unwrap();
    assert_eq!(again.new_messages, 0, "{again:?}");
    assert_eq!(h.claimed().await, claimed);
}

#[tokio::test]
async fn run_keeps_polling_through_api_errors_and_stops_on_shutdown() {
    let h = Harness::start(FIFTEEN_MINUTES).await;
    let mut poller = h.poller();
    poller.poll_once().await.unwrap();
    h.sim.fail_next("GET", "/v1/rooms", 503, 1);
    h.dm(&h.alice, "after the outage").await;

    let shutdown = CancellationToken::new();
    let task = tokio::spawn(poller.run(Duration::from_millis(20), shutdown.clone()));
    let replies = h.wait_for_sent(1).await;
    assert_eq!(replies, vec!["after the outage".to_string()]);
    let rooms = h.bot_requests("GET", "/v1/rooms");
    assert!(
        rooms.iter().any(|r| r.status == 503),
        "the failure happened"
    );
    assert!(rooms.iter().any(|r| r.status == 200));

    shutdown.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run returns promptly on shutdown")
        .unwrap();
    assert!(outcome.is_ok());
}

#[tokio::test]
async fn a_failed_pass_moves_no_cursor_and_the_next_pass_catches_up() {
    use moltbot_webex::polling::{cursor::GLOBAL_KEY, PollError};
    let h = Harness::start(FIFTEEN_MINUTES).await;
    let mut poller = h.poller();
    poller.poll_once().await.unwrap();
    let before = h.store.cursors().get(CHANNEL, GLOBAL_KEY).await.unwrap();
    assert!(before.is_some());

    h.dm(&h.alice, "retry me").await;
    h.sim.fail_next("GET", "/v1/messages", 503, 1);
    let err = poller.poll_once().await.unwrap_err();
    assert!(
        matches!(&err, PollError::Api(e) if e.status() == Some(503)),
        "{err}"
    );
    assert!(
        err.tracking_id().is_some(),
        "Webex's trackingId is kept for the log"
    );
    assert_eq!(
        h.store.cursors().get(CHANNEL, GLOBAL_KEY).await.unwrap(),
        before
    );
    assert_eq!(h.claimed().await, 0);

    let report = poller.poll_once().await.unwrap();
    assert_eq!(report.new_messages, 1);
    assert_eq!(h.wait_for_sent(1).await, vec!["retry me".to_string()]);
}

#[tokio::test]
async fn messages_the_webhook_path_claimed_are_not_delivered_again() {
    let h = Harness::start(FIFTEEN_MINUTES).await;
    let mut poller = h.poller();
    poller.poll_once().await.unwrap();
    let seen = h.dm(&h.alice, "already seen by the webhook").await;
    let claim = h
        .sink
        .claim(&seen.id, &seen.room_id, created_of(&seen))
        .await
        .unwrap();
    assert_eq!(claim, moltbot_core::gateway::Claim::New);

    let report = poller.poll_once().await.unwrap();
    assert_eq!((report.rooms_read, report.new_messages), (1, 0));
    assert_eq!(h.claimed().await, 1);
    assert!(h.sent().is_empty());
}
