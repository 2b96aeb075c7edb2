//! Reading the config file: JSON5 syntax, `${VAR}` substitution, key positions and the core
//! sections. Channel sections are validated by their plugins against the same [`LoadedConfig`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::core::CoreConfig;
use super::error::{sort_issues, ConfigError, ConfigIssue};
use super::substitute::substitute;
use super::syntax::{parse_with_spans, Spans, SyntaxError};

/// A parsed config file: its text, its value after `${VAR}` substitution, and the typed core
/// sections. Build one with [`load`], [`load_lenient`], [`parse`] or [`parse_lenient`].
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// Where the config was read from (or would have been).
    pub path: PathBuf,
    /// False when the file did not exist; the config is then empty (`{}`).
    pub existed: bool,
    /// The file's text (empty when it did not exist).
    pub source: String,
    /// The whole config after `${VAR}` substitution (an object).
    pub value: Value,
    /// The typed core sections (`plugins`, `agents`, `models`, `gateway`, `channels`).
    pub core: CoreConfig,
    spans: Spans,
    unresolved: BTreeSet<String>,
}

impl LoadedConfig {
    /// The 1-based (line, column) where `key_path` (e.g. `channels.webex.mode`, or
    /// `channels.webex.allowFrom[1]` for an array element) is written, if it is in the file.
    pub fn locate(&self, key_path: &str) -> Option<(usize, usize)> {
        self.spans.get(key_path)
    }

    /// True when the string at `key_path` still holds a `${...}` that could not be substituted
    /// (an unset or empty variable, or a malformed reference). That is already an issue, so
    /// validators skip the key rather than report the same cause again.
    pub fn is_unresolved(&self, key_path: &str) -> bool {
        self.unresolved.contains(key_path)
    }

    /// An issue about `key_path`, located at the key, or failing that at its nearest ancestor
    /// that is in the file (so "missing `webhook.url`" points at the `webhook` section).
    pub fn issue(&self, key_path: &str, message: &str, fix: Option<&str>) -> ConfigIssue {
        let mut probe = Some(key_path);
        let mut at = None;
        while let Some(p) = probe {
            if let Some(pos) = self.locate(p) {
                at = Some(pos);
                break;
            }
            probe = parent_path(p);
        }
        self.issue_at(key_path, at, message, fix)
    }

    /// An issue about `key_path` located where `near_path` is written (e.g. a missing
    /// `webhook.url` reported at the `mode` that requires it); falls back like [`Self::issue`].
    pub fn issue_near(
        &self,
        key_path: &str,
        near_path: &str,
        message: &str,
        fix: Option<&str>,
    ) -> ConfigIssue {
        match self.locate(near_path) {
            Some(pos) => self.issue_at(key_path, Some(pos), message, fix),
            None => self.issue(key_path, message, fix),
        }
    }

    fn issue_at(
        &self,
        key_path: &str,
        at: Option<(usize, usize)>,
        message: &str,
        fix: Option<&str>,
    ) -> ConfigIssue {
        ConfigIssue {
            path: key_path.to_string(),
            line: at.map(|(l, _)| l),
            column: at.map(|(_, c)| c),
            message: message.to_string(),
            fix: fix.map(str::to_string),
        }
    }

    /// The raw section `channels.<channel_id>` (after substitution), if present.
    pub fn channel_section(&self, channel_id: &str) -> Option<&Value> {
        self.value.get("channels")?.get(channel_id)
    }
}

/// `a.b[2].c` -> `a.b[2]` -> `a.b` -> `a` -> `None`.
fn parent_path(path: &str) -> Option<&str> {
    path.rfind(['.', '[']).map(|i| &path[..i])
}

/// The process environment, for callers that have no reason to inject another one.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Loads and validates the config at `path`: JSON5 syntax, `${VAR}` substitution and the core
/// sections. A missing file is an empty config with `existed == false`. Every issue found is
/// returned at once in [`ConfigError::Invalid`].
pub fn load(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<LoadedConfig, ConfigError> {
    let (cfg, issues) = load_lenient(path, env)?;
    finish(cfg, issues)
}

/// Like [`load`], but returns the config together with its issues instead of failing on them,
/// so a caller can add a plugin's issues and report everything together. Unreadable files and
/// syntax errors still fail.
pub fn load_lenient(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(LoadedConfig, Vec<ConfigIssue>), ConfigError> {
    let (source, existed) = match read_source(path)? {
        Some(text) => (text, true),
        None => (String::new(), false),
    };
    parse_lenient(path, existed, source, env)
}

/// Reads the config text at `path`: `None` when the file does not exist. Text that is not UTF-8
/// is a [`ConfigError::Syntax`] at the first bad byte.
pub fn read_source(path: &Path) -> Result<Option<String>, ConfigError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(err) => Err(syntax_error(
            path,
            invalid_utf8(err.as_bytes(), err.utf8_error()),
        )),
    }
}

/// The located error for bytes that are not UTF-8 (the column counts the characters before).
fn invalid_utf8(bytes: &[u8], err: std::str::Utf8Error) -> SyntaxError {
    let valid = bytes.get(..err.valid_up_to()).unwrap_or_default();
    let text = std::str::from_utf8(valid).unwrap_or_default();
    let (line, column) = super::syntax::position(text, text.len());
    let byte = bytes.get(err.valid_up_to()).copied().unwrap_or_default();
    SyntaxError {
        line,
        column,
        message: format!(
            "the file is not UTF-8 text (byte 0x{byte:02X} here): save it as UTF-8 in your editor"
        ),
    }
}

/// Parses config text as if read from `path` (which is only used in messages).
pub fn parse(
    path: &Path,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<LoadedConfig, ConfigError> {
    let (cfg, issues) = parse_lenient(path, true, source.to_string(), env)?;
    finish(cfg, issues)
}

fn finish(cfg: LoadedConfig, issues: Vec<ConfigIssue>) -> Result<LoadedConfig, ConfigError> {
    if issues.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigError::Invalid(issues))
    }
}

/// Parses config text, returning the config and its issues. Blank text (only whitespace and
/// comments) is an empty config.
pub fn parse_lenient(
    path: &Path,
    existed: bool,
    source: String,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(LoadedConfig, Vec<ConfigIssue>), ConfigError> {
    let source = match source.strip_prefix('\u{FEFF}') {
        Some(rest) => rest.to_string(),
        None => source,
    };
    let (mut value, spans) = parse_with_spans(&source)
        .map_err(|err| syntax_error(path, err))?
        .unwrap_or_else(|| (Value::Object(serde_json::Map::new()), Spans::default()));
    let mut issues = Vec::new();
    let mut unresolved = BTreeSet::new();
    substitute(&mut value, "", env, &mut issues, &mut unresolved);
    let mut cfg = LoadedConfig {
        path: path.to_path_buf(),
        existed,
        source,
        value,
        core: CoreConfig::default(),
        spans,
        unresolved,
    };
    // Substitution issues were made before the spans existed; locate them now.
    let mut issues: Vec<ConfigIssue> = issues
        .into_iter()
        .map(|i| cfg.issue(&i.path, &i.message, i.fix.as_deref()))
        .collect();
    cfg.core = CoreConfig::from_loaded(&cfg, &mut issues);
    sort_issues(&mut issues);
    Ok((cfg, issues))
}

fn syntax_error(path: &Path, err: SyntaxError) -> ConfigError {
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line: err.line,
        column: err.column,
        message: err.message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_paths_walk_up_through_arrays() {
        assert_eq!(parent_path("a.b[2].c"), Some("a.b[2]"));
        assert_eq!(parent_path("a.b[2]"), Some("a.b"));
        assert_eq!(parent_path("a"), None);
    }
}
