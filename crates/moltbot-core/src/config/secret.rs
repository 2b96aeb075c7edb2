//! [`Secret`]: a string that never shows itself in logs, `Debug` output or error messages.

use std::fmt;

/// A secret value such as an API key or bot token. `Debug` and `Display` show at most the first
/// and last four characters (`Y2lz…abcd`); [`Secret::expose`] is the only way to the value.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it (an `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A form safe to print: `Y2lz…abcd` for long values, `…` for short ones (too little would be
    /// left hidden), `(empty)` for none.
    pub fn redacted(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        match chars.len() {
            0 => "(empty)".to_string(),
            n if n >= 16 => {
                let head: String = chars[..4].iter().collect();
                let tail: String = chars[n - 4..].iter().collect();
                format!("{head}…{tail}")
            }
            _ => "…".to_string(),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.redacted())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_middle_of_the_value() {
        let s = Secret::new("Y2lzY29zcGFyazovL3VzL0JPVC9hYmNk");
        assert_eq!(format!("{s:?}"), "Secret(Y2lz…YmNk)");
        assert_eq!(s.to_string(), "Y2lz…YmNk");
        assert_eq!(Secret::new("short").to_string(), "…");
        assert_eq!(Secret::default().to_string(), "(empty)");
    }
}
