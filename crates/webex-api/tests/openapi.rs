//! The client against Webex's official OpenAPI description
//! (`/work/shared/webex-openapi/webex-messaging.json`):
//! - every response example of the endpoints we call deserializes into our models, and what we
//!   serialize back matches the example field by field (we neither lose nor invent data);
//! - every request body we send validates against the documented request schema, with unknown
//!   top-level properties forbidden (so a misspelt field name fails).

#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use webex_api::{
    models::timestamp, AttachmentAction, CreateMessage, CreateWebhook, EditMessage, Membership,
    Message, MessageTarget, Person, Room, UpdateWebhook, Webhook, WebhookEvent, WebhookResource,
    WebhookStatus,
};

fn spec() -> Value {
    // Vendored copy of ../shared/webex-openapi (see spec/webex-openapi/README.md).
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../spec/webex-openapi/webex-messaging.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the OpenAPI description {path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn example(spec: &Value, path: &str, method: &str) -> Value {
    let responses = &spec["paths"][path][method]["responses"];
    let ok = if responses.get("200").is_some() {
        &responses["200"]
    } else {
        &responses["204"]
    };
    let example = ok["content"]["application/json"]["example"].clone();
    assert!(!example.is_null(), "no example for {method} {path}");
    example
}

const TIMESTAMPS: &[&str] = &["created", "updated", "lastActivity"];

/// Deserializes `example` as `T` and checks that every field we serialize back equals the
/// example's (timestamps compared as instants).
fn check_model<T: DeserializeOwned + Serialize>(label: &str, example: &Value) -> T {
    let model: T = serde_json::from_value(example.clone())
        .unwrap_or_else(|e| panic!("{label}: example does not deserialize: {e}"));
    let back = serde_json::to_value(&model).unwrap();
    for (key, value) in back.as_object().unwrap() {
        let original = example
            .get(key)
            .unwrap_or_else(|| panic!("{label}: we produced `{key}` which the example lacks"));
        if TIMESTAMPS.contains(&key.as_str()) {
            let ours = timestamp::parse(value.as_str().unwrap());
            let theirs = timestamp::parse(original.as_str().unwrap());
            assert_eq!(ours, theirs, "{label}: {key}");
        } else {
            assert_eq!(value, original, "{label}: {key}");
        }
    }
    model
}

fn check_list<T: DeserializeOwned + Serialize>(label: &str, example: &Value) -> usize {
    let items = example["items"].as_array().unwrap();
    for item in items {
        check_model::<T>(label, item);
    }
    items.len()
}

#[test]
fn response_examples_deserialize_without_loss() {
    let spec = spec();
    let me: Person = check_model("GET /people/me", &example(&spec, "/people/me", "get"));
    assert!(!me.id.is_empty() && !me.emails.is_empty());
    check_model::<Person>(
        "GET /people/{id}",
        &example(&spec, "/people/{personId}", "get"),
    );
    assert!(check_list::<Person>("GET /people", &example(&spec, "/people", "get")) > 0);

    let sent: Message = check_model("POST /messages", &example(&spec, "/messages", "post"));
    assert!(!sent.id.is_empty() && !sent.room_id.is_empty());
    check_model::<Message>(
        "GET /messages/{id}",
        &example(&spec, "/messages/{messageId}", "get"),
    );
    check_model::<Message>(
        "PUT /messages/{id}",
        &example(&spec, "/messages/{messageId}", "put"),
    );
    assert!(check_list::<Message>("GET /messages", &example(&spec, "/messages", "get")) > 0);
    assert!(
        check_list::<Message>(
            "GET /messages/direct",
            &example(&spec, "/messages/direct", "get")
        ) > 0
    );

    assert!(check_list::<Room>("GET /rooms", &example(&spec, "/rooms", "get")) > 0);
    let room: Room = check_model("GET /rooms/{id}", &example(&spec, "/rooms/{roomId}", "get"));
    assert!(room.last_activity.is_some());
    assert!(
        check_list::<Membership>("GET /memberships", &example(&spec, "/memberships", "get")) > 0
    );

    assert!(check_list::<Webhook>("GET /webhooks", &example(&spec, "/webhooks", "get")) > 0);
    let hook: Webhook = check_model("POST /webhooks", &example(&spec, "/webhooks", "post"));
    assert!(hook.status.is_some());
    check_model::<Webhook>(
        "GET /webhooks/{id}",
        &example(&spec, "/webhooks/{webhookId}", "get"),
    );
    check_model::<Webhook>(
        "PUT /webhooks/{id}",
        &example(&spec, "/webhooks/{webhookId}", "put"),
    );

    let action: AttachmentAction = check_model(
        "GET /attachment/actions/{id}",
        &example(&spec, "/attachment/actions/{id}", "get"),
    );
    assert!(!action.message_id.is_empty());
}

/// Validates `body` against the request schema of `method path`, forbidding unknown top-level
/// properties.
fn check_request<B: Serialize>(spec: &Value, path: &str, method: &str, body: &B) {
    let instance = serde_json::to_value(body).unwrap();
    let errors = request_errors(spec, path, method, &instance);
    assert!(
        errors.is_empty(),
        "{method} {path}: {errors:#?}\n{instance:#}"
    );
}

fn request_errors(spec: &Value, path: &str, method: &str, instance: &Value) -> Vec<String> {
    let mut schema =
        spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone();
    assert!(schema.is_object(), "no request schema for {method} {path}");
    schema["additionalProperties"] = json!(false);
    schema["components"] = spec["components"].clone();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&schema)
        .unwrap();
    validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect()
}

#[test]
fn request_bodies_match_the_documented_schemas() {
    let spec = spec();
    // The check has teeth: a misspelt field is caught.
    let misspelt = json!({"roomID": "r", "text": "hi"});
    assert!(!request_errors(&spec, "/messages", "post", &misspelt).is_empty());
    for target in [
        MessageTarget::Room("r".into()),
        MessageTarget::PersonId("p".into()),
        MessageTarget::PersonEmail("a@example.com".into()),
    ] {
        let body = CreateMessage::markdown(target, "**hi**")
            .with_text("hi")
            .with_parent("m")
            .with_file("https://example.com/a.png");
        check_request(&spec, "/messages", "post", &body);
    }
    check_request(
        &spec,
        "/messages/{messageId}",
        "put",
        &EditMessage {
            room_id: "r".into(),
            text: Some("t".into()),
            markdown: Some("*t*".into()),
        },
    );
    check_request(
        &spec,
        "/webhooks",
        "post",
        &CreateWebhook {
            name: "n".into(),
            target_url: "https://example.com/hook".into(),
            resource: WebhookResource::Messages,
            event: WebhookEvent::Created,
            filter: Some("roomType=direct".into()),
            secret: Some("s".into()),
        },
    );
    check_request(
        &spec,
        "/webhooks/{webhookId}",
        "put",
        &UpdateWebhook {
            name: "n".into(),
            target_url: "https://example.com/hook".into(),
            secret: Some("s".into()),
            status: Some(WebhookStatus::Active),
        },
    );
}
