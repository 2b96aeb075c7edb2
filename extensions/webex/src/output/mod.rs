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
//!    was cut. Shown reasoning (`showReasoning`, pushed with
//!    [`ReplyFilter::push_reasoning`]) goes through stages 1 and 2 apart from the answer and is
//!    shortened first: the answer is never pushed out by it.
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

use moltbot_core::gateway::{FilteredReply, ReplyContext, ReplyFilter};

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
    policy: MentionPolicy,
    /// The shown reasoning while it comes (before the answer's first piece).
    reasoning: Option<Stages>,
    /// The adapted reasoning, once complete.
    reasoning_text: String,
    /// The answer.
    answer: Stages,
}

/// The streaming stages (mentions, Markdown) over one part of a reply, and the adapted text.
#[derive(Debug)]
struct Stages {
    mentions: Mentions,
    markdown: MarkdownAdapter,
    /// The adapted text so far.
    text: String,
}

impl Stages {
    fn new(config: &OutputConfig, policy: &MentionPolicy) -> Self {
        Self {
            mentions: Mentions::new(policy.clone()),
            markdown: MarkdownAdapter::new(config.tables),
            text: String::new(),
        }
    }

    fn push(&mut self, piece: &str) {
        let safe = self.mentions.push(piece);
        let adapted = self.markdown.push(&safe);
        self.text.push_str(&adapted);
    }

    /// The whole adapted text.
    fn finish(mut self) -> String {
        let safe = self.mentions.finish();
        let adapted = self.markdown.push(&safe);
        self.text.push_str(&adapted);
        let tail = self.markdown.finish();
        self.text.push_str(&tail);
        self.text
    }
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
            answer: Stages::new(&config, &policy),
            config,
            policy,
            reasoning: None,
            reasoning_text: String::new(),
        }
    }

    /// Closes the reasoning part, if one is open.
    fn close_reasoning(&mut self) {
        if let Some(stages) = self.reasoning.take() {
            self.reasoning_text.push_str(&stages.finish());
        }
    }
}

impl ReplyFilter for WebexReplyFilter {
    fn push_reasoning(&mut self, piece: &str) -> Vec<String> {
        let (config, policy) = (&self.config, &self.policy);
        self.reasoning
            .get_or_insert_with(|| Stages::new(config, policy))
            .push(piece);
        Vec::new()
    }

    fn end_reasoning(&mut self) -> Vec<String> {
        self.close_reasoning();
        Vec::new()
    }

    fn push(&mut self, piece: &str) -> Vec<String> {
        self.close_reasoning();
        self.answer.push(piece);
        Vec::new()
    }

    fn finish(self: Box<Self>) -> Vec<String> {
        self.finish_reply().messages
    }

    /// The bounded messages; `cut` when the answer itself needed more than `maxReplyMessages`
    /// (shortened reasoning does not count).
    fn finish_reply(mut self: Box<Self>) -> FilteredReply {
        self.close_reasoning();
        let answer = self.answer.finish();
        let messages = bound::bound_reply(&self.reasoning_text, &answer, &self.config);
        FilteredReply {
            cut: bound::answer_is_cut(&answer, &self.config),
            messages,
        }
    }
}
