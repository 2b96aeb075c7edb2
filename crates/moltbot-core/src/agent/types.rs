//! The data an agent gets ([`AgentRequest`]) and gives back ([`AgentReply`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Identifies one conversation's session: one per direct-message peer and one per group space.
///
/// The caller (the channel integration) builds it; core only compares and prints it. The helpers
/// [`SessionKey::direct`] and [`SessionKey::group`] give the conventional forms
/// `<channel>:dm:<peerId>` and `<channel>:room:<roomId>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionKey(String);

impl SessionKey {
    /// Wraps an already formatted key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The session of a direct conversation with `peer_id` on `channel`: `<channel>:dm:<peer_id>`.
    pub fn direct(channel: &str, peer_id: &str) -> Self {
        Self(format!("{channel}:dm:{peer_id}"))
    }

    /// The session of the group space `room_id` on `channel`: `<channel>:room:<room_id>`.
    pub fn group(channel: &str, room_id: &str) -> Self {
        Self(format!("{channel}:room:{room_id}"))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who sent the message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SenderInfo {
    /// The sender's id on the channel.
    pub id: String,
    /// The sender's email address, when the channel knows it.
    pub email: Option<String>,
    /// The sender's display name, when the channel knows it.
    pub display_name: Option<String>,
}

/// Whether a conversation is one-to-one or a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationKind {
    /// A direct (one-to-one) conversation.
    #[default]
    Direct,
    /// A group space.
    Group,
}

impl ConversationKind {
    /// `"direct"` or `"group"`, as written in the command agent's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Direct => "direct",
            ConversationKind::Group => "group",
        }
    }
}

/// Where the message was posted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationInfo {
    /// The channel id (for example the plugin's channel name).
    pub channel: String,
    /// The room (space) id on the channel.
    pub room_id: String,
    /// Direct or group.
    pub kind: ConversationKind,
    /// The room's title, when known.
    pub title: Option<String>,
}

/// Who said an earlier [`Turn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A person in the conversation.
    User,
    /// The agent.
    Assistant,
}

impl Role {
    /// `"user"` or `"assistant"` (the name both OpenAI and Anthropic use).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One earlier message of the session: something a user said, or the agent's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub text: String,
    /// The person who wrote a user turn, when known (group sessions have several).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<SenderInfo>,
}

impl Turn {
    /// A turn by a user.
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            text: text.into(),
            author: None,
        }
    }

    /// A turn by the user `author`.
    pub fn user_by(text: impl Into<String>, author: SenderInfo) -> Self {
        Self {
            role: Role::User,
            text: text.into(),
            author: Some(author),
        }
    }

    /// A turn by the agent.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            text: text.into(),
            author: None,
        }
    }
}

/// One message for the agent to answer, with its session's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRequest {
    /// The session the message belongs to.
    pub session: SessionKey,
    /// The message text (mentions of the bot already removed by the channel).
    pub text: String,
    /// Who sent it.
    pub sender: SenderInfo,
    /// Where it was posted.
    pub conversation: ConversationInfo,
    /// Earlier turns of the session, oldest first, not including this message (see
    /// [`trim_history`](super::trim_history)).
    pub history: Vec<Turn>,
    /// The system prompt to use (the caller resolves per-agent or per-space prompts).
    pub system_prompt: Option<String>,
    /// Files that came with this message (not with earlier turns: their history keeps only a
    /// `[file: name, type]` note).
    pub attachments: Vec<super::Attachment>,
    /// The inputs of a submitted card, when this turn is a card submission (`text` is then
    /// its readable line, e.g. `[card submitted] choice: B`): a JSON object of input id ->
    /// value. The command agent gets it as `card`; the HTTP providers read the text line.
    pub card: Option<serde_json::Value>,
}

/// The agent's answer: text, plus the files and the card it posts with it.
///
/// Non-exhaustive: build it with [`AgentReply::text`], then [`AgentReply::with_file`] and
/// [`AgentReply::with_card`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentReply {
    /// The text to post back in the room (reasoning blocks in it are taken out by
    /// [`answer`](super::answer)).
    pub text: String,
    /// Reasoning the provider returned apart from the text (OpenAI-compatible
    /// `reasoning_content` / `reasoning`, Anthropic `thinking` blocks, the command agent's
    /// `reasoning`): never posted as the answer nor stored.
    pub reasoning: Option<String>,
    /// Files to post after the text, in order, one per message.
    pub files: Vec<ReplyFile>,
    /// An adaptive card to post after the text (its JSON, `{"type": "AdaptiveCard", ...}`);
    /// the channel checks it before it is recorded.
    pub card: Option<serde_json::Value>,
}

impl AgentReply {
    /// A reply of `text` with no separate reasoning, files or card.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// The same reply with `reasoning` kept apart from the text.
    #[must_use]
    pub fn with_reasoning(mut self, reasoning: Option<String>) -> Self {
        self.reasoning = reasoning;
        self
    }

    /// The same reply with `file` posted after the text (and after the files added before).
    #[must_use]
    pub fn with_file(mut self, file: ReplyFile) -> Self {
        self.files.push(file);
        self
    }

    /// The same reply with the adaptive card `card` posted after the text.
    #[must_use]
    pub fn with_card(mut self, card: serde_json::Value) -> Self {
        self.card = Some(card);
        self
    }

    /// True when the reply has nothing to post: no text, reasoning, file or card.
    pub fn is_blank(&self) -> bool {
        self.text.trim().is_empty()
            && self
                .reasoning
                .as_deref()
                .is_none_or(|r| r.trim().is_empty())
            && self.files.is_empty()
            && self.card.is_none()
    }
}

/// A file an agent's reply carries: a public URL the network fetches, or a local file whose
/// content was read from the agent's own folder (never from anywhere else: see
/// [`CommandAgent`](super::CommandAgent)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyFile {
    /// An `http(s)://` URL, posted as is (Webex's `files: [url]`).
    Url(String),
    /// A local file, its bytes captured when the agent answered, uploaded (multipart).
    Local(LocalFile),
}

impl ReplyFile {
    /// The name the file is shown with: a local file's name, or the last path segment of the
    /// URL (the whole URL when it has none).
    pub fn name(&self) -> &str {
        match self {
            ReplyFile::Url(url) => url_file_name(url),
            ReplyFile::Local(file) => &file.name,
        }
    }
}

/// The last non-empty path segment of `url`, without its query (the whole `url` if none).
fn url_file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let path = path.split_once("://").map_or(path, |(_, rest)| rest);
    match path.split_once('/') {
        Some((_, path)) => path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(url),
        None => url,
    }
}

/// A local file of a reply: its name (a bare file name), content type and content.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// The file name shown in the chat (no directory part).
    pub name: String,
    /// The MIME type, e.g. `text/plain` (guessed from the name's extension; else
    /// `application/octet-stream`).
    pub content_type: String,
    /// The content (cheap to clone).
    pub bytes: bytes::Bytes,
}

impl LocalFile {
    /// A file `name` of type `content_type` with content `bytes`.
    pub fn new(
        name: impl Into<String>,
        content_type: impl Into<String>,
        bytes: impl Into<bytes::Bytes>,
    ) -> Self {
        Self {
            name: name.into(),
            content_type: content_type.into(),
            bytes: bytes.into(),
        }
    }
}

impl fmt::Debug for LocalFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalFile")
            .field("name", &self.name)
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The last `max_turns` entries of `history` (each user message and each agent answer counts as
/// one turn), oldest first. `max_turns == 0` keeps nothing.
pub fn trim_history(history: &[Turn], max_turns: usize) -> &[Turn] {
    let start = history.len().saturating_sub(max_turns);
    &history[start..]
}

/// `history` as sent to a provider: turns without text left out (they would be empty turns in
/// the request), and reasoning blocks taken out of the agent's turns (histories stored before
/// reasoning was removed on the way in), those left empty by it dropped too.
pub fn clean_history(history: &[Turn]) -> Vec<Turn> {
    history
        .iter()
        .filter_map(|turn| {
            let text = match turn.role {
                Role::User => turn.text.clone(),
                Role::Assistant => super::split_reasoning(&turn.text).answer,
            };
            (!text.trim().is_empty()).then(|| Turn {
                text,
                ..turn.clone()
            })
        })
        .collect()
}
