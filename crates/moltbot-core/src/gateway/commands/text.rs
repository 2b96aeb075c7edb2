//! The texts of the commands' answers (Markdown), from plain facts: no store, no network.

use std::fmt::Write as _;

use crate::access::{AccessPolicy, DmPolicy, GroupPolicy, Sender};
use crate::agent::{help_text, ConversationKind, SenderInfo};

use super::COMMANDS;

/// `/help`: the bare-mention help line, what the bot does in this kind of conversation (how
/// much it remembers, `keep_turns` messages), and every command with its summary.
pub(crate) fn help(kind: ConversationKind, keep_turns: usize) -> String {
    let mut out = format!("{}\n\n", help_text());
    let memory = match (kind, keep_turns) {
        (_, 0) => "I don't remember earlier messages: I answer each one on its own.".to_string(),
        (ConversationKind::Direct, n) => {
            format!("In our direct chat I remember the last {n} messages (yours and mine).")
        }
        (ConversationKind::Group, n) => format!(
            "In this space I answer messages that mention me, and I remember the last {n} \
             messages of the space's conversation, shared by everyone in it."
        ),
    };
    out.push_str(&memory);
    out.push_str("\n\n**Commands**");
    if kind == ConversationKind::Group {
        out.push_str(" (in a space, mention me first)");
    }
    out.push('\n');
    for spec in COMMANDS {
        let names: Vec<String> = spec.names.iter().map(|n| format!("`/{n}`")).collect();
        let _ = writeln!(out, "- {}: {}", names.join(" or "), spec.summary);
    }
    out.trim_end().to_string()
}

/// `/reset`: the session of this conversation was emptied.
pub(crate) fn reset(kind: ConversationKind) -> &'static str {
    match kind {
        ConversationKind::Direct => {
            "Fresh start: I've forgotten our conversation. What would you like to talk about?"
        }
        ConversationKind::Group => {
            "Fresh start: I've forgotten this space's conversation, for everyone in it."
        }
    }
}

/// The facts `/status` shows.
#[derive(Debug)]
pub(crate) struct StatusFacts<'a> {
    /// The agent's name (`provider/model`, `echo`, ...).
    pub(crate) agent: &'a str,
    /// What the channel says of itself ([`Channel::describe`](crate::gateway::Channel::describe)).
    pub(crate) channel: &'a [(String, String)],
    /// Where the asker is.
    pub(crate) kind: ConversationKind,
    /// Messages (turns) the session holds now.
    pub(crate) turns: usize,
    /// Most messages a session keeps (`agents.defaults.historyTurns`).
    pub(crate) keep_turns: usize,
    /// The asker's standing in direct messages ([`dm_access`]).
    pub(crate) dm: &'a str,
    /// In a space, the asker's standing there ([`space_access`]).
    pub(crate) space: Option<&'static str>,
}

/// `/status`.
pub(crate) fn status(facts: &StatusFacts<'_>) -> String {
    let mut out = String::from("**Status**\n");
    let _ = writeln!(out, "- Model: {}", code(facts.agent));
    for (label, value) in facts.channel {
        let _ = writeln!(out, "- {}: {}", one_line(label), one_line(value));
    }
    let whose = match facts.kind {
        ConversationKind::Direct => "Our conversation",
        ConversationKind::Group => "This space's conversation",
    };
    let _ = writeln!(
        out,
        "- {whose}: {} remembered (at most {})",
        messages(facts.turns),
        facts.keep_turns
    );
    match facts.space {
        Some(space) => {
            let _ = writeln!(out, "- You in this space: {space}");
            let _ = writeln!(out, "- Your direct messages: {}", facts.dm);
        }
        None => {
            let _ = writeln!(out, "- You: {}", facts.dm);
        }
    }
    out.trim_end().to_string()
}

/// `/whoami`: the asker's person id and email, their standing in direct messages (`dm`,
/// [`dm_access`]), and how the owner of the bot lets them in on `channel`.
pub(crate) fn whoami(channel: &str, sender: &SenderInfo, dm: &str) -> String {
    let mut out = String::from("**Who you are to me**\n");
    let _ = writeln!(out, "- Person id: {}", code(&sender.id));
    match &sender.email {
        Some(email) => {
            let _ = writeln!(out, "- Email: {}", code(email));
        }
        None => out.push_str("- Email: (not known)\n"),
    }
    let _ = writeln!(out, "- Direct messages: {dm}");
    let who = sender.email.as_deref().unwrap_or(&sender.id);
    let _ = write!(
        out,
        "\nThe owner of this bot can let you message me with {}, or add you to {} (direct \
         messages) or {} (spaces) in the config.",
        code(&format!("moltbot pair {channel} {who}")),
        code(&format!("channels.{channel}.allowFrom")),
        code(&format!("channels.{channel}.groupAllowFrom")),
    );
    out
}

/// The sender's standing in direct messages, in words: under `pairing` and `allowlist`
/// whether they are in `allowFrom` or `approved` through pairing.
pub(crate) fn dm_access(
    policy: &AccessPolicy,
    sender: &Sender,
    channel: &str,
    pairing: &DmPairing,
) -> String {
    match (policy.dm, pairing) {
        (DmPolicy::Open, _) => "open to everyone (dmPolicy open)".to_string(),
        (DmPolicy::Disabled, _) => "off for everyone (dmPolicy disabled)".to_string(),
        (DmPolicy::Pairing | DmPolicy::Allowlist, _) if policy.allow_from.allows(sender) => {
            "allowed (you are in allowFrom)".to_string()
        }
        (DmPolicy::Pairing | DmPolicy::Allowlist, DmPairing::Approved) => {
            "approved (pairing)".to_string()
        }
        (
            DmPolicy::Pairing,
            DmPairing::Pending {
                code: pending,
                shown: true,
            },
        ) => format!(
            "not approved yet: your pairing code {} is waiting for approval; ask the owner of \
             this bot to approve it with {}",
            code(pending),
            code(&format!("moltbot pairing approve {channel} {pending}"))
        ),
        (DmPolicy::Pairing, DmPairing::Pending { shown: false, .. }) => {
            "not approved yet: your pairing code (sent to you in our direct chat) is waiting for \
             approval; ask the owner of this bot to approve it"
                .to_string()
        }
        (DmPolicy::Pairing, _) => {
            "not approved yet: send me any other direct message to get a pairing code".to_string()
        }
        (DmPolicy::Allowlist, _) => {
            "not approved yet (dmPolicy allowlist): ask the owner of this bot".to_string()
        }
    }
}

/// What pairing says of a sender, for [`dm_access`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DmPairing {
    /// Approved (by code or `moltbot pair`).
    Approved,
    /// Not approved; their pairing code `code` is pending. `shown`: the answer may show the
    /// code (it goes to their direct chat, where the code was sent).
    Pending { code: String, shown: bool },
    /// Neither.
    None,
}

/// The sender's standing in spaces, in words.
pub(crate) fn space_access(policy: &AccessPolicy, sender: &Sender) -> &'static str {
    match policy.group {
        GroupPolicy::Open => "anyone may talk to me (groupPolicy open)",
        GroupPolicy::Mention => "anyone who mentions me may talk to me (groupPolicy mention)",
        GroupPolicy::Allowlist if policy.group_allow_from.allows(sender) => {
            "allowed (you are in groupAllowFrom)"
        }
        GroupPolicy::Allowlist => "not allowed (you are not in groupAllowFrom)",
        GroupPolicy::Disabled => "off for everyone (groupPolicy disabled)",
    }
}

/// `1 message`, `4 messages`.
fn messages(n: usize) -> String {
    if n == 1 {
        "1 message".to_string()
    } else {
        format!("{n} messages")
    }
}

/// `text` as Markdown inline code on one line (backticks and line breaks taken out, so it
/// cannot end the code span or start a line of its own).
fn code(text: &str) -> String {
    format!("`{}`", one_line(text).replace('`', "'"))
}

/// `text` on one line: every run of whitespace (line breaks included) one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::AccessPolicy;

    fn policy(
        dm: DmPolicy,
        allow: &[&str],
        group: GroupPolicy,
        group_allow: &[&str],
    ) -> AccessPolicy {
        AccessPolicy::new("chat", dm, allow, group, group_allow)
    }

    fn alice() -> Sender {
        Sender::new("person-alice", Some("alice@example.com".into()))
    }

    #[test]
    fn help_lists_every_command_and_what_the_bot_remembers() {
        let dm = help(ConversationKind::Direct, 20);
        assert!(dm.starts_with(help_text()), "{dm}");
        assert!(dm.contains("the last 20 messages"), "{dm}");
        for name in ["`/help`", "`/new` or `/reset`", "`/status`", "`/whoami`"] {
            assert!(dm.contains(name), "{name} in {dm}");
        }
        assert!(!dm.contains("mention me first"), "{dm}");
        let space = help(ConversationKind::Group, 20);
        assert!(space.contains("shared by everyone in it"), "{space}");
        assert!(space.contains("(in a space, mention me first)"), "{space}");
        assert!(help(ConversationKind::Direct, 0).contains("I don't remember earlier messages"));
    }

    #[test]
    fn status_shows_model_channel_session_and_access() {
        let channel = [("Receive mode".to_string(), "webhook".to_string())];
        let dm = status(&StatusFacts {
            agent: "openai/gpt-4o-mini",
            channel: &channel,
            kind: ConversationKind::Direct,
            turns: 1,
            keep_turns: 20,
            dm: "approved (pairing)",
            space: None,
        });
        assert_eq!(
            dm,
            "**Status**\n- Model: `openai/gpt-4o-mini`\n- Receive mode: webhook\n\
             - Our conversation: 1 message remembered (at most 20)\n- You: approved (pairing)"
        );
        let space = status(&StatusFacts {
            agent: "echo",
            channel: &[],
            kind: ConversationKind::Group,
            turns: 0,
            keep_turns: 20,
            dm: "open to everyone (dmPolicy open)",
            space: Some("anyone may talk to me (groupPolicy open)"),
        });
        assert!(space.contains("- This space's conversation: 0 messages remembered"));
        assert!(space.contains("- You in this space: anyone may talk to me (groupPolicy open)"));
        assert!(space.contains("- Your direct messages: open to everyone"));
    }

    #[test]
    fn whoami_names_the_id_the_email_and_the_owners_commands() {
        let sender = SenderInfo {
            id: "person-alice".into(),
            email: Some("alice@example.com".into()),
            display_name: Some("Alice".into()),
        };
        let text = whoami("chat", &sender, "approved (pairing)");
        assert!(text.contains("- Person id: `person-alice`"), "{text}");
        assert!(text.contains("- Email: `alice@example.com`"), "{text}");
        assert!(
            text.contains("`moltbot pair chat alice@example.com`"),
            "{text}"
        );
        assert!(text.contains("`channels.chat.allowFrom`"), "{text}");
        let no_email = SenderInfo {
            id: "p`1\nx".into(),
            ..SenderInfo::default()
        };
        let text = whoami("chat", &no_email, "x");
        assert!(text.contains("- Person id: `p'1 x`"), "{text}");
        assert!(text.contains("- Email: (not known)"), "{text}");
        assert!(text.contains("`moltbot pair chat p'1 x`"), "{text}");
    }

    #[test]
    fn access_is_described_per_policy() {
        use DmPolicy as D;
        use GroupPolicy as G;
        let none: &[&str] = &[];
        let listed = policy(
            D::Pairing,
            &["alice@example.com"],
            G::Allowlist,
            &["alice@example.com"],
        );
        assert_eq!(
            dm_access(&listed, &alice(), "webex", &DmPairing::None),
            "allowed (you are in allowFrom)"
        );
        assert_eq!(
            space_access(&listed, &alice()),
            "allowed (you are in groupAllowFrom)"
        );
        let pairing = policy(D::Pairing, none, G::Allowlist, none);
        assert_eq!(
            dm_access(&pairing, &alice(), "webex", &DmPairing::Approved),
            "approved (pairing)"
        );
        assert!(dm_access(&pairing, &alice(), "webex", &DmPairing::None)
            .contains("send me any other direct message to get a pairing code"));
        let pending = |shown| DmPairing::Pending {
            code: "ABCD2345".to_string(),
            shown,
        };
        assert_eq!(
            dm_access(&pairing, &alice(), "webex", &pending(true)),
            "not approved yet: your pairing code `ABCD2345` is waiting for approval; ask the \
             owner of this bot to approve it with `moltbot pairing approve webex ABCD2345`"
        );
        let in_space = dm_access(&pairing, &alice(), "webex", &pending(false));
        assert!(in_space.contains("is waiting for approval"), "{in_space}");
        assert!(!in_space.contains("ABCD2345"), "{in_space}");
        assert!(space_access(&pairing, &alice()).starts_with("not allowed"));
        let allowlist = policy(D::Allowlist, none, G::Mention, none);
        assert!(
            dm_access(&allowlist, &alice(), "webex", &DmPairing::None).contains("ask the owner")
        );
        assert!(space_access(&allowlist, &alice()).contains("groupPolicy mention"));
        let open = policy(D::Open, &["*"], G::Open, none);
        assert!(dm_access(&open, &alice(), "webex", &DmPairing::None).contains("dmPolicy open"));
        let off = policy(D::Disabled, none, G::Disabled, none);
        assert!(
            dm_access(&off, &alice(), "webex", &DmPairing::Approved).contains("dmPolicy disabled")
        );
        assert!(space_access(&off, &alice()).contains("groupPolicy disabled"));
    }
}
