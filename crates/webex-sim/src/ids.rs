//! Webex-style resource ids.
//!
//! Real Webex ids are the standard base64 encoding (padding stripped) of a URI such as
//! `ciscospark://us/PEOPLE/<uuid>`; e.g. the docs' example person id
//! `Y2lzY29zcGFyazovL3VzL1BFT1BMRS9mNWIzNjE4Ny1jOGRkLTQ3MjctOGIyZi1mOWM0NDdmMjkwNDY`
//! decodes to `ciscospark://us/PEOPLE/f5b36187-c8dd-4727-8b2f-f9c447f29046`.
//! Membership ids carry `<personUuid>:<roomUuid>`, as in the docs' membership example.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use uuid::Uuid;

/// The resource kinds that appear in encoded ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A person or bot.
    People,
    /// A room (space or 1:1).
    Room,
    /// A message.
    Message,
    /// A membership (person in a room).
    Membership,
    /// A webhook.
    Webhook,
    /// A card submission.
    AttachmentAction,
    /// An organization.
    Organization,
    /// An application (for webhook envelopes).
    Application,
    /// A file's content (`ciscospark://us/CONTENT/<message uuid>/<file index>`, notes §9).
    Content,
}

impl Kind {
    /// The path segment used inside the encoded URI.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::People => "PEOPLE",
            Kind::Room => "ROOM",
            Kind::Message => "MESSAGE",
            Kind::Membership => "MEMBERSHIP",
            Kind::Webhook => "WEBHOOK",
            Kind::AttachmentAction => "ATTACHMENT_ACTION",
            Kind::Organization => "ORGANIZATION",
            Kind::Application => "APPLICATION",
            Kind::Content => "CONTENT",
        }
    }
}

/// Encodes `ciscospark://us/<KIND>/<rest>` as unpadded standard base64.
pub fn encode_raw(kind: Kind, rest: &str) -> String {
    STANDARD_NO_PAD.encode(format!("ciscospark://us/{}/{}", kind.as_str(), rest))
}

/// Encodes an id of `kind` for `uuid`.
pub fn encode(kind: Kind, uuid: &Uuid) -> String {
    encode_raw(kind, &uuid.to_string())
}

/// Decodes an encoded id into its kind segment and the part after it.
/// Accepts padded or unpadded, standard or URL-safe base64.
pub fn decode(id: &str) -> Option<(String, String)> {
    let bytes = STANDARD_NO_PAD
        .decode(id)
        .or_else(|_| STANDARD.decode(id))
        .or_else(|_| URL_SAFE_NO_PAD.decode(id))
        .or_else(|_| URL_SAFE.decode(id))
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let rest = text.strip_prefix("ciscospark://")?;
    let mut parts = rest.splitn(3, '/');
    let _cluster = parts.next()?;
    let kind = parts.next()?.to_string();
    let tail = parts.next()?.to_string();
    Some((kind, tail))
}

/// Resolves a client-supplied id of `kind` to its uuid.
///
/// Besides the encoded form, a bare uuid is accepted: Webex's API answers lookups by the
/// raw uuid too, and the channel contract expects `data-object-id` values in either form.
pub fn resolve(kind: Kind, input: &str) -> Option<Uuid> {
    let input = input.trim();
    if let Ok(uuid) = Uuid::parse_str(input) {
        return Some(uuid);
    }
    let (found, tail) = decode(input)?;
    if found != kind.as_str() {
        return None;
    }
    Uuid::parse_str(&tail).ok()
}

/// Resolves a membership id into `(person, room)` uuids.
pub fn resolve_membership(input: &str) -> Option<(Uuid, Uuid)> {
    let (found, tail) = decode(input.trim())?;
    if found != Kind::Membership.as_str() {
        return None;
    }
    let (person, room) = tail.split_once(':')?;
    Some((Uuid::parse_str(person).ok()?, Uuid::parse_str(room).ok()?))
}

/// Encodes a membership id for `person` in `room`.
pub fn membership_id(person: &Uuid, room: &Uuid) -> String {
    encode_raw(Kind::Membership, &format!("{person}:{room}"))
}

/// Encodes the content id of file `index` of message `message`: Webex's content ids carry
/// `<activity uuid>/<file index>` (JSSDK `getHydraFiles`; `shared/spec/webex-api-notes.md` §5).
pub fn content_id(message: &Uuid, index: u32) -> String {
    encode_raw(Kind::Content, &format!("{message}/{index}"))
}

/// Resolves a content id into `(message uuid, file index)`.
pub fn resolve_content(input: &str) -> Option<(Uuid, u32)> {
    let (found, tail) = decode(input.trim())?;
    if found != Kind::Content.as_str() {
        return None;
    }
    let (message, index) = tail.split_once('/')?;
    Some((Uuid::parse_str(message).ok()?, index.parse().ok()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn docs_example_roundtrips() {
        let uuid = Uuid::parse_str("f5b36187-c8dd-4727-8b2f-f9c447f29046").unwrap();
        let id = encode(Kind::People, &uuid);
        assert_eq!(
            id,
            "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9mNWIzNjE4Ny1jOGRkLTQ3MjctOGIyZi1mOWM0NDdmMjkwNDY"
        );
        assert_eq!(resolve(Kind::People, &id), Some(uuid));
        assert_eq!(resolve(Kind::Room, &id), None);
        assert_eq!(resolve(Kind::People, &uuid.to_string()), Some(uuid));
    }

    #[test]
    fn membership_ids_roundtrip() {
        let p = Uuid::new_v4();
        let r = Uuid::new_v4();
        assert_eq!(resolve_membership(&membership_id(&p, &r)), Some((p, r)));
    }

    #[test]
    fn content_ids_roundtrip() {
        let m = Uuid::new_v4();
        let id = content_id(&m, 0);
        assert_eq!(resolve_content(&id), Some((m, 0)));
        assert_eq!(resolve_content(&encode(Kind::Message, &m)), None);
    }
}
