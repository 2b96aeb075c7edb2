//! Short notices of ours, posted instead of asking the agent when asking it makes no sense.
//!
//! None of them is an apology: retrying would not change them. None goes into the session's
//! history (the agent did not write them).

/// The help line: what a bare mention (a message with no text) gets. The `/help` command shows
/// the same text, so this is its one place.
pub fn help_text() -> &'static str {
    HELP_TEXT
}

const HELP_TEXT: &str = "Hi! Write your question in a message and I'll answer it. \
In a space, mention me in the message.";

/// What a message with files and no text gets: files are not read yet.
pub const FILES_NOT_READ: &str = "I can't read attached files yet. \
Please write your question, or paste the part of the file it is about, in a message.";

/// What is posted when the model gave only reasoning and no answer (see
/// [`super::reasoning`]). Nothing is stored in the history for it.
pub const NO_ANSWER: &str = "(The model finished without an answer, only its reasoning. \
Asking in other words may help.)";

/// The notice for a message without text, if it has none: [`FILES_NOT_READ`] when it carries
/// files, otherwise [`help_text`]. `None` when `text` has something other than whitespace (the
/// agent answers it).
pub fn textless_notice(text: &str, has_files: bool) -> Option<&'static str> {
    if !text.trim().is_empty() {
        None
    } else if has_files {
        Some(FILES_NOT_READ)
    } else {
        Some(help_text())
    }
}
