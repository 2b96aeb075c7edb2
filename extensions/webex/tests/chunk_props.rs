//! Property tests for `moltbot_webex::chunk::chunk_markdown`.
//!
//! The invariants checked (see the `chunk` module docs for the guarantee they pin down):
//! - every chunk has at most `max(char_limit, 1)` characters and at most `MAX_MESSAGE_BYTES` bytes;
//! - no chunk is empty, whitespace-only or only fence lines (an empty code block);
//! - text that fits comes back unchanged as the only chunk (unless it is only fences);
//! - content is preserved: with the fence lines the chunker added (a reopening first line, a
//!   closing last line) removed, the chunks appear in the original, in order, separated only by
//!   whitespace and left-out fence lines (`original = w0 c1 w1 c2 ... cn wn`, every `wi`
//!   whitespace or fence lines). For text without fences nothing may be removed from a chunk;
//! - every chunk has balanced fences (except the last one when the original leaves a fence open).
//!
//! The fence scanner here is written independently of the chunker's.

use moltbot_webex::chunk::{chunk_markdown, MAX_MESSAGE_BYTES};

use proptest::prelude::*;

/// An open fence: its character and length.
type OpenFence = (char, usize);

/// `line` without up to three leading spaces, `None` if indented further.
fn unindent(line: &str) -> Option<&str> {
    let rest = line.trim_start_matches(' ');
    (line.len() - rest.len() <= 3).then_some(rest)
}

/// The fence `line` opens, if any (CommonMark rules, top level only).
fn opens(line: &str) -> Option<OpenFence> {
    let rest = unindent(line)?;
    let c = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = rest.chars().take_while(|x| *x == c).count();
    let info = &rest[n * c.len_utf8()..];
    (n >= 3 && !(c == '`' && info.contains('`'))).then_some((c, n))
}

/// Whether `line` closes `fence`.
fn closes(line: &str, fence: OpenFence) -> bool {
    let Some(rest) = unindent(line) else {
        return false;
    };
    let n = rest.chars().take_while(|x| *x == fence.0).count();
    n >= fence.1
        && rest[n * fence.0.len_utf8()..]
            .trim_matches([' ', '\t'])
            .is_empty()
}

/// The fence left open at the end of `text`.
fn open_fence_at_end(text: &str) -> Option<OpenFence> {
    let mut open = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        open = match open {
            Some(fence) if closes(line, fence) => None,
            Some(fence) => Some(fence),
            None => opens(line),
        };
    }
    open
}

/// The variants of a chunk that may be original text: as is, without an added closing line,
/// without an added reopening line, without both.
fn variants(chunk: &str) -> Vec<&str> {
    let mut out = vec![chunk];
    let without_close = chunk.rsplit_once('\n').and_then(|(head, last)| {
        let marker = last.chars().next().filter(|c| *c == '`' || *c == '~')?;
        let is_marker = last.len() >= 3 && last.chars().all(|c| c == marker);
        is_marker.then_some(head)
    });
    let strip_open = |text: &'_ str| -> Option<usize> {
        let (first, _) = text.split_once('\n')?;
        opens(first).map(|_| first.len() + 1)
    };
    if let Some(head) = without_close {
        out.push(head);
    }
    if let Some(skip) = strip_open(chunk) {
        out.push(&chunk[skip..]);
        if let Some(head) = without_close {
            if skip <= head.len() {
                out.push(&head[skip..]);
            }
        }
    }
    out
}

/// Whether `text` has only whitespace and fence lines (what an empty code block is).
fn fence_lines_only(text: &str) -> bool {
    lines_and_code(text)
        .into_iter()
        .all(|(line, code)| line.trim().is_empty() || (!code && opens(line).is_some()))
}

/// The lines of `text`, each with whether it is code: inside a block, not one of its fence
/// lines (so a code line that looks like a fence of another kind is code).
fn lines_and_code(text: &str) -> Vec<(&str, bool)> {
    let mut open = None;
    text.split('\n')
        .map(|line| {
            let line = line.trim_end_matches('\r');
            match open {
                Some(fence) if closes(line, fence) => {
                    open = None;
                    (line, false)
                }
                Some(_) => (line, true),
                None => {
                    open = opens(line);
                    (line, false)
                }
            }
        })
        .collect()
}

/// Whether `text` is only Markdown markers: each line, once its quote markers, one ordered-list
/// number (`12.` / `3)`) and whitespace are set aside, has only `> - + * _ ~ ` # = |`.
fn markers_only(text: &str) -> bool {
    lines_and_code(text).into_iter().all(|(line, code)| {
        if code {
            // Inside a code block every character is content.
            return line.trim().is_empty();
        }
        let mut rest: &str = line.trim();
        rest = rest.trim_start_matches(['>', ' ', '\t']);
        let number = rest.bytes().take_while(u8::is_ascii_digit).count();
        if number > 0 && rest[number..].starts_with(['.', ')']) {
            rest = &rest[number + 1..];
        }
        rest.chars()
            .all(|c| c.is_whitespace() || ">-+*_~`#=|".contains(c))
    })
}

/// Whether `gap` (between two chunks) may be left out: every line whitespace or pieces of
/// Markdown markers only (never sent alone), or in text with fences also fence lines (an empty
/// block is not sent). Pieces, not whole lines: at a limit too small for a line, the chunker
/// cuts it between words or characters and leaves out the pieces that are markers only (the
/// `=`, `0)` and `0.` of a code line `a= 0)0.` sent as text at limit 2).
fn skippable(gap: &str, allow_fence_lines: bool) -> bool {
    gap.split('\n').all(|line| {
        line.split_whitespace().all(marker_pieces) || (allow_fence_lines && fence_lines_only(line))
    })
}

/// Whether `word` can be cut into pieces that are each [`markers_only`]: marker characters and
/// list numbers (one to nine digits, then `.` or `)`).
fn marker_pieces(word: &str) -> bool {
    marker_prefix(word) == word.len()
}

/// The length in bytes of the longest start of `word` that [`marker_pieces`] accepts.
fn marker_prefix(word: &str) -> usize {
    let mut rest = word;
    while let Some(c) = rest.chars().next() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        rest = if digits == 0 && ">-+*_~`#=|".contains(c) {
            &rest[c.len_utf8()..]
        } else if (1..=9).contains(&digits) && rest[digits..].starts_with(['.', ')']) {
            &rest[digits + 1..]
        } else {
            break;
        };
    }
    word.len() - rest.len()
}

/// The furthest a [`skippable`] gap starting at `from` can end: in the first word that is
/// neither marker pieces nor on a fence line, after its longest start of marker pieces (the
/// `0.` of `0.5`), since a gap ending further would hold a piece of content.
fn reach(text: &str, from: usize, allow_fence_lines: bool) -> usize {
    let mut pos = from;
    while pos < text.len() {
        let line_end = text[pos..]
            .find('\n')
            .map_or(text.len(), |newline| pos + newline);
        let mut word_start = None;
        for (offset, c) in text[pos..line_end]
            .char_indices()
            .chain([(line_end - pos, ' ')])
        {
            match (c.is_whitespace(), word_start) {
                (false, None) => word_start = Some(offset),
                (true, Some(start)) => {
                    let word_end = pos + offset;
                    let fence_line = allow_fence_lines && fence_lines_only(&text[pos..word_end]);
                    let word = &text[pos + start..word_end];
                    if !marker_pieces(word) && !fence_line {
                        return pos + start + marker_prefix(word);
                    }
                    word_start = None;
                }
                _ => {}
            }
        }
        pos = line_end + 1;
    }
    text.len()
}

/// `chunk` without quote markers the chunker repeats at its start (a chunk starting inside a
/// quote line); such a chunk must sit in the original right after those markers on its line.
fn unquoted(chunk: &str) -> Option<&str> {
    let body = chunk.trim_start_matches(['>', ' ']);
    (chunk.starts_with('>') && body.len() < chunk.len()).then_some(body)
}

/// Whether `at` is inside a quote line of `text`, after its quote markers.
fn inside_quote_line(text: &str, at: usize) -> bool {
    let start = text[..at].rfind('\n').map_or(0, |newline| newline + 1);
    let before = &text[start..at];
    before.trim_start_matches(' ').starts_with('>')
        && !before.trim_start_matches(['>', ' ']).is_empty()
}

/// Whether `chunks` (each as one of its variants) appear in `text[from..]` in order, separated
/// by whitespace only, with only whitespace after the last.
///
/// Every place a chunk may sit is tried, not only the first: a short chunk (`"d"`, `"ab"`) may
/// also occur earlier in a left-out fence line or empty block (```` ```d ````), and matching it
/// there wrongly failed (a rare flake of this checker at `PROPTEST_CASES=5000`). A depth-first
/// search over (chunk, offset) states with an explicit stack: recursing once per chunk
/// overflowed the test thread's stack for a reply cut into thousands of chunks (limit 0), and
/// a state seen once is not searched again.
fn preserved(text: &str, from: usize, chunks: &[String], allow_fence_lines: bool) -> bool {
    let mut stack = vec![(0, from)];
    let mut seen = std::collections::HashSet::new();
    while let Some((index, from)) = stack.pop() {
        if !seen.insert((index, from)) {
            continue;
        }
        let Some(chunk) = chunks.get(index) else {
            if skippable(&text[from..], allow_fence_lines) {
                return true;
            }
            continue;
        };
        let plain = if allow_fence_lines {
            variants(chunk)
        } else {
            vec![chunk.as_str()]
        };
        // Repeated quote markers at the start and an added closing line at the end may come
        // together: a quote line's last word, then the start of a block split further on.
        let requoted = plain.iter().filter_map(|variant| unquoted(variant));
        let candidates: Vec<(&str, bool)> = plain
            .iter()
            .map(|variant| (*variant, false))
            .chain(requoted.map(|body| (body, true)))
            .collect();
        for (candidate, requoted) in candidates {
            if candidate.trim().is_empty() {
                continue;
            }
            let step = candidate.chars().next().map_or(1, char::len_utf8);
            let last = reach(text, from, allow_fence_lines);
            let mut search = from;
            while let Some(at) = text[search..].find(candidate).map(|at| search + at) {
                if at > last {
                    break;
                }
                if (!requoted || inside_quote_line(text, at))
                    && skippable(&text[from..at], allow_fence_lines)
                {
                    stack.push((index + 1, at + candidate.len()));
                }
                search = at + step;
            }
        }
    }
    false
}

/// Checks every invariant for one input.
fn check(text: &str, limit: usize) -> Result<(), TestCaseError> {
    let chunks = chunk_markdown(text, limit);
    let char_limit = limit.max(1);
    if text.trim().is_empty() || markers_only(text) || fence_lines_only(text) {
        prop_assert!(chunks.is_empty());
        return Ok(());
    }
    if text.chars().count() <= char_limit && text.len() <= MAX_MESSAGE_BYTES {
        prop_assert_eq!(&chunks, &vec![text.to_string()]);
    }
    for chunk in &chunks {
        prop_assert!(
            chunk.chars().count() <= char_limit,
            "too many chars: {:?}",
            chunk
        );
        prop_assert!(chunk.len() <= MAX_MESSAGE_BYTES, "too many bytes");
        prop_assert!(!chunk.trim().is_empty(), "blank chunk");
        prop_assert!(!fence_lines_only(chunk), "fence-only chunk: {:?}", chunk);
        prop_assert!(!markers_only(chunk), "marker-only chunk: {:?}", chunk);
    }
    let has_fences = text
        .split('\n')
        .any(|line| opens(line.trim_end_matches('\r')).is_some());
    prop_assert!(
        preserved(text, 0, &chunks, has_fences),
        "content not preserved: {:?}",
        chunks
    );
    // At every limit: with no room for fence lines a chunk has none (its code is plain text).
    if has_fences {
        let last = chunks.len().saturating_sub(1);
        for (index, chunk) in chunks.iter().enumerate() {
            let open = open_fence_at_end(chunk);
            let allowed = index == last && open_fence_at_end(text).is_some();
            prop_assert!(
                open.is_none() || allowed,
                "unbalanced chunk {}: {:?}",
                index,
                chunk
            );
        }
    }
    Ok(())
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,8}",
        2 => "[A-Za-zéèüßçñ]{1,8}",
        1 => "[日本語中文字한국어]{1,5}",
        1 => "[😀🎉🚀👍]{1,4}",
        1 => Just("e\u{301}x".to_string()),
        1 => Just("👨\u{200D}👩\u{200D}👧".to_string()),
        1 => Just("🇫🇷🇩🇪".to_string()),
        1 => "[a-z0-9`*_~#>-]{1,6}",
        1 => "[a-zé😀]{20,160}",
    ]
}

fn text_line() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            8 => Just(""),
            2 => Just("  "),
            2 => Just("- "),
            2 => Just("> "),
            1 => Just("> > "),
            1 => Just("1. "),
            1 => Just("## "),
            1 => Just("**"),
        ],
        prop::collection::vec(word(), 1..14),
    )
        .prop_map(|(lead, words)| format!("{lead}{}", words.join(" ")))
}

fn code_line() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        1 => "[a-z0-9]{20,90}",
        6 => "[ ]{0,4}[a-z0-9(){};=<>.,é😀\"]{1,10}( [a-z0-9(){};=<>.é😀]{1,10}){0,5}",
        1 => "[a-z0-9]{40,120}",
        // Looks like a fence: code in a block of the other kind, else it closes the block.
        1 => "(```|~~~)[a-z]{0,3}",
    ]
}

fn fence_block() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just('`'), Just('~')],
        3usize..=5,
        "[a-z]{0,6}",
        prop::collection::vec(code_line(), 0..14),
    )
        .prop_map(|(c, n, info, body)| {
            let marker = c.to_string().repeat(n);
            let mut lines = vec![format!("{marker}{info}")];
            lines.extend(body);
            lines.push(marker);
            lines.join("\n")
        })
}

fn paragraph() -> impl Strategy<Value = String> {
    prop::collection::vec(text_line(), 1..5).prop_map(|lines| lines.join("\n"))
}

fn document(with_fences: bool) -> BoxedStrategy<String> {
    let block = if with_fences {
        prop_oneof![3 => paragraph(), 2 => fence_block(), 1 => Just(String::new())].boxed()
    } else {
        prop_oneof![4 => paragraph(), 1 => Just(String::new())].boxed()
    };
    (
        prop::collection::vec((block, prop_oneof![Just("\n"), Just("\n\n")]), 1..12),
        prop_oneof![Just(""), Just("\n"), Just("  \n\n")],
    )
        .prop_map(|(blocks, tail)| {
            let mut text: String = blocks
                .into_iter()
                .map(|(block, separator)| format!("{block}{separator}"))
                .collect();
            text.push_str(tail);
            text
        })
        .boxed()
}

fn limit() -> impl Strategy<Value = usize> {
    prop_oneof![1 => 0usize..20, 4 => 20usize..90, 3 => 90usize..600]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prose_without_fences(text in document(false), limit in limit()) {
        check(&text, limit)?;
    }

    #[test]
    fn markdown_with_fences(text in document(true), limit in limit()) {
        check(&text, limit)?;
    }

    #[test]
    fn arbitrary_unicode(text in "\\PC{0,400}", limit in limit()) {
        check(&text, limit)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Multi-byte text at the default limit: the 7439-byte cap is the stricter one.
    #[test]
    fn byte_limit_at_default_char_limit(
        text in prop::collection::vec(prop_oneof![word(), fence_block()], 900..1400)
            .prop_map(|parts| parts.join(" ")),
    ) {
        check(&text, 7000)?;
    }
}

/// A 20 000-character reply with several code fences, one larger than a chunk.
#[test]
fn long_reply_with_code_fences() {
    let mut text = String::new();
    let mut block = 0;
    while text.chars().count() < 20_000 {
        for sentence in 0..12 {
            text.push_str(&format!(
                "Paragraph {block}, sentence {sentence}: the gateway relays this to Webex. "
            ));
        }
        text.push_str("\n\n");
        let lines = if block == 3 { 200 } else { 25 };
        text.push_str("```python\n");
        for line in 0..lines {
            text.push_str(&format!(
                "    value_{block}_{line} = compute({line})  # ok\n"
            ));
        }
        text.push_str("```\n\n");
        block += 1;
    }
    let text: String = text.chars().take(20_000).collect();
    let text = format!("{}\n", text.trim_end());
    // Close the fence the cut-off may have left open, so the text is well-formed.
    let text = if open_fence_at_end(&text).is_some() {
        format!("{text}```\n")
    } else {
        text
    };
    assert!(text.chars().count() >= 20_000);

    let chunks = chunk_markdown(&text, 7000);
    // At least ceil(20 000 / 7000) chunks; cutting on paragraphs costs at most one or two more.
    assert!((3..=5).contains(&chunks.len()), "{} chunks", chunks.len());
    for chunk in &chunks {
        assert!(chunk.chars().count() <= 7000);
        assert!(chunk.len() <= MAX_MESSAGE_BYTES);
        assert!(open_fence_at_end(chunk).is_none(), "unbalanced: {chunk}");
    }
    // The big block (block 3, ~9000 characters) must have been closed and reopened.
    let reopened = chunks
        .iter()
        .skip(1)
        .filter(|chunk| chunk.starts_with("```python\n    value_"))
        .count();
    assert!(reopened >= 1, "the long code block was never reopened");
    assert!(preserved(&text, 0, &chunks, true));
    let original_code_lines = text.matches("= compute(").count();
    let chunked_code_lines: usize = chunks.iter().map(|c| c.matches("= compute(").count()).sum();
    assert_eq!(original_code_lines, chunked_code_lines);
}

/// The checker itself must reject broken chunkings, or the properties above prove nothing.
#[test]
fn checker_rejects_lost_or_reordered_content() {
    let text = "alpha beta\n\ngamma delta";
    let good = vec!["alpha beta".to_string(), "gamma delta".to_string()];
    assert!(preserved(text, 0, &good, false));
    let lost = vec!["alpha".to_string(), "gamma delta".to_string()];
    assert!(!preserved(text, 0, &lost, false));
    let reordered = vec!["gamma delta".to_string(), "alpha beta".to_string()];
    assert!(!preserved(text, 0, &reordered, false));
    let fenced = "```rust\na\nb\n```";
    let split = vec!["```rust\na\n```".to_string(), "```rust\nb\n```".to_string()];
    assert!(preserved(fenced, 0, &split, true));
    assert!(!preserved(fenced, 0, &split, false));
    assert!(open_fence_at_end("```rust\na").is_some());
    assert!(open_fence_at_end("```rust\na\n```").is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Issue 12 item 5, the kind: one code line longer than the limit, in a fence, anywhere in
    /// the reply; never an empty block, and the line is split inside the fence.
    #[test]
    fn an_over_long_code_line_is_split_inside_its_fence(
        before in "[a-y ]{0,40}",
        info in "[a-y]{0,5}",
        line_len in 1usize..4,
        after in "[a-y ]{0,40}",
        limit in 12usize..60,
    ) {
        let line = "z".repeat(limit * line_len + 7);
        let text = format!("{before}\n```{info}\n{line}\n```\n{after}");
        check(&text, limit)?;
        let chunks = chunk_markdown(&text, limit);
        let zs: usize = chunks.iter().map(|c| c.matches('z').count()).sum();
        prop_assert_eq!(zs, line.len());
    }
}

/// The checker must see a marker-only chunk (what a cut once posted alone) and a requoted
/// continuation, or the properties above prove nothing about them.
#[test]
fn checker_sees_marker_only_chunks_and_requoted_continuations() {
    for chunk in [">", "-", "1.", "**", "> > ", "## ", "```"] {
        assert!(markers_only(chunk), "{chunk:?}");
    }
    assert!(!markers_only("> a") && !markers_only("1. x") && !markers_only("..."));
    let text = "> aaaa bbbb";
    assert!(preserved(
        text,
        0,
        &["> aaaa".into(), "> bbbb".into()],
        false
    ));
    // A quote marker added where the original has none is not preservation.
    assert!(!preserved(
        "aaaa bbbb",
        0,
        &["aaaa".into(), "> bbbb".into()],
        false
    ));
}

/// Found by the property test at 5000 cases: the last word of a quote line, requoted, then the
/// start of a block closed for the next chunk, in one chunk. The chunking is right; the checker
/// tried the requoted and the closed variants of a chunk, not both at once.
#[test]
fn checker_sees_a_requoted_chunk_that_also_closes_a_block() -> Result<(), TestCaseError> {
    let text = "> aaaa *\n```aa\nbbbb\ncccc\n```\n";
    let chunks = ["> aaaa", "> *\n```aa\nbbbb\n```", "```aa\ncccc\n```"].map(String::from);
    assert!(preserved(text, 0, &chunks, true));
    let found = concat!(
        "> 🇫🇷🇩🇪 aaaaaaa aaa 😀aéa😀😀😀éaé😀éaa😀a😀aéa😀éé😀😀é😀a😀éa😀a😀a😀éaa😀éaéaéaa😀 ",
        "aaaaaaa aaa a aaaa *\n```aa\naaaaaaa0aaaaaa00aaa00a0\naaaaaaa0a0aa00aaa00a\n\n",
        "000a0aaa00000aaa00000a\na00a000a0aaaaa000000\n```\n"
    );
    let chunks = chunk_markdown(found, 86);
    assert!(
        chunks
            .iter()
            .any(|c| c.starts_with("> *\n```aa\n") && c.ends_with("a\n```")),
        "{chunks:?}"
    );
    check(found, 86)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Issue 12 review, the kind: a quote, list, heading or emphasis line whose word is longer
    /// than the limit. No chunk is only markers, and a quote's continuations stay quoted.
    #[test]
    fn a_long_word_after_a_marker_is_never_split_from_it(
        before in "[a-y ]{0,40}",
        lead in prop_oneof![
            Just("> "), Just("> > "), Just("- "), Just("* "), Just("+ "), Just("1. "),
            Just("10) "), Just("# "), Just("### "), Just("**"), Just("_"), Just("~~"),
            Just("> 1. "), Just("> **"),
        ],
        word_len in 1usize..4,
        after in "[a-y ]{0,40}",
        limit in 12usize..90,
    ) {
        let word = "z".repeat(limit * word_len + 7);
        let text = format!("{before}\n\n{lead}{word}\n\n{after}");
        check(&text, limit)?;
        let chunks = chunk_markdown(&text, limit);
        let zs: usize = chunks.iter().map(|c| c.matches('z').count()).sum();
        prop_assert_eq!(zs, word.len());
        if lead.starts_with('>') {
            for chunk in chunks.iter().filter(|c| c.contains('z')) {
                prop_assert!(chunk.starts_with('>'), "unquoted continuation {:?}", chunk);
            }
        }
    }
}

/// Issue 12 follow-up, found by the property test: a fence opening line longer than a quarter
/// of the limit at the start of a chunk. The block was posted unclosed, as
/// `"`````aaaaa\n\n  ."`; it is now opened with its bare marker, which fits with the code and
/// the closing line (the info string is not displayed; it names the language for highlighting).
#[test]
fn a_fence_opening_longer_than_a_quarter_of_the_limit_keeps_its_block() -> Result<(), TestCaseError>
{
    let text = "`````aaaaa\n\n  .\n`````\n";
    assert_eq!(chunk_markdown(text, 20), ["`````\n\n  .\n`````"]);
    check(text, 20)
}

/// The rare flake at `PROPTEST_CASES=5000` (issue 12 follow-up): the checker, not the chunker,
/// was wrong. It matched each chunk at the first place its text occurs, and a short chunk also
/// occurs in a line the chunker leaves out (here `py` in the opening line it shortens), so a
/// correct chunking failed; and it recursed once per chunk, overflowing the stack at limit 0.
#[test]
fn checker_finds_a_chunk_that_also_occurs_in_a_left_out_line() -> Result<(), TestCaseError> {
    let text = "```python-with-a-long-info-string\npy\n```\n";
    let chunks = chunk_markdown(text, 20);
    assert_eq!(chunks, ["```\npy\n```"]);
    assert!(preserved(text, 0, &chunks, true));
    check(text, 20)?;
    check("```d\ndaa00000a0aa00aaaaaa00aaa0aaaaa0a0aa0a0a\n```\n", 0)?;
    // Thousands of one-character chunks.
    let long = "ab ".repeat(4000);
    let chunks = chunk_markdown(&long, 1);
    assert_eq!(chunks.len(), 8000);
    assert!(preserved(&long, 0, &chunks, false));
    Ok(())
}

/// At a limit too small for a line of code sent as text, the pieces that are markers only (the
/// `=`, `0)`, `0.` of `a= 0)0.`) are never sent alone; the checker accepts leaving them out,
/// and nothing else.
#[test]
fn checker_accepts_left_out_marker_pieces_only() -> Result<(), TestCaseError> {
    for text in [
        "```\n😀;(a.a= 0.\n```\n",
        "```\né 0😀;0..0. .\n```\n",
        "```\na 0)0.\n```\n",
    ] {
        check(text, 2)?;
    }
    assert!(preserved("```\na 0)0.\n```\n", 0, &["a".into()], true));
    assert!(!preserved("```\na 0)0.5\n```\n", 0, &["a".into()], true));
    Ok(())
}

/// Long fence openings, the kind of the issue 12 follow-up, at every limit up to 90: longer
/// than a quarter of the limit, than a chunk, indented, `~~~`, with a fence-like code line.
#[test]
fn long_fence_openings_at_every_small_limit() -> Result<(), TestCaseError> {
    let info = "python title=\"a very long file name.py\" linenos";
    for (opener, closer) in [
        (format!("```{info}"), "```"),
        (format!("~~~~ {info}"), "~~~~"),
        (format!("   ```{info}"), "   ```"),
        ("`````aaaaa".to_string(), "`````"),
        ("~~~ x".to_string(), "~~~"),
    ] {
        // A code line that looks like a fence of the other kind (it does not close the block).
        let other = if opener.contains('`') { "~~~" } else { "```" };
        let code = format!("first = 1\n{other}\n\nsecond = [1, 2]");
        let text = format!("Before the block.\n\n{opener}\n{code}\n{closer}\nAfter.\n");
        for limit in 0..=90 {
            check(&text, limit)?;
            check_openings(&text, &opener, limit)?;
        }
    }
    Ok(())
}

/// The non-whitespace characters of the code lines in `text` (the lines inside its blocks).
fn code_of(text: &str) -> String {
    lines_and_code(text)
        .into_iter()
        .filter(|(_, code)| *code)
        .flat_map(|(line, _)| line.chars().filter(|c| !c.is_whitespace()))
        .collect()
}

/// Checks the chunks of `text`, with one code block opened by `opener`: every chunk that
/// starts with a fence line starts with `opener` or `opener` shortened (to indentation,
/// marker and language, or indentation and marker); and when the limit leaves room for the
/// fence lines and a code line's indentation, all the code is sent inside code blocks.
fn check_openings(text: &str, opener: &str, limit: usize) -> Result<(), TestCaseError> {
    let indent = &opener[..opener.len() - opener.trim_start().len()];
    let rest = opener.trim_start();
    let fence_char = rest.chars().next().unwrap_or('`');
    let marker: String = rest.chars().take_while(|c| *c == fence_char).collect();
    let language = rest[marker.len()..]
        .split_whitespace()
        .next()
        .unwrap_or_default();
    let allowed = [
        opener.trim_end().to_string(),
        format!("{indent}{marker}{language}"),
        format!("{indent}{marker}"),
    ];
    let chunks = chunk_markdown(text, limit);
    for chunk in &chunks {
        let first = chunk.lines().next().unwrap_or_default();
        if opens(first).is_some() {
            prop_assert!(
                allowed.iter().any(|line| line == first),
                "limit {}: {:?} does not open {:?}",
                limit,
                chunk,
                opener
            );
        }
    }
    // Room for the reopening line (a quarter, or indentation and marker), the closing line
    // and a code line's indentation (up to 4 spaces) with a character.
    if limit >= 2 * (indent.len() + marker.chars().count()) + 8 {
        let sent: String = chunks.iter().map(|chunk| code_of(chunk)).collect();
        prop_assert_eq!(sent, code_of(text), "limit {}: code sent as text", limit);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Issue 12 follow-up, the kind: one code block whose opening line (up to three spaces,
    /// three to six backticks or tildes, an info string of any length) may be longer than a
    /// quarter of the limit, than a chunk or than the limit. Every invariant holds at every
    /// limit, and every chunk of the block opens with its opening line or a shortening of it.
    #[test]
    fn a_long_fence_opening_keeps_its_block(
        indent in 0usize..4,
        fence_char in prop_oneof![Just('`'), Just('~')],
        count in 3usize..7,
        info in "[a-z]{0,8}( [a-z=\"]{1,12}){0,4}",
        code in prop::collection::vec(code_line(), 0..10),
        before in "[a-y ]{0,30}",
        after in "[a-y ]{0,30}",
        limit in 0usize..120,
    ) {
        let marker = fence_char.to_string().repeat(count);
        let opener = format!("{}{marker}{info}", " ".repeat(indent));
        // One block: a code line that would close it is left out.
        let code: Vec<String> = code.into_iter().filter(|line| !closes(line, (fence_char, count))).collect();
        let text = format!("{before}\n\n{opener}\n{}\n{marker}\n\n{after}", code.join("\n"));
        check(&text, limit)?;
        check_openings(&text, &opener, limit)?;
    }
}
