//! Seed files: JSON5 describing people, bots and rooms to create at start (and on reset).
//!
//! ```json5
//! { people: [{ email: "bot@x.io", displayName: "Bot", type: "bot", token: "T" }],
//!   rooms: [{ title: "Team", members: ["alice@x.io", "bot@x.io"] }] }
//! ```
//!
//! A seed is checked whole before anything is created: unknown keys, wrong types, a `type`
//! other than `person`/`bot`, an invalid or repeated email, a repeated or empty token, and a
//! room without members or with a member not among `people` are refused, naming the entry
//! (`people[1].token`).

use crate::model::{is_email, PersonType, World};
use serde::Deserialize;

/// Errors reading a seed file.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The file could not be read.
    #[error("cannot read seed file {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON5 for a seed.
    #[error("invalid seed file {path}: {message}")]
    Parse {
        /// The path.
        path: String,
        /// Parser message.
        message: String,
    },
    /// A seed built in code breaks a rule (see the module docs); the message names the entry.
    #[error("invalid seed: {0}")]
    Invalid(String),
    /// A room names a member that is not among the people.
    #[error("room {room:?} names unknown member {email:?}")]
    UnknownMember {
        /// Room title.
        room: String,
        /// The email.
        email: String,
    },
}

/// A seed person.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedPerson {
    /// Email.
    pub email: String,
    /// Display name (defaults to the email).
    #[serde(default)]
    pub display_name: Option<String>,
    /// `person` (default) or `bot`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Fixed token (generated when absent).
    #[serde(default)]
    pub token: Option<String>,
}

/// A seed room.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRoom {
    /// Title.
    pub title: String,
    /// Member emails; the first is the creator.
    #[serde(default)]
    pub members: Vec<String>,
}

/// A whole seed file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// People and bots.
    #[serde(default)]
    pub people: Vec<SeedPerson>,
    /// Group rooms.
    #[serde(default)]
    pub rooms: Vec<SeedRoom>,
}

impl Seed {
    /// Parses and checks seed text (see the module docs for what is refused).
    ///
    /// # Errors
    /// [`SeedError::Parse`] naming the entry at fault (`people[0].tokn`) and, for syntax
    /// errors, the line.
    pub fn parse(text: &str, path: &str) -> Result<Seed, SeedError> {
        let fail = |message: String| SeedError::Parse {
            path: path.to_string(),
            message,
        };
        let value =
            jsonc_parser::parse_to_serde_value::<serde_json::Value>(text, &Default::default())
                .map_err(|e| fail(e.to_string()))?;
        let seed: Seed = serde_path_to_error::deserialize(value).map_err(|e| {
            let at = e.path().to_string();
            if at == "." {
                fail(e.into_inner().to_string())
            } else {
                fail(format!("{at}: {}", e.into_inner()))
            }
        })?;
        seed.check().map_err(fail)?;
        Ok(seed)
    }

    /// The first broken rule, as `entry: reason`.
    fn check(&self) -> Result<(), String> {
        let mut emails: Vec<String> = Vec::new();
        let mut tokens: Vec<&str> = Vec::new();
        for (i, p) in self.people.iter().enumerate() {
            if !is_email(&p.email) {
                return Err(format!(
                    "people[{i}].email: {:?} is not an email address (expected local@domain)",
                    p.email
                ));
            }
            let email = p.email.trim().to_lowercase();
            if let Some(j) = emails.iter().position(|e| *e == email) {
                return Err(format!(
                    "people[{i}].email: {:?} is already people[{j}]",
                    p.email
                ));
            }
            emails.push(email);
            if let Some(kind) = p.kind.as_deref() {
                if kind != "person" && kind != "bot" {
                    return Err(format!(
                        "people[{i}].type: {kind:?} is neither \"person\" nor \"bot\""
                    ));
                }
            }
            if let Some(token) = p.token.as_deref() {
                if token.is_empty() {
                    return Err(format!(
                        "people[{i}].token: empty (leave it out to have one generated)"
                    ));
                }
                if let Some(j) = tokens.iter().position(|t| *t == token) {
                    return Err(format!(
                        "people[{i}].token: already the token of people[{j}] (tokens must be unique)"
                    ));
                }
                tokens.push(token);
            }
        }
        for (i, r) in self.rooms.iter().enumerate() {
            if r.title.trim().is_empty() {
                return Err(format!("rooms[{i}].title: empty"));
            }
            if r.members.is_empty() {
                return Err(format!(
                    "rooms[{i}].members ({:?}): must name at least one person (the first creates it)",
                    r.title
                ));
            }
            for (k, m) in r.members.iter().enumerate() {
                if !emails.contains(&m.trim().to_lowercase()) {
                    return Err(format!(
                        "rooms[{i}].members[{k}] ({:?}): unknown member {m:?} (not among people)",
                        r.title
                    ));
                }
            }
        }
        Ok(())
    }

    /// Reads and parses a seed file.
    pub fn load(path: &std::path::Path) -> Result<Seed, SeedError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Io {
            path: shown.clone(),
            source,
        })?;
        Seed::parse(&text, &shown)
    }

    /// Checks the seed (as [`Seed::parse`] does) and applies it to `world`.
    ///
    /// # Errors
    /// [`SeedError::Invalid`] when a rule is broken (nothing is applied then), or
    /// [`SeedError::UnknownMember`] when a room names someone missing from `world`.
    pub fn apply(&self, world: &mut World) -> Result<(), SeedError> {
        self.check().map_err(SeedError::Invalid)?;
        for p in &self.people {
            let kind = match p.kind.as_deref() {
                Some("bot") => PersonType::Bot,
                _ => PersonType::Person,
            };
            let name = p.display_name.clone().unwrap_or_else(|| p.email.clone());
            world.add_person(&p.email, &name, kind, p.token.as_deref());
        }
        for r in &self.rooms {
            let mut uuids = Vec::new();
            for email in &r.members {
                let person =
                    world
                        .person_by_email(email)
                        .ok_or_else(|| SeedError::UnknownMember {
                            room: r.title.clone(),
                            email: email.clone(),
                        })?;
                uuids.push(person.uuid);
            }
            let Some((creator, rest)) = uuids.split_first() else {
                continue;
            };
            world.create_group_room(&r.title, *creator, rest);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_json5_and_applies() {
        let seed = Seed::parse(
            "{people:[{email:'Bot@x.io',displayName:'Bot',type:'bot',token:'T1'},{email:'a@x.io'}],\
             rooms:[{title:'Team',members:['a@x.io','bot@x.io']}],}",
            "inline",
        )
        .unwrap();
        let mut w = World::default();
        seed.apply(&mut w).unwrap();
        assert_eq!(w.person_by_token("T1").unwrap().kind, PersonType::Bot);
        assert_eq!(w.rooms.len(), 1);
        assert_eq!(w.rooms[0].members.len(), 2);
    }

    #[test]
    fn unknown_member_is_an_error() {
        let err = Seed::parse("{rooms:[{title:'T',members:['x@y.z']}]}", "inline").unwrap_err();
        assert!(err.to_string().contains("rooms[0].members[0]"), "{err}");
        let seed = Seed {
            people: Vec::new(),
            rooms: vec![SeedRoom {
                title: "T".into(),
                members: vec!["x@y.z".into()],
            }],
        };
        let mut world = World::default();
        assert!(matches!(seed.apply(&mut world), Err(SeedError::Invalid(_))));
        assert!(world.rooms.is_empty());
    }
}
