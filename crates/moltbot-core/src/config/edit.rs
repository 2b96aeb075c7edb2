//! Text-preserving edits of a JSON5 config, for commands that change one setting (such as
//! `moltbot plugins install` setting `plugins.entries.<id>.enabled`).
//!
//! Re-serializing the parsed value would drop the user's comments and formatting, so the edit is
//! made on the text: an existing value is replaced in place; missing objects and keys are inserted
//! after the last member of the deepest existing object, with that object's indentation, key
//! quoting and comma style, after any comment that ends the line.

use serde_json::Value;

use super::scan::{is_blank, scan, skip_trivia_from, Kind, LineIndex, Node};

/// Why an edit could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EditError {
    /// The text is not valid JSON5, so it is left alone.
    #[error("the config is not valid JSON5 (line {line}, column {column}): {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A key on the way is not an object (e.g. `plugins: []`), so nothing can be put inside it.
    #[error("cannot set `{path}`: `{blocking}` is not an object")]
    NotAnObject {
        /// The full dotted path that was to be set.
        path: String,
        /// The path of the value in the way (empty for the root).
        blocking: String,
    },
    /// The key path was empty.
    #[error("no key path given")]
    EmptyPath,
    /// The edited text did not read back as intended (a bug; the original text is kept).
    #[error("editing `{path}` produced an unexpected result; the file was not changed")]
    Unverified {
        /// The dotted path that was to be set.
        path: String,
    },
}

/// Sets the boolean at `path` (e.g. `["plugins", "entries", "webex", "enabled"]`) in JSON5 text,
/// changing as little text as possible. Blank text gives a new file holding just that setting.
pub fn set_json5_bool(source: &str, path: &[&str], value: bool) -> Result<String, EditError> {
    let literal = if value { "true" } else { "false" };
    let out = set_literal(source, path, literal)?;
    // Read the result back: the edit must parse and hold the value, or we refuse it.
    let parsed: Value = json5::from_str(&out).map_err(|_| unverified(path))?;
    let mut at = &parsed;
    for key in path {
        at = at.get(*key).ok_or_else(|| unverified(path))?;
    }
    if at.as_bool() == Some(value) {
        Ok(out)
    } else {
        Err(unverified(path))
    }
}

fn unverified(path: &[&str]) -> EditError {
    EditError::Unverified {
        path: path.join("."),
    }
}

struct Style {
    unit: String,
    quote_keys: bool,
    newline: &'static str,
}

fn set_literal(source: &str, path: &[&str], literal: &str) -> Result<String, EditError> {
    if path.is_empty() {
        return Err(EditError::EmptyPath);
    }
    let newline = if source.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    if is_blank(source) {
        let style = Style {
            unit: "  ".to_string(),
            quote_keys: false,
            newline,
        };
        let body = render_block(path, literal, "", &style);
        let kept = source.trim_end();
        let sep = if kept.is_empty() { "" } else { newline };
        return Ok(format!("{kept}{sep}{body}{newline}"));
    }
    if let Err(err) = json5::from_str::<Value>(source) {
        let (line, column) = err
            .position()
            .map_or((1, 1), |p| (p.line + 1, p.column + 1));
        return Err(EditError::Syntax {
            line,
            column,
            message: err
                .code()
                .map_or_else(|| err.to_string(), |c| c.to_string()),
        });
    }
    let root = scan(source).ok_or(EditError::Syntax {
        line: 1,
        column: 1,
        message: "could not read the document structure".to_string(),
    })?;
    let index = LineIndex::new(source);
    let style = detect_style(source, &index, &root, newline);
    let mut node = &root;
    for (i, key) in path.iter().enumerate() {
        let Kind::Object(members) = &node.kind else {
            return Err(EditError::NotAnObject {
                path: path.join("."),
                blocking: path[..i].join("."),
            });
        };
        // JSON5 keeps the last of duplicate keys, so that is the one to edit.
        match members.iter().rev().find(|m| m.key == *key) {
            Some(m) if i + 1 == path.len() => {
                return Ok(splice(source, m.value.start, m.value.end, literal));
            }
            Some(m) => node = &m.value,
            None => {
                return Ok(insert_member(
                    source,
                    &index,
                    node,
                    &path[i..],
                    literal,
                    &style,
                ))
            }
        }
    }
    Err(EditError::EmptyPath)
}

fn splice(source: &str, start: usize, end: usize, text: &str) -> String {
    let mut out = String::with_capacity(source.len() + text.len());
    out.push_str(&source[..start]);
    out.push_str(text);
    out.push_str(&source[end..]);
    out
}

fn detect_style(source: &str, index: &LineIndex, root: &Node, newline: &'static str) -> Style {
    let mut style = Style {
        unit: "  ".to_string(),
        quote_keys: false,
        newline,
    };
    if let Kind::Object(members) = &root.kind {
        if let Some(first) = members.first() {
            style.quote_keys = source[first.key_start..].starts_with('"');
            if let Some(indent) = own_line_indent(source, index, first.key_start) {
                if !indent.is_empty() {
                    style.unit = indent.to_string();
                }
            }
        }
    }
    style
}

/// The whitespace before `offset` on its line, if nothing else precedes it there.
fn own_line_indent<'a>(source: &'a str, index: &LineIndex, offset: usize) -> Option<&'a str> {
    let prefix = &source[index.line_start(offset)..offset];
    prefix
        .chars()
        .all(|c| c == ' ' || c == '\t')
        .then_some(prefix)
}

/// The leading whitespace of the line holding `offset`.
fn line_indent<'a>(source: &'a str, index: &LineIndex, offset: usize) -> &'a str {
    let line = &source[index.line_start(offset)..];
    let len = line.len() - line.trim_start_matches([' ', '\t']).len();
    &line[..len]
}

/// From `pos`, skips spaces and comments that end on the same line; returns the end of the line
/// if only those follow, else `pos` itself.
fn end_of_line_after_trivia(source: &str, pos: usize) -> usize {
    let mut p = pos;
    loop {
        let rest = &source[p..];
        let trimmed = rest.trim_start_matches([' ', '\t']);
        p += rest.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with(['\n', '\r', '\u{2028}', '\u{2029}']) {
            return p;
        }
        if trimmed.starts_with("//") {
            return p + trimmed
                .find(['\n', '\r', '\u{2028}', '\u{2029}'])
                .unwrap_or(trimmed.len());
        }
        if let Some(body) = trimmed.strip_prefix("/*") {
            match body.find("*/") {
                Some(end) if !body[..end].contains(['\n', '\r']) => p += end + 4,
                _ => return pos,
            }
        } else {
            return pos;
        }
    }
}

fn render_key(key: &str, style: &Style) -> String {
    let mut chars = key.chars();
    let ident = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ident && !style.quote_keys {
        key.to_string()
    } else {
        serde_json::to_string(key).unwrap_or_else(|_| format!("\"{key}\""))
    }
}

/// `{ k: { k2: literal } }` over several lines, the closing brace at `indent`.
fn render_block(path: &[&str], literal: &str, indent: &str, style: &Style) -> String {
    let Some((first, rest)) = path.split_first() else {
        return literal.to_string();
    };
    let inner = format!("{indent}{}", style.unit);
    format!(
        "{{{nl}{inner}{}: {}{nl}{indent}}}",
        render_key(first, style),
        render_block(rest, literal, &inner, style),
        nl = style.newline,
    )
}

/// `{ k: { k2: literal } }` on one line.
fn render_inline(path: &[&str], literal: &str, style: &Style) -> String {
    match path.split_first() {
        None => literal.to_string(),
        Some((first, rest)) => format!(
            "{{ {}: {} }}",
            render_key(first, style),
            render_inline(rest, literal, style)
        ),
    }
}

/// Inserts `path[0]: <nested objects down to literal>` into the object `node`.
fn insert_member(
    source: &str,
    index: &LineIndex,
    node: &Node,
    path: &[&str],
    literal: &str,
    style: &Style,
) -> String {
    let Kind::Object(members) = &node.kind else {
        return source.to_string();
    };
    let open = node.start;
    let close = node.end.saturating_sub(1);
    let multiline = source[open..close].contains(['\n', '\r']);
    let outer = line_indent(source, index, open);
    let (key, rest) = match path.split_first() {
        Some(split) => split,
        None => return source.to_string(),
    };
    let key = render_key(key, style);
    let nl = style.newline;
    match members.last() {
        Some(last) => {
            let after = skip_trivia_from(source, last.value.end);
            let has_comma = source[after..].starts_with(',');
            if multiline {
                let indent = own_line_indent(source, index, members[0].key_start)
                    .map_or_else(|| format!("{outer}{}", style.unit), str::to_string);
                let anchor = if has_comma { after + 1 } else { last.value.end };
                let at = end_of_line_after_trivia(source, anchor);
                let value = render_block(rest, literal, &indent, style);
                let trailing = if has_comma { "," } else { "" };
                let member = format!("{nl}{indent}{key}: {value}{trailing}");
                let out = splice(source, at, at, &member);
                if has_comma {
                    out
                } else {
                    splice(&out, last.value.end, last.value.end, ",")
                }
            } else {
                let value = render_inline(rest, literal, style);
                if has_comma {
                    splice(source, after + 1, after + 1, &format!(" {key}: {value},"))
                } else {
                    splice(
                        source,
                        last.value.end,
                        last.value.end,
                        &format!(", {key}: {value}"),
                    )
                }
            }
        }
        None => {
            let indent = format!("{outer}{}", style.unit);
            let value = render_block(rest, literal, &indent, style);
            let member = format!("{nl}{indent}{key}: {value}");
            let inner = &source[open + 1..close];
            if multiline {
                let at = end_of_line_after_trivia(source, open + 1);
                splice(source, at, at, &member)
            } else if inner.trim().is_empty() {
                splice(source, open + 1, close, &format!("{member}{nl}{outer}"))
            } else {
                splice(source, close, close, &format!("{member}{nl}{outer}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &[&str] = &["plugins", "entries", "webex", "enabled"];

    #[test]
    fn inline_objects_stay_inline() {
        let out = set_json5_bool(
            "{ plugins: { entries: { a: { enabled: true } } } }",
            PATH,
            true,
        )
        .unwrap();
        assert_eq!(
            out,
            "{ plugins: { entries: { a: { enabled: true }, webex: { enabled: true } } } }"
        );
    }

    #[test]
    fn empty_root_object_expands() {
        assert_eq!(
            set_json5_bool("{}\n", &["a", "b"], false).unwrap(),
            "{\n  a: {\n    b: false\n  }\n}\n"
        );
    }

    #[test]
    fn quoted_keys_and_tabs_are_followed() {
        let src = "{\n\t\"channels\": {}\n}\n";
        let out = set_json5_bool(src, &["plugins", "x"], true).unwrap();
        assert_eq!(
            out,
            "{\n\t\"channels\": {},\n\t\"plugins\": {\n\t\t\"x\": true\n\t}\n}\n"
        );
    }

    #[test]
    fn refuses_non_objects_and_broken_text() {
        assert_eq!(
            set_json5_bool("{ plugins: [] }", PATH, true),
            Err(EditError::NotAnObject {
                path: "plugins.entries.webex.enabled".into(),
                blocking: "plugins".into()
            })
        );
        assert!(matches!(
            set_json5_bool("{ plugins: ", PATH, true),
            Err(EditError::Syntax { line: 1, .. })
        ));
        assert_eq!(set_json5_bool("{}", &[], true), Err(EditError::EmptyPath));
    }
}
