//! `${VAR}` substitution inside config string values.
//!
//! Runs after parsing, on the value tree, so it never changes the JSON5 structure and a variable's
//! content needs no escaping. A substituted value is never scanned again: a variable holding
//! `${X}` gives the text `${X}`.
//!
//! Rules: `${NAME}` (NAME = letters, digits and `_`, not starting with a digit) is replaced by
//! the variable's value; `$${` is the literal text `${`; any other `${` (`${}`, `${TOK` without
//! its `}`, `${1BAD-NAME}`) is an error saying what is wrong. A `$` not followed by `{` (`$HOME`,
//! `$5`) is literal. An unset or empty variable is an error; its reference stays in the string and
//! the key is marked unresolved so validators do not report the same cause again. The environment
//! is passed in as a function so tests never mutate the process environment.

use std::collections::BTreeSet;

use serde_json::Value;

use super::error::ConfigIssue;
use super::syntax::join_path;

/// How to write a reference, for the fix lines.
const HOW_TO_WRITE: &str =
    "write `${NAME}` (NAME: letters, digits and _, not starting with a digit), or `$${` for a \
     literal `${`";

/// Replaces every `${VAR}` in the strings of `value`. Each problem becomes an issue naming the
/// key path; the key paths of strings with an unresolved reference are added to `unresolved`.
pub(crate) fn substitute(
    value: &mut Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    issues: &mut Vec<ConfigIssue>,
    unresolved: &mut BTreeSet<String>,
) {
    match value {
        Value::String(s) => {
            if s.contains("${") {
                let (out, problems) = substitute_str(s, env);
                *s = out;
                if !problems.is_empty() {
                    unresolved.insert(path.to_string());
                }
                for problem in problems {
                    let (message, fix) = problem.describe();
                    issues.push(ConfigIssue::new(path, message, Some(fix)));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute(item, &format!("{path}[{i}]"), env, issues, unresolved);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                substitute(item, &join_path(path, key), env, issues, unresolved);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// What is wrong with one `${...}` in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// `${NAME}` with `NAME` not in the environment.
    Unset(String),
    /// `${NAME}` with `NAME` set to the empty string.
    Empty(String),
    /// `${}`.
    NoName,
    /// `${` without a closing `}`; holds the name-like text that follows.
    Unclosed(String),
    /// `${...}` whose content is not a variable name.
    BadName(String),
}

impl Problem {
    /// The message and the fix.
    fn describe(&self) -> (String, String) {
        match self {
            Problem::Unset(var) => (
                format!("environment variable `{var}` is not set"),
                format!(
                    "set {var} in the environment, or write the value in place of `${{{var}}}`"
                ),
            ),
            Problem::Empty(var) => (
                format!("environment variable `{var}` is set but empty"),
                format!(
                    "give {var} a value in the environment, or write the value in place of \
                     `${{{var}}}`"
                ),
            ),
            Problem::NoName => (
                "`${}` names no environment variable".to_string(),
                HOW_TO_WRITE.to_string(),
            ),
            Problem::Unclosed(text) if text.is_empty() => (
                "`${` is not followed by a variable name and `}`".to_string(),
                HOW_TO_WRITE.to_string(),
            ),
            Problem::Unclosed(text) => (
                format!("`${{{text}` is not closed: the `}}` is missing"),
                format!("add the `}}`: `${{{text}}}`; or write `$${{` for a literal `${{`"),
            ),
            Problem::BadName(text) => (
                format!("`${{{text}}}` is not a valid environment variable name"),
                HOW_TO_WRITE.to_string(),
            ),
        }
    }
}

/// Substitutes one string; returns the result and its problems (in order, once each).
pub(crate) fn substitute_str(
    input: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> (String, Vec<Problem>) {
    let mut out = String::with_capacity(input.len());
    let mut problems: Vec<Problem> = Vec::new();
    let mut add = |p: Problem| {
        if !problems.contains(&p) {
            problems.push(p);
        }
    };
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        // `$${` -> literal `${`.
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            continue;
        }
        let Some(body) = tail.strip_prefix("${") else {
            out.push('$');
            rest = &tail[1..];
            continue;
        };
        let Some(end) = body.find('}') else {
            let name: String = body
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            add(Problem::Unclosed(name));
            out.push_str(tail);
            rest = "";
            break;
        };
        let name = &body[..end];
        let reference = &tail[..end + 3];
        rest = &body[end + 1..];
        if name.is_empty() {
            add(Problem::NoName);
            out.push_str(reference);
        } else if !is_name(name) {
            add(Problem::BadName(name.to_string()));
            out.push_str(reference);
        } else {
            match env(name) {
                Some(v) if v.is_empty() => {
                    add(Problem::Empty(name.to_string()));
                    out.push_str(reference);
                }
                Some(v) => out.push_str(&v),
                None => {
                    add(Problem::Unset(name.to_string()));
                    out.push_str(reference);
                }
            }
        }
    }
    out.push_str(rest);
    (out, problems)
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            "NESTED" => Some("x${A}y$${B}".into()),
            _ => None,
        }
    }

    #[test]
    fn replaces_set_variables_and_reports_unset_ones() {
        let (out, problems) = substitute_str("x-${A}-${B}-${A}-${B}", &env);
        assert_eq!(out, "x-alpha-${B}-alpha-${B}");
        assert_eq!(problems, [Problem::Unset("B".into())]);
    }

    #[test]
    fn escapes_and_dollars_without_braces_are_literal() {
        let (out, problems) = substitute_str("$${A} $A $5 $ $${ $${1X} $$|", &env);
        assert_eq!(out, "${A} $A $5 $ ${ ${1X} $$|");
        assert!(problems.is_empty());
    }

    #[test]
    fn a_substituted_value_is_not_scanned_again() {
        let (out, problems) = substitute_str("<${NESTED}>", &env);
        assert_eq!(out, "<x${A}y$${B}>");
        assert!(problems.is_empty());
    }

    #[test]
    fn empty_variables_and_malformed_references_are_named() {
        let (_, problems) = substitute_str("${EMPTY} ${} ${1BAD-NAME} ${A b} ${TOK", &env);
        assert_eq!(
            problems,
            [
                Problem::Empty("EMPTY".into()),
                Problem::NoName,
                Problem::BadName("1BAD-NAME".into()),
                Problem::BadName("A b".into()),
                Problem::Unclosed("TOK".into()),
            ]
        );
        let messages: Vec<String> = problems.iter().map(|p| p.describe().0).collect();
        assert_eq!(
            messages,
            [
                "environment variable `EMPTY` is set but empty",
                "`${}` names no environment variable",
                "`${1BAD-NAME}` is not a valid environment variable name",
                "`${A b}` is not a valid environment variable name",
                "`${TOK` is not closed: the `}` is missing",
            ]
        );
    }
}
