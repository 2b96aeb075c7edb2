//! Neutralising the mentions an agent writes (issue 12 item 2, `channels.webex.agentMentions`).
//!
//! Webex turns these markdown tokens into mentions that notify people
//! (developer.webex.com/docs/basics, "Formatting Messages"; `spec/webex-api-notes.md` §2.2):
//! `<@personEmail:EMAIL|Name>`, `<@personEmail:EMAIL>`, `<@personId:ID|Name>`, `<@personId:ID>`
//! and the group mention `<@all>`. Agent output is untrusted, so by default (`agentMentions:
//! false`) every such token is rewritten as plain text that notifies nobody (`@Name`, `@all`),
//! except a mention of the person being answered. `agentMentions: true` keeps every mention.
//!
//! Any `<@…>` token (up to [`MAX_TOKEN_BYTES`] bytes, on one line) that is not a kept person
//! mention is neutralised, whatever its kind or letter case, so a form Webex adds later is not
//! let through. A `<@` that is never closed is written as `<` + zero-width space + `@`, so no
//! later text can complete it into a mention.
//!
//! The stage works on a stream of pieces: a token split across pieces (`"<@al"` + `"l>"`) is
//! held back until it is complete, and the output is the same for every split of the text.

use moltbot_core::gateway::SenderInfo;

/// The longest `<@…>` token recognised, in bytes; a `<@` with no `>` within this many bytes
/// (or before a line break) is not a mention.
pub const MAX_TOKEN_BYTES: usize = 512;

/// What `<@` becomes when it starts no token: it cannot become one with text that follows.
const BROKEN_OPEN: &str = "<\u{200B}@";

/// Which mentions are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MentionPolicy {
    /// Every mention is kept (`agentMentions: true`).
    KeepAll,
    /// Only mentions of this person are kept (`agentMentions: false`, the person answered).
    KeepOnly(SenderInfo),
}

/// The mention stage: a streaming rewriter of `<@…>` tokens.
#[derive(Debug)]
pub struct Mentions {
    policy: MentionPolicy,
    /// Text not yet decided: starts with `<` and may be the start of a token.
    pending: String,
    /// Whether the text returned so far ends with `<`.
    after_lt: bool,
}

impl Mentions {
    /// A stage applying `policy`.
    pub fn new(policy: MentionPolicy) -> Self {
        Self {
            policy,
            pending: String::new(),
            after_lt: false,
        }
    }

    /// Takes the next piece; returns the text now decided.
    pub fn push(&mut self, piece: &str) -> String {
        let mut input = std::mem::take(&mut self.pending);
        input.push_str(piece);
        self.scan(&input, false)
    }

    /// The end of the text: returns what was held back, decided.
    pub fn finish(&mut self) -> String {
        let input = std::mem::take(&mut self.pending);
        self.scan(&input, true)
    }

    /// Rewrites `input`; unless `at_end`, keeps an undecided tail in `self.pending`.
    fn scan(&mut self, input: &str, at_end: bool) -> String {
        let out = self.scan_inner(input, at_end);
        if !out.is_empty() {
            self.after_lt = out.ends_with('<');
        }
        out
    }

    fn scan_inner(&mut self, input: &str, at_end: bool) -> String {
        let mut out = String::with_capacity(input.len());
        let mut rest = input;
        while let Some(at) = rest.find('<') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            match token_at(tail, at_end) {
                Token::Undecided => {
                    self.pending = tail.to_string();
                    return out;
                }
                Token::Plain => {
                    if let Some(after) = tail.strip_prefix("<@") {
                        out.push_str(BROKEN_OPEN);
                        rest = after;
                    } else {
                        out.push('<');
                        rest = &tail[1..];
                    }
                }
                Token::Mention { inner, len } => {
                    let rendered = self.render(inner, &tail[..len]);
                    // `<` + `@all` must not become a token again (`<<@all>>`).
                    let after_lt = if out.is_empty() {
                        self.after_lt
                    } else {
                        out.ends_with('<')
                    };
                    if after_lt && rendered.starts_with('@') {
                        out.push('\u{200B}');
                    }
                    out.push_str(&rendered);
                    rest = &tail[len..];
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The text for the token `raw` with content `inner` (between `<@` and `>`).
    fn render(&self, inner: &str, raw: &str) -> String {
        let parsed = Mention::parse(inner);
        let keep = match (&self.policy, &parsed) {
            (MentionPolicy::KeepAll, _) => true,
            (MentionPolicy::KeepOnly(person), Mention::Person { by, .. }) => by.is(person),
            (MentionPolicy::KeepOnly(_), _) => false,
        };
        if keep {
            raw.to_string()
        } else {
            parsed.plain()
        }
    }
}

/// What the text at a `<` is.
enum Token<'a> {
    /// More text is needed to tell.
    Undecided,
    /// Not a mention token.
    Plain,
    /// A `<@…>` token: its content and its whole length in bytes.
    Mention { inner: &'a str, len: usize },
}

/// Classifies the text `tail`, which starts with `<`.
fn token_at(tail: &str, at_end: bool) -> Token<'_> {
    let Some(after) = tail.strip_prefix("<@") else {
        return if tail == "<" && !at_end {
            Token::Undecided
        } else {
            Token::Plain
        };
    };
    let window = &after[..webex_api::text::floor_char_boundary(after, MAX_TOKEN_BYTES - 3)];
    match window.find(['>', '\n', '<']) {
        Some(end) if window[end..].starts_with('>') => Token::Mention {
            inner: &after[..end],
            len: end + 3,
        },
        Some(_) => Token::Plain,
        None if at_end || window.len() < after.len() || after.len() >= MAX_TOKEN_BYTES - 3 => {
            Token::Plain
        }
        None => Token::Undecided,
    }
}

/// Who a person mention names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PersonRef {
    Email(String),
    Id(String),
}

impl PersonRef {
    /// Whether this is `person` (email case-insensitively; ids base64 or raw uuid).
    fn is(&self, person: &SenderInfo) -> bool {
        match self {
            PersonRef::Email(email) => person
                .email
                .as_deref()
                .is_some_and(|own| own.trim().eq_ignore_ascii_case(email.trim())),
            PersonRef::Id(id) => webex_api::ids::same_entity(id, &person.id),
        }
    }
}

/// A parsed `<@…>` token.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mention {
    /// `<@personEmail:…>` or `<@personId:…>`, with the optional `|Name`.
    Person { by: PersonRef, name: Option<String> },
    /// `<@all>` (any letter case).
    All,
    /// Any other token: its content.
    Other(String),
}

impl Mention {
    fn parse(inner: &str) -> Self {
        let (target, name) = match inner.split_once('|') {
            Some((target, name)) => (target, Some(name.trim().to_string())),
            None => (inner, None),
        };
        let name = name.filter(|name| !name.is_empty());
        let target = target.trim();
        if target.eq_ignore_ascii_case("all") {
            return Mention::All;
        }
        match target.split_once(':') {
            Some((kind, value)) if kind.eq_ignore_ascii_case("personEmail") => Mention::Person {
                by: PersonRef::Email(value.to_string()),
                name,
            },
            Some((kind, value)) if kind.eq_ignore_ascii_case("personId") => Mention::Person {
                by: PersonRef::Id(value.to_string()),
                name,
            },
            _ => Mention::Other(name.unwrap_or_else(|| target.to_string())),
        }
    }

    /// The mention as plain text that notifies nobody: `@Name`, `@all`, `@email`.
    fn plain(&self) -> String {
        let shown = match self {
            Mention::All => "all".to_string(),
            Mention::Person {
                name: Some(name), ..
            } => name.clone(),
            Mention::Person {
                by: PersonRef::Email(email),
                ..
            } => email.clone(),
            Mention::Person {
                by: PersonRef::Id(_),
                ..
            } => "someone".to_string(),
            Mention::Other(text) => text.clone(),
        };
        // Nothing shown may start a token again.
        format!("@{}", shown.replace(['<', '>'], ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered() -> SenderInfo {
        SenderInfo {
            id: "Y2lzY29zcGFyazovL3VzL1BFT1BMRS8xMTExMTExMS0xMTExLTExMTEtMTExMS0xMTExMTExMTExMTE"
                .to_string(),
            email: Some("alice@example.com".to_string()),
            display_name: Some("Alice".to_string()),
        }
    }

    fn run(policy: MentionPolicy, pieces: &[&str]) -> String {
        let mut stage = Mentions::new(policy);
        let mut out: String = pieces.iter().map(|piece| stage.push(piece)).collect();
        out.push_str(&stage.finish());
        out
    }

    fn strict(text: &str) -> String {
        run(MentionPolicy::KeepOnly(answered()), &[text])
    }

    #[test]
    fn group_and_other_people_are_neutralised() {
        assert_eq!(
            strict("<@all> the build is broken"),
            "@all the build is broken"
        );
        assert_eq!(strict("ask <@ALL>!"), "ask @all!");
        assert_eq!(
            strict("cc <@personEmail:boss@x.com|Boss> and <@personEmail:eve@x.com>"),
            "cc @Boss and @eve@x.com"
        );
        assert_eq!(
            strict("<@personId:abc|Jose> <@personId:abc>"),
            "@Jose @someone"
        );
        assert_eq!(strict("<@groupMention:x|Team>"), "@Team");
    }

    #[test]
    fn the_person_answered_is_kept() {
        let text = "hi <@personEmail:Alice@Example.com|Alice>, done";
        assert_eq!(strict(text), text);
        let by_uuid = "<@personId:11111111-1111-1111-1111-111111111111|Al>";
        assert_eq!(strict(by_uuid), by_uuid);
    }

    #[test]
    fn keep_all_keeps_everything() {
        let text = "<@all> <@personEmail:boss@x.com|Boss>";
        assert_eq!(run(MentionPolicy::KeepAll, &[text]), text);
    }

    #[test]
    fn split_tokens_are_still_caught() {
        let policy = MentionPolicy::KeepOnly(answered());
        assert_eq!(run(policy.clone(), &["<@al", "l> hi"]), "@all hi");
        assert_eq!(run(policy.clone(), &["<", "@", "all", ">"]), "@all");
        assert_eq!(
            run(policy, &["x <@personEmail:bo", "ss@x.com|Bo", "ss> y"]),
            "x @Boss y"
        );
    }

    #[test]
    fn unclosed_openers_cannot_be_completed_later() {
        assert_eq!(strict("a <@all\n> b"), "a <\u{200B}@all\n> b");
        assert_eq!(strict("end <@all"), "end <\u{200B}@all");
        assert_eq!(strict("1 < 2 <b>"), "1 < 2 <b>");
        let long = format!("<@{}>", "a".repeat(MAX_TOKEN_BYTES));
        assert!(!strict(&long).contains("<@"));
        assert_eq!(strict("<<@all>>"), "<\u{200B}@all>");
        // A name cannot smuggle a token in.
        assert_eq!(
            strict("<@personEmail:x@y|<@all>>"),
            "<\u{200B}@personEmail:x@y|@all>"
        );
    }
}
