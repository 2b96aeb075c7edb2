//! The two kinds of failure a config can have: it cannot be read or parsed at all
//! ([`ConfigError`]), or it parses but some keys are wrong ([`ConfigIssue`], collected so the user
//! sees every problem at once).

use std::fmt;
use std::path::PathBuf;

/// One problem with one key of the config, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key path, e.g. `channels.webex.mode` (array elements as `allowFrom[1]`).
    pub path: String,
    /// 1-based line of the key in the config file, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the key, when known.
    pub column: Option<usize>,
    /// What is wrong. Never contains a secret value.
    pub message: String,
    /// How to fix it, when there is something specific to say.
    pub fix: Option<String>,
}

impl ConfigIssue {
    /// An issue without a location.
    pub fn new(path: impl Into<String>, message: impl Into<String>, fix: Option<String>) -> Self {
        Self {
            path: path.into(),
            line: None,
            column: None,
            message: message.into(),
            fix,
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        };
        f.write_str(path)?;
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, " (line {line}, column {column})")?,
            (Some(line), None) => write!(f, " (line {line})")?,
            _ => {}
        }
        write!(f, ": {}", self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

/// Orders issues as they appear in the file (by line, then column); issues without a location
/// keep their relative order and come last.
pub fn sort_issues(issues: &mut [ConfigIssue]) {
    issues.sort_by_key(|i| (i.line.is_none(), i.line, i.column));
}

/// Renders a list of issues, one per paragraph, in the order given.
pub fn render_issues(issues: &[ConfigIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn invalid_summary(issues: &[ConfigIssue]) -> String {
    let n = issues.len();
    let noun = if n == 1 { "problem" } else { "problems" };
    format!("the config has {n} {noun}:\n{}", render_issues(issues))
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The config path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A config path given explicitly (`--config` or `MOLTBOT_CONFIG_PATH`) does not exist.
    #[error(
        "config file {} does not exist (it was given with --config or MOLTBOT_CONFIG_PATH): \
         check the path, or create the file (an empty file is a valid config)",
        path.display()
    )]
    NotFound {
        /// The config path.
        path: PathBuf,
    },
    /// The file is not valid JSON5.
    #[error("config file {} is not valid JSON5 (line {line}, column {column}): {message}", path.display())]
    Syntax {
        /// The config path.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's description of the error.
        message: String,
    },
    /// The file parses but has problems; every one found is listed.
    #[error("{}", invalid_summary(.0))]
    Invalid(Vec<ConfigIssue>),
}

impl ConfigError {
    /// The issues of an [`ConfigError::Invalid`] error (empty for the other kinds).
    pub fn issues(&self) -> &[ConfigIssue] {
        match self {
            ConfigError::Invalid(issues) => issues,
            _ => &[],
        }
    }
}
