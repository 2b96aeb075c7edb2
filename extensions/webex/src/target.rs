//! Parsing of send targets (`--to` of `moltbot message send`, `allowFrom`-style identities).
//!
//! Spec section 6: an email goes to `toPersonEmail`, a person id to `toPersonId`, anything else
//! to `roomId`; the prefixes `webex:`, `person:` and `room:` are accepted (also combined, as in
//! `webex:person:<id>`).
//!
//! Decisions (where the spec leaves room):
//! - Emails are trimmed and lowercased, like `allowFrom` entries (spec section 4).
//! - An unprefixed base64 Webex id is decoded ([`WebexId`]): `PEOPLE` gives
//!   [`Target::PersonId`], `ROOM` gives [`Target::RoomId`], any other kind (`MESSAGE`, `TEAM`, ...)
//!   is an error, because no such id can receive a message.
//! - Any other unprefixed value (a raw uuid, an id we cannot decode) is taken as a room id, as the
//!   spec says ("otherwise `roomId`"); Webex itself then judges it. It is kept verbatim.
//! - `person:` with an email gives [`Target::Email`] (an email is a way to name a person).
//! - A prefixed id whose decoded kind contradicts its prefix (`room:<PEOPLE id>`) is an error.
//! - Empty or whitespace-only targets, and targets with inner whitespace, are errors.

use thiserror::Error;
use webex_api::ids::WebexId;

/// Where a proactive or reply message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A person by email (trimmed, lowercased): sent with `toPersonEmail`.
    Email(String),
    /// A person by Webex person id: sent with `toPersonId`.
    PersonId(String),
    /// A room (space or 1:1 room) by id: sent with `roomId`.
    RoomId(String),
}

impl Target {
    /// The email or id this target carries.
    pub fn value(&self) -> &str {
        match self {
            Target::Email(value) | Target::PersonId(value) | Target::RoomId(value) => value,
        }
    }
}

/// Why a target string was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TargetError {
    /// Nothing (or only whitespace) was given.
    #[error("empty target: give an email, a person id (person:<id>) or a room id (room:<id>)")]
    Empty,
    /// A prefix was given without a value after it.
    #[error("target `{prefix}` has nothing after the prefix: write {prefix}<id>")]
    MissingValue {
        /// The prefix as written, e.g. `person:`.
        prefix: String,
    },
    /// The target contains whitespace inside it.
    #[error("target `{target}` contains whitespace: give one email or id")]
    Whitespace {
        /// The target as given (trimmed).
        target: String,
    },
    /// Something with an `@` that is not a plausible email.
    #[error("target `{target}` is not a valid email address")]
    InvalidEmail {
        /// The target as given (trimmed).
        target: String,
    },
    /// A Webex id whose kind contradicts the prefix (e.g. `room:` with a person id).
    #[error("target `{target}` is a Webex {actual} id, not a {expected} id")]
    KindMismatch {
        /// The target as given (trimmed).
        target: String,
        /// What the prefix asked for (`person` or `room`).
        expected: &'static str,
        /// The kind decoded from the id (e.g. `PEOPLE`).
        actual: String,
    },
    /// A Webex id of a kind that cannot receive messages (e.g. `MESSAGE`).
    #[error(
        "target `{target}` is a Webex {kind} id: only person ids, room ids and emails can receive messages"
    )]
    UnsupportedKind {
        /// The target as given (trimmed).
        target: String,
        /// The kind decoded from the id.
        kind: String,
    },
}

/// The id kind Webex uses for people.
const KIND_PEOPLE: &str = "PEOPLE";
/// The id kind Webex uses for rooms.
const KIND_ROOM: &str = "ROOM";

/// Parses a send target: `alice@example.com`, `person:<id>`, `room:<id>`, a bare Webex id, each
/// optionally behind `webex:`. See the module docs for the exact rules.
pub fn parse_target(s: &str) -> Result<Target, TargetError> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err(TargetError::Empty);
    }
    let rest = strip_prefix_ci(trimmed, "webex:").map_or(trimmed, str::trim_start);
    if rest.is_empty() {
        return Err(TargetError::MissingValue {
            prefix: "webex:".to_string(),
        });
    }
    if let Some(value) = strip_prefix_ci(rest, "person:") {
        return parse_person(trimmed, value.trim());
    }
    if let Some(value) = strip_prefix_ci(rest, "room:") {
        return parse_room(trimmed, value.trim());
    }
    parse_unprefixed(trimmed, rest)
}

/// `person:<value>`: a person id, or an email.
fn parse_person(target: &str, value: &str) -> Result<Target, TargetError> {
    check_value(target, value, "person:")?;
    if value.contains('@') {
        return parse_email(target, value);
    }
    match WebexId::decode(value) {
        Some(id) if !id.kind.eq_ignore_ascii_case(KIND_PEOPLE) => Err(TargetError::KindMismatch {
            target: target.to_string(),
            expected: "person",
            actual: id.kind,
        }),
        _ => Ok(Target::PersonId(value.to_string())),
    }
}

/// `room:<value>`: a room id.
fn parse_room(target: &str, value: &str) -> Result<Target, TargetError> {
    check_value(target, value, "room:")?;
    if value.contains('@') {
        return Err(TargetError::KindMismatch {
            target: target.to_string(),
            expected: "room",
            actual: "email".to_string(),
        });
    }
    match WebexId::decode(value) {
        Some(id) if !id.kind.eq_ignore_ascii_case(KIND_ROOM) => Err(TargetError::KindMismatch {
            target: target.to_string(),
            expected: "room",
            actual: id.kind,
        }),
        _ => Ok(Target::RoomId(value.to_string())),
    }
}

/// No `person:`/`room:` prefix: email, decodable Webex id, or (default) a room id.
fn parse_unprefixed(target: &str, value: &str) -> Result<Target, TargetError> {
    check_value(target, value, "webex:")?;
    if value.contains('@') {
        return parse_email(target, value);
    }
    let Some(id) = WebexId::decode(value) else {
        return Ok(Target::RoomId(value.to_string()));
    };
    if id.kind.eq_ignore_ascii_case(KIND_PEOPLE) {
        Ok(Target::PersonId(value.to_string()))
    } else if id.kind.eq_ignore_ascii_case(KIND_ROOM) {
        Ok(Target::RoomId(value.to_string()))
    } else {
        Err(TargetError::UnsupportedKind {
            target: target.to_string(),
            kind: id.kind,
        })
    }
}

/// Refuses an empty value after a prefix, and values with inner whitespace.
fn check_value(target: &str, value: &str, prefix: &str) -> Result<(), TargetError> {
    if value.is_empty() {
        return Err(TargetError::MissingValue {
            prefix: prefix.to_string(),
        });
    }
    if value.chars().any(char::is_whitespace) {
        return Err(TargetError::Whitespace {
            target: target.to_string(),
        });
    }
    Ok(())
}

/// An email: exactly one `@`, a non-empty local part, a domain with a dot inside it.
fn parse_email(target: &str, value: &str) -> Result<Target, TargetError> {
    let invalid = || TargetError::InvalidEmail {
        target: target.to_string(),
    };
    let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.');
    if local.is_empty() || !domain_ok {
        return Err(invalid());
    }
    Ok(Target::Email(value.to_lowercase()))
}

/// `s` without `prefix`, compared ASCII case-insensitively (`Person:` works too).
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "f06d71a5-0833-4fa5-a72a-cc89b25eee2e";

    fn person_id() -> String {
        WebexId::encode("us", "PEOPLE", UUID)
    }

    fn room_id() -> String {
        WebexId::encode("us", "ROOM", UUID)
    }

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(
            parse_target("  Alice@Example.COM \n"),
            Ok(Target::Email("alice@example.com".into()))
        );
        assert_eq!(
            parse_target("webex:Bob@example.org"),
            Ok(Target::Email("bob@example.org".into()))
        );
    }

    #[test]
    fn prefixed_ids() {
        let person = person_id();
        let room = room_id();
        assert_eq!(
            parse_target(&format!("person:{person}")),
            Ok(Target::PersonId(person.clone()))
        );
        assert_eq!(
            parse_target(&format!("webex:person:{person}")),
            Ok(Target::PersonId(person.clone()))
        );
        assert_eq!(
            parse_target(&format!("room:{room}")),
            Ok(Target::RoomId(room.clone()))
        );
        assert_eq!(
            parse_target(&format!("WEBEX:Room: {room}")),
            Ok(Target::RoomId(room))
        );
        assert_eq!(
            parse_target("person:some-raw-id"),
            Ok(Target::PersonId("some-raw-id".into()))
        );
    }

    #[test]
    fn unprefixed_ids_are_decoded() {
        assert_eq!(
            parse_target(&person_id()),
            Ok(Target::PersonId(person_id()))
        );
        assert_eq!(parse_target(&room_id()), Ok(Target::RoomId(room_id())));
        let with_cluster = WebexId::encode("urn:TEAM:us-east-2_a", "PEOPLE", UUID);
        assert_eq!(
            parse_target(&format!("webex:{with_cluster}")),
            Ok(Target::PersonId(with_cluster))
        );
    }

    #[test]
    fn unknown_unprefixed_values_are_room_ids() {
        assert_eq!(parse_target(UUID), Ok(Target::RoomId(UUID.into())));
        assert_eq!(
            parse_target("webex:whatever"),
            Ok(Target::RoomId("whatever".into()))
        );
    }

    #[test]
    fn person_prefix_with_email_is_an_email() {
        assert_eq!(
            parse_target("person:Carol@Example.com"),
            Ok(Target::Email("carol@example.com".into()))
        );
    }

    #[test]
    fn empty_targets_are_errors_with_a_clear_message() {
        for input in ["", "   ", "\t\n"] {
            let err = parse_target(input).unwrap_err();
            assert_eq!(err, TargetError::Empty);
            assert!(err.to_string().contains("empty target"), "{err}");
        }
        for (input, prefix) in [
            ("person:", "person:"),
            ("room:  ", "room:"),
            ("webex:", "webex:"),
        ] {
            let err = parse_target(input).unwrap_err();
            assert_eq!(
                err,
                TargetError::MissingValue {
                    prefix: prefix.into()
                }
            );
        }
        assert_eq!(
            parse_target("webex:person:").unwrap_err(),
            TargetError::MissingValue {
                prefix: "person:".into()
            }
        );
    }

    #[test]
    fn contradicting_kinds_are_errors() {
        let err = parse_target(&format!("room:{}", person_id())).unwrap_err();
        assert!(matches!(
            &err,
            TargetError::KindMismatch { expected: "room", actual, .. } if actual == "PEOPLE"
        ));
        assert!(err.to_string().contains("not a room id"), "{err}");
        let err = parse_target(&format!("person:{}", room_id())).unwrap_err();
        assert!(matches!(
            err,
            TargetError::KindMismatch {
                expected: "person",
                ..
            }
        ));
        assert!(matches!(
            parse_target("room:a@b.com"),
            Err(TargetError::KindMismatch {
                expected: "room",
                ..
            })
        ));
    }

    #[test]
    fn ids_that_cannot_receive_messages_are_errors() {
        let message = WebexId::encode("us", "MESSAGE", UUID);
        let err = parse_target(&message).unwrap_err();
        assert!(matches!(&err, TargetError::UnsupportedKind { kind, .. } if kind == "MESSAGE"));
        assert!(err.to_string().contains("only person ids"), "{err}");
    }

    #[test]
    fn malformed_values_are_errors() {
        for input in [
            "@example.com",
            "alice@",
            "alice@localhost",
            "a@b@c.com",
            "a@.com",
        ] {
            assert!(
                matches!(parse_target(input), Err(TargetError::InvalidEmail { .. })),
                "{input}"
            );
        }
        assert!(matches!(
            parse_target("hello world"),
            Err(TargetError::Whitespace { .. })
        ));
    }

    #[test]
    fn value_returns_the_payload() {
        assert_eq!(Target::Email("a@b.co".into()).value(), "a@b.co");
        assert_eq!(Target::RoomId("r".into()).value(), "r");
        assert_eq!(Target::PersonId("p".into()).value(), "p");
    }
}
