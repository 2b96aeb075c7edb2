//! Helpers for errors that keep their evidence all the way to the log line.
//!
//! Library errors here follow the usual Rust convention: an error's `Display` says what failed
//! at its own level, and the lower-level cause is reachable through
//! [`source()`](std::error::Error::source), not repeated in the text. A log line therefore prints
//! the whole chain with [`chain`] (`send failed: API error 500: boom (trackingId T1): connection
//! reset`), never only the outermost part.

use std::error::Error;
use std::fmt;

/// A boxed error from any layer, as carried by [`crate::gateway::ChannelError`].
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Displays an error followed by each of its sources, `: `-separated.
///
/// A source whose text the chain already contains is skipped, so errors that both quote their
/// cause in `Display` and return it from `source()` (reqwest, `#[error("..: {0}")]` with
/// `#[source]`) do not print it twice.
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(&'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.0.to_string();
        let mut source = self.0.source();
        while let Some(cause) = source {
            let part = cause.to_string();
            if !part.is_empty() && !text.contains(&part) {
                text.push_str(": ");
                text.push_str(&part);
            }
            source = cause.source();
        }
        f.write_str(&text)
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The error and all its sources, for a log field (`error = %chain(&err)`) or a stored reason.
pub fn chain<'a>(err: &'a (dyn Error + 'static)) -> ErrorChain<'a> {
    ErrorChain(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle quotes its cause: {0}")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn prints_every_source_once() {
        let err = Outer(Middle(std::io::Error::other("disk on fire")));
        assert_eq!(
            chain(&err).to_string(),
            "outer: middle quotes its cause: disk on fire"
        );
    }

    #[test]
    fn an_error_without_source_is_its_display() {
        let err = std::io::Error::other("alone");
        assert_eq!(chain(&err).to_string(), "alone");
        assert_eq!(format!("{:?}", chain(&err)), "alone");
    }
}
