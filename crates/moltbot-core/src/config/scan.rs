//! A small, tolerant JSON5 scanner that keeps byte positions.
//!
//! `json5` gives us values but forgets where they came from. This scanner walks the text once,
//! skipping strings and comments, and builds a tree of objects, arrays and scalars with the byte
//! range of every value and the start of every key. Issues use it to say "line 4, column 7", and
//! the text-preserving editor uses it to find where to write. It only has to be right for valid
//! JSON5 (syntax errors are reported by the real parser first); on anything else it gives up and
//! returns `None` instead of panicking.

use std::collections::BTreeMap;

/// A value in the source text.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Byte offset of the first character of the value.
    pub start: usize,
    /// Byte offset just past the value.
    pub end: usize,
    /// What kind of value it is.
    pub kind: Kind,
}

/// The kind of a [`Node`].
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// `{ ... }` with its members in source order.
    Object(Vec<Member>),
    /// `[ ... ]` with its elements.
    Array(Vec<Node>),
    /// A string, number, boolean or null.
    Scalar,
}

/// One `key: value` member of an object.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// The key, unescaped.
    pub key: String,
    /// Byte offset of the key (its opening quote, if quoted).
    pub key_start: usize,
    /// The value.
    pub value: Node,
}

/// Scans `src` and returns its root value, or `None` if the text is blank or not valid JSON5.
pub(crate) fn scan(src: &str) -> Option<Node> {
    let mut s = Scanner { src, pos: 0 };
    s.skip_trivia();
    if s.pos >= src.len() {
        return None;
    }
    let root = s.value(0)?;
    s.skip_trivia();
    (s.pos >= src.len()).then_some(root)
}

/// True when `src` holds nothing but whitespace and comments.
pub(crate) fn is_blank(src: &str) -> bool {
    let mut s = Scanner { src, pos: 0 };
    s.skip_trivia();
    s.pos >= src.len()
}

/// Byte offset just past the whitespace and comments starting at `pos`.
pub(crate) fn skip_trivia_from(src: &str, pos: usize) -> usize {
    let mut s = Scanner { src, pos };
    s.skip_trivia();
    s.pos
}

/// Deepest nesting the scanner follows; deeper documents are refused rather than overflowing the
/// stack.
const MAX_DEPTH: usize = 128;

struct Scanner<'a> {
    src: &'a str,
    pos: usize,
}

impl Scanner<'_> {
    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_trivia(&mut self) {
        loop {
            let rest = self.rest();
            if rest.starts_with("//") {
                let len = rest.find(is_line_terminator).unwrap_or(rest.len());
                self.pos += len;
            } else if let Some(body) = rest.strip_prefix("/*") {
                let len = body.find("*/").map_or(rest.len(), |i| i + 4);
                self.pos += len;
            } else if self.peek().is_some_and(is_json5_whitespace) {
                self.bump();
            } else {
                return;
            }
        }
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_trivia();
        let start = self.pos;
        let kind = match self.peek()? {
            '{' => self.object(depth)?,
            '[' => self.array(depth)?,
            '"' | '\'' => {
                self.string()?;
                Kind::Scalar
            }
            _ => {
                self.scalar()?;
                Kind::Scalar
            }
        };
        Some(Node {
            start,
            end: self.pos,
            kind,
        })
    }

    fn object(&mut self, depth: usize) -> Option<Kind> {
        self.bump(); // '{'
        let mut members = Vec::new();
        loop {
            self.skip_trivia();
            if self.peek()? == '}' {
                self.bump();
                return Some(Kind::Object(members));
            }
            let key_start = self.pos;
            let key = self.key()?;
            self.skip_trivia();
            if self.bump()? != ':' {
                return None;
            }
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_start,
                value,
            });
            self.skip_trivia();
            match self.bump()? {
                ',' => {}
                '}' => return Some(Kind::Object(members)),
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<Kind> {
        self.bump(); // '['
        let mut items = Vec::new();
        loop {
            self.skip_trivia();
            if self.peek()? == ']' {
                self.bump();
                return Some(Kind::Array(items));
            }
            items.push(self.value(depth + 1)?);
            self.skip_trivia();
            match self.bump()? {
                ',' => {}
                ']' => return Some(Kind::Array(items)),
                _ => return None,
            }
        }
    }

    fn key(&mut self) -> Option<String> {
        match self.peek()? {
            '"' | '\'' => self.string(),
            _ => {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if c == ':' || c == '/' || is_json5_whitespace(c) || "{}[],\"'".contains(c) {
                        break;
                    }
                    self.bump();
                }
                (self.pos > start).then(|| self.src[start..self.pos].to_string())
            }
        }
    }

    /// Scans a quoted string and returns its unescaped content.
    fn string(&mut self) -> Option<String> {
        let quote = self.bump()?;
        let mut out = String::new();
        loop {
            let c = self.bump()?;
            if c == quote {
                return Some(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let e = self.bump()?;
            match e {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'v' => out.push('\u{b}'),
                '0' => out.push('\0'),
                'x' => {
                    let code = self.hex(2)?;
                    out.push(char::from_u32(code)?);
                }
                'u' => {
                    let code = self.hex(4)?;
                    if (0xD800..0xDC00).contains(&code) && self.rest().starts_with("\\u") {
                        self.pos += 2;
                        let low = self.hex(4)?;
                        let joined = 0x10000 + ((code - 0xD800) << 10) + (low.wrapping_sub(0xDC00));
                        out.push(char::from_u32(joined).unwrap_or('\u{FFFD}'));
                    } else {
                        out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                    }
                }
                '\r' => {
                    // Line continuation; CRLF counts as one terminator.
                    if self.peek() == Some('\n') {
                        self.bump();
                    }
                }
                c if is_line_terminator(c) => {}
                other => out.push(other),
            }
        }
    }

    fn hex(&mut self, digits: usize) -> Option<u32> {
        let text = self.rest().get(..digits)?;
        let code = u32::from_str_radix(text, 16).ok()?;
        self.pos += digits;
        Some(code)
    }

    /// Numbers, booleans, null, Infinity, NaN: everything up to the next delimiter.
    fn scalar(&mut self) -> Option<()> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == '/' || is_json5_whitespace(c) || ",:{}[]\"'".contains(c) {
                break;
            }
            self.bump();
        }
        (self.pos > start).then_some(())
    }
}

/// JSON5 line terminators.
pub(crate) fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

fn is_json5_whitespace(c: char) -> bool {
    c.is_whitespace() || c == '\u{FEFF}'
}

/// Maps byte offsets to 1-based (line, column) pairs, columns counted in characters, with the
/// same line terminators as the JSON5 parser (CRLF counts once).
#[derive(Debug, Clone, Default)]
pub(crate) struct LineIndex {
    line_starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `src`.
    pub(crate) fn new(src: &str) -> Self {
        let mut line_starts = vec![0];
        let mut chars = src.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if is_line_terminator(c) {
                let mut next = i + c.len_utf8();
                if c == '\r' {
                    if let Some(&(j, '\n')) = chars.peek() {
                        chars.next();
                        next = j + 1;
                    }
                }
                line_starts.push(next);
            }
        }
        Self { line_starts }
    }

    /// The 1-based line and column of byte `offset` in `src`.
    pub(crate) fn position(&self, src: &str, offset: usize) -> (usize, usize) {
        let line = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = src.get(start..offset).map_or(0, |s| s.chars().count()) + 1;
        (line, column)
    }

    /// Byte offset where the line holding `offset` starts.
    pub(crate) fn line_start(&self, offset: usize) -> usize {
        let line = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .max(1);
        self.line_starts.get(line - 1).copied().unwrap_or(0)
    }
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
    /// Records the position of every key in `src` (nothing if it does not scan).
    pub(crate) fn of(src: &str) -> Self {
        let mut spans = Self::default();
        if let Some(root) = scan(src) {
            let index = LineIndex::new(src);
            spans.walk(src, &index, &root, "");
        }
        spans
    }

    fn walk(&mut self, src: &str, index: &LineIndex, node: &Node, path: &str) {
        match &node.kind {
            Kind::Object(members) => {
                for m in members {
                    let p = join_path(path, &m.key);
                    self.map.insert(p.clone(), index.position(src, m.key_start));
                    self.walk(src, index, &m.value, &p);
                }
            }
            Kind::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    self.map.insert(p.clone(), index.position(src, item.start));
                    self.walk(src, index, item, &p);
                }
            }
            Kind::Scalar => {}
        }
    }

    /// The (line, column) of a key path, if it is in the source.
    pub(crate) fn get(&self, path: &str) -> Option<(usize, usize)> {
        self.map.get(path).copied()
    }

    /// Number of recorded paths.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keys_past_comments_and_strings() {
        let src = "// head {\n{\n  a: 1, /* b: 2 */\n  'c d': \"x } y\",\n  \"e\": [ {f: true}, 2 ],\n}\n";
        let spans = Spans::of(src);
        assert_eq!(spans.get("a"), Some((3, 3)));
        assert_eq!(spans.get("b"), None);
        assert_eq!(spans.get("c d"), Some((4, 3)));
        assert_eq!(spans.get("e"), Some((5, 3)));
        assert_eq!(spans.get("e[0]"), Some((5, 10)));
        assert_eq!(spans.get("e[0].f"), Some((5, 11)));
        assert_eq!(spans.get("e[1]"), Some((5, 21)));
        assert_eq!(spans.len(), 6);
    }

    #[test]
    fn counts_columns_in_characters_and_crlf_once() {
        let src = "{\r\n  s: 'héllo', t: 1\r\n}";
        let spans = Spans::of(src);
        assert_eq!(spans.get("s"), Some((2, 3)));
        assert_eq!(spans.get("t"), Some((2, 15)));
    }

    #[test]
    fn unescapes_quoted_keys() {
        let root = scan(r#"{"a\u0062": 1, 'it\'s': 2}"#).unwrap();
        let Kind::Object(members) = root.kind else {
            panic!("not an object")
        };
        let keys: Vec<_> = members.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(keys, ["ab", "it's"]);
    }

    #[test]
    fn blank_and_broken_input_give_none() {
        assert!(scan("  // nothing\n /* here */ ").is_none());
        assert!(is_blank("  // nothing\n /* here */ "));
        assert!(scan("{ a: ").is_none());
        assert!(scan("{ a: 1 } x").is_none());
        assert!(!is_blank("{}"));
    }
}
