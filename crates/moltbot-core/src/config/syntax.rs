//! Reading JSON5 text with `jsonc-parser`: the value, where every key is written, and syntax
//! errors with their line and column.
//!
//! The parser is dprint's `jsonc-parser` with the JSON5 extensions switched on, except two
//! things it would accept that JSON5 does not, which are refused here with a located error: a
//! string running past the end of its line (usually a missing closing quote), and NaN or
//! Infinity (valid JSON5, but no setting takes them and a JSON value cannot hold them). The
//! value comes from the parser's serde path, which refuses numbers out of range instead of
//! turning them into `null`; key positions come from its syntax tree.

use std::collections::BTreeMap;
use std::fmt;

use jsonc_parser::ast;
use jsonc_parser::common::Ranged;
use jsonc_parser::errors::{ParseError, ParseErrorKind};
use jsonc_parser::tokens::Token;
use jsonc_parser::{CollectOptions, ParseOptions, Scanner, ScannerOptions};
use serde_json::Value;

/// The deepest nesting of objects and lists accepted (the same for both). The parser's own limit
/// counts an object member as two levels, so this is checked first to treat both alike.
pub const MAX_NESTING_DEPTH: usize = 256;

/// Where and why JSON5 text could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong, without the position.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for SyntaxError {}

/// The parser settings: JSON5 (comments, unquoted keys, single quotes, trailing commas, hex,
/// `+1`, `.5`, `5.`, JSON5 escapes and line continuations), but a missing comma is an error.
pub(crate) fn options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_loose_object_property_names: true,
        allow_trailing_commas: true,
        allow_missing_commas: false,
        allow_single_quoted_strings: true,
        allow_hexadecimal_numbers: true,
        allow_unary_plus_numbers: true,
        allow_bare_decimal_point_numbers: true,
        allow_non_finite_numbers: true,
        allow_extended_string_escapes: true,
    }
}

/// Parses JSON5 text into a value; `None` when it holds only whitespace and comments.
pub fn parse_json5(source: &str) -> Result<Option<Value>, SyntaxError> {
    Ok(parse_with_spans(source)?.map(|(value, _)| value))
}

/// [`parse_json5`] plus the position of every key; `None` for blank text.
pub(crate) fn parse_with_spans(source: &str) -> Result<Option<(Value, Spans)>, SyntaxError> {
    // A byte order mark is not part of the text (editors do not show it in the columns).
    let source = source.strip_prefix('\u{FEFF}').unwrap_or(source);
    check_tokens(source)?;
    let options = options();
    let tree = jsonc_parser::parse_to_ast(source, &CollectOptions::default(), &options)
        .map_err(|err| located(source, &err))?;
    let Some(root) = tree.value else {
        return Ok(None);
    };
    let value = jsonc_parser::parse_to_serde_value(source, &options)
        .map_err(|err| located(source, &err))?;
    let mut spans = Spans::default();
    spans.walk(&LineIndex::new(source), &root, "");
    Ok(Some((value, spans)))
}

fn located(source: &str, err: &ParseError) -> SyntaxError {
    let (line, column) = LineIndex::new(source).position(err.range().start);
    let token = source.get(err.range().start..err.range().end).unwrap_or("");
    let at = source.get(err.range().start..).unwrap_or("");
    let message = match err.kind() {
        ParseErrorKind::Custom(_) if token.contains("NaN") || token.contains("Infinity") => {
            "NaN and Infinity are not accepted (no setting takes them); write a finite number"
                .to_string()
        }
        ParseErrorKind::Custom(message) if message.contains("out of range") => {
            "number is out of range (a whole number must fit in 64 bits, any number in a 64-bit \
             float): write a smaller number"
                .to_string()
        }
        ParseErrorKind::UnexpectedWord => format!(
            "unexpected word `{token}`: put text in quotes; true, false and null are lower case"
        ),
        ParseErrorKind::UnexpectedToken | ParseErrorKind::UnexpectedTokenInObject
            if at.starts_with('\\') =>
        {
            let word: String = at
                .chars()
                .take_while(|c| !c.is_whitespace() && !":,{}[]'\"".contains(*c))
                .collect();
            format!(
                "an escape such as `\\u0061` is only allowed inside quotes: quote the key or \
                 value (\"{word}\")"
            )
        }
        // The string error kinds are not public: told apart by their text.
        ParseErrorKind::String(kind) if kind.to_string().starts_with("Invalid escape") => {
            "invalid escape: write `\\\\` for a backslash; the escapes are \\n \\t \\r \\b \\f \\v \\0 \
             \\' \\\" \\xHH \\uHHHH (\\1 to \\9 are not allowed)"
                .to_string()
        }
        ParseErrorKind::String(kind) if kind.to_string().contains("hex digits") => format!(
            "{}: write \\xHH or \\uHHHH with hex digits 0-9 and a-f, e.g. \\u00e9",
            lower_first(kind.to_string())
        ),
        ParseErrorKind::NestingDepthExceeded => depth_message(),
        kind => lower_first(kind.to_string()),
    };
    SyntaxError {
        line,
        column,
        message,
    }
}

/// `Expected comma` -> `expected comma`, in the style of the other messages; a first word with
/// more capitals (`NaN`) stays.
fn lower_first(message: String) -> String {
    let first_word = message.split(' ').next().unwrap_or("");
    if first_word.chars().skip(1).any(char::is_uppercase) {
        return message;
    }
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => message,
    }
}

fn depth_message() -> String {
    format!(
        "objects and lists are nested more than {MAX_NESTING_DEPTH} deep: no setting is nested \
         that deep; look for an unclosed {{ or ["
    )
}

/// Checks the parser would let through or report poorly, in one pass over the tokens (a scan
/// error is left for the parser, which reports the same error):
/// - nesting deeper than [`MAX_NESTING_DEPTH`], at the `{` or `[` that goes too deep;
/// - a number with a leading zero (`007`), which the parser reads as two numbers;
/// - a raw line break inside quotes (usually a missing closing quote), at the string's start,
///   where the quote is missing. `\` before the line break (a line continuation) is fine.
fn check_tokens(source: &str) -> Result<(), SyntaxError> {
    let mut scanner = Scanner::new(source, &ScannerOptions::default());
    let mut depth = 0usize;
    let error = |offset: usize, message: String| {
        let (line, column) = LineIndex::new(source).position(offset);
        Err(SyntaxError {
            line,
            column,
            message,
        })
    };
    while let Ok(Some(token)) = scanner.scan() {
        match token {
            Token::OpenBrace | Token::OpenBracket => {
                depth += 1;
                if depth > MAX_NESTING_DEPTH {
                    return error(scanner.token_start(), depth_message());
                }
                continue;
            }
            Token::CloseBrace | Token::CloseBracket => {
                depth = depth.saturating_sub(1);
                continue;
            }
            Token::Number(_) => {
                let start = scanner.token_start();
                let raw = source.get(start..).unwrap_or("");
                let digits = raw.trim_start_matches(['-', '+']);
                let mut chars = digits.chars();
                if chars.next() == Some('0') && chars.next().is_some_and(|c| c.is_ascii_digit()) {
                    let written: String = raw
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.'))
                        .collect();
                    let sign = if raw.starts_with('-') { "-" } else { "" };
                    let body = written.trim_start_matches(['-', '+']);
                    let int_len = body.chars().take_while(char::is_ascii_digit).count();
                    let int = body.get(..int_len).unwrap_or("").trim_start_matches('0');
                    let int = if int.is_empty() { "0" } else { int };
                    let number = format!("{int}{}", body.get(int_len..).unwrap_or(""));
                    return error(
                        start,
                        format!(
                            "a number cannot start with 0 (`{written}`): write `{sign}{number}`, \
                             or put it in quotes if it is text"
                        ),
                    );
                }
                continue;
            }
            Token::String(_) => {}
            _ => continue,
        }
        let start = scanner.token_start();
        let raw = source.get(start..scanner.token_end()).unwrap_or("");
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' {
                // The escaped character; a line continuation may be CRLF.
                if chars.next() == Some('\r') {
                    chars.next_if_eq(&'\n');
                }
            } else if c == '\n' || c == '\r' {
                let (line, column) = LineIndex::new(source).position(start);
                return Err(SyntaxError {
                    line,
                    column,
                    message: "this string is not closed on its line: add the closing quote \
                              (write \\n for a line break inside a string)"
                        .to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Maps byte offsets to 1-based (line, column) pairs, columns counted in characters. Lines end
/// at LF, CRLF (counted once) or a lone CR, as for the parser's own positions.
struct LineIndex<'a> {
    src: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `src`.
    fn new(src: &'a str) -> Self {
        let bytes = src.as_bytes();
        let mut line_starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            let ends_line = b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
            if ends_line {
                line_starts.push(i + 1);
            }
        }
        Self { src, line_starts }
    }

    /// The 1-based line and column of byte `offset`.
    fn position(&self, offset: usize) -> (usize, usize) {
        let line = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = self.src.get(start..offset).map_or(0, |s| s.chars().count()) + 1;
        (line, column)
    }
}

/// The 1-based (line, column) of byte `offset` in `source`.
pub(crate) fn position(source: &str, offset: usize) -> (usize, usize) {
    LineIndex::new(source).position(offset)
}

/// Joins a parent key path and a key: `("channels", "webex")` -> `channels.webex`.
pub fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Key path -> (line, column) of every object key and array element in a source text.
#[derive(Debug, Clone, Default)]
pub(crate) struct Spans {
    map: BTreeMap<String, (usize, usize)>,
}

impl Spans {
    /// Records every key below `node` (at `path`); a later duplicate key wins, as in the value.
    fn walk(&mut self, index: &LineIndex<'_>, node: &ast::Value<'_>, path: &str) {
        match node {
            ast::Value::Object(object) => {
                for prop in &object.properties {
                    let p = join_path(path, prop.name.as_str());
                    self.map
                        .insert(p.clone(), index.position(prop.name.start()));
                    self.walk(index, &prop.value, &p);
                }
            }
            ast::Value::Array(array) => {
                for (i, item) in array.elements.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    self.map.insert(p.clone(), index.position(item.start()));
                    self.walk(index, item, &p);
                }
            }
            _ => {}
        }
    }

    /// The (line, column) of a key path, if it is in the source.
    pub(crate) fn get(&self, path: &str) -> Option<(usize, usize)> {
        self.map.get(path).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(src: &str) -> Spans {
        parse_with_spans(src).unwrap().unwrap().1
    }

    #[test]
    fn records_keys_past_comments_and_strings() {
        let src = "// head {\n{\n  a: 1, /* b: 2 */\n  'c d': \"x } y\",\n  \"e\": [ {f: true}, 2 ],\n}\n";
        let spans = spans(src);
        assert_eq!(spans.get("a"), Some((3, 3)));
        assert_eq!(spans.get("b"), None);
        assert_eq!(spans.get("c d"), Some((4, 3)));
        assert_eq!(spans.get("e"), Some((5, 3)));
        assert_eq!(spans.get("e[0]"), Some((5, 10)));
        assert_eq!(spans.get("e[0].f"), Some((5, 11)));
        assert_eq!(spans.get("e[1]"), Some((5, 21)));
        assert_eq!(spans.map.len(), 6);
    }

    #[test]
    fn counts_columns_in_characters_and_crlf_once() {
        let spans = spans("{\r\n  s: 'héllo', t: 1,\r  u: 2\r\n}");
        assert_eq!(spans.get("s"), Some((2, 3)));
        assert_eq!(spans.get("t"), Some((2, 15)));
        assert_eq!(spans.get("u"), Some((3, 3)));
    }

    #[test]
    fn unescapes_quoted_keys_and_the_last_duplicate_wins() {
        let (value, spans) = parse_with_spans("{\"a\\u0062\": 1, 'it\\'s': 2,\n a: 3, a: 4}")
            .unwrap()
            .unwrap();
        assert_eq!(value, serde_json::json!({"ab": 1, "it's": 2, "a": 4}));
        assert_eq!(spans.get("ab"), Some((1, 2)));
        assert_eq!(spans.get("it's"), Some((1, 16)));
        assert_eq!(spans.get("a"), Some((2, 8)));
    }

    #[test]
    fn blank_text_has_no_value_and_broken_text_is_located() {
        assert_eq!(parse_json5("  // nothing\n /* here */ "), Ok(None));
        assert_eq!(parse_json5("\u{FEFF}"), Ok(None));
        let err = parse_json5("{\n a: ").unwrap_err();
        assert_eq!((err.line, err.column), (2, 5));
        assert_eq!(
            parse_json5("{ a: 1 } x").unwrap_err().to_string(),
            "line 1, column 10: text cannot contain more than one JSON value"
        );
    }

    #[test]
    fn messages_start_in_lower_case_unless_an_acronym() {
        assert_eq!(lower_first("Expected comma".into()), "expected comma");
        assert_eq!(lower_first("NaN".into()), "NaN");
        assert_eq!(lower_first(String::new()), "");
    }
}
