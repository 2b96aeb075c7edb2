//! Helpers every config validator uses: unknown keys with "did you mean", and typed field reads
//! that turn a wrong type into a located [`ConfigIssue`] instead of an error that stops at the
//! first problem.
//!
//! Field helpers take the parent object, its key path and the key; an absent key gives `None`
//! with no issue, so callers apply their defaults with `unwrap_or`.

use serde_json::{Map, Value};

use super::error::ConfigIssue;
use super::load::LoadedConfig;
use super::syntax::join_path;

/// The candidate closest to `name`, if one is close enough to be a plausible typo: same name in
/// another case, a small edit distance, or a name that starts with what was typed.
pub fn suggest(name: &str, candidates: &[&str]) -> Option<String> {
    let lower = name.to_lowercase();
    let max_distance = match lower.chars().count() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &str)> = None;
    for &candidate in candidates {
        let cand = candidate.to_lowercase();
        let score = if cand == lower {
            0
        } else {
            let d = strsim::damerau_levenshtein(&lower, &cand);
            if d <= max_distance {
                d
            } else if lower.len() >= 3 && (cand.starts_with(&lower) || lower.starts_with(&cand)) {
                max_distance + 1
            } else if lower.len() >= 4 && cand.contains(&lower) {
                max_distance + 2
            } else {
                continue;
            }
        };
        if best.is_none_or(|(s, _)| score < s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// Reports every key of the object `value` (at `key_path`) that is not in `allowed`, with the
/// nearest valid name. Does nothing if `value` is not an object.
pub fn check_known_keys(
    cfg: &LoadedConfig,
    value: &Value,
    key_path: &str,
    allowed: &[&str],
    issues: &mut Vec<ConfigIssue>,
) {
    if let Some(map) = value.as_object() {
        check_known_keys_in(cfg, map, key_path, allowed, issues);
    }
}

/// [`check_known_keys`] for an object already in hand.
pub fn check_known_keys_in(
    cfg: &LoadedConfig,
    map: &Map<String, Value>,
    key_path: &str,
    allowed: &[&str],
    issues: &mut Vec<ConfigIssue>,
) {
    for key in map.keys() {
        if allowed.contains(&key.as_str()) {
            continue;
        }
        let fix = match suggest(key, allowed) {
            Some(s) => format!("did you mean `{s}`?"),
            None if allowed.is_empty() => "remove it".to_string(),
            None => format!("remove it; valid keys here: {}", allowed.join(", ")),
        };
        issues.push(cfg.issue(
            &join_path(key_path, key),
            &format!("unknown key `{key}`"),
            Some(&fix),
        ));
    }
}

/// "a string", "a number", ... for messages.
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn type_issue(
    cfg: &LoadedConfig,
    path: &str,
    expected: &str,
    found: &Value,
    fix: &str,
) -> ConfigIssue {
    cfg.issue(
        path,
        &format!("expected {expected}, found {}", describe(found)),
        Some(fix),
    )
}

/// `value` as an object, or an issue at `key_path`.
pub fn expect_object<'a>(
    cfg: &LoadedConfig,
    value: &'a Value,
    key_path: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<&'a Map<String, Value>> {
    match value.as_object() {
        Some(map) => Some(map),
        None => {
            issues.push(type_issue(
                cfg,
                key_path,
                "an object",
                value,
                "use an object: { key: value, ... }",
            ));
            None
        }
    }
}

/// The object at `obj[key]` (absent: `None`; wrong type: issue).
pub fn field_object<'a>(
    cfg: &LoadedConfig,
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<&'a Map<String, Value>> {
    let value = obj.get(key)?;
    expect_object(cfg, value, &join_path(parent, key), issues)
}

/// The boolean at `obj[key]`.
pub fn field_bool(
    cfg: &LoadedConfig,
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<bool> {
    let value = obj.get(key)?;
    match value {
        Value::Bool(b) => Some(*b),
        other => {
            issues.push(type_issue(
                cfg,
                &join_path(parent, key),
                "a boolean",
                other,
                "use true or false, without quotes",
            ));
            None
        }
    }
}

/// The string at `obj[key]`.
pub fn field_string(
    cfg: &LoadedConfig,
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<String> {
    let value = obj.get(key)?;
    if cfg.is_unresolved(&join_path(parent, key)) {
        return None;
    }
    match value {
        Value::String(s) => Some(s.clone()),
        other => {
            issues.push(type_issue(
                cfg,
                &join_path(parent, key),
                "a string",
                other,
                "put the value in quotes",
            ));
            None
        }
    }
}

/// The whole number at `obj[key]` within `range` (`5` and `5.0` both accepted); anything else
/// is one issue stating the range, with `fix`.
pub fn field_u64_in(
    cfg: &LoadedConfig,
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
    range: std::ops::RangeInclusive<u64>,
    fix: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<u64> {
    let value = obj.get(key)?;
    let whole = value
        .as_u64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64)
                .map(|f| f as u64)
        })
        .filter(|n| range.contains(n));
    if whole.is_none() {
        let expected = format!("a whole number from {} to {}", range.start(), range.end());
        issues.push(range_issue(
            cfg,
            &join_path(parent, key),
            &expected,
            value,
            fix,
        ));
    }
    whole
}

/// The number at `obj[key]` within `range` (fractions allowed); anything else is one issue
/// stating the range, with `fix`. The result is finite, so it converts to a `Duration` safely.
pub fn field_f64_in(
    cfg: &LoadedConfig,
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
    range: std::ops::RangeInclusive<f64>,
    fix: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<f64> {
    let value = obj.get(key)?;
    let number = value
        .as_f64()
        .filter(|f| f.is_finite() && range.contains(f));
    if number.is_none() {
        let expected = format!("a number from {} to {}", range.start(), range.end());
        issues.push(range_issue(
            cfg,
            &join_path(parent, key),
            &expected,
            value,
            fix,
        ));
    }
    number
}

/// "expected {expected}, found {value}": a number shown as read, anything else by its kind.
fn range_issue(
    cfg: &LoadedConfig,
    path: &str,
    expected: &str,
    value: &Value,
    fix: &str,
) -> ConfigIssue {
    let found = match value {
        Value::Number(n) => n.to_string(),
        other => describe(other).to_string(),
    };
    cfg.issue(
        path,
        &format!("expected {expected}, found {found}"),
        Some(fix),
    )
}

/// The list of strings at `obj[key]`; every non-string element is its own issue (`key[i]`).
pub fn field_string_array(
    cfg: &LoadedConfig,
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<Vec<String>> {
    let value = obj.get(key)?;
    let path = join_path(parent, key);
    let Some(items) = value.as_array() else {
        issues.push(type_issue(
            cfg,
            &path,
            "a list of strings",
            value,
            "use a list such as [\"a\", \"b\"]",
        ));
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(_) if cfg.is_unresolved(&format!("{path}[{i}]")) => ok = false,
            Value::String(s) => out.push(s.clone()),
            other => {
                ok = false;
                issues.push(type_issue(
                    cfg,
                    &format!("{path}[{i}]"),
                    "a string",
                    other,
                    "put the value in quotes",
                ));
            }
        }
    }
    ok.then_some(out)
}

/// The string at `obj[key]`, which must be one of `allowed`; otherwise an issue listing them.
pub fn field_enum(
    cfg: &LoadedConfig,
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
    allowed: &[&str],
    issues: &mut Vec<ConfigIssue>,
) -> Option<String> {
    if cfg.is_unresolved(&join_path(parent, key)) {
        return None;
    }
    let value = match obj.get(key)? {
        Value::String(s) => s,
        other => {
            issues.push(enum_type_issue(
                cfg,
                &join_path(parent, key),
                other,
                allowed,
            ));
            return None;
        }
    };
    if allowed.contains(&value.as_str()) {
        return Some(value.clone());
    }
    issues.push(enum_issue(cfg, &join_path(parent, key), value, allowed));
    None
}

fn quoted_list(allowed: &[&str]) -> String {
    allowed
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The issue for a non-string where one of `allowed` was expected.
pub fn enum_type_issue(
    cfg: &LoadedConfig,
    path: &str,
    found: &Value,
    allowed: &[&str],
) -> ConfigIssue {
    let list = quoted_list(allowed);
    cfg.issue(
        path,
        &format!("expected one of: {list}, found {}", describe(found)),
        Some(&format!("use one of: {list} (in quotes)")),
    )
}

/// The issue for a string that is not one of `allowed`.
pub fn enum_issue(cfg: &LoadedConfig, path: &str, found: &str, allowed: &[&str]) -> ConfigIssue {
    let list = quoted_list(allowed);
    let shown: String = found.chars().take(40).collect();
    let fix = match suggest(found, allowed) {
        Some(s) => format!("did you mean \"{s}\"? valid values: {list}"),
        None => format!("use one of: {list}"),
    };
    cfg.issue(
        path,
        &format!("\"{shown}\" is not a valid value; expected one of: {list}"),
        Some(&fix),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos_case_and_prefixes() {
        let keys = ["dmPolicy", "allowFrom", "groupPolicy", "intervalSeconds"];
        assert_eq!(suggest("dmPolicyy", &keys).as_deref(), Some("dmPolicy"));
        assert_eq!(suggest("allowfrom", &keys).as_deref(), Some("allowFrom"));
        assert_eq!(
            suggest("interval", &keys).as_deref(),
            Some("intervalSeconds")
        );
        assert_eq!(suggest("grupPolicy", &keys).as_deref(), Some("groupPolicy"));
        assert_eq!(suggest("zzz", &keys), None);
        assert_eq!(suggest("", &keys), None);
    }
}
