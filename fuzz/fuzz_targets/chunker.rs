//! The markdown chunker: every chunk non-empty, within the char limit and 7439 bytes; text that
//! is not blank gives at least one chunk; no non-whitespace character is lost or reordered
//! (chunks may add fence lines).
//!
//! Input layout: bytes 0-1 choose the limit (byte 0 odd: a small limit 0..=63 from byte 1; even:
//! a little-endian u16 up to 8000), the rest is the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moltbot_webex::chunk::{chunk_markdown, MAX_MESSAGE_BYTES};

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
    assert_eq!(
        chunks.is_empty(),
        text.trim().is_empty(),
        "{limit} {text:?}"
    );
    for c in &chunks {
        assert!(!c.is_empty(), "empty chunk; limit {limit} text {text:?}");
        assert!(c.len() <= MAX_MESSAGE_BYTES, "chunk of {} bytes", c.len());
        assert!(
            c.chars().count() <= limit.max(1),
            "chunk of {} chars over limit {limit}: {c:?} from {text:?}",
            c.chars().count()
        );
    }
    // Every non-whitespace character survives, in order.
    let mut out = chunks
        .iter()
        .flat_map(|c| c.chars())
        .filter(|c| !c.is_whitespace());
    for ch in text.chars().filter(|c| !c.is_whitespace()) {
        assert!(
            out.by_ref().any(|o| o == ch),
            "lost {ch:?}; limit {limit} text {text:?} chunks {chunks:?}"
        );
    }
});
