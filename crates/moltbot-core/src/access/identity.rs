//! One person as written in config or on the command line: a person id or an email.

use std::fmt;

/// Decides whether two person ids name the same person.
///
/// Some networks spell one id several ways (for example an encoded and a raw form); the channel
/// integration passes a function that knows this. Use [`exact_id`] when ids have one spelling.
pub type SameId = fn(&str, &str) -> bool;

/// The default [`SameId`]: ids are equal only when they are the same string.
pub fn exact_id(a: &str, b: &str) -> bool {
    a == b
}

/// A person named by id or by email.
///
/// Emails are lowercased (they are compared case-insensitively); person ids are kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// A person id assigned by the chat network.
    PersonId(String),
    /// An email address, lowercased.
    Email(String),
}

impl Identity {
    /// Parses `raw` as written in `allowFrom` or given to `moltbot pair`: trimmed, an optional
    /// `<channel>:` prefix (matched case-insensitively, e.g. `webex:`) removed; anything with an
    /// `@` is an email (lowercased), anything else a person id. `None` for an empty entry.
    ///
    /// `"*"` is not an identity: [`AccessList`](super::AccessList) handles it.
    pub fn parse(channel: &str, raw: &str) -> Option<Self> {
        let text = strip_channel_prefix(channel, raw.trim()).trim();
        if text.is_empty() {
            None
        } else if text.contains('@') {
            Some(Identity::Email(text.to_lowercase()))
        } else {
            Some(Identity::PersonId(text.to_owned()))
        }
    }

    /// The person id, if this is one.
    pub fn person_id(&self) -> Option<&str> {
        match self {
            Identity::PersonId(id) => Some(id),
            Identity::Email(_) => None,
        }
    }

    /// The (lowercased) email, if this is one.
    pub fn email(&self) -> Option<&str> {
        match self {
            Identity::Email(email) => Some(email),
            Identity::PersonId(_) => None,
        }
    }

    /// The id or email as text.
    pub fn as_str(&self) -> &str {
        match self {
            Identity::PersonId(s) | Identity::Email(s) => s,
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Removes a leading `<channel>:` (case-insensitive) from `text`, if present.
pub(crate) fn strip_channel_prefix<'a>(channel: &str, text: &'a str) -> &'a str {
    let n = channel.len();
    if n > 0
        && text.len() > n
        && text.is_char_boundary(n)
        && text[..n].eq_ignore_ascii_case(channel)
        && text[n..].starts_with(':')
    {
        &text[n + 1..]
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_unprefixed() {
        assert_eq!(
            Identity::parse("chat", "  Chat:Alice@Example.COM "),
            Some(Identity::Email("alice@example.com".into()))
        );
    }

    #[test]
    fn person_ids_keep_their_case() {
        assert_eq!(
            Identity::parse("chat", "chat:AbC123=="),
            Some(Identity::PersonId("AbC123==".into()))
        );
        // Another channel's prefix is not stripped.
        assert_eq!(
            Identity::parse("chat", "other:AbC"),
            Some(Identity::PersonId("other:AbC".into()))
        );
    }

    #[test]
    fn empty_entries_are_none() {
        assert_eq!(Identity::parse("chat", "   "), None);
        assert_eq!(Identity::parse("chat", "chat:"), None);
        assert_eq!(Identity::parse("chat", "chat:  "), None);
    }

    #[test]
    fn prefix_stripping_is_safe_on_multibyte_text() {
        assert_eq!(strip_channel_prefix("ab", "é:x"), "é:x");
        assert_eq!(strip_channel_prefix("", ":x"), ":x");
    }
}
