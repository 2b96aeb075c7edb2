//! Webhook CRUD, envelopes, signatures, filters, bot visibility, auto-deactivation,
//! attachment actions.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha1::Sha1;

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn webhook_crud_and_reactivation() {
    let w = world().await;
    let created = register(
        &w.sim,
        &w.bot,
        "https://example.com/hook",
        "messages",
        Some("roomType=direct"),
        Some("s3cret"),
    )
    .await;
    assert_eq!(created["status"], "active");
    assert_eq!(created["filter"], "roomType=direct");
    assert_eq!(created["secret"], "s3cret");
    assert_eq!(created["createdBy"], json!(w.bot.id));
    let id = created["id"].as_str().unwrap();
    let list = get(&w.sim, &w.bot, "/webhooks").await;
    assert_eq!(list.items().len(), 1);
    // Webhooks belong to their creator.
    assert!(get(&w.sim, &w.alice, "/webhooks").await.items().is_empty());
    assert_webex_error(
        &get(&w.sim, &w.alice, &format!("/webhooks/{id}")).await,
        404,
    );
    let one = get(&w.sim, &w.bot, &format!("/webhooks/{id}")).await;
    assert_eq!(one.body["name"], "test hook");
    let off = put(
        &w.sim,
        &w.bot,
        &format!("/webhooks/{id}"),
        json!({"name": "renamed", "targetUrl": "https://example.com/h2", "status": "inactive"}),
    )
    .await;
    assert_eq!(off.body["status"], "inactive");
    assert_eq!(off.body["name"], "renamed");
    let on = put(
        &w.sim,
        &w.bot,
        &format!("/webhooks/{id}"),
        json!({"name": "renamed", "targetUrl": "https://example.com/h2", "status": "active"}),
    )
    .await;
    assert_eq!(on.body["status"], "active");
    assert_eq!(on.body["targetUrl"], "https://example.com/h2");
    let missing = put(
        &w.sim,
        &w.bot,
        &format!("/webhooks/{id}"),
        json!({"status": "active"}),
    )
    .await;
    assert_webex_error(&missing, 400);
    assert_eq!(
        delete(&w.sim, &w.bot, &format!("/webhooks/{id}"))
            .await
            .status,
        204
    );
    assert_webex_error(&get(&w.sim, &w.bot, &format!("/webhooks/{id}")).await, 404);
}

#[tokio::test]
async fn webhook_creation_is_validated() {
    let w = world().await;
    let no_name = post(
        &w.sim,
        &w.bot,
        "/webhooks",
        json!({"targetUrl": "https://e.x", "resource": "messages", "event": "created"}),
    )
    .await;
    assert_webex_error(&no_name, 400);
    let bad_resource = post(
        &w.sim,
        &w.bot,
        "/webhooks",
        json!({"name": "n", "targetUrl": "https://e.x", "resource": "nope", "event": "created"}),
    )
    .await;
    assert_webex_error(&bad_resource, 400);
    let bad_filter = post(&w.sim, &w.bot, "/webhooks", json!({"name": "n", "targetUrl": "https://e.x", "resource": "messages", "event": "created", "filter": "colour=red"})).await;
    assert_webex_error(&bad_filter, 400);
    let bad_url = post(
        &w.sim,
        &w.bot,
        "/webhooks",
        json!({"name": "n", "targetUrl": "not a url", "resource": "messages", "event": "created"}),
    )
    .await;
    assert_webex_error(&bad_url, 400);
}

#[tokio::test]
async fn delivery_envelope_has_ids_only_and_a_valid_signature() {
    let w = world().await;
    let mut rx = receiver().await;
    let hook = register(&w.sim, &w.bot, &rx.url, "messages", None, Some("topsecret")).await;
    let sent = w
        .sim
        .dm(&w.alice, "molty@webex.bot", "secret text")
        .await
        .unwrap();
    let d = rx.next().await;
    let sig = d
        .headers
        .get("x-spark-signature")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(sig, hmac_hex("topsecret", &d.raw));
    assert!(sig
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    let b = &d.body;
    for key in [
        "id",
        "name",
        "targetUrl",
        "resource",
        "event",
        "orgId",
        "createdBy",
        "appId",
        "ownedBy",
        "status",
        "created",
        "actorId",
        "data",
    ] {
        assert!(b.get(key).is_some(), "missing {key} in {b}");
    }
    assert_eq!(b["id"], hook["id"]);
    assert_eq!(b["resource"], "messages");
    assert_eq!(b["event"], "created");
    assert_eq!(b["actorId"], json!(w.alice.id));
    assert_eq!(b["data"]["id"], sent["id"]);
    assert_eq!(b["data"]["roomId"], sent["roomId"]);
    assert_eq!(b["data"]["roomType"], "direct");
    assert_eq!(b["data"]["personId"], json!(w.alice.id));
    assert_eq!(b["data"]["personEmail"], "alice@example.com");
    assert!(b["data"].get("text").is_none());
    assert!(b["data"].get("markdown").is_none());
    assert!(!String::from_utf8_lossy(&d.raw).contains("secret text"));
}

#[tokio::test]
async fn no_signature_header_without_a_secret() {
    let w = world().await;
    let mut rx = receiver().await;
    register(&w.sim, &w.bot, &rx.url, "messages", None, None).await;
    w.sim.dm(&w.alice, "molty@webex.bot", "hi").await.unwrap();
    let d = rx.next().await;
    assert!(d.headers.get("x-spark-signature").is_none());
}

#[tokio::test]
async fn the_bots_own_messages_are_delivered_too() {
    let w = world().await;
    let mut rx = receiver().await;
    register(&w.sim, &w.bot, &rx.url, "messages", None, None).await;
    w.sim.dm(&w.alice, "molty@webex.bot", "hi").await.unwrap();
    let first = rx.next().await;
    assert_eq!(first.body["data"]["personId"], json!(w.alice.id));
    w.sim
        .dm(&w.bot, "alice@example.com", "hello")
        .await
        .unwrap();
    let own = rx.next().await;
    assert_eq!(own.body["data"]["personId"], json!(w.bot.id));
}

#[tokio::test]
async fn each_answer_time_is_recorded_by_webhook_and_whose_message_it_announced() {
    let w = world().await;
    let mut rx = receiver().await;
    let hook = register(&w.sim, &w.bot, &rx.url, "messages", None, None).await;
    let hook_id = hook["id"].as_str().unwrap();
    w.sim.dm(&w.alice, "molty@webex.bot", "hi").await.unwrap();
    rx.next().await;
    // A refusal is an answer too: its time counts.
    rx.status.store(500, std::sync::atomic::Ordering::SeqCst);
    w.sim
        .dm(&w.bot, "alice@example.com", "hello")
        .await
        .unwrap();
    rx.next().await;
    w.sim.deliveries_done().await;
    let times = w.sim.delivery_answer_times(hook_id);
    assert_eq!(times.others.len(), 1, "{times:?}");
    assert_eq!(times.own.len(), 1, "{times:?}");
    assert!(w
        .sim
        .delivery_answer_times("not-a-webhook")
        .others
        .is_empty());
    w.sim.clear_delivery_answer_times();
    assert_eq!(
        w.sim.delivery_answer_times(hook_id),
        webex_sim::DeliveryTimes::default()
    );
}

#[tokio::test]
async fn bots_hear_group_messages_only_when_mentioned() {
    let w = world().await;
    let mut rx = receiver().await;
    register(&w.sim, &w.bot, &rx.url, "messages", None, None).await;
    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "molty@webex.bot"]);
    w.sim
        .post_in_room(&w.alice, &room.id, "just chatting <@all>")
        .await
        .unwrap();
    let m = w
        .sim
        .post_in_room(&w.alice, &room.id, "<@personEmail:molty@webex.bot> help")
        .await
        .unwrap();
    let d = rx.next().await;
    assert_eq!(d.body["data"]["id"], m["id"]);
    assert_eq!(d.body["data"]["mentionedPeople"], json!([w.bot.id]));
    rx.none_within(200).await;
    // A person's webhook hears everything in their rooms.
    let mut prx = receiver().await;
    register(&w.sim, &w.alice, &prx.url, "messages", None, None).await;
    w.sim
        .post_in_room(&w.alice, &room.id, "no mention")
        .await
        .unwrap();
    assert_eq!(prx.next().await.body["data"]["roomType"], "group");
}

#[tokio::test]
async fn filters_select_deliveries() {
    let w = world().await;
    let room = w.sim.create_room(
        "Team",
        &["alice@example.com", "bob@example.com", "molty@webex.bot"],
    );
    let mut by_room = receiver().await;
    register(
        &w.sim,
        &w.bot,
        &by_room.url,
        "messages",
        Some(&format!("roomId={}", room.id)),
        None,
    )
    .await;
    let mut by_type = receiver().await;
    register(
        &w.sim,
        &w.bot,
        &by_type.url,
        "messages",
        Some("roomType=direct"),
        None,
    )
    .await;
    let mut by_email = receiver().await;
    register(
        &w.sim,
        &w.bot,
        &by_email.url,
        "messages",
        Some("personEmail=bob@example.com"),
        None,
    )
    .await;
    let mut by_mention = receiver().await;
    register(
        &w.sim,
        &w.alice,
        &by_mention.url,
        "messages",
        Some("mentionedPeople=me"),
        None,
    )
    .await;

    let dm = w.sim.dm(&w.alice, "molty@webex.bot", "dm").await.unwrap();
    assert_eq!(by_type.next().await.body["data"]["id"], dm["id"]);
    let group = w
        .sim
        .post_in_room(
            &w.bob,
            &room.id,
            "<@personEmail:molty@webex.bot> <@personEmail:alice@example.com> hi",
        )
        .await
        .unwrap();
    assert_eq!(by_room.next().await.body["data"]["id"], group["id"]);
    assert_eq!(by_email.next().await.body["data"]["id"], group["id"]);
    assert_eq!(by_mention.next().await.body["data"]["id"], group["id"]);
    by_room.none_within(100).await;
    by_type.none_within(100).await;
    by_email.none_within(100).await;
    by_mention.none_within(100).await;
}

/// `PUT status=active` brings webhook `id` (Alice's, to `rx`) back: her next message to Bob
/// is delivered.
async fn reactivate_and_receive(w: &World, rx: &mut Receiver, id: &str) {
    let on = put(
        &w.sim,
        &w.alice,
        &format!("/webhooks/{id}"),
        json!({"name": "n", "targetUrl": rx.url, "status": "active"}),
    )
    .await;
    assert_eq!(on.body["status"], "active");
    w.sim.dm(&w.alice, "bob@example.com", "back").await.unwrap();
    rx.next().await;
}

#[tokio::test]
async fn webhooks_deactivate_after_100_failures_in_5_minutes() {
    let w = world().await;
    let mut rx = receiver().await;
    rx.status.store(500, std::sync::atomic::Ordering::SeqCst);
    let hook = register(&w.sim, &w.alice, &rx.url, "messages", None, None).await;
    let id = hook["id"].as_str().unwrap();
    for i in 0..100 {
        w.sim
            .dm(&w.alice, "bob@example.com", &format!("m{i}"))
            .await
            .unwrap();
        rx.next().await;
    }
    // The last failure is recorded once its delivery is done.
    tokio::time::timeout(std::time::Duration::from_secs(5), w.sim.deliveries_done())
        .await
        .unwrap();
    let status = get(&w.sim, &w.alice, &format!("/webhooks/{id}")).await.body["status"].clone();
    assert_eq!(status, "inactive");
    w.sim
        .dm(&w.alice, "bob@example.com", "after")
        .await
        .unwrap();
    rx.none_within(150).await;
    // PUT status=active brings it back.
    rx.status.store(200, std::sync::atomic::Ordering::SeqCst);
    reactivate_and_receive(&w, &mut rx, id).await;
}

#[tokio::test]
async fn the_control_api_disables_webhooks_as_webex_does_after_failed_deliveries() {
    let w = world().await;
    let mut rx = receiver().await;
    let hook = register(&w.sim, &w.alice, &rx.url, "messages", None, None).await;
    let id = hook["id"].as_str().unwrap();
    w.sim
        .dm(&w.alice, "bob@example.com", "before")
        .await
        .unwrap();
    rx.next().await;
    // The outcome is recorded once the delivery is done.
    tokio::time::timeout(std::time::Duration::from_secs(5), w.sim.deliveries_done())
        .await
        .unwrap();
    let answered = w.sim.deliveries_answered();
    assert_eq!(answered, 1, "the receiver answered 200");

    let url = format!("{}/_sim/webhooks/disable", w.sim.url());
    let resp = reqwest::Client::new().post(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        json!({"disabled": 1})
    );
    let listed = get(&w.sim, &w.alice, &format!("/webhooks/{id}")).await;
    assert_eq!(listed.body["status"], "inactive");
    assert_eq!(w.sim.webhooks()[0]["status"], "inactive");
    w.sim
        .dm(&w.alice, "bob@example.com", "while off")
        .await
        .unwrap();
    rx.none_within(150).await;
    assert_eq!(w.sim.deliveries_answered(), answered);
    // Already inactive: nothing more to disable; a body with keys is refused.
    assert_eq!(w.sim.disable_webhooks(), 0);
    let refused = reqwest::Client::new()
        .post(&url)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    reactivate_and_receive(&w, &mut rx, id).await;
}

#[tokio::test]
async fn card_submissions_fire_attachment_actions_and_can_be_read() {
    let w = world().await;
    let mut rx = receiver().await;
    register(
        &w.sim,
        &w.bot,
        &rx.url,
        "attachmentActions",
        None,
        Some("k"),
    )
    .await;
    w.sim
        .dm(&w.alice, "molty@webex.bot", "menu please")
        .await
        .unwrap();
    let card = w
        .sim
        .send_as(
            &w.bot,
            json!({
                "toPersonEmail": "alice@example.com", "text": "menu",
                "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                 "content": {"type": "AdaptiveCard", "version": "1.2", "body": []}}]
            }),
        )
        .await
        .unwrap();
    let submitted = w
        .sim
        .submit_card(
            &w.alice,
            card["id"].as_str().unwrap(),
            json!({"choice": "tea"}),
        )
        .await
        .unwrap();
    assert_eq!(submitted["type"], "submit");
    let d = rx.next().await;
    assert_eq!(d.body["resource"], "attachmentActions");
    assert_eq!(d.body["data"]["id"], submitted["id"]);
    assert_eq!(d.body["data"]["messageId"], card["id"]);
    assert!(d.body["data"].get("inputs").is_none());
    assert_eq!(
        d.headers["x-spark-signature"].to_str().unwrap(),
        hmac_hex("k", &d.raw)
    );
    let read = get(
        &w.sim,
        &w.bot,
        &format!("/attachment/actions/{}", submitted["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["inputs"]["choice"], "tea");
    assert_eq!(read.body["personId"], json!(w.alice.id));
    // Submitting on a message without a card is refused.
    let plain = w
        .sim
        .dm(&w.alice, "molty@webex.bot", "plain")
        .await
        .unwrap();
    let refused = w
        .sim
        .submit_card(&w.alice, plain["id"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(refused.unwrap_err().0, 400);
    // The raw POST answers 202.
    let raw = post(
        &w.sim,
        &w.alice,
        "/attachment/actions",
        json!({"type": "submit", "messageId": card["id"], "inputs": {"a": "b"}}),
    )
    .await;
    assert_eq!(raw.status, 202);
}

#[tokio::test]
async fn edits_and_deletes_fire_updated_and_deleted() {
    let w = world().await;
    let mut rx = receiver().await;
    post(
        &w.sim,
        &w.alice,
        "/webhooks",
        json!({"name": "all", "targetUrl": rx.url, "resource": "messages", "event": "all"}),
    )
    .await;
    let room = w.sim.create_room("Team", &["alice@example.com"]);
    let m = w.sim.post_in_room(&w.alice, &room.id, "v0").await.unwrap();
    assert_eq!(rx.next().await.body["event"], "created");
    let path = format!("/messages/{}", m["id"].as_str().unwrap());
    put(
        &w.sim,
        &w.alice,
        &path,
        json!({"roomId": room.id, "text": "v1"}),
    )
    .await;
    assert_eq!(rx.next().await.body["event"], "updated");
    delete(&w.sim, &w.alice, &path).await;
    let d = rx.next().await;
    assert_eq!(d.body["event"], "deleted");
    assert_eq!(d.body["data"]["id"], m["id"]);
}

#[tokio::test]
async fn adding_a_bot_to_a_space_fires_memberships_created() {
    let w = world().await;
    let mut rx = receiver().await;
    post(
        &w.sim,
        &w.bot,
        "/webhooks",
        json!({"name": "m", "targetUrl": rx.url, "resource": "memberships", "event": "created"}),
    )
    .await;
    let room = post(&w.sim, &w.alice, "/rooms", json!({"title": "Ops"})).await;
    let added = post(
        &w.sim,
        &w.alice,
        "/memberships",
        json!({"roomId": room.body["id"], "personEmail": "molty@webex.bot"}),
    )
    .await;
    assert_eq!(added.status, 200);
    let d = rx.next().await;
    assert_eq!(d.body["resource"], "memberships");
    assert_eq!(d.body["data"]["id"], added.body["id"]);
    assert_eq!(d.body["data"]["personId"], json!(w.bot.id));
    assert_eq!(d.body["actorId"], json!(w.alice.id));
}
