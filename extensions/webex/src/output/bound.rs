//! Bounding the messages of one reply (issue 12 item 10, `channels.webex.maxReplyMessages`).
//!
//! A reply of more chunks than the bound keeps the first `max - 1` chunks; the last message
//! holds as much of the next chunk as fits with the notice
//! `… (reply cut: N more characters not shown)` after it, where N counts the characters of the
//! reply's text (after adaptation, without the fence lines the chunker adds) not shown. The
//! last message respects the same limits as every other (`textChunkLimit`, 7439 bytes).

//!
//! Shown reasoning (`agents.defaults.showReasoning`) is bounded first ([`bound_reply`]): the
//! answer is never pushed out by it. When reasoning and answer together need more messages
//! than the bound, the reasoning is shortened (ending with `…`) until they fit, and left out
//! when the answer alone leaves it no room (the answer is then bounded as without it).

use crate::chunk::{chunk_markdown, chunk_markdown_within, is_marker_only, MAX_MESSAGE_BYTES};

use super::OutputConfig;

/// The messages of a reply made of the shown `reasoning` (a Markdown quote, possibly empty)
/// and the `answer`, both adapted: chunked within `textChunkLimit` and bounded to
/// `maxReplyMessages`, shortening the reasoning before the answer is cut.
pub fn bound_reply(reasoning: &str, answer: &str, config: &OutputConfig) -> Vec<String> {
    let limit = config.text_chunk_limit;
    let max = config.max_reply_messages.max(1);
    let answer_chunks = chunk_markdown(answer, limit);
    let reasoning = reasoning.trim_end();
    if reasoning.trim().is_empty() || is_marker_only(reasoning) {
        return bound(answer_chunks, max, limit);
    }
    if answer_chunks.is_empty() {
        return bound(chunk_markdown(reasoning, limit), max, limit);
    }
    let together = |reasoning: &str| chunk_markdown(&format!("{reasoning}\n\n{answer}"), limit);
    let whole = together(reasoning);
    if whole.len() <= max {
        return whole;
    }
    if answer_chunks.len() > max {
        return bound(answer_chunks, max, limit);
    }
    // The longest shortened reasoning that fits with the answer (binary search on characters;
    // a shorter reasoning never needs more messages, up to where the chunker cuts).
    let fitting = |chars: usize| {
        shortened(reasoning, chars)
            .map(|short| together(&short))
            .filter(|messages| messages.len() <= max)
    };
    let (mut low, mut high) = (0, reasoning.chars().count());
    let mut best = None;
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        match fitting(mid) {
            Some(messages) => {
                best = Some(messages);
                low = mid;
            }
            None => high = mid - 1,
        }
    }
    best.unwrap_or(answer_chunks)
}

/// Whether [`bound_reply`] cuts the `answer` (it needs more than `maxReplyMessages` messages
/// on its own).
pub fn answer_is_cut(answer: &str, config: &OutputConfig) -> bool {
    chunk_markdown(answer, config.text_chunk_limit).len() > config.max_reply_messages.max(1)
}

/// The first `chars` characters of `reasoning` ending with `…`; `None` when nothing but quote
/// markers or whitespace would be left.
fn shortened(reasoning: &str, chars: usize) -> Option<String> {
    let head: String = reasoning.chars().take(chars).collect();
    let head = head.trim_end();
    (!head.trim().is_empty() && !is_marker_only(head)).then(|| format!("{head}…"))
}

/// The notice ending a cut reply, for `hidden` characters not shown.
pub fn notice(hidden: usize) -> String {
    format!("… (reply cut: {hidden} more characters not shown)")
}

/// The notice, shortened when `char_limit` is too small for it (`… (+N)`, then `…`).
fn notice_within(hidden: usize, char_limit: usize) -> String {
    [notice(hidden), format!("… (+{hidden})")]
        .into_iter()
        .find(|text| text.chars().count() <= char_limit)
        .unwrap_or_else(|| "…".to_string())
}

/// `chunks` (of at most `char_limit` characters each) bounded to `max_messages` (at least 1).
/// With a limit too small for the notice and some text, the last message is the notice alone,
/// shortened to fit.
pub fn bound(mut chunks: Vec<String>, max_messages: usize, char_limit: usize) -> Vec<String> {
    let max_messages = max_messages.max(1);
    if chunks.len() <= max_messages {
        return chunks;
    }
    let total: usize = chunks.iter().map(|chunk| content_chars(chunk)).sum();
    let rest = chunks.split_off(max_messages - 1);
    let shown_before: usize = chunks.iter().map(|chunk| content_chars(chunk)).sum();
    // Room for "\n\n" and the notice with as many digits as the whole reply could need.
    let reserve = notice(total).chars().count() + 2;
    let reserve_bytes = notice(total).len() + 2;
    let head = rest.first().map_or_else(Vec::new, |next| {
        chunk_markdown_within(
            next,
            char_limit.saturating_sub(reserve),
            MAX_MESSAGE_BYTES.saturating_sub(reserve_bytes),
        )
    });
    let last = match head.into_iter().next() {
        // The limit is too small to show anything with the notice: the notice alone.
        Some(part) if char_limit > reserve => {
            let hidden = total.saturating_sub(shown_before + content_chars(&part));
            format!("{part}\n\n{}", notice(hidden))
        }
        _ => notice_within(total.saturating_sub(shown_before), char_limit),
    };
    chunks.push(last);
    chunks
}

/// The characters of a chunk without the fence lines the chunker may add at its start and end.
fn content_chars(chunk: &str) -> usize {
    let is_fence = |line: &str| {
        let line = line.trim();
        line.len() >= 3 && (line.starts_with("```") || line.starts_with("~~~"))
    };
    let mut body = chunk;
    if let Some((first, rest)) = body.split_once('\n') {
        if is_fence(first) {
            body = rest;
        }
    }
    if let Some((rest, last)) = body.rsplit_once('\n') {
        if is_fence(last) {
            body = rest;
        }
    }
    body.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_within_the_bound_is_unchanged() {
        let chunks = vec!["a".to_string(), "b".to_string()];
        assert_eq!(bound(chunks.clone(), 2, 100), chunks);
    }

    #[test]
    fn a_longer_reply_is_cut_with_a_notice() {
        let chunks: Vec<String> = ["a", "b", "x", "d", "e"]
            .iter()
            .map(|c| c.repeat(60))
            .collect();
        let out = bound(chunks, 3, 100);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], "a".repeat(60));
        let last = &out[2];
        assert!(last.chars().count() <= 100, "{last}");
        // Part of the third chunk fits before the notice; the rest and two chunks are hidden.
        let shown = last.matches('x').count();
        assert!(shown > 0, "{last}");
        let hidden = 60 - shown + 120;
        assert!(last.ends_with(&notice(hidden)), "{last}");
    }

    fn config(limit: usize, max: usize) -> OutputConfig {
        OutputConfig {
            agent_mentions: false,
            tables: super::super::tables::TableMode::Code,
            text_chunk_limit: limit,
            max_reply_messages: max,
        }
    }

    #[test]
    fn shown_reasoning_never_pushes_the_answer_out() {
        // Issue 12 review: 600 characters of reasoning, one message of 500: only ">" and the
        // notice were posted.
        let reasoning = format!("> {}", "q".repeat(600));
        let out = bound_reply(&reasoning, "The real answer.", &config(500, 1));
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].starts_with("> qqq"), "{out:?}");
        assert!(out[0].ends_with("…\n\nThe real answer."), "{out:?}");
        assert!(out[0].chars().count() <= 500);
    }

    #[test]
    fn reasoning_is_shortened_then_left_out_before_the_answer_is_cut() {
        let reasoning = (0..40)
            .map(|i| format!("> step {i} of the reasoning"))
            .collect::<Vec<_>>()
            .join("\n");
        let answer = "word ".repeat(30);
        let answer = answer.trim_end();
        // Room for two messages: the answer takes one, the reasoning is shortened to the other.
        let out = bound_reply(&reasoning, answer, &config(200, 2));
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].starts_with("> step 0"), "{out:?}");
        assert!(out.concat().ends_with(answer), "{out:?}");
        assert!(out.concat().contains('…'), "{out:?}");
        // The answer alone needs both messages: no reasoning, the answer as without it.
        let long_answer = "word ".repeat(80);
        let out = bound_reply(&reasoning, &long_answer, &config(200, 2));
        assert_eq!(out, bound(chunk_markdown(&long_answer, 200), 2, 200));
        // Everything fits: nothing is shortened.
        let out = bound_reply("> short", "answer", &config(200, 1));
        assert_eq!(out, vec!["> short\n\nanswer".to_string()]);
    }

    #[test]
    fn a_tiny_limit_sends_the_notice_alone() {
        let chunks: Vec<String> = (0..4).map(|_| "abc".to_string()).collect();
        let out = bound(chunks.clone(), 2, 10);
        assert_eq!(out, vec!["abc".to_string(), "… (+9)".to_string()]);
        let out = bound(chunks.clone(), 2, 3);
        assert_eq!(out, vec!["abc".to_string(), "…".to_string()]);
        let out = bound(chunks, 2, 60);
        assert_eq!(out[1], format!("abc\n\n{}", notice(6)));
    }
}
