//! Adapting agent Markdown to what Webex renders, line by line (issue 12 item 9).
//!
//! Webex renders a limited Markdown (developer.webex.com/docs/basics, "Formatting Messages":
//! bold, italic, links, ordered and unordered lists, block quotes, inline code, fenced code
//! blocks, mentions). Constructs it does not render are rewritten outside code blocks:
//! - tables, per `channels.webex.markdown.tables` (see [`super::tables`]);
//! - images `![alt](url)`, which Webex shows as raw text: rewritten as the link `[alt](url)`
//!   (`[url](url)` without alt text); a bot attaches a picture as a file instead.
//!
//! The stage works on a stream of pieces: it decides line by line and holds a line back only
//! while it may still be part of a table, so the output is the same for every split.

use super::tables::{self, TableMode};
use crate::chunk::{is_closer, opening_fence};

/// The Markdown stage.
#[derive(Debug)]
pub struct MarkdownAdapter {
    tables: TableMode,
    /// The incomplete last line.
    partial: String,
    /// The fence open (character, length), inside which nothing is rewritten.
    fence: Option<(char, usize)>,
    /// Lines held while they may be a table: a header candidate, then the table's lines.
    held: Vec<String>,
}

impl MarkdownAdapter {
    /// A stage rendering tables per `tables`.
    pub fn new(tables: TableMode) -> Self {
        Self {
            tables,
            partial: String::new(),
            fence: None,
            held: Vec::new(),
        }
    }

    /// Takes the next piece; returns the text now decided.
    pub fn push(&mut self, piece: &str) -> String {
        self.partial.push_str(piece);
        let mut out = String::new();
        while let Some(newline) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=newline).collect();
            self.line(line, &mut out);
        }
        out
    }

    /// The end of the text: returns everything held back.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        let last = std::mem::take(&mut self.partial);
        if !last.is_empty() {
            self.line(last, &mut out);
        }
        self.flush_held(&mut out);
        out
    }

    /// Handles one line (with its line ending, except possibly the last line of the text).
    fn line(&mut self, line: String, out: &mut String) {
        let content = line.trim_end_matches(['\n', '\r']);
        if let Some((fence_char, count)) = self.fence {
            if is_closer(content, fence_char, count) {
                self.fence = None;
            }
            out.push_str(&line);
            return;
        }
        match self.held.len() {
            0 => {}
            1 => {
                let columns = tables::cells(&self.held[0]).len();
                if tables::is_delimiter(content, columns) {
                    self.held.push(line);
                    return;
                }
                // Not a table after all: the held line is ordinary text.
                let header = self.held.remove(0);
                out.push_str(&rewrite_images(&header));
            }
            _ => {
                if tables::is_row(content) {
                    self.held.push(line);
                    return;
                }
                self.flush_held(out);
            }
        }
        if let Some(fence) = opening_fence(content) {
            self.fence = Some(fence);
            out.push_str(&line);
        } else if self.tables != TableMode::Off && tables::is_row(content) {
            self.held.push(line);
        } else {
            out.push_str(&rewrite_images(&line));
        }
    }

    /// Writes the held lines: a rendered table, or the one line held as a header candidate.
    fn flush_held(&mut self, out: &mut String) {
        let held = std::mem::take(&mut self.held);
        match held.len() {
            0 => {}
            1 => out.extend(held.iter().map(|line| rewrite_images(line))),
            _ => {
                let newline = held.last().is_some_and(|line| line.ends_with('\n'));
                out.push_str(&tables::render(&held, self.tables, newline));
            }
        }
    }
}

/// `line` with every image `![alt](target)` outside inline code written as a link.
fn rewrite_images(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_code = false;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code && rest.starts_with("![") {
            if let Some((link, len)) = image_at(rest) {
                out.push_str(&link);
                rest = &rest[len..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The link for the image at the start of `text` (`![alt](target)`) and the image's length.
fn image_at(text: &str) -> Option<(String, usize)> {
    let close = text.find("](")?;
    let alt = &text[2..close];
    if alt.contains(['[', ']', '\n']) {
        return None;
    }
    let after = &text[close + 2..];
    let end = after.find(')')?;
    let target = &after[..end];
    if target.contains(['(', '\n']) {
        return None;
    }
    let url = target.split_whitespace().next().unwrap_or_default();
    let shown = if alt.trim().is_empty() {
        url
    } else {
        alt.trim()
    };
    Some((format!("[{shown}]({target})"), close + 2 + end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mode: TableMode, pieces: &[&str]) -> String {
        let mut stage = MarkdownAdapter::new(mode);
        let mut out: String = pieces.iter().map(|piece| stage.push(piece)).collect();
        out.push_str(&stage.finish());
        out
    }

    const TABLE: &str =
        "Results:\n\n| Name | Score |\n| --- | ---: |\n| Alice | 10 |\n| Bob | 7 |\n\nDone.";

    #[test]
    fn a_table_becomes_a_code_block() {
        assert_eq!(
            run(TableMode::Code, &[TABLE]),
            "Results:\n\n```\nName  | Score\n------|------\nAlice | 10\nBob   | 7\n```\n\nDone."
        );
    }

    #[test]
    fn a_table_at_the_very_end_without_newline() {
        let text = "| a | b |\n|---|---|\n| 1 | 2 |";
        assert_eq!(run(TableMode::Bullets, &[text]), "- 1\n  - b: 2");
    }

    #[test]
    fn off_leaves_tables_and_tables_in_code_are_left() {
        assert_eq!(run(TableMode::Off, &[TABLE]), TABLE);
        let fenced = "```\n| a | b |\n|---|---|\n```\n";
        assert_eq!(run(TableMode::Code, &[fenced]), fenced);
    }

    #[test]
    fn a_pipe_line_without_delimiter_is_text() {
        let text = "a | b\nnot a delimiter\n";
        assert_eq!(run(TableMode::Code, &[text]), text);
    }

    #[test]
    fn every_split_gives_the_same_output() {
        let whole = run(TableMode::Code, &[TABLE]);
        for at in 0..=TABLE.len() {
            if TABLE.is_char_boundary(at) {
                assert_eq!(
                    run(TableMode::Code, &[&TABLE[..at], &TABLE[at..]]),
                    whole,
                    "{at}"
                );
            }
        }
    }

    #[test]
    fn images_become_links_outside_code() {
        assert_eq!(
            rewrite_images("see ![chart](https://x/c.png) and ![](https://x/d.png)"),
            "see [chart](https://x/c.png) and [https://x/d.png](https://x/d.png)"
        );
        assert_eq!(rewrite_images("`![a](b)`"), "`![a](b)`");
        assert_eq!(rewrite_images("![not closed"), "![not closed");
    }
}
