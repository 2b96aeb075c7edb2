//! JSON renderings of the model, field names as in the OpenAPI schemas.

use crate::clock::format_ms;
use crate::ids::{encode, membership_id, Kind};
use crate::model::{AttachmentAction, Message, Person, Room, Webhook, World};
use serde_json::{json, Map, Value};

/// Renders a `Person`.
pub fn person(world: &World, p: &Person) -> Value {
    let mut names = p.display_name.splitn(2, ' ');
    let first = names.next().unwrap_or_default();
    let last = names.next().unwrap_or_default();
    // No `nickName`: "If no nickname is configured for the person, this field will not be
    // present" (Person schema).
    let mut v = json!({
        "id": encode(Kind::People, &p.uuid),
        "emails": [p.email],
        "phoneNumbers": [],
        "displayName": p.display_name,
        "orgId": encode(Kind::Organization, &world.org),
        "created": format_ms(p.created_ms),
        "lastModified": format_ms(p.created_ms),
        "type": p.kind.as_str(),
    });
    if !first.is_empty() {
        v["firstName"] = json!(first);
    }
    if !last.is_empty() {
        v["lastName"] = json!(last);
    }
    v
}

/// Renders a `Room` as seen by `viewer`.
pub fn room(world: &World, r: &Room, viewer: Option<&uuid::Uuid>) -> Value {
    json!({
        "id": encode(Kind::Room, &r.uuid),
        "title": world.room_title_for(r, viewer),
        "type": r.kind.as_str(),
        "isLocked": r.is_locked,
        "lastActivity": format_ms(r.last_activity_ms),
        "creatorId": encode(Kind::People, &r.creator),
        "created": format_ms(r.created_ms),
        "ownerId": encode(Kind::Organization, &world.org),
        "isAnnouncementOnly": false,
        "isReadOnly": false,
    })
}

/// Renders the `Membership` of `person` in `room` (None if either is unknown).
pub fn membership(world: &World, r: &Room, person: &uuid::Uuid) -> Option<Value> {
    let m = r.members.iter().find(|m| &m.person == person)?;
    let p = world.person(person)?;
    Some(json!({
        "id": membership_id(&p.uuid, &r.uuid),
        "roomId": encode(Kind::Room, &r.uuid),
        "personId": encode(Kind::People, &p.uuid),
        "personEmail": p.email,
        "personDisplayName": p.display_name,
        "personOrgId": encode(Kind::Organization, &world.org),
        "isModerator": m.is_moderator,
        "isMonitor": false,
        "isRoomHidden": false,
        "roomType": r.kind.as_str(),
        "created": format_ms(m.created_ms),
    }))
}

/// Which schema a message is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageView {
    /// `POST /messages` answer (`Message` schema: echoes `toPersonId`/`toPersonEmail`).
    Created,
    /// `GET /messages`, `GET /messages/{id}`, `PUT` (`ListMessage` schema).
    Listed,
    /// `GET /messages/direct` (`DirectMessage` schema).
    Direct,
}

/// Renders a message.
pub fn message(world: &World, m: &Message, view: MessageView) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(encode(Kind::Message, &m.uuid)));
    if let Some(parent) = &m.parent {
        o.insert("parentId".into(), json!(encode(Kind::Message, parent)));
    }
    o.insert("roomId".into(), json!(encode(Kind::Room, &m.room)));
    let room_type = world
        .room(&m.room)
        .map(|r| r.kind.as_str())
        .unwrap_or("group");
    o.insert("roomType".into(), json!(room_type));
    if view == MessageView::Created {
        if let Some(to) = &m.to_person_id {
            o.insert("toPersonId".into(), json!(encode(Kind::People, to)));
        }
        if let Some(to) = &m.to_person_email {
            o.insert("toPersonEmail".into(), json!(to));
        }
    }
    if let Some(text) = &m.text {
        o.insert("text".into(), json!(text));
    }
    if let Some(md) = &m.markdown {
        o.insert("markdown".into(), json!(md));
    }
    if view != MessageView::Direct {
        if let Some(html) = &m.html {
            o.insert("html".into(), json!(html));
        }
    }
    if !m.files.is_empty() {
        o.insert("files".into(), json!(m.files));
    }
    if let Some(author) = world.person(&m.author) {
        o.insert("personId".into(), json!(encode(Kind::People, &author.uuid)));
        o.insert("personEmail".into(), json!(author.email));
    }
    if view != MessageView::Direct {
        if !m.mentioned_people.is_empty() {
            let ids: Vec<String> = m
                .mentioned_people
                .iter()
                .map(|u| encode(Kind::People, u))
                .collect();
            o.insert("mentionedPeople".into(), json!(ids));
        }
        if !m.mentioned_groups.is_empty() {
            o.insert("mentionedGroups".into(), json!(m.mentioned_groups));
        }
        if !m.attachments.is_empty() {
            o.insert("attachments".into(), json!(m.attachments));
        }
    }
    o.insert("created".into(), json!(format_ms(m.created_ms)));
    if view != MessageView::Direct {
        if let Some(updated) = m.updated_ms {
            o.insert("updated".into(), json!(format_ms(updated)));
        }
    }
    Value::Object(o)
}

/// Renders a `Webhook` (the secret is shown to its owner, as Webex does).
pub fn webhook(world: &World, w: &Webhook) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(encode(Kind::Webhook, &w.uuid)));
    o.insert("name".into(), json!(w.name));
    o.insert("targetUrl".into(), json!(w.target_url));
    o.insert("resource".into(), json!(w.resource));
    o.insert("event".into(), json!(w.event));
    if let Some(filter) = &w.filter {
        o.insert("filter".into(), json!(filter));
    }
    if let Some(secret) = &w.secret {
        o.insert("secret".into(), json!(secret));
    }
    o.insert("status".into(), json!(w.status));
    o.insert("created".into(), json!(format_ms(w.created_ms)));
    o.insert(
        "orgId".into(),
        json!(encode(Kind::Organization, &world.org)),
    );
    o.insert("createdBy".into(), json!(encode(Kind::People, &w.owner)));
    o.insert("appId".into(), json!(encode(Kind::Application, &world.app)));
    o.insert("ownedBy".into(), json!("creator"));
    Value::Object(o)
}

/// Renders an `AttachmentActivity`.
pub fn action(a: &AttachmentAction, with_inputs: bool) -> Value {
    let mut v = json!({
        "id": encode(Kind::AttachmentAction, &a.uuid),
        "type": "submit",
        "messageId": encode(Kind::Message, &a.message),
        "personId": encode(Kind::People, &a.person),
        "roomId": encode(Kind::Room, &a.room),
        "created": format_ms(a.created_ms),
    });
    if with_inputs {
        v["inputs"] = a.inputs.clone();
    }
    v
}
