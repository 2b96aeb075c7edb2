//! `conversation.activity` envelopes (shape from the notes §8.3: webex-rust `types.rs` `Event`,
//! JSSDK `plugin-messages/src/messages.js` for the verbs it maps).
//!
//! The activity's `id` is the message uuid (for `post`/`share`/`delete`) or the attachment
//! action uuid (`cardAction`), so `ciscospark://us/MESSAGE/<id>` is the REST id, as JSSDK's
//! `buildHydraMessageId` assumes for cluster `us`. `object.displayName`/`content` look like
//! JWE strings: on Webex they are KMS-encrypted, and clients must fetch the text over REST.

use crate::clock::now_ms;
use crate::delivery::Event;
use crate::ids::{encode, resolve, Kind};
use crate::model::{PersonType, RoomType, World};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use uuid::Uuid;

/// `<base>/conversation/api/v1`: the conversation service activities point at.
pub fn conversation_base(base_url: &str) -> String {
    format!("{base_url}/conversation/api/v1")
}

/// A string shaped like a compact JWE (`dir` + `A256GCM`, five dot-separated parts), standing
/// in for KMS-encrypted text: it decodes to nothing a client could use.
pub fn fake_jwe() -> String {
    let header =
        URL_SAFE_NO_PAD.encode(br#"{"alg":"dir","kid":"kms://sim/keys/1","enc":"A256GCM"}"#);
    let part = |n: usize| {
        let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
        URL_SAFE_NO_PAD.encode(bytes)
    };
    format!("{header}..{}.{}.{}", part(12), part(24), part(16))
}

fn actor(world: &World, uuid: &Uuid) -> Value {
    let Some(p) = world.person(uuid) else {
        return json!({ "id": uuid.to_string(), "objectType": "person" });
    };
    json!({
        "id": p.uuid.to_string(),
        "objectType": "person",
        "displayName": p.display_name,
        "emailAddress": p.email,
        "orgId": world.org.to_string(),
        "entryUUID": p.uuid.to_string(),
        // Guess: humans are "PERSON" (webex-rust); bots some other value.
        "type": if p.kind == PersonType::Bot { "ROBOT" } else { "PERSON" },
    })
}

/// The activity for `ev`, or `None` for events Mercury does not carry here (memberships,
/// message edits).
pub fn activity(world: &World, base_url: &str, ev: &Event) -> Option<Value> {
    let (id, verb, object) = match (ev.resource, ev.event) {
        ("messages", "created") => {
            let uuid = ev.message?;
            let m = world.message(&uuid)?;
            let share = !m.files.is_empty();
            let mut object = json!({
                "objectType": if share { "content" } else { "comment" },
                "displayName": fake_jwe(),
            });
            if m.markdown.is_some() || m.html.is_some() {
                object["content"] = json!(fake_jwe());
            }
            if !m.mentioned_people.is_empty() {
                let items: Vec<Value> = m
                    .mentioned_people
                    .iter()
                    .map(|u| json!({ "id": u.to_string(), "objectType": "person" }))
                    .collect();
                object["mentions"] = json!({ "items": items });
            }
            if share {
                object["contentCategory"] = json!("documents");
                object["files"] = json!({ "items": m.files.iter().map(|_| json!({
                    "objectType": "file", "displayName": fake_jwe() })).collect::<Vec<_>>() });
            }
            (uuid, if share { "share" } else { "post" }, object)
        }
        ("messages", "deleted") => {
            let uuid = ev.message?;
            (
                Uuid::new_v4(),
                "delete",
                json!({ "objectType": "activity", "id": uuid.to_string() }),
            )
        }
        ("attachmentActions", "created") => {
            let id = ev.data.get("id").and_then(Value::as_str)?;
            let uuid = resolve(Kind::AttachmentAction, id)?;
            (
                uuid,
                "cardAction",
                json!({ "objectType": "submit", "inputs": fake_jwe() }),
            )
        }
        _ => return None,
    };
    let room = world.room(&ev.room)?;
    let conversations = conversation_base(base_url);
    let mut tags = Vec::new();
    if room.kind == RoomType::Direct {
        tags.push("ONE_ON_ONE");
    }
    if room.is_locked {
        tags.push("LOCKED");
    }
    let mut activity = json!({
        "id": id.to_string(),
        "objectType": "activity",
        "verb": verb,
        "published": World::ts(now_ms()),
        "url": format!("{conversations}/activities/{id}"),
        "encryptionKeyUrl": "kms://sim/keys/1",
        "actor": actor(world, &ev.actor),
        "object": object,
        "target": {
            "id": room.uuid.to_string(),
            "objectType": "conversation",
            "url": format!("{conversations}/conversations/{}", room.uuid),
            "tags": tags,
            "globalId": encode(Kind::Room, &room.uuid),
        },
    });
    if verb == "cardAction" {
        if let Some(message) = ev.message {
            activity["parent"] = json!({ "id": message.to_string(), "type": "cardAction" });
        }
    } else if let Some(parent) = ev
        .message
        .and_then(|u| world.message(&u))
        .and_then(|m| m.parent)
    {
        activity["parent"] = json!({ "id": parent.to_string(), "type": "reply" });
    }
    Some(activity)
}

/// A Mercury envelope `{id, data:{eventType, ...data}, timestamp, trackingId, alertType,
/// headers, sequenceNumber, filterMessage}` with a fresh `id`; returns `(id, serialized)`.
pub fn envelope(event_type: &str, data: Value, sequence_number: u64) -> (String, String) {
    let id = Uuid::new_v4().to_string();
    let mut body = json!({ "eventType": event_type });
    if let (Some(obj), Value::Object(extra)) = (body.as_object_mut(), data) {
        obj.extend(extra);
    }
    let frame = json!({
        "id": id,
        "data": body,
        "timestamp": now_ms(),
        "trackingId": format!("sim_mercury_{}", Uuid::new_v4()),
        "alertType": "none",
        "headers": {},
        "sequenceNumber": sequence_number,
        "filterMessage": false,
    });
    (id, frame.to_string())
}
