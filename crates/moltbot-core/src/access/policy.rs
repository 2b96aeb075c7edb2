//! The `dmPolicy` and `groupPolicy` config values.

use std::fmt;
use std::str::FromStr;

/// Who may talk to the bot in direct messages (`dmPolicy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DmPolicy {
    /// Unknown senders get a pairing code and wait for approval (the default).
    #[default]
    Pairing,
    /// Only senders in `allowFrom` or approved through pairing; others are dropped.
    Allowlist,
    /// Anyone (config validation requires `"*"` in `allowFrom`).
    Open,
    /// No DMs are processed.
    Disabled,
}

impl DmPolicy {
    /// Valid config values, in declaration order.
    pub const NAMES: &'static [&'static str] = &["pairing", "allowlist", "open", "disabled"];

    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            DmPolicy::Pairing => "pairing",
            DmPolicy::Allowlist => "allowlist",
            DmPolicy::Open => "open",
            DmPolicy::Disabled => "disabled",
        }
    }

    /// Parses a config value (exact, lowercase); `None` if it is not one of [`DmPolicy::NAMES`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pairing" => Some(DmPolicy::Pairing),
            "allowlist" => Some(DmPolicy::Allowlist),
            "open" => Some(DmPolicy::Open),
            "disabled" => Some(DmPolicy::Disabled),
            _ => None,
        }
    }
}

/// Who may trigger the bot in group spaces (`groupPolicy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GroupPolicy {
    /// Only senders in `groupAllowFrom` (the default). Pairing approvals do not count.
    #[default]
    Allowlist,
    /// Anyone who @mentions the bot.
    Mention,
    /// Anyone in the space.
    Open,
    /// No space messages are processed.
    Disabled,
}

impl GroupPolicy {
    /// Valid config values, in declaration order.
    pub const NAMES: &'static [&'static str] = &["allowlist", "mention", "open", "disabled"];

    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupPolicy::Allowlist => "allowlist",
            GroupPolicy::Mention => "mention",
            GroupPolicy::Open => "open",
            GroupPolicy::Disabled => "disabled",
        }
    }

    /// Parses a config value (exact, lowercase); `None` if it is not one of
    /// [`GroupPolicy::NAMES`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "allowlist" => Some(GroupPolicy::Allowlist),
            "mention" => Some(GroupPolicy::Mention),
            "open" => Some(GroupPolicy::Open),
            "disabled" => Some(GroupPolicy::Disabled),
            _ => None,
        }
    }
}

/// A `dmPolicy` or `groupPolicy` value that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {key} {value:?}: expected one of {}", .expected.join(", "))]
pub struct ParsePolicyError {
    /// `"dmPolicy"` or `"groupPolicy"`.
    pub key: &'static str,
    /// The rejected value.
    pub value: String,
    /// The valid values.
    pub expected: &'static [&'static str],
}

macro_rules! policy_text_impls {
    ($ty:ident, $key:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = ParsePolicyError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s).ok_or_else(|| ParsePolicyError {
                    key: $key,
                    value: s.to_owned(),
                    expected: Self::NAMES,
                })
            }
        }
    };
}

policy_text_impls!(DmPolicy, "dmPolicy");
policy_text_impls!(GroupPolicy, "groupPolicy");

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in DmPolicy::NAMES {
            let p: DmPolicy = name.parse().unwrap();
            assert_eq!(p.as_str(), *name);
        }
        for name in GroupPolicy::NAMES {
            let p: GroupPolicy = name.parse().unwrap();
            assert_eq!(p.as_str(), *name);
        }
    }

    #[test]
    fn unknown_values_name_the_key_and_choices() {
        let err = "pair".parse::<DmPolicy>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown dmPolicy \"pair\": expected one of pairing, allowlist, open, disabled"
        );
        assert!(GroupPolicy::parse("Mention").is_none());
    }

    #[test]
    fn defaults_match_the_spec() {
        assert_eq!(DmPolicy::default(), DmPolicy::Pairing);
        assert_eq!(GroupPolicy::default(), GroupPolicy::Allowlist);
    }
}
