//! Reasoning blocks in model output: found, taken out of the answer, and kept apart.
//!
//! Reasoning models (DeepSeek-R1, QwQ, Qwen3, gpt-oss...) served by Ollama, vLLM or llama.cpp
//! write their chain of thought into the text of the answer. [`ReasoningFilter`] takes it out,
//! whatever form it has:
//!
//! - a block `<think>...</think>`, `<thinking>...</thinking>` or `<reasoning>...</reasoning>`
//!   (tag names in any letter case), anywhere in the text, as often as it occurs;
//! - a block opened and never closed (the model was cut off while thinking): everything after
//!   the opening tag is reasoning;
//! - a closing tag with no opening one, as DeepSeek-R1's chat template produces (the template
//!   writes `<think>` into the prompt): everything before the first tag, when that tag is a
//!   closing one, is reasoning. Until the first tag (or the end) that text is therefore held
//!   back, not passed on: a streaming consumer sees a tag-less answer only at [`finish`].
//!   A closing tag anywhere else is dropped.
//!
//! Tags inside Markdown code are content, not reasoning: in a fenced code block (a line starting
//! with up to three spaces and three or more backticks or tildes, closed by a run of the same
//! character at least as long) and in an inline code span on one line (`` `<think>` ``: a run
//! of backticks opens a span that ends at a run of the same length or at the end of the line).
//!
//! The filter works on text that arrives in pieces ([`ReasoningFilter::push`] each piece, then
//! [`ReasoningFilter::finish`]): a tag or fence split across pieces (`"<thi"` + `"nk>"`) is still
//! recognised, and any way of splitting a text gives the same result as the whole text in one
//! piece ([`split_reasoning`], which is that one-piece use). The answer comes out without
//! leading or trailing whitespace; where a block is removed between two parts of the answer,
//! the larger of the two surrounding runs of whitespace (by line breaks, then length) is kept.
//!
//! [`finish`]: ReasoningFilter::finish

use std::mem;

/// The reasoning blocks recognised: (opening tag, closing tag), compared ignoring ASCII case.
const BLOCKS: &[(&str, &str)] = &[
    ("<think>", "</think>"),
    ("<thinking>", "</thinking>"),
    ("<reasoning>", "</reasoning>"),
];

/// What a piece of model output turned into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filtered {
    /// Answer text to pass on (concatenate the answers of every push and the finish).
    pub answer: String,
    /// Reasoning text taken out (concatenate likewise; blocks are separated by a blank line;
    /// may carry the whitespace the model put around it).
    pub reasoning: String,
}

impl Filtered {
    fn append(&mut self, other: Filtered) {
        self.answer.push_str(&other.answer);
        self.reasoning.push_str(&other.reasoning);
    }
}

/// Where the filter is in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Answer text.
    Text,
    /// Inside a fenced code block opened by `len` times `ch`.
    Fence { ch: u8, len: usize },
    /// Inside a reasoning block, until `close`.
    Block { close: &'static str },
}

/// A tag at the start of the text.
enum Tag {
    Open(&'static str),
    Close,
}

/// Takes reasoning blocks out of model output given in pieces (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct ReasoningFilter {
    /// Input not decided yet (a possible tag, fence or backtick run cut off by a piece's end).
    input: String,
    mode: Mode,
    /// At the start of a line (a fence may begin).
    line_start: bool,
    /// Length of the backtick run that opened the inline code span the text is in.
    inline: Option<usize>,
    /// Answer text before the first tag: reasoning if that tag is a closing one.
    held: Option<String>,
    /// Answer text other than whitespace has been written (leading whitespace is dropped).
    started: bool,
    /// Whitespace not written yet (written before the next other character: trailing
    /// whitespace never is).
    ws: String,
    /// The whitespace that preceded a removed block, to weigh against the one after it.
    ws_before_block: Option<String>,
    /// Reasoning blocks taken out so far.
    blocks: usize,
}

impl Default for ReasoningFilter {
    fn default() -> Self {
        Self::new()
    }
}

impl ReasoningFilter {
    /// A filter at the start of an answer.
    pub fn new() -> Self {
        Self {
            input: String::new(),
            mode: Mode::Text,
            line_start: true,
            inline: None,
            held: Some(String::new()),
            started: false,
            ws: String::new(),
            ws_before_block: None,
            blocks: 0,
        }
    }

    /// Filters the next piece of output; what can be decided now is returned, the rest is kept
    /// for the next piece.
    pub fn push(&mut self, piece: &str) -> Filtered {
        self.input.push_str(piece);
        let mut out = Filtered::default();
        self.run(false, &mut out);
        out
    }

    /// The end of the output: decides what was kept back (an unterminated block is reasoning,
    /// held text without any tag is answer) and returns it.
    pub fn finish(mut self) -> Filtered {
        let mut out = Filtered::default();
        self.run(true, &mut out);
        if let Some(held) = self.held.take() {
            out.answer.push_str(&held);
        }
        out
    }

    fn run(&mut self, end: bool, out: &mut Filtered) {
        let input = mem::take(&mut self.input);
        let mut pos = 0;
        while pos < input.len() {
            match self.step(&input[pos..], end, out) {
                Some(used) => pos += used,
                None => break,
            }
        }
        self.input = input[pos..].to_string();
    }

    /// Handles the start of `rest`: `Some(bytes used)` (possibly 0 after a change of state), or
    /// `None` when more input is needed to decide (never when `end`).
    fn step(&mut self, rest: &str, end: bool, out: &mut Filtered) -> Option<usize> {
        match self.mode {
            Mode::Block { close } => self.in_block(rest, close, end, out),
            Mode::Fence { ch, len } => {
                if self.line_start {
                    let fence = fence_run(rest, end)?;
                    self.line_start = false;
                    match fence {
                        Some((indent, c, n)) if c == ch && n >= len => {
                            self.mode = Mode::Text;
                            self.inline = None;
                            self.emit(&rest[..indent + n], out);
                            return Some(indent + n);
                        }
                        _ => return Some(0),
                    }
                }
                let line = rest.find('\n').map_or(rest.len(), |i| i + 1);
                self.line_start = rest[..line].ends_with('\n');
                self.emit(&rest[..line], out);
                Some(line)
            }
            Mode::Text => self.in_text(rest, end, out),
        }
    }

    fn in_text(&mut self, rest: &str, end: bool, out: &mut Filtered) -> Option<usize> {
        if self.line_start {
            let fence = fence_run(rest, end)?;
            self.line_start = false;
            if let Some((indent, ch, len)) = fence {
                self.mode = Mode::Fence { ch, len };
                self.inline = None;
                self.emit(&rest[..indent + len], out);
                return Some(indent + len);
            }
            return Some(0);
        }
        let bytes = rest.as_bytes();
        match bytes[0] {
            b'\n' => {
                self.line_start = true;
                self.inline = None;
                self.emit("\n", out);
                Some(1)
            }
            b'`' => {
                let run = bytes.iter().take_while(|b| **b == b'`').count();
                if run == bytes.len() && !end {
                    return None;
                }
                self.inline = match self.inline {
                    None => Some(run),
                    Some(open) if open == run => None,
                    open => open,
                };
                self.emit(&rest[..run], out);
                Some(run)
            }
            b'<' if self.inline.is_none() => match tag_at(rest, end)? {
                Some((Tag::Open(close), len)) => {
                    self.open_block(close, out);
                    Some(len)
                }
                Some((Tag::Close, len)) => {
                    self.close_tag(out);
                    Some(len)
                }
                None => {
                    self.emit("<", out);
                    Some(1)
                }
            },
            _ => {
                let first = rest.chars().next().map_or(1, char::len_utf8);
                let plain = rest[first..]
                    .find(['\n', '`', '<'])
                    .map_or(rest.len(), |i| i + first);
                self.emit(&rest[..plain], out);
                Some(plain)
            }
        }
    }

    fn in_block(
        &mut self,
        rest: &str,
        close: &'static str,
        end: bool,
        out: &mut Filtered,
    ) -> Option<usize> {
        if let Some(at) = find_ignore_case(rest, close) {
            out.reasoning.push_str(&rest[..at]);
            self.mode = Mode::Text;
            self.after_gap();
            return Some(at + close.len());
        }
        if end {
            out.reasoning.push_str(rest);
            return Some(rest.len());
        }
        // Keep a tail that may be the start of the closing tag (ASCII, so a char boundary).
        let keep = (1..close.len())
            .rev()
            .find(|k| {
                rest.len() >= *k
                    && rest.as_bytes()[rest.len() - k..]
                        .eq_ignore_ascii_case(&close.as_bytes()[..*k])
            })
            .unwrap_or(0);
        let take = rest.len() - keep;
        out.reasoning.push_str(&rest[..take]);
        (take > 0).then_some(take)
    }

    fn open_block(&mut self, close: &'static str, out: &mut Filtered) {
        if let Some(held) = self.held.take() {
            out.answer.push_str(&held);
        }
        if self.blocks > 0 {
            out.reasoning.push_str("\n\n");
        }
        self.blocks += 1;
        self.mode = Mode::Block { close };
        self.before_gap();
    }

    fn close_tag(&mut self, out: &mut Filtered) {
        match self.held.take() {
            // The text so far was reasoning whose opening tag was in the prompt.
            Some(held) => {
                out.reasoning.push_str(&held);
                self.blocks += 1;
                self.started = false;
                self.ws.clear();
                self.ws_before_block = None;
            }
            // A stray closing tag: dropped.
            None => self.before_gap(),
        }
        self.after_gap();
    }

    /// After a removed block or tag the answer is at a line start (a fence may open) when
    /// nothing was written yet or a line break preceded the block.
    fn after_gap(&mut self) {
        self.line_start = !self.started
            || self
                .ws_before_block
                .as_deref()
                .is_some_and(|ws| ws.ends_with('\n'));
    }

    /// Notes the whitespace before a removed block or tag.
    fn before_gap(&mut self) {
        let before = mem::take(&mut self.ws);
        self.ws_before_block = Some(match self.ws_before_block.take() {
            Some(earlier) if gap_weight(&earlier) >= gap_weight(&before) => earlier,
            _ => before,
        });
    }

    /// Writes answer text: leading whitespace dropped, other whitespace delayed until something
    /// else follows.
    fn emit(&mut self, text: &str, out: &mut Filtered) {
        for c in text.chars() {
            if c.is_whitespace() {
                if self.started {
                    self.ws.push(c);
                }
                continue;
            }
            if let Some(before) = self.ws_before_block.take() {
                if gap_weight(&before) > gap_weight(&self.ws) {
                    self.ws = before;
                }
            }
            let dest = match &mut self.held {
                Some(held) => held,
                None => &mut out.answer,
            };
            dest.push_str(&self.ws);
            dest.push(c);
            self.ws.clear();
            self.started = true;
        }
    }
}

/// Splits a whole model output into its answer and its reasoning (trimmed): the
/// [`ReasoningFilter`] given the text in one piece.
pub fn split_reasoning(text: &str) -> Filtered {
    let mut filter = ReasoningFilter::new();
    let mut out = filter.push(text);
    out.append(filter.finish());
    out.reasoning = out.reasoning.trim().to_string();
    out
}

/// `reasoning` as a Markdown quote (every line prefixed with `> `, blank lines as `>`), cut to
/// at most `max_chars` characters of reasoning with `…` when longer.
pub fn quote_reasoning(reasoning: &str, max_chars: usize) -> String {
    let trimmed = reasoning.trim();
    let mut text: String = trimmed.chars().take(max_chars).collect();
    if text.len() < trimmed.len() {
        text.push('…');
    }
    text.lines()
        .map(|line| {
            if line.trim().is_empty() {
                ">".to_string()
            } else {
                format!("> {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// How much a run of whitespace separates: line breaks first, then length.
fn gap_weight(ws: &str) -> (usize, usize) {
    (ws.matches('\n').count(), ws.len())
}

/// A fence opening at the start of `rest` (a line start): `Some(Some((indent, char, run)))`,
/// `Some(None)` when the line does not start with a fence, `None` when more input is needed.
#[allow(clippy::option_option)] // need-more / not-a-fence / fence
fn fence_run(rest: &str, end: bool) -> Option<Option<(usize, u8, usize)>> {
    let bytes = rest.as_bytes();
    let indent = bytes.iter().take(4).take_while(|b| **b == b' ').count();
    if indent == bytes.len() {
        return if end { Some(None) } else { None };
    }
    if indent > 3 {
        return Some(None);
    }
    let ch = bytes[indent];
    if ch != b'`' && ch != b'~' {
        return Some(None);
    }
    let run = bytes[indent..].iter().take_while(|b| **b == ch).count();
    if indent + run == bytes.len() && !end {
        return None;
    }
    Some((run >= 3).then_some((indent, ch, run)))
}

/// A reasoning tag at the start of `rest` (which starts with `<`): `Some(Some((tag, len)))`,
/// `Some(None)` when there is none, `None` when more input is needed.
#[allow(clippy::option_option)] // need-more / no tag / tag
fn tag_at(rest: &str, end: bool) -> Option<Option<(Tag, usize)>> {
    let bytes = rest.as_bytes();
    let mut partial = false;
    for (open, close) in BLOCKS {
        for (candidate, tag) in [(*open, Tag::Open(close)), (*close, Tag::Close)] {
            let n = candidate.len().min(bytes.len());
            if !bytes[..n].eq_ignore_ascii_case(&candidate.as_bytes()[..n]) {
                continue;
            }
            if n == candidate.len() {
                return Some(Some((tag, n)));
            }
            partial = true;
        }
    }
    if partial && !end {
        None
    } else {
        Some(None)
    }
}

/// Byte offset of `needle` (ASCII) in `hay`, ignoring ASCII case.
fn find_ignore_case(hay: &str, needle: &str) -> Option<usize> {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}
