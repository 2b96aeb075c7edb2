//! The markdown chunker: every chunk non-empty, not only fence lines, within the char limit and
//! 7439 bytes, not only Markdown markers; text with content gives at least one chunk; no
//! non-whitespace character outside fence lines is lost or reordered (chunks may add fence
//! lines and quote markers, and drop those of an empty block or a marker-only piece).
//!
//! Input layout: bytes 0-1 choose the limit (byte 0 odd: a small limit 0..=63 from byte 1; even:
//! a little-endian u16 up to 8000), the rest is the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moltbot_webex::chunk::{chunk_markdown, is_fence_only, is_marker_only, MAX_MESSAGE_BYTES};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let limit = if data[0] & 1 == 1 {
        usize::from(data[1] % 64)
    } else {
        usize::from(u16::from_le_bytes([data[0], data[1]])) % 8001
    };
    let Ok(text) = std::str::from_utf8(&data[2..]) else {
        return;
    };
    let chunks = chunk_markdown(text, limit);
    // What must survive: the non-whitespace characters outside fence lines (an empty code
    // block is never sent, so its fence lines may go), except Markdown markers (a chunk of
    // markers only is never sent: at tiny limits a `>` or `#` may go).
    let content: Vec<char> = text
        .lines()
        .filter(|line| {
            let line = line.trim();
            !(line.starts_with("```") || line.starts_with("~~~"))
        })
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace() && !">-+*_~`#=|".contains(*c))
        .collect();
    if text.trim().is_empty() {
        assert!(chunks.is_empty(), "{limit} {text:?}");
    }
    if !content.is_empty() {
        assert!(!chunks.is_empty(), "{limit} {text:?}");
    }
    for c in &chunks {
        assert!(!c.is_empty(), "empty chunk; limit {limit} text {text:?}");
        assert!(!is_fence_only(c), "fence-only chunk; limit {limit} text {text:?}");
        assert!(!is_marker_only(c), "marker-only chunk; limit {limit} text {text:?}");
        assert!(c.len() <= MAX_MESSAGE_BYTES, "chunk of {} bytes", c.len());
        assert!(
            c.chars().count() <= limit.max(1),
            "chunk of {} chars over limit {limit}: {c:?} from {text:?}",
            c.chars().count()
        );
    }
    // Every non-whitespace character outside fence lines survives, in order.
    let mut out = chunks
        .iter()
        .flat_map(|c| c.chars())
        .filter(|c| !c.is_whitespace());
    for ch in content {
        assert!(
            out.by_ref().any(|o| o == ch),
            "lost {ch:?}; limit {limit} text {text:?} chunks {chunks:?}"
        );
    }
});
