//! Splitting a long markdown reply into Webex-sized messages (spec section 6).
//!
//! Webex refuses `markdown` over [`MAX_MESSAGE_BYTES`] bytes, and `channels.webex.textChunkLimit`
//! (default [`DEFAULT_CHUNK_CHARS`] characters) caps a message further. [`chunk_markdown`] cuts a
//! reply into chunks that respect both, choosing the nicest cut available, in this order:
//!
//! 1. a paragraph boundary: a blank line outside code fences, or the edge of a fenced code block;
//! 2. a line boundary;
//! 3. a word boundary (whitespace);
//! 4. a character boundary that does not separate combining marks, emoji modifiers or joiners
//!    from their base character;
//! 5. any character boundary (never inside a UTF-8 character).
//!
//! Among the cuts of the best kind available, the last one that fits is taken (chunks are as
//! full as they can be without a worse kind of cut).
//!
//! A chunk that ends inside a fenced code block (```` ``` ```` or `~~~`, with an optional info
//! string such as ```` ```rust ````) is closed with the fence marker on its own line, and the next
//! chunk reopens it with the original opening line (or a shortening of it, see "Long opening
//! lines" below), so each chunk renders as valid markdown. The added lines count against the
//! limits.
//!
//! **What is preserved.** Let `c'ᵢ` be chunk `i` without the fence line added at its start (a
//! reopening) and without the fence line added at its end (a closing, with the newline before
//! it). Then the original text equals `w₀ c'₁ w₁ c'₂ … c'ₙ wₙ` where every `wᵢ` is whitespace only
//! (possibly empty): cuts only drop the whitespace at the cut (blank lines, the space between two
//! words, trailing spaces). The indentation at the start of a line that begins a chunk is kept.
//! Text that already fits is returned as one chunk, unchanged.
//!
//! Fences are recognised as in CommonMark at the top level (up to three spaces of indentation; a
//! closing fence uses the same character, at least as many of them, and nothing else). Fences
//! inside block quotes or list items are treated as ordinary text. A fence left open at the end of
//! the reply is left open in the last chunk, as in the original.
//!
//! No chunk is ever empty, whitespace-only, made of fence lines only (issue 12, item 5) or of
//! Markdown markers only ([`is_marker_only`]: a lone `>`, `-`, `1.` or `**`, issue 12 review).
//! A cut is taken only if the chunk holds something besides fence lines and markers, and does
//! not leave a marker-only rest; so a code line longer than a chunk is hard-split inside the
//! fence instead of first posting an empty block, and a quote or list line whose word is longer
//! than a chunk is hard-split inside the word, not after its marker. A chunk that would still
//! be fence- or marker-only (an empty block in the reply, degenerate limits) is left out. The
//! preservation guarantee above then holds with such left-out pieces counted as `wᵢ`, and so
//! do the fence lines the chunker leaves out (below): a closing line right where a chunk starts
//! (the chunk before closed the block), an opening line replaced by a shortened one, the fence
//! lines of a block sent as plain text.
//!
//! A chunk that starts in the middle of a block-quote line (a word or hard cut) starts with the
//! line's quote markers (`> `, `> > `), so the quote stays a quote; like a reopening fence line,
//! they count against the limits and are not part of `c'ᵢ`. (List items, headings and
//! emphasis are not repeated: a continuation in a new message reads as plain text.)
//!
//! **Long opening lines** (issue 12 follow-up). A reopening line takes at most a quarter of the
//! limits: the opening line as written if it fits there, else shortened to its indentation,
//! marker and language (the info string's first word: ```` ```rust title=a.rs ```` becomes
//! ```` ```rust ````), else to indentation and marker, which is used even when longer than a
//! quarter. A block whose opening line is over the quarter and that does not fit whole in one
//! chunk opens with that same shortened line in its first chunk too (all its chunks look
//! alike, and a chunk never starts with an opening line too long to leave room for the code and
//! the closing line, which once posted a block never closed). Shortening, not cutting, the line:
//! in CommonMark the info string is not displayed (its first word names the language for
//! highlighting), so the code renders the same; an opening line cut as text would show its info
//! string as words and open a block that nothing closes.
//!
//! **Degenerate limits.** Where not even the bare marker, one character and the closing marker
//! fit (a marker of `n` characters needs a limit of at least `2n + 3`), the block's code is sent
//! as plain text and its fence lines (and code lines that look like fence lines) are left out:
//! sent as text, one would open a block that nothing closes. A block's info string is then lost,
//! and code lines that are Markdown markers only (`---`, `1.`) may be left out.

use webex_api::text::MAX_MESSAGE_BYTES as WEBEX_MAX_MESSAGE_BYTES;

/// The most bytes Webex accepts in a message's `markdown` (and `text`).
pub const MAX_MESSAGE_BYTES: usize = WEBEX_MAX_MESSAGE_BYTES;

/// The default `textChunkLimit`, in characters.
pub const DEFAULT_CHUNK_CHARS: usize = 7000;

/// Splits `text` into chunks of at most `char_limit` characters and at most
/// [`MAX_MESSAGE_BYTES`] bytes each, on the nicest boundaries available, keeping fenced code
/// blocks valid in every chunk. No chunk is empty, whitespace-only or only fence lines (an
/// empty code block): a code line longer than a chunk is hard-split inside the fence, and a
/// chunk that would hold only fence lines is not sent. Text that fits is returned unchanged as
/// the only chunk (unless it is only whitespace and fences: then there is none). A `char_limit`
/// of 0 is treated as 1.
///
/// See the module docs for the boundary preferences and the exact preservation guarantee.
pub fn chunk_markdown(text: &str, char_limit: usize) -> Vec<String> {
    chunk_markdown_within(text, char_limit, MAX_MESSAGE_BYTES)
}

/// [`chunk_markdown`] with a byte limit of its own (at most [`MAX_MESSAGE_BYTES`]), for a chunk
/// that must leave room for text added after it.
pub fn chunk_markdown_within(text: &str, char_limit: usize, byte_limit: usize) -> Vec<String> {
    let limits = Limits {
        chars: char_limit.max(1),
        bytes: byte_limit.clamp(1, MAX_MESSAGE_BYTES),
    };
    let mut chunks = cut(text, limits);
    chunks.retain(|chunk| !is_fence_only(chunk) && !is_marker_only(chunk));
    chunks
}

/// The characters of Markdown syntax that say nothing on their own: quote markers, bullets,
/// heading hashes, emphasis, code and strike-through markers, rules and table pipes.
const MARKER_CHARS: &[char] = &['>', '-', '+', '*', '_', '~', '`', '#', '=', '|'];

/// Whether `chunk` has nothing but Markdown markers and whitespace: quote markers (`>`), list
/// bullets (`-`, `*`, `+`), ordered-list numbers (`1.`, `2)`), heading hashes, emphasis or
/// code markers, fences without an info string (issue 12 review: a cut once posted `>` or `-`
/// alone). Such a chunk is never sent.
pub fn is_marker_only(chunk: &str) -> bool {
    // Inside a code block every character is content (`---`, `|`, `1.` are code there).
    lines_with_code(chunk).all(|(line, code)| match code {
        true => line.trim().is_empty(),
        false => line_is_markers(line),
    })
}

/// The lines of `chunk`, each with whether it is code: inside a fenced block, not one of its
/// fence lines. Parsed as blocks, so a code line that looks like a fence of another kind
/// (```` ``` ```` in a `~~~` block) is code.
fn lines_with_code(chunk: &str) -> impl Iterator<Item = (&str, bool)> {
    let mut open = None;
    chunk.lines().map(move |line| match open {
        Some((fence_char, count)) if is_closer(line, fence_char, count) => {
            open = None;
            (line, false)
        }
        Some(_) => (line, true),
        None => {
            open = opening_fence(line);
            (line, false)
        }
    })
}

/// Whether one line holds only Markdown markers (see [`is_marker_only`]).
fn line_is_markers(line: &str) -> bool {
    let rest = line.trim_start_matches(|c: char| c == '>' || c.is_whitespace());
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let rest = match rest.get(digits..) {
        Some(after) if (1..=9).contains(&digits) && after.starts_with(['.', ')']) => {
            after.get(1..).unwrap_or_default()
        }
        _ => rest,
    };
    rest.chars()
        .all(|c| c.is_whitespace() || MARKER_CHARS.contains(&c))
}

/// The block-quote markers opening `line` (such as `"> "` or `"> > "`, at most three spaces
/// before the first `>`), if it is a quote line: what a chunk starting inside the line repeats
/// so that the quote stays a quote.
fn quote_prefix(line: &str) -> Option<&str> {
    let rest = line.trim_start_matches(' ');
    if line.len() - rest.len() > 3 || !rest.starts_with('>') {
        return None;
    }
    let markers = line.len() - line.trim_start_matches([' ', '>']).len();
    line.get(..markers)
}

/// Whether `chunk` has nothing but whitespace and fence lines (an empty code block, a stray
/// fence): such a chunk is never sent. A code line that looks like a fence of another kind
/// (```` ``` ```` in a `~~~` block) is code, not a fence line.
pub fn is_fence_only(chunk: &str) -> bool {
    lines_with_code(chunk)
        .all(|(line, code)| line.trim().is_empty() || (!code && opening_fence(line).is_some()))
}

/// The chunks of `text` within `limits`, before fence-only chunks are dropped.
fn cut(text: &str, limits: Limits) -> Vec<String> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    if limits.fits(&[text]) {
        return vec![text.to_string()];
    }
    let doc = Document::parse(text, limits);
    let mut chunks = Vec::new();
    let mut pos = next_start(text, 0);
    while pos < text.len() {
        let Some((chunk, end)) = doc.next_chunk(pos) else {
            break; // only whitespace and left-out fence lines remain
        };
        chunks.push(chunk);
        if end <= pos {
            break; // unreachable: every chunk consumes at least one character
        }
        pos = next_start(text, end);
    }
    chunks
}

/// The size budget of one chunk.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Most characters (Unicode scalar values).
    chars: usize,
    /// Most UTF-8 bytes.
    bytes: usize,
}

impl Limits {
    /// Whether the concatenation of `parts` fits.
    fn fits(&self, parts: &[&str]) -> bool {
        let bytes: usize = parts.iter().map(|part| part.len()).sum();
        if bytes > self.bytes {
            return false;
        }
        let chars: usize = parts.iter().map(|part| part.chars().count()).sum();
        chars <= self.chars
    }
}

/// A fenced code block's opening.
#[derive(Debug, Clone)]
struct Fence {
    /// The lines that may open a chunk of this block, longest first: the opening line as
    /// written (indentation, marker, info string, without trailing space), then shortened to
    /// indentation, marker and language (the info string's first word), then to indentation
    /// and marker. Never empty; duplicates are left out.
    openers: Vec<String>,
    /// The fence marker (e.g. ```` ``` ```` or `~~~~`): what closes the block.
    marker: String,
    /// Offset just past the content of the block's closing line (the end of the trimmed text
    /// when the block is left open).
    end: usize,
}

impl Fence {
    /// The fence of the opening line `line` (trailing whitespace trimmed), opened by `count`
    /// times `fence_char`.
    fn new(line: &str, fence_char: char, count: usize, end: usize) -> Self {
        let marker = fence_char.to_string().repeat(count);
        let indent = line
            .get(..line.len() - line.trim_start_matches(' ').len())
            .unwrap_or_default();
        let info = line
            .get(indent.len() + marker.len()..)
            .unwrap_or_default()
            .trim();
        let mut openers = vec![line.to_string()];
        let language = info.split_whitespace().next().unwrap_or_default();
        for shorter in [
            format!("{indent}{marker}{language}"),
            format!("{indent}{marker}"),
        ] {
            if !openers.contains(&shorter) {
                openers.push(shorter);
            }
        }
        Fence {
            openers,
            marker,
            end,
        }
    }

    /// The opening line as written.
    fn original(&self) -> &str {
        self.openers.first().map_or("", String::as_str)
    }
}

/// What a line is, for cutting purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// A whitespace-only line outside code fences: a paragraph break.
    Blank,
    /// Any other line outside code fences.
    Text,
    /// A line opening the fence with this index.
    Opener(usize),
    /// A line inside a fenced block.
    Code,
    /// A line closing a fenced block.
    Closer,
}

/// One line of the text, by byte offsets.
#[derive(Debug, Clone, Copy)]
struct Line {
    /// Offset of the first byte.
    start: usize,
    /// Offset just past the content (before `\r\n` or `\n`).
    content_end: usize,
    /// Offset just past the line ending.
    end: usize,
    /// What the line is.
    kind: LineKind,
    /// The fence open at the start of the line, if any.
    fence_before: Option<usize>,
}

/// The kinds of cut, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Blank line outside fences, or the edge of a fenced block.
    Paragraph,
    /// End of a line.
    Line,
    /// Between words.
    Word,
    /// Between characters, not inside a combining sequence.
    Grapheme,
    /// Between any two characters.
    Char,
}

/// How fence lines are treated when looking for a cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Fences are closed and reopened; fence lines are never cut.
    Strict,
    /// No fence lines are added (degenerate limits).
    Bare,
}

const CUTS: [Cut; 5] = [
    Cut::Paragraph,
    Cut::Line,
    Cut::Word,
    Cut::Grapheme,
    Cut::Char,
];

/// The text with its lines and fences, ready to be cut.
struct Document<'a> {
    text: &'a str,
    lines: Vec<Line>,
    fences: Vec<Fence>,
    limits: Limits,
}

impl<'a> Document<'a> {
    /// Splits `text` into lines and finds its fenced blocks.
    fn parse(text: &'a str, limits: Limits) -> Self {
        let mut lines = Vec::new();
        let mut fences: Vec<Fence> = Vec::new();
        let mut open: Option<(usize, char, usize)> = None;
        let mut start = 0;
        for raw in text.split_inclusive('\n') {
            let end = start + raw.len();
            let content = raw.trim_end_matches(['\n', '\r']);
            let fence_before = open.map(|(index, _, _)| index);
            let kind = match open {
                Some((index, fence_char, count)) if is_closer(content, fence_char, count) => {
                    open = None;
                    if let Some(fence) = fences.get_mut(index) {
                        fence.end = start + content.len();
                    }
                    LineKind::Closer
                }
                Some(_) => LineKind::Code,
                None => match opening_fence(content) {
                    Some((fence_char, count)) => {
                        open = Some((fences.len(), fence_char, count));
                        let line = content.trim_end();
                        fences.push(Fence::new(line, fence_char, count, text.trim_end().len()));
                        LineKind::Opener(fences.len() - 1)
                    }
                    None if content.trim().is_empty() => LineKind::Blank,
                    None => LineKind::Text,
                },
            };
            lines.push(Line {
                start,
                content_end: start + content.len(),
                end,
                kind,
                fence_before,
            });
            start = end;
        }
        Document {
            text,
            lines,
            fences,
            limits,
        }
    }

    /// The next chunk starting at `pos` (a non-whitespace-only rest of the text), and the offset
    /// where its original content ends; `None` when only left-out fence lines and whitespace
    /// remain.
    fn next_chunk(&self, pos: usize) -> Option<(String, usize)> {
        let (prefix, start) = self.opening(pos)?;
        let rest = self.text.get(start..).unwrap_or_default().trim_end();
        if self.limits.fits(&[&prefix, rest]) {
            return Some((format!("{prefix}{rest}"), start + rest.len()));
        }
        if let Some(end) = self.best_end(start, &prefix, Mode::Strict) {
            return Some((self.build(&prefix, start, end), end));
        }
        self.bare_chunk(pos)
    }

    /// What a chunk starting at `pos` begins with (a reopening fence line, repeated quote
    /// markers, or nothing) and the offset where its original text starts; `None` when only
    /// left-out fence lines and whitespace remain.
    ///
    /// - Inside a code block: the block's reopening line ([`Self::reopen_line`]).
    /// - At a block's opening line: the line as written when it takes at most a quarter of the
    ///   budget or the whole block fits in one chunk with it; otherwise the block is split and
    ///   each of its chunks, the first included, opens with the same shortened line (an empty
    ///   block is then left out).
    /// - At a closing line (the chunk before closed the block): the line is left out.
    fn opening(&self, mut pos: usize) -> Option<(String, usize)> {
        while pos < self.text.len() {
            let line = self.lines.get(self.line_index(pos))?;
            let at_line_start = pos == line.start;
            match line.kind {
                LineKind::Closer if at_line_start => pos = next_start(self.text, line.end),
                LineKind::Opener(index) if at_line_start => {
                    let fence = self.fences.get(index)?;
                    let whole = self.text.get(pos..fence.end).unwrap_or_default();
                    if self.quarter().fits(&[fence.original()]) || self.limits.fits(&[whole]) {
                        return Some((String::new(), pos));
                    }
                    let body = first_non_whitespace(self.text, line.end);
                    let body_line = self.lines.get(self.line_index(body))?;
                    if body >= self.text.len() || body_line.kind == LineKind::Closer {
                        pos = body_line.start.max(body); // an empty block
                        continue;
                    }
                    return Some((self.reopen_line(fence), line.end));
                }
                _ => {
                    let prefix = match line.fence_before.and_then(|index| self.fences.get(index)) {
                        Some(fence) => self.reopen_line(fence),
                        None => self.requote(pos),
                    };
                    return Some((prefix, pos));
                }
            }
        }
        None
    }

    /// Degenerate limits, where not even a bare fence marker, one character and the closing
    /// marker fit (or nothing else does): a chunk of plain text without fence lines, from the
    /// first character at or after `pos` that does not start a fence line up to the next fence
    /// line at most. Fence lines are never part of such a chunk: sent as text, a lone opening or
    /// closing line would open a code block that nothing closes, and a piece of an opening line
    /// would show its info string as text. Code in such a chunk is sent as plain text.
    fn bare_chunk(&self, pos: usize) -> Option<(String, usize)> {
        let mut start = first_non_whitespace(self.text, pos);
        while start < self.text.len() {
            // What the chunk would start with, up to the end of its line, must not open a block.
            let line = self.lines.get(self.line_index(start))?;
            let head = self.text.get(start..line.content_end).unwrap_or_default();
            let Some((_, count)) = opening_fence(head) else {
                break;
            };
            start = if start == first_non_whitespace(self.text, line.start)
                && self.is_fence_line(line)
            {
                // A fence line is left out whole (its info string is no text to show).
                first_non_whitespace(self.text, line.end)
            } else {
                // The rest of a line cut before (`~~~ a` of `*~~~ a`): the fence characters,
                // markers only, are left out.
                first_non_whitespace(self.text, start + count)
            };
        }
        if start >= self.text.len() {
            return None;
        }
        let end = self
            .best_end(start, "", Mode::Bare)
            .unwrap_or_else(|| next_char_boundary(self.text, start));
        let body = self.text.get(start..end).unwrap_or_default();
        Some((body.to_string(), end))
    }

    /// Whether `line` would open or close a code block if sent as text: a fence line of the
    /// reply, or a code line that looks like one (```` ``` ```` inside a `~~~` block).
    fn is_fence_line(&self, line: &Line) -> bool {
        let content = self.text.get(line.start..line.content_end);
        content.is_some_and(|content| opening_fence(content).is_some())
    }

    /// The start of the first fence line after the line holding `pos` (the text length if
    /// none): where a chunk without fence lines must end.
    fn next_fence_line(&self, pos: usize) -> usize {
        self.lines
            .iter()
            .skip(self.line_index(pos) + 1)
            .find(|line| self.is_fence_line(line))
            .map_or(self.text.len(), |line| line.start)
    }

    /// The chunk text: reopening line, original content, closing line if a fence is open.
    fn build(&self, prefix: &str, pos: usize, end: usize) -> String {
        let body = self.text.get(pos..end).unwrap_or_default();
        format!("{prefix}{body}{}", self.suffix(end))
    }

    /// The end (exclusive, after trimming) of the best cut for a chunk starting at `pos`.
    fn best_end(&self, pos: usize, prefix: &str, mode: Mode) -> Option<usize> {
        let first = first_non_whitespace(self.text, pos);
        let mut window_end = self.window_end(pos, prefix);
        if mode == Mode::Bare {
            window_end = window_end.min(self.next_fence_line(first));
        }
        if window_end <= first {
            return None;
        }
        CUTS.iter().find_map(|cut| {
            self.cuts(*cut, first, window_end, mode)
                .into_iter()
                .filter(|cut_at| self.safe_cut(*cut_at, mode))
                .map(|cut_at| trim_end_at(self.text, pos, cut_at))
                .filter(|end| mode == Mode::Bare || self.has_content(pos, *end))
                .filter(|end| mode == Mode::Bare || !self.leaves_only_markers(*end))
                .find(|end| self.chunk_fits(prefix, pos, *end, mode))
        })
    }

    /// Whether prefix + text[pos..end] + closing fence (unless [`Mode::Bare`]) fits.
    fn chunk_fits(&self, prefix: &str, pos: usize, end: usize, mode: Mode) -> bool {
        let body = self.text.get(pos..end).unwrap_or_default();
        let suffix = match mode {
            Mode::Bare => String::new(),
            Mode::Strict => self.suffix(end),
        };
        self.limits.fits(&[prefix, body, &suffix])
    }

    /// The largest char boundary `b` such that prefix + text[pos..b] fits.
    fn window_end(&self, pos: usize, prefix: &str) -> usize {
        let mut chars = prefix.chars().count();
        let mut bytes = prefix.len();
        let rest = self.text.get(pos..).unwrap_or_default();
        for (offset, c) in rest.char_indices() {
            chars += 1;
            bytes += c.len_utf8();
            if chars > self.limits.chars || bytes > self.limits.bytes {
                return pos + offset;
            }
        }
        self.text.len()
    }

    /// Candidate cut offsets of kind `cut` in `(first, window_end]`, latest first.
    fn cuts(&self, cut: Cut, first: usize, window_end: usize, mode: Mode) -> Vec<usize> {
        match cut {
            Cut::Paragraph | Cut::Line => self.line_cuts(cut, first, window_end, mode),
            Cut::Word | Cut::Grapheme | Cut::Char => char_cuts(self.text, cut, first, window_end),
        }
    }

    /// Line-end cuts (paragraph or plain line) in `(first, window_end]`, latest first. Without
    /// fence lines ([`Mode::Bare`]) every line end is a line cut.
    fn line_cuts(&self, cut: Cut, first: usize, window_end: usize, mode: Mode) -> Vec<usize> {
        let last = self.line_index(window_end.saturating_sub(1));
        let mut out = Vec::new();
        for index in (0..=last).rev() {
            let Some(line) = self.lines.get(index) else {
                continue;
            };
            if line.content_end <= first {
                break;
            }
            if line.content_end > window_end || line.content_end >= self.text.len() {
                continue;
            }
            let next = self.lines.get(index + 1).map(|next| next.kind);
            let wanted = match cut {
                Cut::Paragraph => is_paragraph_end(line.kind, next),
                _ => mode == Mode::Bare || is_line_end(line.kind, next),
            };
            if wanted && !self.line_is_blank(line) {
                out.push(line.content_end);
            }
        }
        out
    }

    /// Whether a line has only whitespace.
    fn line_is_blank(&self, line: &Line) -> bool {
        let content = self.text.get(line.start..line.content_end);
        content.is_none_or(|content| content.trim().is_empty())
    }

    /// Whether cutting at `cut_at` is safe: the next chunk must not start, mid-line, with
    /// something a renderer would take for a fence, and (when fences are kept) the cut must not
    /// fall inside a fence line, which would change or break it.
    fn safe_cut(&self, cut_at: usize, mode: Mode) -> bool {
        if mode != Mode::Bare && self.inside_fence_line(cut_at) {
            return false;
        }
        let next = next_start(self.text, cut_at);
        if next >= self.text.len() || self.is_line_start(next) {
            return true;
        }
        let rest = self.text.get(next..).unwrap_or_default();
        !(rest.starts_with("```") || rest.starts_with("~~~"))
    }

    /// Whether a cut at `pos` would fall inside a fence line (an opening or closing line).
    fn inside_fence_line(&self, pos: usize) -> bool {
        let Some(line) = self.lines.get(self.line_index(pos)) else {
            return false;
        };
        if pos <= line.start || pos >= line.content_end {
            return false;
        }
        matches!(line.kind, LineKind::Closer | LineKind::Opener(_))
    }

    /// Whether `text[pos..end]` holds something besides fence lines, whitespace and (outside
    /// code) Markdown markers: a chunk made of it is never an empty code block nor a lone `>`,
    /// `-`, `1.` or `**`.
    fn has_content(&self, pos: usize, end: usize) -> bool {
        let first = self.line_index(pos);
        self.lines
            .iter()
            .skip(first)
            .take_while(|line| line.start < end)
            .any(|line| {
                if matches!(line.kind, LineKind::Opener(_) | LineKind::Closer) {
                    return false;
                }
                let from = line.start.max(pos);
                let to = line.content_end.min(end);
                let segment = self.text.get(from..to).unwrap_or_default();
                let content = match line.kind {
                    LineKind::Code => !segment.trim().is_empty(),
                    _ => !line_is_markers(segment),
                };
                from < to && content
            })
    }

    /// Whether `pos` is the first byte of a line.
    fn is_line_start(&self, pos: usize) -> bool {
        pos == 0 || self.text.as_bytes().get(pos - 1) == Some(&b'\n')
    }

    /// The index of the line containing byte `pos`.
    fn line_index(&self, pos: usize) -> usize {
        let index = self.lines.partition_point(|line| line.end <= pos);
        index.min(self.lines.len().saturating_sub(1))
    }

    /// The fence open after the content ending at `end` (exclusive, after non-whitespace).
    fn fence_after(&self, end: usize) -> Option<&Fence> {
        let line = self.lines.get(self.line_index(end.saturating_sub(1)))?;
        let index = match line.kind {
            LineKind::Opener(index) => Some(index),
            LineKind::Closer => None,
            _ => line.fence_before,
        };
        index.and_then(|index| self.fences.get(index))
    }

    /// The closing line for a chunk whose content ends at `end` (empty if no fence is open).
    fn suffix(&self, end: usize) -> String {
        self.fence_after(end)
            .map(|fence| format!("\n{}", fence.marker))
            .unwrap_or_default()
    }

    /// The line opening a chunk of `fence`'s block after the first (or every chunk of a block
    /// too long for one chunk with its opening line): the longest of [`Fence::openers`] that
    /// takes at most a quarter of the budget, else the bare marker (with the indentation).
    ///
    /// Why shortened and not cut: in CommonMark the info string is not displayed (its first
    /// word names the language, for highlighting), so a block reopened with ```` ```rust ````
    /// or ```` ``` ```` shows the same code; an opening line split across chunks would instead
    /// show its info string as text or open a block that nothing closes. The quarter keeps fence lines from crowding
    /// out the content at small limits; the bare marker is used even above it (the code stays
    /// a code block) as long as one character fits with it ([`Self::bare_chunk`] otherwise).
    fn reopen_line(&self, fence: &Fence) -> String {
        let quarter = self.quarter();
        let line = fence
            .openers
            .iter()
            .find(|line| quarter.fits(&[line]))
            .or(fence.openers.last())
            .map_or("", String::as_str);
        format!("{line}\n")
    }

    /// A quarter of the budget: the most a reopening line takes when it can be shortened.
    fn quarter(&self) -> Limits {
        Limits {
            chars: self.limits.chars / 4,
            bytes: self.limits.bytes / 4,
        }
    }

    /// The quote markers to repeat before a chunk starting at `pos` in the middle of a quote
    /// line (after a word or hard cut), so the rest of the line is still quoted; empty at a
    /// line start, outside quotes, or when the markers would take more than half the budget.
    fn requote(&self, pos: usize) -> String {
        let Some(line) = self.lines.get(self.line_index(pos)) else {
            return String::new();
        };
        if line.kind != LineKind::Text {
            return String::new();
        }
        let content = self
            .text
            .get(line.start..line.content_end)
            .unwrap_or_default();
        let half = Limits {
            chars: self.limits.chars / 2,
            bytes: self.limits.bytes / 2,
        };
        match quote_prefix(content) {
            Some(markers) if pos >= line.start + markers.len() && half.fits(&[markers]) => {
                let markers = markers.trim();
                format!("{markers} ")
            }
            _ => String::new(),
        }
    }

    /// Whether a cut at `end` leaves a rest that is only Markdown markers and fits in one
    /// chunk: that chunk would never be sent, so the markers would be lost. A rest of fence
    /// lines only (the closing line of the block the chunk closes) loses nothing.
    fn leaves_only_markers(&self, end: usize) -> bool {
        let rest = self
            .text
            .get(next_start(self.text, end)..)
            .unwrap_or_default()
            .trim_end();
        !rest.is_empty()
            && rest.len() <= self.limits.bytes
            && !is_fence_only(rest)
            && is_marker_only(rest)
            && rest.chars().count() <= self.limits.chars
    }
}

/// Whether the end of a line of kind `kind`, followed by a line of kind `next`, is a paragraph
/// boundary: before a blank line or a fence, or after a closing fence.
fn is_paragraph_end(kind: LineKind, next: Option<LineKind>) -> bool {
    let outside = matches!(kind, LineKind::Text | LineKind::Closer);
    let next_breaks = matches!(next, Some(LineKind::Blank | LineKind::Opener(_)));
    outside && (kind == LineKind::Closer || next_breaks)
}

/// Whether the end of a line is a plain line boundary worth cutting at: not right after an
/// opening fence (an empty code block) nor right before a closing fence (a reopened empty block).
fn is_line_end(kind: LineKind, next: Option<LineKind>) -> bool {
    !matches!(kind, LineKind::Opener(_)) && next != Some(LineKind::Closer)
}

/// Character-level cuts (word, grapheme-ish or any char boundary) in `(first, window_end]`,
/// latest first.
fn char_cuts(text: &str, cut: Cut, first: usize, window_end: usize) -> Vec<usize> {
    let region = text.get(first..).unwrap_or_default();
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    let mut chars = region.char_indices().peekable();
    while let Some((offset, c)) = chars.next() {
        let at = first + offset;
        if at > window_end {
            break;
        }
        if let Some(before) = prev.filter(|_| at > first) {
            if cut_allowed(cut, before, Some(c)) {
                out.push(at);
            }
        }
        prev = Some(c);
        if chars.peek().is_none() && at + c.len_utf8() <= window_end {
            out.push(at + c.len_utf8());
        }
    }
    out.reverse();
    out
}

/// Whether a cut of kind `cut` may fall between `before` and `after`.
fn cut_allowed(cut: Cut, before: char, after: Option<char>) -> bool {
    let Some(after) = after else {
        return true;
    };
    match cut {
        Cut::Word => !before.is_whitespace() && after.is_whitespace(),
        Cut::Grapheme => !joins(before, after),
        _ => true,
    }
}

/// Whether `before` and `after` belong to one user-perceived character (approximately):
/// combining marks, variation selectors, emoji modifiers, tags, zero-width joiner sequences and
/// regional-indicator pairs (flags).
fn joins(before: char, after: char) -> bool {
    let extends = matches!(
        u32::from(after),
        0x0300..=0x036F
            | 0x1AB0..=0x1AFF
            | 0x1DC0..=0x1DFF
            | 0x20D0..=0x20FF
            | 0xFE00..=0xFE0F
            | 0xFE20..=0xFE2F
            | 0x200D
            | 0x1F3FB..=0x1F3FF
            | 0xE0020..=0xE007F
            | 0xE0100..=0xE01EF
    );
    let regional = |c: char| matches!(u32::from(c), 0x1F1E6..=0x1F1FF);
    extends || before == '\u{200D}' || (regional(before) && regional(after))
}

/// The fence character and length if `line` opens a fenced code block.
pub(crate) fn opening_fence(line: &str) -> Option<(char, usize)> {
    let rest = strip_fence_indent(line)?;
    let fence_char = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let count = rest.chars().take_while(|c| *c == fence_char).count();
    if count < 3 {
        return None;
    }
    let info = rest.get(count..).unwrap_or_default();
    if fence_char == '`' && info.contains('`') {
        return None;
    }
    Some((fence_char, count))
}

/// Whether `line` closes a block opened with `count` times `fence_char`.
pub(crate) fn is_closer(line: &str, fence_char: char, count: usize) -> bool {
    let Some(rest) = strip_fence_indent(line) else {
        return false;
    };
    let run = rest.chars().take_while(|c| *c == fence_char).count();
    let after = rest.get(run * fence_char.len_utf8()..).unwrap_or_default();
    run >= count && after.trim_matches([' ', '\t']).is_empty()
}

/// `line` without up to three leading spaces; `None` if indented further (indented code).
fn strip_fence_indent(line: &str) -> Option<&str> {
    let rest = line.trim_start_matches(' ');
    (line.len() - rest.len() <= 3).then_some(rest)
}

/// Where the next chunk starts after a cut at `cut_at`: past the whitespace, but at the start of
/// the line (keeping its indentation) when the whitespace crossed a line break.
fn next_start(text: &str, cut_at: usize) -> usize {
    let rest = text.get(cut_at..).unwrap_or_default();
    let trimmed = rest.trim_start();
    if trimmed.is_empty() {
        return text.len();
    }
    let first = cut_at + (rest.len() - trimmed.len());
    let line_start = text
        .get(..first)
        .and_then(|head| head.rfind('\n'))
        .map_or(0, |newline| newline + 1);
    if line_start >= cut_at {
        line_start
    } else {
        first
    }
}

/// The first non-whitespace offset at or after `pos` (the text length if none).
fn first_non_whitespace(text: &str, pos: usize) -> usize {
    let rest = text.get(pos..).unwrap_or_default();
    pos + (rest.len() - rest.trim_start().len())
}

/// The end of `text[pos..cut_at]` without trailing whitespace.
fn trim_end_at(text: &str, pos: usize, cut_at: usize) -> usize {
    pos + text.get(pos..cut_at).unwrap_or_default().trim_end().len()
}

/// The offset after the character at `pos`.
fn next_char_boundary(text: &str, pos: usize) -> usize {
    let width = text
        .get(pos..)
        .and_then(|rest| rest.chars().next())
        .map_or(1, char::len_utf8);
    (pos + width).min(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(count: usize) -> String {
        (0..count)
            .map(|i| format!("w{i:03}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn empty_and_blank_give_nothing() {
        assert!(chunk_markdown("", 100).is_empty());
        assert!(chunk_markdown(" \n\t\n ", 100).is_empty());
    }

    #[test]
    fn text_that_fits_is_unchanged() {
        let text = "  Hello **world**\n\n```rust\nfn main() {}\n```\n";
        assert_eq!(chunk_markdown(text, 7000), vec![text.to_string()]);
        let exact = "é".repeat(40);
        assert_eq!(chunk_markdown(&exact, 40), vec![exact.clone()]);
    }

    #[test]
    fn prefers_paragraph_boundaries() {
        // Line breaks appear later in the window, but the paragraph break wins.
        let text = "first paragraph\nstill first\n\nsecond line one\nsecond line two";
        let chunks = chunk_markdown(text, 45);
        assert_eq!(
            chunks,
            vec![
                "first paragraph\nstill first",
                "second line one\nsecond line two"
            ]
        );
    }

    #[test]
    fn falls_back_to_line_boundaries() {
        let text = "alpha beta gamma\ndelta epsilon zeta\neta theta iota";
        let chunks = chunk_markdown(text, 40);
        assert_eq!(
            chunks,
            vec!["alpha beta gamma\ndelta epsilon zeta", "eta theta iota"]
        );
    }

    #[test]
    fn falls_back_to_word_boundaries() {
        let text = words(20);
        let chunks = chunk_markdown(&text, 22);
        assert_eq!(
            chunks.first().map(String::as_str),
            Some("w000 w001 w002 w003")
        );
        assert!(chunks.iter().all(|chunk| chunk.chars().count() <= 22));
        assert_eq!(chunks.join(" "), text);
    }

    #[test]
    fn hard_splits_long_words_on_char_boundaries() {
        let text = "😀".repeat(30);
        let chunks = chunk_markdown(&text, 7);
        assert_eq!(chunks.len(), 5);
        assert!(chunks.iter().all(|chunk| chunk.chars().count() <= 7));
        assert_eq!(chunks.concat(), text);
    }

    #[test]
    fn hard_splits_keep_combining_sequences_together() {
        // "e" + combining acute, repeated: a cut after 5 chars would separate a mark.
        let text = "e\u{301}".repeat(10);
        let chunks = chunk_markdown(&text, 5);
        assert!(chunks.iter().all(|chunk| chunk.chars().count() <= 5));
        assert!(chunks.iter().all(|chunk| !chunk.starts_with('\u{301}')));
        assert_eq!(chunks.concat(), text);
        let family = "👨\u{200D}👩\u{200D}👧";
        let text = format!("{family}{family}");
        let chunks = chunk_markdown(&text, 5);
        assert_eq!(chunks, vec![family.to_string(), family.to_string()]);
    }

    #[test]
    fn byte_limit_applies_when_stricter() {
        let text = "€".repeat(3000); // 9000 bytes, 3000 chars
        let chunks = chunk_markdown(&text, 7000);
        assert_eq!(chunks.len(), 2);
        assert!(chunks.iter().all(|chunk| chunk.len() <= MAX_MESSAGE_BYTES));
        assert_eq!(chunks.concat(), text);
    }

    #[test]
    fn code_fence_is_closed_and_reopened() {
        let code: Vec<String> = (0..8).map(|i| format!("let x{i} = {i};")).collect();
        let text = format!("Intro\n\n```rust\n{}\n```\nAfter", code.join("\n"));
        let chunks = chunk_markdown(&text, 60);
        let expected = vec![
            "Intro".to_string(),
            format!("```rust\n{}\n```", code[..4].join("\n")),
            format!("```rust\n{}\n```", code[4..].join("\n")),
            "After".to_string(),
        ];
        assert_eq!(chunks, expected);
        assert!(chunks.iter().all(|chunk| chunk.chars().count() <= 60));
    }

    #[test]
    fn closing_fence_line_counts_against_the_limit() {
        let code: Vec<String> = (0..8).map(|i| format!("let x{i} = {i};")).collect();
        let text = format!("```rust\n{}\n```", code.join("\n"));
        // "```rust\n" (8) + four lines (47) + "\n```" (4) = 59 characters.
        let chunks = chunk_markdown(&text, 59);
        assert_eq!(
            chunks.first(),
            Some(&format!("```rust\n{}\n```", code[..4].join("\n")))
        );
        let chunks = chunk_markdown(&text, 58);
        assert_eq!(
            chunks.first(),
            Some(&format!("```rust\n{}\n```", code[..3].join("\n")))
        );
    }

    #[test]
    fn tilde_fences_and_long_markers() {
        let body: Vec<String> = (0..6).map(|i| format!("line {i} of code")).collect();
        let text = format!("~~~~ text\n{}\n~~~~", body.join("\n"));
        let chunks = chunk_markdown(&text, 45);
        assert!(chunks.len() >= 2);
        for chunk in &chunks {
            assert!(
                chunk.starts_with("~~~~ text\n") && chunk.ends_with("\n~~~~"),
                "{chunk}"
            );
        }
    }

    #[test]
    fn an_unclosed_fence_stays_open_in_the_last_chunk() {
        let text = format!(
            "```\n{}",
            ["aaaa", "bbbb", "cccc", "dddd", "eeee"].join("\n")
        );
        let chunks = chunk_markdown(&text, 16);
        assert!(chunks.len() >= 2);
        let last = chunks.last().cloned().unwrap_or_default();
        assert!(
            last.starts_with("```\n") && !last.ends_with("\n```"),
            "{last}"
        );
        for chunk in &chunks[..chunks.len() - 1] {
            assert!(chunk.ends_with("\n```"), "{chunk}");
        }
    }

    #[test]
    fn next_chunk_never_starts_mid_line_with_a_fence_marker() {
        let text = "aaaa bbbb ```cccc dddd eeee ffff";
        let chunks = chunk_markdown(text, 12);
        assert!(
            chunks.iter().skip(1).all(|chunk| !chunk.starts_with("```")),
            "{chunks:?}"
        );
        assert!(chunks.iter().all(|chunk| chunk.chars().count() <= 12));
    }

    #[test]
    fn never_cuts_inside_a_closing_fence_line() {
        // Found by the property test: a hard cut once kept four of the five closing backticks.
        let code = "a0aaaa00a0a000aaaa0a0a00a00a00a00000aa0aa0aaaa00aa0aa0aaa0a0aa0aaaa0aaa0aa00";
        let text = format!("`````aaaaa\n{code}\n`````\n");
        let chunks = chunk_markdown(&text, 37);
        for chunk in &chunks {
            assert!(chunk.starts_with("`````"), "{chunk:?}");
            assert!(chunk.ends_with("\n`````"), "{chunk:?}");
        }
    }

    #[test]
    fn an_opening_line_longer_than_a_chunk_is_shortened_to_its_marker() {
        // Found by the property test: the opener alone exceeds the limit. It was once cut as
        // text (its info string sent as words, the code outside any block).
        let text = format!("~~~ {}\ncode\n~~~", "é😀a".repeat(30));
        assert_eq!(chunk_markdown(&text, 20), ["~~~\ncode\n~~~"]);
    }

    /// A block of `lines` numbered code lines between `opener` and `closer`, after a paragraph.
    fn block(opener: &str, lines: usize, closer: &str) -> (String, Vec<String>) {
        let code: Vec<String> = (0..lines).map(|i| format!("let x{i} = {i};")).collect();
        let text = format!("Intro.\n\n{opener}\n{}\n{closer}\n", code.join("\n"));
        (text, code)
    }

    /// Every code line of `code` is in exactly one of `chunks`, in order.
    fn assert_code_in_order(chunks: &[String], code: &[String]) {
        let sent: Vec<&str> = chunks
            .iter()
            .flat_map(|chunk| chunk.lines())
            .filter(|line| line.starts_with("let x"))
            .collect();
        assert_eq!(sent, code, "{chunks:?}");
    }

    #[test]
    fn a_split_block_keeps_its_language_when_the_info_string_is_long() {
        // 31 characters of opening line, over a quarter of 60: every chunk of the block (the
        // first included) opens with the marker and the language.
        let (text, code) = block("```rust title=main.rs linenos=1", 8, "```");
        let chunks = chunk_markdown(&text, 60);
        assert_eq!(chunks.first().map(String::as_str), Some("Intro."));
        assert!(chunks.len() >= 3, "{chunks:?}");
        for chunk in &chunks[1..] {
            assert!(chunk.starts_with("```rust\nlet x"), "{chunk:?}");
            assert!(chunk.ends_with(";\n```"), "{chunk:?}");
            assert!(chunk.chars().count() <= 60, "{chunk:?}");
        }
        assert_code_in_order(&chunks, &code);
    }

    #[test]
    fn a_block_that_fits_whole_keeps_its_long_opening_line() {
        let (text, _) = block("```rust title=main.rs", 1, "```");
        assert_eq!(
            chunk_markdown(&text, 40),
            ["Intro.", "```rust title=main.rs\nlet x0 = 0;\n```"]
        );
    }

    #[test]
    fn an_indented_tilde_fence_is_reopened_with_its_indentation() {
        // "   ~~~~" keeps the rendering of the code lines (CommonMark removes as many spaces
        // from them as the opening fence has).
        let (text, code) = block("   ~~~~ python extra words", 6, "   ~~~~");
        let chunks = chunk_markdown(&text, 44);
        assert!(chunks.len() >= 3, "{chunks:?}");
        for chunk in &chunks[1..] {
            assert!(chunk.starts_with("   ~~~~\nlet x"), "{chunk:?}");
            assert!(chunk.ends_with("~~~~"), "{chunk:?}");
        }
        assert_code_in_order(&chunks, &code);
    }

    #[test]
    fn an_empty_block_with_a_long_opening_line_is_left_out() {
        let text = "```a-very-long-info-string-here\n```\n\nafter the block";
        assert_eq!(chunk_markdown(text, 20), ["after the block"]);
    }

    #[test]
    fn a_fence_with_no_room_sends_its_code_as_plain_text_without_fence_lines() {
        // "`````" + one character + "`````" needs 13 characters: at 8 the code is text, and
        // no fence line is sent (alone, it would open a block nothing closes).
        assert_eq!(
            chunk_markdown("`````\ncode here\n`````", 8),
            ["code", "here"]
        );
        // A line that only looks like a fence inside the block is left out too.
        assert_eq!(chunk_markdown("~~~~~~\n```\nx y\n~~~~~~", 5), ["x y"]);
    }

    #[test]
    fn a_code_line_longer_than_the_limit_is_split_inside_the_fence() {
        // Issue 12 item 5: one 7 200-character line in a fence first posted "```\n```".
        let text = format!("```\n{}\n```", "x".repeat(7200));
        let chunks = chunk_markdown(&text, 7000);
        assert_eq!(
            chunks.len(),
            2,
            "{:?}",
            chunks.iter().map(String::len).collect::<Vec<_>>()
        );
        for chunk in &chunks {
            assert!(
                chunk.starts_with("```\nx") && chunk.ends_with("x\n```"),
                "{chunk:.20}"
            );
            assert!(chunk.chars().count() <= 7000);
        }
        let xs: usize = chunks.iter().map(|c| c.matches('x').count()).sum();
        assert_eq!(xs, 7200);
    }

    #[test]
    fn a_30_character_code_line_at_limit_20_is_split_inside_the_fence() {
        let text = format!("Here:\n```sh\n{}\n```\nafter", "y".repeat(30));
        let chunks = chunk_markdown(&text, 20);
        assert_eq!(chunks.first().map(String::as_str), Some("Here:"));
        assert!(
            chunks.iter().all(|chunk| !is_fence_only(chunk)),
            "{chunks:?}"
        );
        assert!(
            chunks.iter().all(|chunk| chunk.chars().count() <= 20),
            "{chunks:?}"
        );
        let ys: usize = chunks.iter().map(|c| c.matches('y').count()).sum();
        assert_eq!(ys, 30, "{chunks:?}");
        assert!(
            chunks.last().is_some_and(|c| c.ends_with("after")),
            "{chunks:?}"
        );
    }

    #[test]
    fn an_empty_code_block_is_never_a_chunk() {
        assert!(chunk_markdown("```\n```", 100).is_empty());
        assert!(chunk_markdown("~~~rust\n\n~~~\n", 100).is_empty());
        let text = format!("{}\n\n```\n```\n\n{}", "a ".repeat(20), "b ".repeat(20));
        let chunks = chunk_markdown(&text, 45);
        assert!(
            chunks.iter().all(|chunk| !is_fence_only(chunk)),
            "{chunks:?}"
        );
        assert!(!is_fence_only("```\ncode\n```"));
        assert!(!is_fence_only("```inline``` text"));
    }

    #[test]
    fn tiny_limits_still_respect_the_limit() {
        let text = "```rust\nfn main() { println!(\"hi\"); }\n```";
        for limit in [0, 1, 2, 5, 9] {
            let chunks = chunk_markdown(text, limit);
            assert!(!chunks.is_empty());
            assert!(
                chunks
                    .iter()
                    .all(|chunk| chunk.chars().count() <= limit.max(1)),
                "{limit}: {chunks:?}"
            );
            assert!(chunks.iter().all(|chunk| !chunk.trim().is_empty()));
        }
    }

    #[test]
    fn indentation_of_a_chunk_starting_line_is_kept() {
        let text = "para one is here\n\n    indented code line";
        let chunks = chunk_markdown(text, 25);
        assert_eq!(chunks, vec!["para one is here", "    indented code line"]);
    }

    #[test]
    fn crlf_line_endings() {
        let text = "one two three\r\nfour five six\r\n\r\nseven eight";
        let chunks = chunk_markdown(text, 30);
        assert_eq!(
            chunks,
            vec!["one two three\r\nfour five six", "seven eight"]
        );
    }

    /// Issue 12 review: a quote, list or emphasis line holding a word longer than the limit.
    fn assert_no_marker_only(chunks: &[String], limit: usize) {
        for chunk in chunks {
            assert!(!is_marker_only(chunk), "marker-only chunk in {chunks:?}");
            assert!(chunk.chars().count() <= limit, "{chunk:?}");
        }
    }

    #[test]
    fn a_long_word_in_a_quote_stays_quoted() {
        let text = format!("> {}", "q".repeat(600));
        let chunks = chunk_markdown(&text, 500);
        assert_no_marker_only(&chunks, 500);
        assert_eq!(chunks.len(), 2, "{chunks:?}");
        assert!(chunks.iter().all(|chunk| chunk.starts_with("> q")));
        let qs: usize = chunks.iter().map(|c| c.matches('q').count()).sum();
        assert_eq!(qs, 600);
    }

    #[test]
    fn a_long_word_in_a_list_item_keeps_its_bullet_with_it() {
        let text = format!("- {}", "z".repeat(600));
        let chunks = chunk_markdown(&text, 500);
        assert_no_marker_only(&chunks, 500);
        assert!(chunks[0].starts_with("- z"), "{chunks:?}");
        let zs: usize = chunks.iter().map(|c| c.matches('z').count()).sum();
        assert_eq!(zs, 600);
    }

    #[test]
    fn ordered_heading_and_bold_markers_are_never_alone() {
        for lead in ["1. ", "12) ", "## ", "**", "> > ", "> - "] {
            let text = format!("{lead}{}**", "w".repeat(90));
            let chunks = chunk_markdown(&text, 50);
            assert_no_marker_only(&chunks, 50);
            let ws: usize = chunks.iter().map(|c| c.matches('w').count()).sum();
            assert_eq!(ws, 90, "{lead:?}: {chunks:?}");
        }
        // A trailing marker is not left alone either.
        let text = format!("{} **", "a".repeat(48));
        let chunks = chunk_markdown(&text, 50);
        assert_no_marker_only(&chunks, 50);
        assert_eq!(chunks.concat().matches('*').count(), 2, "{chunks:?}");
    }

    #[test]
    fn a_quote_split_between_words_is_requoted() {
        let text = format!("> {}\n\nafter", words(30));
        let chunks = chunk_markdown(&text, 60);
        assert!(chunks.len() >= 3, "{chunks:?}");
        assert!(chunks.iter().all(|c| c.starts_with("> w")), "{chunks:?}");
        assert!(chunks.iter().all(|c| c.chars().count() <= 60), "{chunks:?}");
        assert!(chunks.last().is_some_and(|c| c.ends_with("\n\nafter")));
        assert_eq!(chunks.concat().matches('w').count(), 30);
    }

    #[test]
    fn code_blocks_of_marker_characters_are_sent() {
        for code in ["```\n---\n```", "```\n|---|---|\n```", "~~~\n1.\n~~~"] {
            assert_eq!(chunk_markdown(code, 4000), [code.to_string()], "{code:?}");
        }
    }

    #[test]
    fn a_code_line_that_looks_like_a_fence_of_another_kind_is_code() {
        // Found by the property test: a chunk holding only the code line ``` of a ~~~ block
        // (or ~~~ of a ``` block) was taken for an empty block and left out.
        for chunk in ["~~~\n```\n~~~", "```\n~~~\n```", "````\n```\n````"] {
            assert!(!is_fence_only(chunk), "{chunk:?}");
            assert!(!is_marker_only(chunk), "{chunk:?}");
        }
        let text = format!("```\n{}\n~~~\n{}\n```", "a".repeat(20), "b".repeat(20));
        let chunks = chunk_markdown(&text, 12);
        assert!(chunks.contains(&"```\n~~~\n```".to_string()), "{chunks:?}");
        assert!(is_fence_only("```\n\n```\n~~~") && is_marker_only("```\n```\n\n-"));
        // Found by the property test: the `b` of a code line ```ab (in a ```` block) was lost,
        // as a cut before it was refused for leaving the closing line "alone".
        let chunks = chunk_markdown("````\n```ab\n\n````\n", 11);
        let code: String = chunks
            .iter()
            .map(|chunk| &chunk["````\n".len()..chunk.len() - "\n````".len()])
            .collect();
        assert_eq!(code, "```ab", "{chunks:?}");
    }

    #[test]
    fn fence_characters_inside_a_line_never_open_a_tiny_chunk() {
        // Found by the property test: at limit 1, a chunk starting at `~~~ a` would open a
        // block (and be left out as one, losing the `a`); the fence characters, markers only,
        // are left out instead.
        assert_eq!(chunk_markdown("*~~~ a\n", 0), ["a"]);
        assert_eq!(chunk_markdown("a ```a\n", 0), ["a", "a"]);
    }

    #[test]
    fn marker_only_text() {
        for text in [
            ">", "-", "1.", "**", "> -", "## ", "```", "---\n***", "> > 3)",
        ] {
            assert!(is_marker_only(text), "{text:?}");
        }
        for text in ["a", "> a", "1. x", "**b**", "...", "2024", "-1"] {
            assert!(!is_marker_only(text), "{text:?}");
        }
        assert!(chunk_markdown(">", 100).is_empty());
    }
}
