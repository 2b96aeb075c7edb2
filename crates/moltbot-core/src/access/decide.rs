//! [`decide`]: whether a message is processed, starts pairing, or is dropped.

use std::fmt;

pub use crate::agent::ConversationKind;

use super::identity::SameId;
use super::list::AccessList;
use super::policy::{DmPolicy, GroupPolicy};

/// Who sent a message, as the channel reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sender {
    /// The sender's person id on the channel.
    pub id: String,
    /// The sender's email, when the channel knows it.
    pub email: Option<String>,
}

impl Sender {
    /// A sender with `id` and, if known, `email`.
    pub fn new(id: impl Into<String>, email: Option<String>) -> Self {
        Self {
            id: id.into(),
            email,
        }
    }
}

/// Where a message was posted, as far as access control cares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conversation {
    /// Direct or group.
    pub kind: ConversationKind,
    /// Whether the message @mentions the bot (only meaningful in groups).
    pub mentions_bot: bool,
}

impl Conversation {
    /// A direct message.
    pub fn direct() -> Self {
        Self {
            kind: ConversationKind::Direct,
            mentions_bot: false,
        }
    }

    /// A message in a group space, mentioning the bot or not.
    pub fn group(mentions_bot: bool) -> Self {
        Self {
            kind: ConversationKind::Group,
            mentions_bot,
        }
    }
}

/// A channel's access configuration: `dmPolicy`, `allowFrom`, `groupPolicy`, `groupAllowFrom`.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    /// `dmPolicy`.
    pub dm: DmPolicy,
    /// `allowFrom`: who may DM the bot (besides approved senders).
    pub allow_from: AccessList,
    /// `groupPolicy`.
    pub group: GroupPolicy,
    /// `groupAllowFrom`: who may trigger the bot in spaces under `groupPolicy: "allowlist"`.
    pub group_allow_from: AccessList,
}

impl AccessPolicy {
    /// Builds the policy of `channel` from its config values (allow list entries as written).
    pub fn new<S: AsRef<str>>(
        channel: &str,
        dm: DmPolicy,
        allow_from: &[S],
        group: GroupPolicy,
        group_allow_from: &[S],
    ) -> Self {
        Self {
            dm,
            allow_from: AccessList::new(channel, allow_from),
            group,
            group_allow_from: AccessList::new(channel, group_allow_from),
        }
    }

    /// Compares person ids in both lists with `same_id` (see [`AccessList::with_same_id`]).
    #[must_use]
    pub fn with_same_id(mut self, same_id: SameId) -> Self {
        self.allow_from = self.allow_from.with_same_id(same_id);
        self.group_allow_from = self.group_allow_from.with_same_id(same_id);
        self
    }

    /// Whether [`decide`] may look at the `approved` flag for this conversation: only DMs under
    /// `pairing` or `allowlist`. When `false`, callers can skip the store lookup and pass `false`.
    pub fn approval_matters(&self, conversation: &Conversation) -> bool {
        conversation.kind == ConversationKind::Direct
            && matches!(self.dm, DmPolicy::Pairing | DmPolicy::Allowlist)
    }
}

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Process it.
    Admit,
    /// A DM from an unknown sender under `dmPolicy: "pairing"`: record a pairing request (the
    /// store says whether to send the pairing reply); do not process the message.
    Pair,
    /// Ignore it (log the reason at debug).
    Drop(DropReason),
}

impl Decision {
    /// Whether the message is to be processed.
    pub fn is_admit(self) -> bool {
        self == Decision::Admit
    }
}

/// Why a message was not processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// A DM from a sender neither in `allowFrom` nor approved, under `dmPolicy: "allowlist"`.
    DmNotAllowed,
    /// A DM under `dmPolicy: "disabled"`.
    DmDisabled,
    /// A space message from a sender not in `groupAllowFrom`, under `groupPolicy: "allowlist"`.
    SpaceSenderNotAllowed,
    /// A space message under `groupPolicy: "disabled"`.
    SpacesDisabled,
    /// A space message that does not mention the bot, under `groupPolicy: "mention"`.
    SpaceWithoutMention,
    /// A DM that would start pairing while the channel already has the maximum number of
    /// pending requests (reported by the store, not by [`decide`]).
    PairingLimitReached,
}

impl DropReason {
    /// Every reason, in declaration order.
    pub const ALL: &'static [DropReason] = &[
        DropReason::DmNotAllowed,
        DropReason::DmDisabled,
        DropReason::SpaceSenderNotAllowed,
        DropReason::SpacesDisabled,
        DropReason::SpaceWithoutMention,
        DropReason::PairingLimitReached,
    ];

    /// A stable human-readable reason, for logs and the inbound record.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::DmNotAllowed => "dm not allowed (dmPolicy=allowlist)",
            DropReason::DmDisabled => "dms disabled (dmPolicy=disabled)",
            DropReason::SpaceSenderNotAllowed => "space sender not in groupAllowFrom",
            DropReason::SpacesDisabled => "spaces disabled (groupPolicy=disabled)",
            DropReason::SpaceWithoutMention => {
                "space message without mention (groupPolicy=mention)"
            }
            DropReason::PairingLimitReached => "pairing request limit reached",
        }
    }

    /// A stable snake_case label for metrics (e.g. a `reason` label on a dropped-messages
    /// counter).
    pub fn metrics_label(self) -> &'static str {
        match self {
            DropReason::DmNotAllowed => "dm_not_allowed",
            DropReason::DmDisabled => "dm_disabled",
            DropReason::SpaceSenderNotAllowed => "space_sender_not_allowed",
            DropReason::SpacesDisabled => "space_disabled",
            DropReason::SpaceWithoutMention => "space_without_mention",
            DropReason::PairingLimitReached => "pairing_limit_reached",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Decides what to do with a message from `sender` in `conversation`.
///
/// `approved` says whether the sender was approved through pairing on this channel (see
/// [`Pairing::is_approved`](crate::store::Pairing::is_approved)); it only
/// counts for DMs (see [`AccessPolicy::approval_matters`]).
///
/// - DMs: `pairing` admits senders in `allowFrom` or approved and answers [`Decision::Pair`]
///   for everyone else; `allowlist` admits the same senders and drops the rest; `open` admits
///   everyone; `disabled` nobody.
/// - Spaces: `allowlist` admits only senders in `groupAllowFrom` (approvals never grant space
///   access); `mention` admits anyone who mentions the bot; `open` anyone; `disabled` nobody.
pub fn decide(
    policy: &AccessPolicy,
    sender: &Sender,
    conversation: &Conversation,
    approved: bool,
) -> Decision {
    match conversation.kind {
        ConversationKind::Direct => {
            let allowed = || approved || policy.allow_from.allows(sender);
            match policy.dm {
                DmPolicy::Open => Decision::Admit,
                DmPolicy::Disabled => Decision::Drop(DropReason::DmDisabled),
                DmPolicy::Pairing if allowed() => Decision::Admit,
                DmPolicy::Pairing => Decision::Pair,
                DmPolicy::Allowlist if allowed() => Decision::Admit,
                DmPolicy::Allowlist => Decision::Drop(DropReason::DmNotAllowed),
            }
        }
        ConversationKind::Group => match policy.group {
            GroupPolicy::Open => Decision::Admit,
            GroupPolicy::Disabled => Decision::Drop(DropReason::SpacesDisabled),
            GroupPolicy::Mention if conversation.mentions_bot => Decision::Admit,
            GroupPolicy::Mention => Decision::Drop(DropReason::SpaceWithoutMention),
            GroupPolicy::Allowlist if policy.group_allow_from.allows(sender) => Decision::Admit,
            GroupPolicy::Allowlist => Decision::Drop(DropReason::SpaceSenderNotAllowed),
        },
    }
}
