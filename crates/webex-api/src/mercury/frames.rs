//! Mercury frames: the JSON we send (authorization, ping, ack) and the envelopes we receive.
//!
//! Shapes from webex-js-sdk `internal-plugin-mercury/src/socket/socket-base.js` (auth, ping,
//! pong, ack frames) and wr-org/webex-rust `src/types.rs` (`Event`, `Activity`). Events arrive as
//! text frames with `outboundWireFormat=text`, as binary frames without it: both are parsed the
//! same way. The activity's `object` (message text, card inputs) is KMS-encrypted on real Webex
//! and is never read: callers fetch the message over REST (see [`super::MessageRef`]).

use serde::Deserialize;
use serde_json::{json, Value};

/// `data.eventType` values that mean "the connection is ready" (webex-js-sdk `mercury.js`
/// resolves `connect()` on either).
pub const READY_EVENT_TYPES: [&str; 2] = ["mercury.buffer_state", "mercury.registration_status"];

/// The frame that authorizes the socket: `{"id","type":"authorization","data":{"token":"Bearer …"}}`.
pub(crate) fn authorization(id: &str, token: &str) -> String {
    json!({"id": id, "type": "authorization", "data": {"token": format!("Bearer {token}")}})
        .to_string()
}

/// A keepalive ping: `{"id","type":"ping"}`; Mercury answers `{"type":"pong","id"}`.
pub(crate) fn ping(id: &str) -> String {
    json!({"id": id, "type": "ping"}).to_string()
}

/// The acknowledgement of one envelope: `{"type":"ack","messageId":<envelope id>}`. It names
/// the Mercury envelope's `id`, not the activity's (webex-js-sdk `socket-base.js` `_acknowledge`).
pub(crate) fn ack(envelope_id: &str) -> String {
    json!({"type": "ack", "messageId": envelope_id}).to_string()
}

/// Who did an activity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Actor {
    /// The actor's uuid (Webex's internal id, not the REST person id).
    pub id: String,
    /// `emailAddress`, when present.
    pub email: Option<String>,
    /// `type`: `PERSON` for humans; bots and apps have other values.
    pub actor_type: Option<String>,
}

/// Where an activity happened.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    /// The conversation uuid.
    pub id: String,
    /// The conversation URL on the conversation service, e.g.
    /// `https://conv-a.wbx2.com/conversation/api/v1/conversations/<uuid>`.
    pub url: Option<String>,
    /// Whether the conversation is a 1:1 space (tag `ONE_ON_ONE`).
    pub one_on_one: bool,
}

/// A `conversation.activity` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// The Mercury envelope id: what [`super::MercuryConnection::ack`] takes.
    pub envelope_id: String,
    /// `post`, `share`, `update`, `delete`, `cardAction`, `acknowledge`, `add`, ...
    pub verb: String,
    /// The activity uuid: the message uuid for `post`/`share`, the attachment action uuid for
    /// `cardAction`.
    pub activity_id: String,
    /// Who did it.
    pub actor: Actor,
    /// Where.
    pub target: Target,
    /// `object.objectType` (`comment`, `content`, `submit`, ...), if any.
    pub object_type: Option<String>,
    /// `parent.type` (`reply`, `edit`), if the activity has a parent.
    pub parent_type: Option<String>,
    /// `published`, as sent (ISO 8601).
    pub published: Option<String>,
    /// The envelope's `sequenceNumber`, if any.
    pub sequence_number: Option<u64>,
}

impl Activity {
    /// A new message (`post`, or `share` for a message with files).
    pub fn is_new_message(&self) -> bool {
        matches!(self.verb.as_str(), "post" | "share")
    }

    /// A card submission.
    pub fn is_card_action(&self) -> bool {
        self.verb == "cardAction"
    }
}

/// One event from Mercury.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MercuryEvent {
    /// A `conversation.activity` (boxed: it is much larger than the other variant).
    Activity(Box<Activity>),
    /// Any other event type (typing, highlights, buffer state, ...). Ack it too if it has an
    /// envelope id: Mercury redelivers what is not acked.
    Other {
        /// The envelope id, if the frame had one.
        envelope_id: Option<String>,
        /// `data.eventType` (empty if absent).
        event_type: String,
    },
}

impl MercuryEvent {
    /// The envelope id to [`ack`](super::MercuryConnection::ack), if any.
    pub fn envelope_id(&self) -> Option<&str> {
        match self {
            MercuryEvent::Activity(activity) => Some(&activity.envelope_id),
            MercuryEvent::Other { envelope_id, .. } => envelope_id.as_deref(),
        }
    }

    /// Whether this event means the connection is ready.
    pub fn is_ready_signal(&self) -> bool {
        matches!(self, MercuryEvent::Other { event_type, .. }
            if READY_EVENT_TYPES.contains(&event_type.as_str()))
    }
}

/// What one received frame was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// `{"type":"pong","id"}`.
    Pong(Option<String>),
    /// An event envelope.
    Event(MercuryEvent),
    /// Not JSON, or JSON we do not understand: logged and skipped, never fatal.
    Unparsed(String),
}

#[derive(Deserialize)]
struct RawEnvelope {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    data: Option<RawData>,
    #[serde(rename = "sequenceNumber")]
    sequence_number: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawData {
    event_type: Option<String>,
    activity: Option<Value>,
}

/// Parses one text or binary frame.
pub(crate) fn parse_frame(bytes: &[u8]) -> Incoming {
    let envelope: RawEnvelope = match serde_json::from_slice(bytes) {
        Ok(envelope) => envelope,
        Err(err) => return Incoming::Unparsed(format!("not a Mercury envelope: {err}")),
    };
    if envelope.kind.as_deref() == Some("pong") {
        return Incoming::Pong(envelope.id);
    }
    let Some(data) = envelope.data else {
        return Incoming::Unparsed(format!(
            "frame of type {:?} without data",
            envelope.kind.unwrap_or_default()
        ));
    };
    let event_type = data.event_type.unwrap_or_default();
    if event_type == "conversation.activity" {
        if let (Some(envelope_id), Some(raw)) = (envelope.id.clone(), data.activity.as_ref()) {
            if let Some(activity) = parse_activity(envelope_id, raw, envelope.sequence_number) {
                return Incoming::Event(MercuryEvent::Activity(Box::new(activity)));
            }
        }
    }
    Incoming::Event(MercuryEvent::Other {
        envelope_id: envelope.id,
        event_type,
    })
}

fn text(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// An activity needs a verb, an id, an actor id and a target id; otherwise it is an `Other`.
fn parse_activity(
    envelope_id: String,
    raw: &Value,
    sequence_number: Option<u64>,
) -> Option<Activity> {
    let one_on_one = raw
        .pointer("/target/tags")
        .and_then(Value::as_array)
        .is_some_and(|tags| tags.iter().any(|t| t.as_str() == Some("ONE_ON_ONE")));
    Some(Activity {
        envelope_id,
        verb: text(raw, "/verb")?,
        activity_id: text(raw, "/id")?,
        actor: Actor {
            id: text(raw, "/actor/id")?,
            email: text(raw, "/actor/emailAddress"),
            actor_type: text(raw, "/actor/type"),
        },
        target: Target {
            id: text(raw, "/target/id")?,
            url: text(raw, "/target/url"),
            one_on_one,
        },
        object_type: text(raw, "/object/objectType"),
        parent_type: text(raw, "/parent/type"),
        published: text(raw, "/published"),
        sequence_number,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DM: &str = r#"{
      "id": "env-1", "sequenceNumber": 7, "timestamp": 1700000000000, "trackingId": "t",
      "alertType": "full", "headers": {}, "filterMessage": false,
      "data": {"eventType": "conversation.activity", "activity": {
        "id": "9a1b2c3d-0000-4000-8000-000000000001", "objectType": "activity", "verb": "post",
        "published": "2026-01-02T03:04:05.000Z",
        "actor": {"id": "a-uuid", "objectType": "person", "emailAddress": "alice@example.com",
                  "type": "PERSON", "displayName": "Alice"},
        "object": {"objectType": "comment", "displayName": "eyJhbGciOi.encrypted"},
        "target": {"id": "c-uuid", "objectType": "conversation",
                   "url": "https://conv-a.wbx2.com/conversation/api/v1/conversations/c-uuid",
                   "tags": ["ONE_ON_ONE", "LOCKED"]}}}}"#;

    #[test]
    fn a_dm_post_is_an_activity() {
        let Incoming::Event(MercuryEvent::Activity(a)) = parse_frame(DM.as_bytes()) else {
            panic!("not an activity")
        };
        assert_eq!(a.envelope_id, "env-1");
        assert_eq!(a.verb, "post");
        assert!(a.is_new_message() && !a.is_card_action());
        assert_eq!(a.activity_id, "9a1b2c3d-0000-4000-8000-000000000001");
        assert_eq!(a.actor.email.as_deref(), Some("alice@example.com"));
        assert_eq!(a.actor.actor_type.as_deref(), Some("PERSON"));
        assert_eq!(a.target.id, "c-uuid");
        assert!(a.target.one_on_one);
        assert_eq!(a.object_type.as_deref(), Some("comment"));
        assert_eq!(a.sequence_number, Some(7));
    }

    #[test]
    fn a_space_card_action_without_tags_is_not_one_on_one() {
        let frame = r#"{"id":"env-2","data":{"eventType":"conversation.activity","activity":{
            "id":"act-2","verb":"cardAction","actor":{"id":"b","type":"PERSON"},
            "object":{"objectType":"submit","inputs":"{\"x\":1}"},
            "target":{"id":"room","url":"http://127.0.0.1:9/conversation/api/v1/conversations/room"},
            "parent":{"id":"p","type":"reply"}}}}"#;
        let Incoming::Event(MercuryEvent::Activity(a)) = parse_frame(frame.as_bytes()) else {
            panic!("not an activity")
        };
        assert!(a.is_card_action());
        assert!(!a.target.one_on_one);
        assert_eq!(a.actor.email, None);
        assert_eq!(a.parent_type.as_deref(), Some("reply"));
    }

    #[test]
    fn other_events_pongs_and_garbage() {
        let typing = br#"{"id":"env-3","data":{"eventType":"status.start_typing","actor":{}}}"#;
        assert_eq!(
            parse_frame(typing),
            Incoming::Event(MercuryEvent::Other {
                envelope_id: Some("env-3".into()),
                event_type: "status.start_typing".into()
            })
        );
        let ready = br#"{"id":"env-4","data":{"eventType":"mercury.buffer_state"}}"#;
        let Incoming::Event(event) = parse_frame(ready) else {
            panic!("not an event")
        };
        assert!(event.is_ready_signal());
        assert_eq!(event.envelope_id(), Some("env-4"));
        assert_eq!(
            parse_frame(br#"{"type":"pong","id":"p-1"}"#),
            Incoming::Pong(Some("p-1".into()))
        );
        assert!(matches!(parse_frame(b"not json"), Incoming::Unparsed(_)));
        assert!(matches!(
            parse_frame(br#"{"type":"x"}"#),
            Incoming::Unparsed(_)
        ));
        assert!(matches!(parse_frame(b"[1,2]"), Incoming::Unparsed(_)));
        // An activity missing its id is reported as Other, not dropped or fatal.
        let broken = br#"{"id":"env-5","data":{"eventType":"conversation.activity","activity":{"verb":"post"}}}"#;
        assert!(matches!(
            parse_frame(broken),
            Incoming::Event(MercuryEvent::Other { event_type, .. }) if event_type == "conversation.activity"
        ));
    }

    #[test]
    fn outgoing_frames() {
        let auth: Value = serde_json::from_str(&authorization("i", "tok")).unwrap_or_default();
        assert_eq!(auth["type"], "authorization");
        assert_eq!(auth["data"]["token"], "Bearer tok");
        let ping: Value = serde_json::from_str(&ping("p")).unwrap_or_default();
        assert_eq!(ping, json!({"id":"p","type":"ping"}));
        let ack: Value = serde_json::from_str(&ack("env-1")).unwrap_or_default();
        assert_eq!(ack, json!({"type":"ack","messageId":"env-1"}));
    }
}
