//! A message the gateway heard of but could not fetch (issue 12, item 1), through the binary
//! against webex-sim: it stays pending and is retried until `catchUp.maxAgeMinutes` after its
//! creation, then answered as a threaded reply or dropped with a logged reason; a 403 is
//! skipped with its reason; a 401 stops the gateway with the bad-token error and the message
//! is answered after a restart.

#![allow(clippy::unwrap_used)] // tests may unwrap

use moltbot_core::store::{InboundState, LedgerEntry};
use moltbot_testkit::{Ledger, Scenario, TestHome, World, OPEN};
use webex_sim::{Faults, InRoom};

/// Every `GET /v1/messages/{id}` (the single-message read; listing is `GET /v1/messages?..`).
const MESSAGE_READ: &str = "/v1/messages/";

/// [`OPEN`] in webhook mode with a 3 s safety poll (the set-up).
fn webhook_with_safety_poll(world: &World) -> String {
    world.config("webhook", OPEN).replace(
        "webhook: { port: 0,",
        "webhook: { port: 0, safetyPollSeconds: 3,",
    )
}

async fn start_webhook_with_safety_poll() -> Scenario {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&webhook_with_safety_poll(&world));
    Scenario::start_in(world, home).await
}

/// The log lines that mention `needle`.
fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_webex_answers_404_for_six_times_is_answered_later_in_a_thread() {
    let s = start_webhook_with_safety_poll().await;
    // The example: the first fetch (five tries over ~3.7 s) sees only 404s, the
    // re-drive's first try the sixth.
    s.sim.fail_next("GET", MESSAGE_READ, 404, 6);
    let asked = s.alice().dm_bot("are you there?").await;
    let rooms_polled_before = polls(&s);

    assert_eq!(s.wait_replies(&asked, 1).await, ["are you there?"]);
    let reply = s.sim.bot_replies_in(&asked).pop().unwrap();
    assert_eq!(
        reply.parent_id.as_deref(),
        Some(asked.id.as_str()),
        "answered late, so under the message"
    );
    let row = ledger_row(&s, &asked).await;
    assert_eq!(row.state, InboundState::Replied);
    assert!(row.deferred && row.attempts >= 2, "{row:?}");
    assert!(
        polls(&s) > rooms_polled_before,
        "a safety poll ran while it was pending and did not finish it"
    );
    let log = s.log();
    let retry = lines_with(&log, "could not fetch a message");
    assert!(
        retry
            .iter()
            .any(|l| l.contains(&asked.id) && l.contains("404") && l.contains("WARN")),
        "the retry is logged with the id and the 404:\n{log}"
    );
    s.settled().await;
    assert_eq!(s.bot_texts(&asked).len(), 1, "answered once");
    s.finish().await;
}

/// `message`'s ledger row (it must be recorded).
async fn ledger_row(s: &Scenario, message: &webex_sim::SimMessage) -> LedgerEntry {
    s.gateway()
        .ledger()
        .entry(&message.id)
        .await
        .unwrap()
        .unwrap()
}

/// Passes of the safety poll so far (`GET /v1/rooms` calls).
fn polls(s: &Scenario) -> usize {
    s.sim
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/v1/rooms")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_unreadable_until_past_the_catch_up_age_is_dropped_with_id_room_and_reason() {
    let s = start_webhook_with_safety_poll().await;
    // Webex delivers the webhook of a message 20 minutes late (it retries failed deliveries),
    // and the message cannot be read: past catchUp.maxAgeMinutes (15) it is given up at once.
    s.sim.set_faults(Faults {
        webhook_drop_ratio: 1.0,
        ..Faults::default()
    });
    let old = s.alice().dm_bot("an old question").await;
    s.sim.fail_next("GET", MESSAGE_READ, 404, 5);
    let twenty_minutes_ago = webex_sim::clock::now_ms() - 20 * 60 * 1000;
    deliver_webhook(&s, &old, twenty_minutes_ago).await;

    let state = s.handled(&old).await;
    assert_eq!(state, InboundState::Skipped);
    let row = ledger_row(&s, &old).await;
    assert_eq!(
        row.reason.as_deref(),
        Some("could not be read within catchUp.maxAgeMinutes of its creation")
    );
    let log = s.log();
    let dropped: Vec<&str> = lines_with(&log, "message not answered")
        .into_iter()
        .filter(|l| l.contains(&old.id))
        .collect();
    assert!(
        dropped.iter().any(|l| l.contains(old.room_id())
            && l.contains("could not be read within catchUp.maxAgeMinutes")
            && l.contains("WARN")),
        "the drop is logged with its id, room and reason:\n{log}"
    );
    assert!(s.bot_texts(&old).is_empty(), "not answered");
    s.sim.set_faults(Faults::default());
    s.finish().await;
}

/// Sends a signed `messages:created` delivery for `message`, claiming it was created at
/// `created_ms` (unix ms), as Webex would (the secret is the one the gateway generated and
/// registered).
async fn deliver_webhook(s: &Scenario, message: &webex_sim::SimMessage, created_ms: i64) {
    let secret = s
        .gateway()
        .ledger()
        .store()
        .kv()
        .get("webex", "webhook_secret")
        .await
        .unwrap()
        .unwrap();
    let created = webex_sim::clock::format_ms(created_ms);
    let body = serde_json::json!({
        "resource": "messages",
        "event": "created",
        "data": {
            "id": message.id,
            "roomId": message.room_id,
            "roomType": "direct",
            "personId": message.person_id,
            "personEmail": message.person_email,
            "created": created,
        },
    })
    .to_string();
    let resp = reqwest::Client::new()
        .post(format!("{}/webex/webhook", s.gateway().http))
        .header("content-type", "application/json")
        .header(
            "X-Spark-Signature",
            webex_sim::delivery::sign(&secret, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_bot_may_not_read_is_skipped_with_its_reason_and_the_room_goes_on() {
    let s = start_webhook_with_safety_poll().await;
    s.sim.fail_next("GET", MESSAGE_READ, 403, 1);
    let forbidden = s.alice().dm_bot("you may not read me").await;
    assert_eq!(s.handled(&forbidden).await, InboundState::Skipped);
    let next = s.alice().dm_bot("but this one").await;
    assert_eq!(s.wait_replies(&next, 1).await, ["but this one"]);

    let row = ledger_row(&s, &forbidden).await;
    assert_eq!(
        row.reason.as_deref(),
        Some("the bot may not read this message (403)")
    );
    let log = s.log();
    assert!(
        lines_with(&log, "message not answered")
            .iter()
            .any(|l| l.contains(&forbidden.id)
                && l.contains(forbidden.room_id())
                && l.contains("the bot may not read this message (403)")
                && l.contains("INFO")),
        "the skip is logged with its id, room and reason:\n{log}"
    );
    s.settled().await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_on_a_fetch_stops_the_gateway_and_a_restart_answers_the_message() {
    let mut s = start_webhook_with_safety_poll().await;
    s.sim.fail_next("GET", MESSAGE_READ, 401, 1);
    let asked = s.alice().dm_bot("hello?").await;

    let (code, log) = s.wait_gateway_exit().await;
    assert_eq!(code, Some(1), "stops with an error:\n{log}");
    let line = log
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("an error line:\n{log}"));
    assert!(line.contains("channel webex stopped"), "{line}");
    assert!(line.contains("the bot token is invalid"), "{line}");
    assert!(line.contains("401"), "{line}");
    assert!(!log.contains(&s.bot.token), "the token is never printed");
    let ledger = Ledger::open(&s.home.store_path()).unwrap();
    assert!(
        ledger
            .state_of(&asked.id)
            .await
            .unwrap()
            .is_some_and(InboundState::is_pending),
        "the message stays pending"
    );
    assert!(s.bot_texts(&asked).is_empty());

    // With the token accepted again, the next start answers it, once.
    s.start_gateway().await;
    assert_eq!(s.wait_replies(&asked, 1).await, ["hello?"]);
    s.settled().await;
    assert_eq!(s.bot_texts(&asked).len(), 1);
    s.finish().await;
}
