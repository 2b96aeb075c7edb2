//! `${VAR}` substitution inside config string values.
//!
//! Runs after parsing, on the value tree, so it never changes the JSON5 structure and a variable's
//! content needs no escaping. `$${VAR}` stands for the literal text `${VAR}`. Text that does not
//! form a reference (`$HOME`, `${}`, `${not a name}`) is left alone. The environment is passed in
//! as a function so tests never mutate the process environment.

use serde_json::Value;

use super::error::ConfigIssue;
use super::syntax::join_path;

/// Replaces every `${VAR}` in the strings of `value`. Each unset variable becomes an issue naming
/// the key path and the variable, and its reference is left in place.
pub(crate) fn substitute(
    value: &mut Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    issues: &mut Vec<ConfigIssue>,
) {
    match value {
        Value::String(s) => {
            if s.contains("${") {
                let (out, missing) = substitute_str(s, env);
                *s = out;
                for var in missing {
                    issues.push(ConfigIssue::new(
                        path,
                        format!("environment variable `{var}` is not set"),
                        Some(format!(
                            "set {var} in the environment, or replace `${{{var}}}` in the config \
                             (write `$${{{var}}}` for the literal text)"
                        )),
                    ));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute(item, &format!("{path}[{i}]"), env, issues);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                substitute(item, &join_path(path, key), env, issues);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Substitutes one string; returns the result and the names of unset variables (in order, once
/// each).
pub(crate) fn substitute_str(
    input: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> (String, Vec<String>) {
    let mut out = String::with_capacity(input.len());
    let mut missing: Vec<String> = Vec::new();
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        // `$${NAME}` -> literal `${NAME}`.
        if let Some(esc) = tail.strip_prefix("$").filter(|t| t.starts_with("${")) {
            if let Some(len) = reference_len(esc) {
                out.push_str(&esc[..len]);
                rest = &esc[len..];
                continue;
            }
        }
        match reference_len(tail) {
            Some(len) => {
                let name = &tail[2..len - 1];
                match env(name) {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push_str(&tail[..len]);
                        if !missing.iter().any(|m| m == name) {
                            missing.push(name.to_string());
                        }
                    }
                }
                rest = &tail[len..];
            }
            None => {
                out.push('$');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    (out, missing)
}

/// If `s` starts with `${NAME}` (NAME = `[A-Za-z_][A-Za-z0-9_]*`), the byte length of it.
fn reference_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix("${")?;
    let end = body.find('}')?;
    let name = &body[..end];
    let mut chars = name.chars();
    let first = chars.next()?;
    let valid = (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some(end + 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn replaces_set_variables_and_reports_unset_ones() {
        let (out, missing) = substitute_str("x-${A}-${B}-${A}-${B}", &env);
        assert_eq!(out, "x-alpha-${B}-alpha-${B}");
        assert_eq!(missing, ["B"]);
    }

    #[test]
    fn escapes_and_non_references_are_literal() {
        let (out, missing) = substitute_str("$${A} $A ${} ${1X} ${A b} $ ${EMPTY}|", &env);
        assert_eq!(out, "${A} $A ${} ${1X} ${A b} $ |");
        assert!(missing.is_empty());
    }
}
