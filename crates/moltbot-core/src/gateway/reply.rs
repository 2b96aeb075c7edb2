//! The channel output hook: how agent output becomes the messages a channel sends.
//!
//! Agent output is untrusted text. Before anything is posted, the channel adapts it to what its
//! network accepts and renders (neutralise mentions, adapt Markdown, split into messages, bound
//! the number of messages). The gateway does not know those rules: it asks the channel for a
//! [`ReplyFilter`] per reply with [`Channel::reply_filter`](super::Channel::reply_filter) and
//! feeds it the answer.
//!
//! The filter works on a stream of text pieces, so that a streamed answer needs no second
//! implementation: [`ReplyFilter::push`] takes the next piece and returns the message bodies
//! that are complete, [`ReplyFilter::finish`] returns the rest. A filter must give the same
//! messages however the text is split into pieces (a mention or a table split across two pieces
//! is still recognised). Today the gateway feeds a whole answer as one piece
//! ([`filter_whole`]); with `agents.defaults.streaming` it also runs a fresh filter over the
//! answer so far for each streaming edit of the placeholder, showing its first message.
//!
//! Only agent output goes through the filter (the answer, or the agent's apology standing in
//! for it). Notices the gateway writes itself (pairing codes, approvals, the answers of chat
//! commands) and operator text (`moltbot message send`) are sent as written.

use super::channel::{ConversationKind, SenderInfo};

/// Who a reply answers, and where: what a filter may need to decide (e.g. which mentions to
/// keep).
///
/// Non-exhaustive: build it with [`ReplyContext::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplyContext {
    /// The person being answered (id on the channel, email and display name when known).
    pub recipient: SenderInfo,
    /// 1:1 or group.
    pub kind: ConversationKind,
    /// The room the reply goes to.
    pub room_id: String,
}

impl ReplyContext {
    /// A reply to `recipient` in `room_id`, a conversation of `kind`.
    pub fn new(recipient: SenderInfo, kind: ConversationKind, room_id: impl Into<String>) -> Self {
        Self {
            recipient,
            kind,
            room_id: room_id.into(),
        }
    }
}

/// Turns agent output, piece by piece, into message bodies ready to send.
///
/// Contract: no returned body is empty or whitespace-only; the messages returned by all the
/// `push` calls followed by `finish` are the same whatever the split of the text into pieces.
/// Never panics on any input.
pub trait ReplyFilter: Send {
    /// Takes the next piece of the answer; returns the message bodies now complete (often none:
    /// a filter may hold text back until it knows how to render it).
    fn push(&mut self, piece: &str) -> Vec<String>;

    /// Takes the next piece of the model's reasoning, shown as a Markdown quote before the
    /// answer (`showReasoning`); all of it comes before the first [`ReplyFilter::push`]. A
    /// filter that bounds a reply shortens the reasoning, never the answer, to fit. The default
    /// treats it as answer text followed by a blank line.
    fn push_reasoning(&mut self, piece: &str) -> Vec<String> {
        self.push(piece)
    }

    /// The reasoning is complete (called once, before the answer's first piece, when
    /// reasoning was pushed). The default pushes the blank line separating it from the answer.
    fn end_reasoning(&mut self) -> Vec<String> {
        self.push("\n\n")
    }

    /// The answer is complete: returns the remaining message bodies.
    fn finish(self: Box<Self>) -> Vec<String>;

    /// Like [`finish`](Self::finish), also saying whether the filter cut answer text that the
    /// messages do not show (a bound on the number of messages): the gateway then attaches the
    /// whole answer as a file when the channel uploads. Default: [`finish`](Self::finish),
    /// nothing cut.
    fn finish_reply(self: Box<Self>) -> FilteredReply {
        FilteredReply {
            messages: self.finish(),
            cut: false,
        }
    }
}

/// The remaining message bodies of a reply ([`ReplyFilter::finish_reply`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilteredReply {
    /// The message bodies.
    pub messages: Vec<String>,
    /// Whether answer text was left out of them.
    pub cut: bool,
}

/// The default filter: the whole answer as one message, nothing for an empty or
/// whitespace-only answer. For channels without size or markup rules.
#[derive(Debug, Default)]
pub struct WholeText {
    text: String,
}

impl ReplyFilter for WholeText {
    fn push(&mut self, piece: &str) -> Vec<String> {
        self.text.push_str(piece);
        Vec::new()
    }

    fn finish(self: Box<Self>) -> Vec<String> {
        if self.text.trim().is_empty() {
            Vec::new()
        } else {
            vec![self.text]
        }
    }
}

/// Runs `filter` over `text` given as one piece: the message bodies of the whole answer.
pub fn filter_whole(filter: Box<dyn ReplyFilter>, text: &str) -> Vec<String> {
    filter_answer(filter, None, text)
}

/// Runs `filter` over the shown `reasoning` (a quote, if any) and the answer `text`, each as
/// one piece: the message bodies of the whole reply.
pub fn filter_answer(
    filter: Box<dyn ReplyFilter>,
    reasoning: Option<&str>,
    text: &str,
) -> Vec<String> {
    filter_reply(filter, reasoning, text).messages
}

/// [`filter_answer`], also saying whether the filter cut answer text
/// ([`ReplyFilter::finish_reply`]).
pub fn filter_reply(
    mut filter: Box<dyn ReplyFilter>,
    reasoning: Option<&str>,
    text: &str,
) -> FilteredReply {
    let mut messages = Vec::new();
    if let Some(reasoning) = reasoning {
        messages.extend(filter.push_reasoning(reasoning));
        messages.extend(filter.end_reasoning());
    }
    messages.extend(filter.push(text));
    let rest = filter.finish_reply();
    messages.extend(rest.messages);
    FilteredReply {
        messages,
        cut: rest.cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_text_gives_one_message_or_none() {
        assert_eq!(
            filter_whole(Box::new(WholeText::default()), "hello"),
            vec!["hello".to_string()]
        );
        assert!(filter_whole(Box::new(WholeText::default()), " \n ").is_empty());
        let mut split: Box<dyn ReplyFilter> = Box::new(WholeText::default());
        assert!(split.push("hel").is_empty());
        assert!(split.push("lo").is_empty());
        assert_eq!(split.finish(), vec!["hello".to_string()]);
    }

    #[test]
    fn by_default_reasoning_comes_before_the_answer_in_one_message() {
        let messages = filter_answer(Box::new(WholeText::default()), Some("> why"), "because");
        assert_eq!(messages, vec!["> why\n\nbecause".to_string()]);
    }
}
