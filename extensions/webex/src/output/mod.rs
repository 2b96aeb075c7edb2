//! The Webex output hook: agent output in, message bodies Webex accepts out (issue 12 items 2,
//! 5, 9, 10; spec section 8 "Sending").
//!
//! [`WebexReplyFilter`] is the channel's [`ReplyFilter`]. Its stages, in order:
//! 1. [`mentions`]: mentions the agent writes are neutralised unless `agentMentions` allows
//!    them;
//! 2. [`markdown`]: constructs Webex does not render are adapted (tables per
//!    `markdown.tables`, images as links);
//! 3. [`crate::chunk`]: split into messages within `textChunkLimit` characters and Webex's
//!    7439 bytes, never an empty, blank or fence-only message;
//! 4. [`bound`]: at most `maxReplyMessages` messages, the last ending with a notice of what
//!    was cut.
//!
//! Stages 1 and 2 work as the pieces come (a mention or table split across pieces is still
//! caught); chunking and bounding need the whole text and run at [`ReplyFilter::finish`], so
//! today every message comes from `finish` (a streaming reply would post earlier chunks once
//! the chunker learns to emit them before the end). Whatever the split into pieces, the
//! messages are the same.
//!
//! Limits Webex enforces on a message, and how they are kept: `markdown` at most 7439 bytes
//! (the chunker); one file and one card per message (not produced here). Webex documents no
//! limit on the number of mentions in a message; kept mentions are only the answered person's
//! (or, with `agentMentions: true`, what the operator chose to allow).

pub mod bound;
pub mod markdown;
pub mod mentions;
pub mod tables;

use moltbot_core::gateway::{ReplyContext, ReplyFilter};

use self::markdown::MarkdownAdapter;
use self::mentions::{MentionPolicy, Mentions};
use self::tables::TableMode;

/// The output settings of `channels.webex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputConfig {
    /// `agentMentions`: keep every mention the agent writes (default false: only the answered
    /// person's).
    pub agent_mentions: bool,
    /// `markdown.tables`.
    pub tables: TableMode,
    /// `textChunkLimit`, in characters.
    pub text_chunk_limit: usize,
    /// `maxReplyMessages`.
    pub max_reply_messages: usize,
}

/// The Webex reply filter (see the module docs).
#[derive(Debug)]
pub struct WebexReplyFilter {
    config: OutputConfig,
    mentions: Mentions,
    markdown: MarkdownAdapter,
    /// The adapted text so far.
    text: String,
}

impl WebexReplyFilter {
    /// A filter for one reply to the person in `ctx`.
    pub fn new(config: OutputConfig, ctx: &ReplyContext) -> Self {
        let policy = if config.agent_mentions {
            MentionPolicy::KeepAll
        } else {
            MentionPolicy::KeepOnly(ctx.recipient.clone())
        };
        Self {
            config,
            mentions: Mentions::new(policy),
            markdown: MarkdownAdapter::new(config.tables),
            text: String::new(),
        }
    }
}

impl ReplyFilter for WebexReplyFilter {
    fn push(&mut self, piece: &str) -> Vec<String> {
        let safe = self.mentions.push(piece);
        let adapted = self.markdown.push(&safe);
        self.text.push_str(&adapted);
        Vec::new()
    }

    fn finish(mut self: Box<Self>) -> Vec<String> {
        let safe = self.mentions.finish();
        let adapted = self.markdown.push(&safe);
        self.text.push_str(&adapted);
        let tail = self.markdown.finish();
        self.text.push_str(&tail);
        let chunks = crate::chunk::chunk_markdown(&self.text, self.config.text_chunk_limit);
        bound::bound(
            chunks,
            self.config.max_reply_messages,
            self.config.text_chunk_limit,
        )
    }
}
