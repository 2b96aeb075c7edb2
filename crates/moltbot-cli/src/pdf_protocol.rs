//! What `moltbot` and its PDF reader `moltbot-pdf` agree on: the PDF goes on the reader's stdin
//! (at most [`MAX_INPUT_BYTES`]), its text comes back as UTF-8 on stdout (at most
//! `MAX_PDF_TEXT_BYTES`, cut on a character boundary) with exit code 0, or the reader exits
//! with [`EXIT_UNREADABLE`] and the parser's error on stderr.
//!
//! Included by both binaries (`mod pdf_protocol;` in `moltbot`, `#[path]` in `moltbot-pdf`), so
//! it holds constants only: the parser itself stays out of `moltbot`.

/// Largest PDF read for its text: 32 MiB, the PDF limit of OpenAI's and Anthropic's APIs.
pub const MAX_INPUT_BYTES: usize = 32 * 1024 * 1024;

/// The reader's exit code for a PDF the parser refused (malformed, encrypted, too large).
pub const EXIT_UNREADABLE: u8 = 3;
