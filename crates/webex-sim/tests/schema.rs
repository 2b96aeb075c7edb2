//! Every response body of every implemented endpoint, validated against the official OpenAPI
//! description (`/work/shared/webex-openapi/webex-messaging.json`, vendored path below).
//!
//! Validation is *strict*: every object schema gets `additionalProperties: false`, so a field
//! the description does not document fails the test. Where the description contradicts its own
//! examples or the developer.webex.com docs, the exception is patched in [`exceptions`] with
//! the reference.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::sync::OnceLock;

/// Vendored copy of ../shared/webex-openapi (see spec/webex-openapi/README.md).
fn spec_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../spec/webex-openapi/webex-messaging.json")
}

fn strict(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for child in map.values_mut() {
                strict(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strict),
        _ => {}
    }
}

fn add_props(schemas: &mut Value, name: &str, props: Value) {
    let target = schemas[name]["properties"].as_object_mut().unwrap();
    for (k, v) in props.as_object().unwrap() {
        target.insert(k.clone(), v.clone());
    }
}

/// Documented deviations from the OpenAPI description.
fn exceptions(schemas: &mut Value) {
    // 1. `Attachment` describes ECM files (`{content: File}`), but message attachments are
    //    adaptive cards `{contentType, content: AdaptiveCard}`: see the POST /messages request
    //    and response examples in the same description, developer.webex.com/docs/api/guides/cards,
    //    and the README of the vendored description ("the Attachment schema describes files").
    schemas["Attachment"] = json!({
        "type": "object",
        "required": ["contentType", "content"],
        "properties": {
            "contentType": {"type": "string", "enum": ["application/vnd.microsoft.card.adaptive"]},
            "content": {"$ref": "#/components/schemas/AdaptiveCard"}
        }
    });
    // 2. `Message` (the POST /messages answer) lacks `parentId`, `html`, `updated` and
    //    `isVoiceClip`, yet the 200 example of POST /messages shows all four.
    add_props(
        schemas,
        "Message",
        json!({
            "parentId": {"type": "string"}, "html": {"type": "string"},
            "updated": {"type": "string"}, "isVoiceClip": {"type": "boolean"}
        }),
    );
    // 3. `DirectMessage` lacks `parentId` although GET /messages/direct filters by `parentId`
    //    (developer.webex.com/docs/api/v1/messages/list-direct-messages): replies carry it.
    add_props(
        schemas,
        "DirectMessage",
        json!({"parentId": {"type": "string"}}),
    );
    // 4. `Webhook` lacks `orgId`, `createdBy`, `appId`, which the webhooks guide
    //    (developer.webex.com/docs/api/guides/webhooks, "Handling Requests from Webex") shows in
    //    every webhook object and payload. Payloads also carry `actorId` and `data`.
    add_props(
        schemas,
        "Webhook",
        json!({
            "orgId": {"type": "string"}, "createdBy": {"type": "string"}, "appId": {"type": "string"}
        }),
    );
}

fn schemas() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let text = std::fs::read_to_string(spec_path()).expect("the OpenAPI description");
        let doc: Value = serde_json::from_str(&text).unwrap();
        let mut schemas = doc["components"]["schemas"].clone();
        exceptions(&mut schemas);
        strict(&mut schemas);
        // Webhook payloads: the webhook object plus `actorId` and `data`, where `data` holds
        // ids only (no message text), per the webhooks guide's example payloads.
        let mut payload = schemas["Webhook"].clone();
        payload["properties"]["actorId"] = json!({"type": "string"});
        payload["properties"]["data"] = json!({
            "type": "object", "additionalProperties": false,
            "required": ["id", "roomId", "personId", "created"],
            "properties": {
                "id": {"type": "string"}, "roomId": {"type": "string"},
                "roomType": {"enum": ["direct", "group"]}, "personId": {"type": "string"},
                "personEmail": {"type": "string"}, "parentId": {"type": "string"},
                "mentionedPeople": {"type": "array", "items": {"type": "string"}},
                "mentionedGroups": {"type": "array", "items": {"type": "string"}},
                "messageId": {"type": "string"}, "type": {"const": "submit"},
                "created": {"type": "string"}
            }
        });
        payload["required"] = json!([
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
            "data"
        ]);
        schemas["WebhookPayload"] = payload;
        schemas
    })
}

/// Validates `instance` against `#/components/schemas/{name}`; panics listing every error.
fn check(name: &str, instance: &Value) {
    let root = json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": {"schemas": schemas()}
    });
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&root)
        .expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} violations: {errors:#?}\ninstance: {instance:#}"
    );
}

fn card() -> Value {
    json!({"contentType": "application/vnd.microsoft.card.adaptive",
           "content": {"type": "AdaptiveCard", "version": "1.0",
                       "body": [{"type": "TextBlock", "text": "Hi", "size": "large"}],
                       "actions": [{"type": "Action.OpenUrl", "url": "http://e.x", "title": "Go"}]}})
}

#[tokio::test]
async fn strict_validation_catches_undocumented_fields() {
    // The checker itself must reject an unknown field, or every other test proves nothing.
    let result = std::panic::catch_unwind(|| check("Room", &json!({"id": "x", "bogus": 1})));
    assert!(result.is_err());
    check("Room", &json!({"id": "x", "type": "group"}));
}

#[tokio::test]
async fn people_responses_match_person_schemas() {
    let w = world().await;
    check("Person", &get(&w.sim, &w.alice, "/people/me").await.body);
    check("Person", &get(&w.sim, &w.bot, "/people/me").await.body);
    check(
        "Person",
        &get(&w.sim, &w.bot, &format!("/people/{}", w.bob.id))
            .await
            .body,
    );
    let list = get(&w.sim, &w.bot, "/people?email=bob@example.com").await;
    assert_eq!(list.items().len(), 1);
    check("PersonCollectionResponse", &list.body);
}

#[tokio::test]
async fn room_and_membership_responses_match() {
    let w = world().await;
    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "molty@webex.bot"]);
    w.sim.dm(&w.alice, "molty@webex.bot", "hi").await.unwrap();
    let rooms = get(&w.sim, &w.bot, "/rooms?sortBy=lastactivity").await;
    assert_eq!(rooms.items().len(), 2);
    check("RoomCollectionResponse", &rooms.body);
    check(
        "Room",
        &get(&w.sim, &w.bot, &format!("/rooms/{}", room.id))
            .await
            .body,
    );
    let created = post(&w.sim, &w.alice, "/rooms", json!({"title": "New"})).await;
    check("Room", &created.body);
    let members = get(&w.sim, &w.bot, &format!("/memberships?roomId={}", room.id)).await;
    assert_eq!(members.items().len(), 2);
    check("MembershipCollectionResponse", &members.body);
    let added = post(
        &w.sim,
        &w.alice,
        "/memberships",
        json!({"roomId": created.body["id"], "personEmail": "bob@example.com"}),
    )
    .await;
    check("Membership", &added.body);
}

#[tokio::test]
async fn message_responses_match() {
    let w = world().await;
    let room = w.sim.create_room(
        "Team",
        &["alice@example.com", "bob@example.com", "molty@webex.bot"],
    );
    let root = post(
        &w.sim,
        &w.alice,
        "/messages",
        json!({
            "roomId": room.id,
            "markdown": "<@personEmail:molty@webex.bot|Molty> <@all> **see** [this](http://e.x)",
            "files": ["https://example.com/a.png"], "attachments": [card()]
        }),
    )
    .await;
    assert_eq!(root.status, 200);
    check("Message", &root.body);
    let reply = post(
        &w.sim,
        &w.bob,
        "/messages",
        json!({"roomId": room.id, "parentId": root.body["id"], "text": "ok"}),
    )
    .await;
    check("Message", &reply.body);
    let dm = post(
        &w.sim,
        &w.alice,
        "/messages",
        json!({"toPersonId": w.bot.id, "text": "dm"}),
    )
    .await;
    check("Message", &dm.body);
    let dm_reply = post(
        &w.sim,
        &w.bot,
        "/messages",
        json!({"roomId": dm.body["roomId"], "parentId": dm.body["id"], "markdown": "**ok**"}),
    )
    .await;
    check("Message", &dm_reply.body);

    let listed = get(
        &w.sim,
        &w.alice,
        &format!("/messages?roomId={}&max=1", room.id),
    )
    .await;
    assert!(listed.next_link().is_some());
    check("ListMessageCollectionResponse", &listed.body);
    let all = get(&w.sim, &w.alice, &format!("/messages?roomId={}", room.id)).await;
    assert_eq!(all.items().len(), 2);
    check("ListMessageCollectionResponse", &all.body);
    let mentioned = get(
        &w.sim,
        &w.bot,
        &format!("/messages?roomId={}&mentionedPeople=me", room.id),
    )
    .await;
    assert_eq!(mentioned.items().len(), 1);
    check("ListMessageCollectionResponse", &mentioned.body);
    let one = get(
        &w.sim,
        &w.bot,
        &format!("/messages/{}", root.body["id"].as_str().unwrap()),
    )
    .await;
    check("ListMessage", &one.body);
    let direct = get(
        &w.sim,
        &w.bot,
        &format!("/messages/direct?personId={}", w.alice.id),
    )
    .await;
    assert_eq!(direct.items().len(), 2);
    check("DirectMessageCollectionResponse", &direct.body);
    // The root carries a file and a card, which Webex does not let anyone edit: edit the reply.
    let edited = put(
        &w.sim,
        &w.bob,
        &format!("/messages/{}", reply.body["id"].as_str().unwrap()),
        json!({"roomId": room.id, "markdown": "edited <@personId:{}>".replace("{}", &w.bob.id)}),
    )
    .await;
    assert_eq!(edited.status, 200);
    check("ListMessage", &edited.body);
}

#[tokio::test]
async fn webhook_and_attachment_action_responses_match() {
    let w = world().await;
    let mut rx = receiver().await;
    let created = post(&w.sim, &w.bot, "/webhooks", json!({"name": "h", "targetUrl": rx.url, "resource": "messages", "event": "created", "filter": "roomType=direct", "secret": "s"})).await;
    check("Webhook", &created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    check(
        "WebhookCollectionResponse",
        &get(&w.sim, &w.bot, "/webhooks").await.body,
    );
    check(
        "Webhook",
        &get(&w.sim, &w.bot, &format!("/webhooks/{id}")).await.body,
    );
    let updated = put(
        &w.sim,
        &w.bot,
        &format!("/webhooks/{id}"),
        json!({"name": "h2", "targetUrl": rx.url, "status": "active"}),
    )
    .await;
    check("Webhook", &updated.body);

    w.sim
        .dm(&w.alice, "molty@webex.bot", "card?")
        .await
        .unwrap();
    check("WebhookPayload", &rx.next().await.body);
    post(&w.sim, &w.bot, "/webhooks", json!({"name": "cards", "targetUrl": rx.url, "resource": "attachmentActions", "event": "created"})).await;
    let card_msg = w
        .sim
        .send_as(
            &w.bot,
            json!({"toPersonEmail": "alice@example.com", "text": "card", "attachments": [card()]}),
        )
        .await
        .unwrap();
    rx.next().await;
    let action = post(
        &w.sim,
        &w.alice,
        "/attachment/actions",
        json!({"type": "submit", "messageId": card_msg["id"], "inputs": {"Name": "Alice"}}),
    )
    .await;
    assert_eq!(action.status, 202);
    check("AttachmentActivity", &action.body);
    let payload = rx.next().await.body;
    assert_eq!(payload["resource"], "attachmentActions");
    check("WebhookPayload", &payload);
    let read = get(
        &w.sim,
        &w.bot,
        &format!(
            "/attachment/actions/{}",
            action.body["id"].as_str().unwrap()
        ),
    )
    .await;
    check("AttachmentActivity", &read.body);
}

#[tokio::test]
async fn error_bodies_have_the_webex_shape() {
    // The description gives error responses no schema; this is the shape of Webex's answers
    // (developer.webex.com/docs/basics, "API Errors": message, errors[].description, trackingId).
    let error_schema = json!({
        "type": "object", "additionalProperties": false,
        "required": ["message", "errors", "trackingId"],
        "properties": {
            "message": {"type": "string"},
            "trackingId": {"type": "string"},
            "errors": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": false, "required": ["description"],
                "properties": {"description": {"type": "string"}}}}
        }
    });
    let validator = jsonschema::validator_for(&error_schema).unwrap();
    let w = world().await;
    w.sim.fail_next("GET", "/v1/rooms", 500, 1);
    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "molty@webex.bot"]);
    for a in [
        call(
            reqwest::Method::GET,
            &format!("{}/people/me", w.sim.api_base()),
            None,
            None,
        )
        .await,
        get(&w.sim, &w.alice, "/rooms").await,
        get(&w.sim, &w.bot, &format!("/messages?roomId={}", room.id)).await,
        post(&w.sim, &w.alice, "/messages", json!({})).await,
        get(&w.sim, &w.alice, "/webhooks/nope").await,
    ] {
        assert!(a.status >= 400);
        assert!(validator.is_valid(&a.body), "{:?}", a.body);
    }
}
