//! Webex id helpers.
//!
//! Webex ids are base64 of `ciscospark://<cluster>/<KIND>/<uuid>` (e.g.
//! `ciscospark://us/PEOPLE/…`, newer ones `ciscospark://urn:TEAM:us-east-2_a/ROOM/…`). Some places
//! carry the bare uuid instead, notably `<spark-mention data-object-id="…">` in message `html`, so
//! ids must be compared by their uuid, see [`same_entity`].

use base64::engine::general_purpose::{GeneralPurpose, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;

const SCHEME: &str = "ciscospark://";

/// A decoded Webex id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebexId {
    /// The cluster part, e.g. `us` or `urn:TEAM:us-east-2_a`.
    pub cluster: String,
    /// The entity kind, e.g. `PEOPLE`, `ROOM`, `MESSAGE`.
    pub kind: String,
    /// The uuid (as found, usually lowercase).
    pub uuid: String,
}

impl WebexId {
    /// Decodes a base64 Webex id (standard or URL-safe alphabet, with or without padding).
    /// Returns `None` for anything else, including bare uuids.
    pub fn decode(id: &str) -> Option<WebexId> {
        let trimmed = id.trim().trim_end_matches('=');
        if trimmed.is_empty() {
            return None;
        }
        let bytes = decode_any(trimmed)?;
        let text = String::from_utf8(bytes).ok()?;
        let rest = text.strip_prefix(SCHEME)?;
        let (before_uuid, uuid) = rest.rsplit_once('/')?;
        let (cluster, kind) = before_uuid.rsplit_once('/')?;
        if uuid.is_empty() || kind.is_empty() {
            return None;
        }
        Some(WebexId {
            cluster: cluster.to_string(),
            kind: kind.to_string(),
            uuid: uuid.to_string(),
        })
    }

    /// Encodes `ciscospark://<cluster>/<kind>/<uuid>` as Webex does (standard alphabet, no
    /// padding). Mostly for tests and emulators.
    pub fn encode(cluster: &str, kind: &str, uuid: &str) -> String {
        STANDARD_NO_PAD.encode(format!("{SCHEME}{cluster}/{kind}/{uuid}"))
    }

    /// Re-encodes this id.
    pub fn to_id(&self) -> String {
        Self::encode(&self.cluster, &self.kind, &self.uuid)
    }
}

fn decode_any(input: &str) -> Option<Vec<u8>> {
    let engines: [&GeneralPurpose; 2] = [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD];
    engines.iter().find_map(|engine| engine.decode(input).ok())
}

/// The uuid an id refers to: the decoded uuid for base64 ids, the input itself otherwise.
/// Lowercased, so raw uuids from `html` compare equal.
pub fn entity_uuid(id: &str) -> String {
    match WebexId::decode(id) {
        Some(decoded) => decoded.uuid.to_ascii_lowercase(),
        None => id.trim().to_ascii_lowercase(),
    }
}

/// Whether two ids (base64 or raw uuid, in any mix) name the same entity.
pub fn same_entity(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() || b.is_empty() {
        return false;
    }
    a == b || entity_uuid(a) == entity_uuid(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_the_openapi_example_room_id() {
        let id = "Y2lzY29zcGFyazovL3VzL1JPT00vYmJjZWIxYWQtNDNmMS0zYjU4LTkxNDctZjE0YmIwYzRkMTU0";
        let decoded = WebexId::decode(id).unwrap();
        assert_eq!(decoded.cluster, "us");
        assert_eq!(decoded.kind, "ROOM");
        assert_eq!(decoded.uuid, "bbceb1ad-43f1-3b58-9147-f14bb0c4d154");
    }

    #[test]
    fn decodes_with_padding_and_url_safe_alphabet() {
        let raw = "ciscospark://urn:TEAM:us-east-2_a/PEOPLE/ab?>~";
        let padded = base64::engine::general_purpose::URL_SAFE.encode(raw);
        let decoded = WebexId::decode(&padded).unwrap();
        assert_eq!(decoded.cluster, "urn:TEAM:us-east-2_a");
        assert_eq!(decoded.kind, "PEOPLE");
        let standard = base64::engine::general_purpose::STANDARD.encode(raw);
        assert_eq!(WebexId::decode(&standard), Some(decoded));
    }

    #[test]
    fn rejects_non_ids() {
        assert_eq!(WebexId::decode(""), None);
        assert_eq!(
            WebexId::decode("bbceb1ad-43f1-3b58-9147-f14bb0c4d154"),
            None
        );
        assert_eq!(
            WebexId::decode(&STANDARD_NO_PAD.encode("https://x/y/z")),
            None
        );
        assert_eq!(WebexId::decode("!!!not base64!!!"), None);
    }

    #[test]
    fn same_entity_matches_raw_uuid_against_base64() {
        let uuid = "f06d71a5-0833-4fa5-a72a-cc89b25eee2e";
        let id = WebexId::encode("us", "PEOPLE", uuid);
        assert!(same_entity(&id, uuid));
        assert!(same_entity(uuid, &uuid.to_uppercase()));
        assert!(!same_entity(&id, "00000000-0833-4fa5-a72a-cc89b25eee2e"));
        assert!(!same_entity("", ""));
    }

    proptest! {
        #[test]
        fn encode_decode_roundtrip(
            cluster in "[a-z]{2}|urn:TEAM:[a-z0-9_-]{1,12}",
            kind in "[A-Z_]{1,20}",
            uuid in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        ) {
            let id = WebexId::encode(&cluster, &kind, &uuid);
            let decoded = WebexId::decode(&id).unwrap();
            prop_assert_eq!(&decoded.cluster, &cluster);
            prop_assert_eq!(&decoded.kind, &kind);
            prop_assert_eq!(&decoded.uuid, &uuid);
            prop_assert_eq!(decoded.to_id(), id.clone());
            prop_assert!(same_entity(&id, &uuid));
            let padded = base64::engine::general_purpose::URL_SAFE
                .encode(format!("ciscospark://{cluster}/{kind}/{uuid}"));
            prop_assert!(same_entity(&padded, &id));
        }
    }
}
