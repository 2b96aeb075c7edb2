//! Text-preserving edits of a JSON5 config, for commands that change one setting (such as
//! `moltbot plugins install` setting `plugins.entries.<id>.enabled`).
//!
//! Re-serializing the parsed value would drop the user's comments and formatting, so the edit is
//! made on `jsonc-parser`'s concrete syntax tree, which keeps every comment, blank line and comma:
//! an existing value is replaced in place; missing keys are appended to the deepest existing
//! object, one member per line, with the file's indentation, line endings and trailing-comma
//! habit. New keys are written unquoted unless the file quotes its first key (so a plain JSON file
//! stays JSON). An object that gains a key is laid out one member per line if it was on one line,
//! and so are the objects around it.

use jsonc_parser::cst::{CstInputValue, CstObject, CstObjectProp, CstRootNode, ObjectPropName};
use serde_json::Value;

use super::syntax::{options, parse_json5, SyntaxError};

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
    /// (A `null` on the way is replaced by an object.)
    #[error("{}", not_an_object_message(path, blocking))]
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

impl From<SyntaxError> for EditError {
    fn from(err: SyntaxError) -> Self {
        EditError::Syntax {
            line: err.line,
            column: err.column,
            message: err.message,
        }
    }
}

/// Sets the boolean at `path` (e.g. `["plugins", "entries", "webex", "enabled"]`) in JSON5 text,
/// changing as little text as possible. Blank text (only whitespace and comments) gets an object
/// holding just that setting after its comments.
pub fn set_json5_bool(source: &str, path: &[&str], value: bool) -> Result<String, EditError> {
    if path.is_empty() {
        return Err(EditError::EmptyPath);
    }
    // A byte order mark stays where it is; the parser does not take it.
    let (bom, source) = match source.strip_prefix('\u{FEFF}') {
        Some(rest) => ("\u{FEFF}", rest),
        None => ("", source),
    };
    let newline = if source.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    // Blank text (only whitespace and comments) gets an empty object after its comments.
    let blank = parse_json5(source)?.is_none();
    let text = match source.trim_end() {
        _ if !blank => source.to_string(),
        "" => "{}".to_string(),
        kept => format!("{kept}{newline}{{}}"),
    };
    let root = CstRootNode::parse(&text, &options()).map_err(|_| unverified(path))?;
    let quote_keys = first_key_is_double_quoted(&root);
    let mut object = root
        .value()
        .and_then(|node| node.as_object())
        .ok_or_else(|| not_an_object(path, 0))?;
    let mut outer: Vec<CstObject> = Vec::new();
    for (i, key) in path.iter().enumerate() {
        let leaf = i + 1 == path.len();
        // JSON5 keeps the last of duplicate keys, so that is the one to edit.
        let existing = object
            .properties()
            .into_iter()
            .rev()
            .find(|p| p.decoded_name().as_deref() == Some(*key));
        let prop = match existing {
            Some(prop) if leaf => {
                prop.set_value(CstInputValue::Bool(value));
                break;
            }
            // `key: null` means nothing is set: it becomes the object the path needs.
            Some(prop) if prop.value().is_some_and(|v| v.as_null_keyword().is_some()) => {
                prop.set_value(CstInputValue::Object(Vec::new()));
                prop
            }
            Some(prop) => prop,
            None => {
                // The CST puts a new member on its own line: lay the objects around it out the
                // same way rather than leave `{ a: {` half on one line.
                for o in outer.iter().chain(Some(&object)) {
                    o.ensure_multiline();
                }
                let new = if leaf {
                    CstInputValue::Bool(value)
                } else {
                    CstInputValue::Object(Vec::new())
                };
                let prop = object.append(key, new);
                if !quote_keys {
                    unquote_name(&prop, key);
                }
                if leaf {
                    break;
                }
                prop
            }
        };
        let inner = prop
            .object_value()
            .ok_or_else(|| not_an_object(path, i + 1))?;
        outer.push(std::mem::replace(&mut object, inner));
    }
    let mut out = root.to_string();
    if blank {
        out.push_str(newline);
    }
    // Read the result back: the edit must parse and hold the value, or we refuse it.
    let parsed = parse_json5(&out).ok().flatten();
    let mut at = parsed.as_ref();
    for key in path {
        at = at.and_then(|v| v.get(*key));
    }
    if at.and_then(Value::as_bool) == Some(value) {
        Ok(format!("{bom}{out}"))
    } else {
        Err(unverified(path))
    }
}

fn not_an_object_message(path: &str, blocking: &str) -> String {
    if blocking.is_empty() {
        format!(
            "cannot set `{path}`: the config must be an object `{{ ... }}`; wrap the settings in \
             {{ ... }} and run the command again"
        )
    } else {
        format!(
            "cannot set `{path}`: `{blocking}` is not an object; change it to an object \
             `{{ ... }}` (or remove it) and run the command again"
        )
    }
}

fn unverified(path: &[&str]) -> EditError {
    EditError::Unverified {
        path: path.join("."),
    }
}

fn not_an_object(path: &[&str], depth: usize) -> EditError {
    EditError::NotAnObject {
        path: path.join("."),
        blocking: path[..depth].join("."),
    }
}

/// True when the root object's first key is written in double quotes (a plain JSON file).
fn first_key_is_double_quoted(root: &CstRootNode) -> bool {
    let first = root
        .object_value()
        .and_then(|o| o.properties().into_iter().next());
    matches!(
        first.and_then(|p| p.name()),
        Some(ObjectPropName::String(s)) if s.raw_value().starts_with('"')
    )
}

/// Writes the name of a property the CST just added (always quoted) bare, when it is an
/// identifier.
fn unquote_name(prop: &CstObjectProp, key: &str) {
    let mut chars = key.chars();
    let ident = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if let (true, Some(ObjectPropName::String(name))) = (ident, prop.name()) {
        name.set_raw_value(key.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &[&str] = &["plugins", "entries", "webex", "enabled"];

    #[test]
    fn inline_objects_on_the_way_are_laid_out_one_member_per_line() {
        let out = set_json5_bool(
            "{ plugins: { entries: { a: { enabled: true } } } }",
            PATH,
            true,
        )
        .unwrap();
        assert_eq!(
            out,
            "{\n  plugins: {\n    entries: {\n      a: { enabled: true },\n      webex: {\n        enabled: true\n      }\n    }\n  }\n}"
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
    fn keys_that_are_not_identifiers_stay_quoted() {
        let out = set_json5_bool("{}", &["a-b", "c"], true).unwrap();
        assert_eq!(out, "{\n  \"a-b\": {\n    c: true\n  }\n}");
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
