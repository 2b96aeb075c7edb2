//! Markdown tables, which Webex does not render (issue 12 item 9, `channels.webex.markdown.tables`).
//!
//! Webex's Markdown is limited (developer.webex.com/docs/basics, "Formatting Messages": bold,
//! italic, links, lists, block quotes, inline code, fenced code, mentions); a GitHub-style table
//! arrives as raw pipes. A table is a header row, a delimiter row (`| --- | :-: |`, as many
//! cells as the header) and the rows after it up to a blank line or a line without `|`
//! (GitHub Flavored Markdown, "Tables (extension)"). It becomes:
//! - `code` (default): a fenced code block with the columns aligned;
//! - `bullets`: one bullet per row, titled by its first cell, with a sub-bullet `Header: value`
//!   for each other cell;
//! - `off`: left as written.

/// What tables become (`channels.webex.markdown.tables`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableMode {
    /// A fenced code block with aligned columns (the default).
    #[default]
    Code,
    /// Bullet lists, one bullet per row.
    Bullets,
    /// Left as written.
    Off,
}

impl TableMode {
    /// Valid config values.
    pub const NAMES: &'static [&'static str] = &["code", "bullets", "off"];

    /// The mode named `name` (a config value), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "code" => Some(TableMode::Code),
            "bullets" => Some(TableMode::Bullets),
            "off" => Some(TableMode::Off),
            _ => None,
        }
    }

    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            TableMode::Code => "code",
            TableMode::Bullets => "bullets",
            TableMode::Off => "off",
        }
    }
}

/// Whether `line` may be a table row: not blank, not indented code, and has a `|` that
/// separates cells (not escaped, not inside inline code or a `<@…|Name>` mention).
pub fn is_row(line: &str) -> bool {
    let content = line.trim_end_matches(['\n', '\r']);
    let indent = content.len() - content.trim_start_matches(' ').len();
    indent < 4 && !content.trim().is_empty() && split_cells(content).len() > 1
}

/// Whether `line` is a delimiter row with `columns` cells (`| --- | :-: |`).
pub fn is_delimiter(line: &str, columns: usize) -> bool {
    let cells = cells(line);
    cells.len() == columns
        && cells.iter().all(|cell| {
            let inner = cell.trim_start_matches(':').trim_end_matches(':');
            !inner.is_empty() && inner.chars().all(|c| c == '-')
        })
}

/// The cells of a row: split on `|` outside inline code and not escaped, without the outer
/// pipes, trimmed, with `\|` unescaped.
pub fn cells(line: &str) -> Vec<String> {
    let content = line.trim_end_matches(['\n', '\r']).trim();
    let mut out = split_cells(content);
    if content.starts_with('|') && out.len() > 1 {
        out.remove(0);
    }
    if content.ends_with('|') && !content.ends_with("\\|") && out.len() > 1 {
        out.pop();
    }
    out.into_iter()
        .map(|cell| cell.trim().to_string())
        .collect()
}

/// `content` split on its separating pipes, `\\|` unescaped.
fn split_cells(content: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut in_code = false;
    let mut in_mention = false;
    let mut chars = content.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '`' if !in_mention => {
                in_code = !in_code;
                cell.push(c);
            }
            '<' if !in_code && chars.peek() == Some(&'@') => {
                in_mention = true;
                cell.push(c);
            }
            '>' if in_mention => {
                in_mention = false;
                cell.push(c);
            }
            '|' if !in_code && !in_mention => out.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    out.push(cell);
    out
}

/// Renders a table (header line, delimiter line, rows) in `mode`; `newline` ends the result
/// when the last line of the table ended with one.
pub fn render(lines: &[String], mode: TableMode, newline: bool) -> String {
    let mut rows: Vec<Vec<String>> = lines.iter().map(|line| cells(line)).collect();
    if rows.len() >= 2 {
        rows.remove(1); // the delimiter row
    }
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    for row in &mut rows {
        row.resize(columns, String::new());
    }
    let body = match mode {
        TableMode::Off => lines.concat().trim_end_matches(['\n', '\r']).to_string(),
        TableMode::Code => as_code(&rows, columns),
        TableMode::Bullets => as_bullets(&rows),
    };
    if newline {
        format!("{body}\n")
    } else {
        body
    }
}

/// A fenced block with the columns padded to the widest cell (in characters).
fn as_code(rows: &[Vec<String>], columns: usize) -> String {
    let widths: Vec<usize> = (0..columns)
        .map(|col| {
            rows.iter()
                .filter_map(|row| row.get(col))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |row: &[String]| {
        let padded: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join(" | ").trim_end().to_string()
    };
    let mut out = Vec::with_capacity(rows.len() + 3);
    let longest_run = rows
        .iter()
        .flatten()
        .map(|cell| longest_backtick_run(cell))
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    out.push(fence.clone());
    if let Some((header, body)) = rows.split_first() {
        out.push(line(header));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat((*w).max(1))).collect();
        out.push(rule.join("-|-"));
        out.extend(body.iter().map(|row| line(row)));
    }
    out.push(fence);
    out.join("\n")
}

/// The longest run of backticks in `text`.
fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// One bullet per body row: its first cell, then `Header: value` sub-bullets.
fn as_bullets(rows: &[Vec<String>]) -> String {
    let Some((header, body)) = rows.split_first() else {
        return String::new();
    };
    let mut out = Vec::new();
    for row in body {
        let title = row.first().map(String::as_str).unwrap_or_default();
        out.push(format!("- {}", if title.is_empty() { "—" } else { title }));
        for (name, value) in header.iter().zip(row).skip(1) {
            if value.is_empty() {
                continue;
            }
            if name.is_empty() {
                out.push(format!("  - {value}"));
            } else {
                out.push(format!("  - {name}: {value}"));
            }
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vec<String> {
        [
            "| Name | Role |\n",
            "|---|:--:|\n",
            "| Alice | admin |\n",
            "| Bob | dev |\n",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn cells_split_on_unescaped_pipes_outside_code() {
        assert_eq!(cells("| a | b |"), vec!["a", "b"]);
        assert_eq!(cells("a | b"), vec!["a", "b"]);
        assert_eq!(cells("| `x|y` | a\\|b |"), vec!["`x|y`", "a|b"]);
        assert_eq!(
            cells("| <@personEmail:a@b.c|Al> | x |"),
            vec!["<@personEmail:a@b.c|Al>", "x"]
        );
        assert!(!is_row("<@personEmail:a@b.c|Al> said hi"));
        assert!(is_delimiter("|---|:--:|", 2));
        assert!(is_delimiter(" :- | -: ", 2));
        assert!(!is_delimiter("|---|", 2));
        assert!(!is_delimiter("| a | b |", 2));
    }

    #[test]
    fn code_mode_aligns_columns() {
        assert_eq!(
            render(&table(), TableMode::Code, true),
            "```\nName  | Role\n------|------\nAlice | admin\nBob   | dev\n```\n"
        );
    }

    #[test]
    fn bullets_mode_lists_rows() {
        assert_eq!(
            render(&table(), TableMode::Bullets, false),
            "- Alice\n  - Role: admin\n- Bob\n  - Role: dev"
        );
    }

    #[test]
    fn a_cell_with_backticks_gets_a_longer_fence() {
        let lines: Vec<String> = ["| a |\n", "|---|\n", "| ```x``` |"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = render(&lines, TableMode::Code, false);
        assert!(
            out.starts_with("````\n") && out.ends_with("\n````"),
            "{out}"
        );
    }
}
