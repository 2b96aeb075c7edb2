//! `allowFrom` / `groupAllowFrom`: the people a policy lets in.

use super::decide::Sender;
use super::identity::{exact_id, Identity, SameId};

/// A parsed allow list (`allowFrom` or `groupAllowFrom`).
///
/// Entries are trimmed and may carry a `<channel>:` prefix; `"*"` matches everyone; an entry
/// with an `@` is an email, matched case-insensitively against the sender's email; anything else
/// is a person id, matched against the sender's id exactly or by the list's [`SameId`]
/// function (see [`AccessList::with_same_id`]). Empty entries are ignored.
#[derive(Debug, Clone)]
pub struct AccessList {
    wildcard: bool,
    emails: Vec<String>,
    person_ids: Vec<String>,
    same_id: SameId,
}

impl Default for AccessList {
    fn default() -> Self {
        Self {
            wildcard: false,
            emails: Vec::new(),
            person_ids: Vec::new(),
            same_id: exact_id,
        }
    }
}

impl AccessList {
    /// Parses config `entries` for `channel` (whose name is the accepted prefix, e.g. `webex`).
    pub fn new<I, S>(channel: &str, entries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = Self::default();
        for entry in entries {
            let entry = entry.as_ref();
            let bare = super::identity::strip_channel_prefix(channel, entry.trim()).trim();
            if bare == "*" {
                list.wildcard = true;
                continue;
            }
            match Identity::parse(channel, entry) {
                Some(Identity::Email(email)) => list.emails.push(email),
                Some(Identity::PersonId(id)) => list.person_ids.push(id),
                None => {}
            }
        }
        list
    }

    /// Uses `same_id` to compare person ids (for networks where one id has several spellings).
    #[must_use]
    pub fn with_same_id(mut self, same_id: SameId) -> Self {
        self.same_id = same_id;
        self
    }

    /// Whether the list contains `"*"`.
    pub fn has_wildcard(&self) -> bool {
        self.wildcard
    }

    /// Whether the list admits nobody (no entries, no `"*"`).
    pub fn is_empty(&self) -> bool {
        !self.wildcard && self.emails.is_empty() && self.person_ids.is_empty()
    }

    /// Whether `sender` is on the list: `"*"`, their email (case-insensitive), or their id.
    pub fn allows(&self, sender: &Sender) -> bool {
        if self.wildcard {
            return true;
        }
        if let Some(email) = sender.email.as_deref().map(str::trim) {
            let email = email.to_lowercase();
            if !email.is_empty() && self.emails.contains(&email) {
                return true;
            }
        }
        let id = sender.id.trim();
        !id.is_empty()
            && self
                .person_ids
                .iter()
                .any(|entry| entry == id || (self.same_id)(entry, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(id: &str, email: Option<&str>) -> Sender {
        Sender {
            id: id.into(),
            email: email.map(Into::into),
        }
    }

    #[test]
    fn matches_emails_case_insensitively_and_ids_exactly() {
        let list = AccessList::new("chat", [" chat:Alice@Example.com", "ID-1", ""]);
        assert!(list.allows(&sender("other", Some("ALICE@example.COM"))));
        assert!(list.allows(&sender("ID-1", None)));
        assert!(!list.allows(&sender("id-1", None)));
        assert!(!list.allows(&sender("x", Some("bob@example.com"))));
        assert!(!list.has_wildcard());
    }

    #[test]
    fn star_matches_everyone() {
        let list = AccessList::new("chat", ["chat:*"]);
        assert!(list.has_wildcard());
        assert!(list.allows(&sender("anyone", None)));
    }

    #[test]
    fn same_id_function_is_used_for_ids() {
        fn ignore_case(a: &str, b: &str) -> bool {
            a.eq_ignore_ascii_case(b)
        }
        let list = AccessList::new("chat", ["ID-1"]).with_same_id(ignore_case);
        assert!(list.allows(&sender("id-1", None)));
        // Ids never match emails, even through the equivalence.
        assert!(!list.allows(&sender("", Some("id-1"))));
    }

    #[test]
    fn empty_list_admits_nobody() {
        let list = AccessList::new("chat", ["  ", "chat:"]);
        assert!(list.is_empty());
        assert!(!list.allows(&sender("", None)));
        assert!(!list.allows(&sender("a", Some("a@b.c"))));
    }
}
