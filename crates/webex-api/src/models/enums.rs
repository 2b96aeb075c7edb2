//! String enums with a catch-all variant: a value Webex adds tomorrow deserializes into
//! `Other(String)` instead of failing the whole object.

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this crate does not know yet, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Other(other) => other.as_str(),
                }
            }

            /// Parses a wire value; unknown values become `Other`.
            pub fn from_wire(value: &str) -> Self {
                match value {
                    $( $wire => $name::$variant, )+
                    other => $name::Other(other.to_string()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                Ok($name::from_wire(&value))
            }
        }
    };
}

string_enum! {
    /// Room type.
    pub enum RoomType {
        /// 1:1 room.
        Direct => "direct",
        /// Group room (space).
        Group => "group",
    }
}

string_enum! {
    /// Kind of account.
    pub enum PersonType {
        /// A person.
        Person => "person",
        /// A bot.
        Bot => "bot",
        /// An app user.
        AppUser => "appuser",
    }
}

string_enum! {
    /// Webhook status.
    pub enum WebhookStatus {
        /// Delivering.
        Active => "active",
        /// Disabled (after delivery failures); re-activate with `status: active`.
        Inactive => "inactive",
    }
}

string_enum! {
    /// Resource a webhook watches.
    pub enum WebhookResource {
        /// Messages.
        Messages => "messages",
        /// Card submissions.
        AttachmentActions => "attachmentActions",
        /// Memberships.
        Memberships => "memberships",
        /// Rooms.
        Rooms => "rooms",
        /// Every resource.
        All => "all",
    }
}

string_enum! {
    /// Event a webhook watches.
    pub enum WebhookEvent {
        /// Created.
        Created => "created",
        /// Updated.
        Updated => "updated",
        /// Deleted.
        Deleted => "deleted",
        /// Every event.
        All => "all",
    }
}

string_enum! {
    /// Sort order of `GET /rooms`.
    pub enum RoomSortBy {
        /// Most recent activity first.
        LastActivity => "lastactivity",
        /// By id.
        Id => "id",
        /// Most recently created first.
        Created => "created",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_land_in_other() {
        let parsed: RoomType = serde_json::from_str("\"team\"").unwrap();
        assert_eq!(parsed, RoomType::Other("team".into()));
        assert_eq!(serde_json::to_string(&parsed).unwrap(), "\"team\"");
        let known: RoomType = serde_json::from_str("\"direct\"").unwrap();
        assert_eq!(known, RoomType::Direct);
        assert_eq!(RoomSortBy::LastActivity.as_str(), "lastactivity");
    }
}
