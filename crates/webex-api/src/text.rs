//! Message size helpers. Webex refuses `text`/`markdown` over 7439 bytes; the markdown-aware
//! chunker lives in the channel plugin and uses these primitives.

/// The largest `text` or `markdown` Webex accepts, in bytes (OpenAPI: "The maximum message length
/// is 7439 bytes").
pub const MAX_MESSAGE_BYTES: usize = 7439;

/// Whether `text` fits in one Webex message.
pub fn fits(text: &str) -> bool {
    text.len() <= MAX_MESSAGE_BYTES
}

/// The largest index `<= max_bytes` that is a char boundary of `text`.
pub fn floor_char_boundary(text: &str, max_bytes: usize) -> usize {
    if max_bytes >= text.len() {
        return text.len();
    }
    let mut index = max_bytes;
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Splits `text` into a head of at most `max_bytes` bytes, cut on a char boundary, and the rest.
/// If the first character alone is longer than `max_bytes` the head is empty.
pub fn split_at_char_boundary(text: &str, max_bytes: usize) -> (&str, &str) {
    text.split_at(floor_char_boundary(text, max_bytes))
}

/// `text` cut to at most `max_bytes` bytes on a char boundary.
pub fn truncate_to_bytes(text: &str, max_bytes: usize) -> &str {
    split_at_char_boundary(text, max_bytes).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fits_at_the_exact_limit() {
        assert!(fits(&"a".repeat(MAX_MESSAGE_BYTES)));
        assert!(!fits(&"a".repeat(MAX_MESSAGE_BYTES + 1)));
    }

    #[test]
    fn never_splits_inside_a_character() {
        let text = "aé€😀";
        assert_eq!(split_at_char_boundary(text, 2), ("a", "é€😀"));
        assert_eq!(split_at_char_boundary(text, 3), ("aé", "€😀"));
        assert_eq!(split_at_char_boundary(text, 100), (text, ""));
        assert_eq!(split_at_char_boundary("😀", 3), ("", "😀"));
    }

    proptest! {
        #[test]
        fn split_is_lossless_and_bounded(text in "\\PC{0,200}", max in 0usize..300) {
            let (head, tail) = split_at_char_boundary(&text, max);
            prop_assert!(head.len() <= max);
            prop_assert_eq!(format!("{head}{tail}"), text.clone());
            if let Some(c) = tail.chars().next() {
                prop_assert!(head.len() + c.len_utf8() > max);
            }
        }
    }
}
