//! Seed files: JSON5 describing people, bots and rooms to create at start (and on reset).
//!
//! ```json5
//! { people: [{ email: "bot@x.io", displayName: "Bot", type: "bot", token: "T" }],
//!   rooms: [{ title: "Team", members: ["alice@x.io", "bot@x.io"] }] }
//! ```

use crate::model::{PersonType, World};
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
#[serde(rename_all = "camelCase")]
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
pub struct SeedRoom {
    /// Title.
    pub title: String,
    /// Member emails; the first is the creator.
    #[serde(default)]
    pub members: Vec<String>,
}

/// A whole seed file.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Seed {
    /// People and bots.
    #[serde(default)]
    pub people: Vec<SeedPerson>,
    /// Group rooms.
    #[serde(default)]
    pub rooms: Vec<SeedRoom>,
}

impl Seed {
    /// Parses seed text.
    pub fn parse(text: &str, path: &str) -> Result<Seed, SeedError> {
        jsonc_parser::parse_to_serde_value(text, &Default::default()).map_err(|e| {
            SeedError::Parse {
                path: path.to_string(),
                message: e.to_string(),
            }
        })
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

    /// Applies the seed to `world`.
    pub fn apply(&self, world: &mut World) -> Result<(), SeedError> {
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
        let seed = Seed::parse("{rooms:[{title:'T',members:['x@y.z']}]}", "inline").unwrap();
        assert!(seed.apply(&mut World::default()).is_err());
    }
}
