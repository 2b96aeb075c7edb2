//! End-to-end tests of every call against the `webex-sim` emulator (which shares no code with
//! this client, so each checks the other).

#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use url::Url;
use webex_api::{
    same_entity, ClientConfig, CreateMessage, CreateWebhook, DirectPeer, EditMessage, Error,
    ListMessages, ListRooms, MessageTarget, PersonType, RequestEvent, RequestObserver, RoomType,
    UpdateWebhook, WebexClient, WebexId, WebhookEvent, WebhookResource, WebhookStatus,
};
use webex_sim::{Faults, SimPerson, SimServer};

const BOT_EMAIL: &str = "moltbot@webex.bot";
const ALICE: &str = "alice@example.com";

#[derive(Default)]
struct Waits(Mutex<Vec<Duration>>);

impl RequestObserver for Waits {
    fn on_request(&self, _event: &RequestEvent<'_>) {}
    fn on_rate_limited(&self, _endpoint: &str, wait: Duration) {
        self.0.lock().unwrap().push(wait);
    }
}

struct World {
    sim: SimServer,
    bot: SimPerson,
    alice: SimPerson,
    client: WebexClient,
    waits: Arc<Waits>,
}

fn client_for(sim: &SimServer, who: &SimPerson, rpm: u32, waits: Arc<Waits>) -> WebexClient {
    let mut config = ClientConfig::new(who.token.clone())
        .with_base_url(Url::parse(&sim.api_base()).unwrap())
        .with_requests_per_minute(rpm)
        .with_observer(waits);
    config.backoff_base = Duration::from_millis(10);
    WebexClient::new(config).unwrap()
}

async fn world() -> World {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot(BOT_EMAIL, "Molt Bot");
    let alice = sim.add_person(ALICE, "Alice Example");
    let waits = Arc::new(Waits::default());
    let client = client_for(&sim, &bot, 60_000, waits.clone());
    World {
        sim,
        bot,
        alice,
        client,
        waits,
    }
}

fn requests_to(sim: &SimServer, method: &str, path: &str) -> Vec<webex_sim::RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.method == method && r.path == path)
        .collect()
}

#[tokio::test]
async fn people_calls() {
    let w = world().await;
    let me = w.client.people_me().await.unwrap();
    assert_eq!(me.id, w.bot.id);
    assert_eq!(me.primary_email(), Some(BOT_EMAIL));
    assert_eq!(me.person_type, Some(PersonType::Bot));
    assert_eq!(WebexId::decode(&me.id).unwrap().kind, "PEOPLE");

    let alice = w.client.person(&w.alice.id).await.unwrap();
    assert_eq!(alice.display_name, "Alice Example");

    let by_email = w.client.people_by_email(ALICE).await.unwrap().unwrap();
    assert_eq!(by_email.id, w.alice.id);
    assert!(w
        .client
        .people_by_email("nobody@example.com")
        .await
        .unwrap()
        .is_none());

    let err = w.client.person("not-an-id").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.tracking_id().is_some_and(|t| !t.is_empty()));
}

#[tokio::test]
async fn direct_message_lifecycle() {
    let w = world().await;
    // Alice writes first (bots may not open a 1:1).
    w.sim.dm(&w.alice, BOT_EMAIL, "hello bot").await.unwrap();

    let sent = w
        .client
        .create_message(&CreateMessage::markdown(
            MessageTarget::PersonEmail(ALICE.into()),
            "**hi** Alice",
        ))
        .await
        .unwrap();
    assert_eq!(sent.room_type, Some(RoomType::Direct));
    assert_eq!(sent.person_id, w.bot.id);
    let room = w.sim.direct_room(&w.alice, &w.bot).unwrap();
    assert_eq!(sent.room_id, room);

    let by_id = w
        .client
        .create_message(&CreateMessage::text(
            MessageTarget::PersonId(w.alice.id.clone()),
            "second",
        ))
        .await
        .unwrap();
    assert_eq!(by_id.room_id, room);

    let fetched = w.client.get_message(&sent.id).await.unwrap();
    assert_eq!(fetched.markdown.as_deref(), Some("**hi** Alice"));
    assert!(fetched.created.is_some());

    let direct: Vec<_> = w
        .client
        .list_direct_messages(&DirectPeer::PersonEmail(ALICE.into()))
        .collect_all()
        .await
        .unwrap();
    let texts: Vec<_> = direct.iter().filter_map(|m| m.text.clone()).collect();
    assert!(texts.contains(&"hello bot".to_string()), "{texts:?}");
    assert!(texts.contains(&"second".to_string()), "{texts:?}");
    let by_person_id = w
        .client
        .list_direct_messages(&DirectPeer::PersonId(w.alice.id.clone()))
        .collect_all()
        .await
        .unwrap();
    assert_eq!(by_person_id.len(), direct.len());

    let edited = w
        .client
        .edit_message(
            &sent.id,
            &EditMessage {
                room_id: room.clone(),
                text: None,
                markdown: Some("edited *text*".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(edited.markdown.as_deref(), Some("edited *text*"));
    assert!(w
        .client
        .get_message(&sent.id)
        .await
        .unwrap()
        .updated
        .is_some());

    w.client.delete_message(&by_id.id).await.unwrap();
    let gone = w.client.get_message(&by_id.id).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone:?}");
    let remaining = w.sim.messages_in(&room);
    assert!(remaining.iter().all(|m| m.id != by_id.id));
}

#[tokio::test]
async fn group_messages_page_through_three_pages_keeping_mentions() {
    let w = world().await;
    let room = w.sim.create_room("Team", &[ALICE, BOT_EMAIL]);
    for i in 0..7 {
        w.sim
            .post_in_room(
                &w.alice,
                &room.id,
                &format!("<@personEmail:{BOT_EMAIL}|Molt Bot> question {i}"),
            )
            .await
            .unwrap();
    }
    w.sim
        .post_in_room(&w.alice, &room.id, "not for the bot")
        .await
        .unwrap();
    w.sim.clear_requests();

    let mut pages = w
        .client
        .list_messages(&ListMessages::in_room(&room.id).mentioning_me().with_max(2));
    let mut seen = Vec::new();
    let mut page_count = 0;
    while let Some(page) = pages.try_next().await.unwrap() {
        page_count += 1;
        seen.extend(page.items);
    }
    assert_eq!(page_count, 4);
    assert_eq!(seen.len(), 7);
    // Newest first, every one mentions the bot, by id (base64 and raw uuid agree).
    assert!(seen[0].text.as_deref().unwrap().ends_with("question 6"));
    for message in &seen {
        assert!(message
            .mentioned_people
            .iter()
            .any(|p| same_entity(p, &w.bot.id)));
        let html = message.html.as_deref().unwrap_or_default();
        assert!(html.contains("spark-mention"), "{html}");
    }
    let calls = requests_to(&w.sim, "GET", "/v1/messages");
    assert_eq!(calls.len(), 4);
    assert!(calls.iter().all(|r| r
        .query
        .as_deref()
        .unwrap_or("")
        .contains("mentionedPeople=me")));

    // Without the mention filter a bot may not read a space: the 403 comes back typed.
    let err = w
        .client
        .list_messages(&ListMessages::in_room(&room.id))
        .collect_all()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));

    // Threads: a reply with parentId, listed by parentId.
    let parent = &seen[0].id;
    let reply = w
        .client
        .create_message(
            &CreateMessage::text(MessageTarget::Room(room.id.clone()), "threaded")
                .with_parent(parent),
        )
        .await
        .unwrap();
    assert_eq!(reply.parent_id.as_deref(), Some(parent.as_str()));
}

#[tokio::test]
async fn rooms_and_memberships() {
    let w = world().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            w.sim
                .create_room(&format!("Room {i}"), &[ALICE, BOT_EMAIL])
                .id,
        );
    }
    w.sim.clear_requests();
    let filter = ListRooms {
        max: Some(2),
        ..ListRooms::by_last_activity()
    };
    let pages: Vec<_> = w.client.list_rooms(&filter).try_collect().await.unwrap();
    assert_eq!(pages.len(), 3);
    let rooms: Vec<_> = pages.into_iter().flat_map(|p| p.items).collect();
    assert_eq!(rooms.len(), 5);
    for id in &ids {
        assert!(rooms.iter().any(|r| &r.id == id));
    }
    // sortBy=lastactivity: newest first.
    assert!(rooms
        .windows(2)
        .all(|pair| pair[0].last_activity >= pair[1].last_activity));
    assert!(requests_to(&w.sim, "GET", "/v1/rooms").iter().all(|r| r
        .query
        .as_deref()
        .unwrap_or("")
        .contains("sortBy=lastactivity")));

    let groups = w
        .client
        .list_rooms(&ListRooms {
            room_type: Some(RoomType::Group),
            ..ListRooms::default()
        })
        .collect_all()
        .await
        .unwrap();
    assert_eq!(groups.len(), 5);

    let room = w.client.get_room(&ids[0]).await.unwrap();
    assert_eq!(room.title, "Room 0");
    assert_eq!(room.room_type, Some(RoomType::Group));

    let members = w
        .client
        .list_memberships(&ids[0])
        .collect_all()
        .await
        .unwrap();
    let emails: Vec<_> = members.iter().map(|m| m.person_email.as_str()).collect();
    assert!(
        emails.contains(&ALICE) && emails.contains(&BOT_EMAIL),
        "{emails:?}"
    );
    assert!(members.iter().all(|m| m.room_id == ids[0]));
}

#[tokio::test]
async fn webhook_lifecycle_with_reactivation() {
    let w = world().await;
    let created = w
        .client
        .create_webhook(&CreateWebhook {
            name: "moltbot".into(),
            target_url: "http://127.0.0.1:9/webex/webhook".into(),
            resource: WebhookResource::Messages,
            event: WebhookEvent::Created,
            filter: None,
            secret: Some("s3cret".into()),
        })
        .await
        .unwrap();
    assert_eq!(created.status, Some(WebhookStatus::Active));
    assert_eq!(created.resource, Some(WebhookResource::Messages));

    let listed = w.client.list_webhooks().collect_all().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);

    let update = |status| UpdateWebhook {
        name: "moltbot".into(),
        target_url: "http://127.0.0.1:9/webex/webhook2".into(),
        secret: None,
        status: Some(status),
    };
    let disabled = w
        .client
        .update_webhook(&created.id, &update(WebhookStatus::Inactive))
        .await
        .unwrap();
    assert_eq!(disabled.status, Some(WebhookStatus::Inactive));
    let reactivated = w
        .client
        .update_webhook(&created.id, &update(WebhookStatus::Active))
        .await
        .unwrap();
    assert_eq!(reactivated.status, Some(WebhookStatus::Active));
    let fetched = w.client.get_webhook(&created.id).await.unwrap();
    assert_eq!(fetched.target_url, "http://127.0.0.1:9/webex/webhook2");

    w.client.delete_webhook(&created.id).await.unwrap();
    assert!(w
        .client
        .list_webhooks()
        .collect_all()
        .await
        .unwrap()
        .is_empty());
    assert!(w
        .client
        .get_webhook(&created.id)
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn card_submission_is_readable() {
    let w = world().await;
    w.sim.dm(&w.alice, BOT_EMAIL, "hi").await.unwrap();
    let card = json!({
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {"type": "AdaptiveCard", "version": "1.2", "body": [],
                    "actions": [{"type": "Action.Submit", "title": "OK"}]}
    });
    let message = w
        .client
        .create_message(
            &CreateMessage::text(MessageTarget::PersonEmail(ALICE.into()), "card")
                .with_attachment(card),
        )
        .await
        .unwrap();
    assert_eq!(message.attachments.len(), 1);
    let submitted = w
        .sim
        .submit_card(&w.alice, &message.id, json!({"answer": "yes"}))
        .await
        .unwrap();
    let action_id = submitted["id"].as_str().unwrap();
    let action = w.client.attachment_action(action_id).await.unwrap();
    assert_eq!(action.message_id, message.id);
    assert_eq!(action.person_id, w.alice.id);
    assert_eq!(action.action_type, "submit");
    assert_eq!(action.inputs["answer"], "yes");
}

#[tokio::test]
async fn get_retries_5xx_from_the_emulator() {
    let w = world().await;
    let room = w.sim.create_room("Flaky", &[ALICE, BOT_EMAIL]);
    w.sim.fail_next("GET", "/rooms", 503, 2);
    let fetched = w.client.get_room(&room.id).await.unwrap();
    assert_eq!(fetched.title, "Flaky");
    let path = format!("/v1/rooms/{}", room.id);
    let statuses: Vec<_> = requests_to(&w.sim, "GET", &path)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [503, 503, 200]);
}

#[tokio::test]
async fn post_message_is_not_retried_on_5xx_from_the_emulator() {
    let w = world().await;
    let room = w.sim.create_room("Team", &[ALICE, BOT_EMAIL]);
    w.sim.fail_next("POST", "/messages", 502, 1);
    let err = w
        .client
        .create_message(&CreateMessage::text(
            MessageTarget::Room(room.id.clone()),
            "once",
        ))
        .await
        .unwrap_err();
    match &err {
        Error::Api {
            status,
            tracking_id,
            ..
        } => {
            assert_eq!(*status, 502);
            assert!(tracking_id.is_some());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(requests_to(&w.sim, "POST", "/v1/messages").len(), 1);
    assert!(w.sim.messages_in(&room.id).is_empty());
}

#[tokio::test]
async fn post_message_is_retried_after_a_429() {
    let w = world().await;
    let room = w.sim.create_room("Team", &[ALICE, BOT_EMAIL]);
    w.sim.set_faults(Faults {
        retry_after_seconds: Some(1),
        ..Faults::default()
    });
    w.sim.fail_next("POST", "/messages", 429, 1);
    let sent = w
        .client
        .create_message(&CreateMessage::text(
            MessageTarget::Room(room.id.clone()),
            "hi",
        ))
        .await
        .unwrap();
    let posts = requests_to(&w.sim, "POST", "/v1/messages");
    assert_eq!(
        posts.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200]
    );
    assert!(posts[1].at_ms - posts[0].at_ms >= 1000);
    assert_eq!(w.sim.messages_in(&room.id).len(), 1);
    assert_eq!(w.sim.messages_in(&room.id)[0].id, sent.id);
    assert_eq!(w.waits.0.lock().unwrap().clone(), [Duration::from_secs(1)]);
}

/// Starts a call that will be rate limited with `raw` as `Retry-After`, and returns the wait the
/// client computed, without sleeping it out.
async fn computed_wait(raw: &str) -> Duration {
    let w = world().await;
    w.sim.set_faults(Faults {
        retry_after_raw: Some(raw.to_string()),
        ..Faults::default()
    });
    w.sim.fail_next("GET", "/people/me", 429, 1);
    let call = {
        let client = w.client.clone();
        tokio::spawn(async move { client.people_me().await })
    };
    for _ in 0..500 {
        if let Some(wait) = w.waits.0.lock().unwrap().first() {
            let pause = w.client.rate_limit_pause();
            call.abort();
            assert!(pause.is_some(), "no global pause after a 429");
            return *wait;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the 429 was never observed");
}

#[tokio::test]
async fn malformed_or_missing_retry_after_means_fifteen_seconds() {
    assert_eq!(computed_wait("in a while").await, Duration::from_secs(15));
    assert_eq!(computed_wait("").await, Duration::from_secs(15));
    assert_eq!(computed_wait("3").await, Duration::from_secs(3));
    let in_an_hour =
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600));
    let wait = computed_wait(&in_an_hour).await;
    assert!(
        wait > Duration::from_secs(3590) && wait <= Duration::from_secs(3600),
        "{wait:?}"
    );
}

/// A storm of 429s from the emulator's own per-token limit, in paused virtual time: the
/// emulator admits 20 requests per rolling minute and answers 429 with `Retry-After: 5`; the
/// client's budget is 30 per minute; 60 concurrent calls all succeed, every caller honours the
/// pauses, and no 60 s window holds more requests than the budget.
#[tokio::test(start_paused = true)]
async fn a_429_storm_is_waited_out_within_the_budget() {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot(BOT_EMAIL, "Molt Bot");
    sim.add_person(ALICE, "Alice");
    let room = sim.create_room("Busy", &[ALICE, BOT_EMAIL]);
    sim.set_faults(Faults {
        rate_limit_per_minute: Some(20),
        retry_after_seconds: Some(5),
        ..Faults::default()
    });
    let times = Arc::new(TimedLog::default());
    let mut config = ClientConfig::new(bot.token.clone())
        .with_base_url(Url::parse(&sim.api_base()).unwrap())
        .with_requests_per_minute(30)
        .with_observer(times.clone());
    config.max_rate_limit_retries = 50;
    let client = WebexClient::new(config).unwrap();

    let calls = futures::stream::iter(0..60)
        .map(|_| {
            let client = client.clone();
            let room = room.id.clone();
            tokio::spawn(async move { client.get_room(&room).await })
        })
        .buffer_unordered(60)
        .collect::<Vec<_>>()
        .await;
    for call in calls {
        assert_eq!(call.unwrap().unwrap().title, "Busy");
    }

    let log = requests_to(&sim, "GET", &format!("/v1/rooms/{}", room.id));
    let ok = log.iter().filter(|r| r.status == 200).count();
    let limited = log.iter().filter(|r| r.status == 429).count();
    assert_eq!(ok, 60);
    assert!(limited > 0, "the emulator never rate limited");
    // The emulator saw exactly what the client sent...
    let sent = times.0.lock().unwrap().clone();
    assert_eq!(sent.len(), log.len());
    // ... and never more than the budget in any 60 s window (virtual time of each attempt).
    let max_window = sent
        .iter()
        .map(|start| {
            sent.iter()
                .filter(|t| **t >= *start && **t <= *start + Duration::from_secs(60))
                .count()
        })
        .max()
        .unwrap();
    assert!(max_window <= 30, "{max_window} requests in one minute");
    let span = *sent.iter().max().unwrap() - *sent.iter().min().unwrap();
    eprintln!(
        "storm: {ok} ok, {limited} x 429, busiest minute {max_window}, took {span:?} (virtual)"
    );
}

/// Virtual start time of every HTTP attempt.
#[derive(Default)]
struct TimedLog(Mutex<Vec<tokio::time::Instant>>);

impl RequestObserver for TimedLog {
    fn on_request(&self, event: &RequestEvent<'_>) {
        let started = tokio::time::Instant::now() - event.elapsed;
        self.0.lock().unwrap().push(started);
    }
}
