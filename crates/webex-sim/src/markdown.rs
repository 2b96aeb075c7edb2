//! Markdown rendering: mentions into `<spark-mention>` tags, a small Markdown subset into
//! html, and the plain `text` Webex derives from markdown.
//!
//! Mention syntax (developer.webex.com/docs/basics, "Formatting Messages"):
//! `<@personEmail:a@b.c|Name>`, `<@personEmail:a@b.c>`, `<@personId:ID|Name>`, `<@all>`.

use uuid::Uuid;

/// Who a mention token refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MentionRef {
    /// By email.
    Email(String),
    /// By person id (encoded or raw).
    Id(String),
}

/// The result of rendering a markdown message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Plain text (mentions replaced by names, formatting removed).
    pub text: String,
    /// Html as the Webex clients receive it.
    pub html: String,
    /// Mentioned people, in order, without duplicates.
    pub mentioned_people: Vec<Uuid>,
    /// Mentioned groups (`all`).
    pub mentioned_groups: Vec<String>,
}

enum Segment {
    Text(String),
    Person { id: String, name: String },
    All,
}

/// Renders `markdown`; `lookup` resolves a mention to `(uuid, encoded id, display name)`.
pub fn render(
    markdown: &str,
    lookup: impl Fn(&MentionRef) -> Option<(Uuid, String, String)>,
) -> Rendered {
    let mut out = Rendered::default();
    let mut segments = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find("<@") {
        let (before, tail) = rest.split_at(start);
        let Some(end) = tail.find('>') else {
            break;
        };
        let inner = &tail[2..end];
        let parsed = parse_mention(inner);
        match parsed {
            Some(Parsed::All) => {
                push_text(&mut segments, before);
                segments.push(Segment::All);
                if !out.mentioned_groups.iter().any(|g| g == "all") {
                    out.mentioned_groups.push("all".to_string());
                }
            }
            Some(Parsed::Person(r, name)) => {
                push_text(&mut segments, before);
                match lookup(&r) {
                    Some((uuid, id, display)) => {
                        if !out.mentioned_people.contains(&uuid) {
                            out.mentioned_people.push(uuid);
                        }
                        segments.push(Segment::Person {
                            id,
                            name: name.unwrap_or(display),
                        });
                    }
                    None => {
                        let fallback = name.unwrap_or(match r {
                            MentionRef::Email(e) | MentionRef::Id(e) => e,
                        });
                        push_text(&mut segments, &fallback);
                    }
                }
            }
            None => push_text(&mut segments, &tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    push_text(&mut segments, rest);

    let mut html_inline = String::new();
    for seg in &segments {
        match seg {
            Segment::Text(t) => {
                out.text.push_str(&strip_markdown(t));
                html_inline.push_str(&inline_html(t));
            }
            Segment::Person { id, name } => {
                out.text.push_str(name);
                html_inline.push_str(&format!(
                    "<spark-mention data-object-type=\"person\" data-object-id=\"{}\">{}</spark-mention>",
                    escape(id),
                    escape(name)
                ));
            }
            Segment::All => {
                out.text.push_str("All");
                html_inline.push_str(
                    "<spark-mention data-object-type=\"groupMention\" data-group-type=\"all\">All</spark-mention>",
                );
            }
        }
    }
    out.html = paragraphs(&html_inline);
    out
}

enum Parsed {
    All,
    Person(MentionRef, Option<String>),
}

fn parse_mention(inner: &str) -> Option<Parsed> {
    if inner == "all" || inner == "groupMention:all" {
        return Some(Parsed::All);
    }
    let (target, name) = match inner.split_once('|') {
        Some((t, n)) => (t, Some(n.to_string())),
        None => (inner, None),
    };
    if let Some(email) = target.strip_prefix("personEmail:") {
        return Some(Parsed::Person(MentionRef::Email(email.to_string()), name));
    }
    if let Some(id) = target.strip_prefix("personId:") {
        return Some(Parsed::Person(MentionRef::Id(id.to_string()), name));
    }
    None
}

fn push_text(segments: &mut Vec<Segment>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Segment::Text(prev)) = segments.last_mut() {
        prev.push_str(text);
    } else {
        segments.push(Segment::Text(text.to_string()));
    }
}

/// Escapes html special characters.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Removes the common inline markdown markers for the plain `text` field.
fn strip_markdown(text: &str) -> String {
    let mut s = text.replace("**", "").replace("__", "").replace('`', "");
    // [label](url) -> label
    while let Some(open) = s.find('[') {
        let Some(mid) = s[open..].find("](").map(|i| open + i) else {
            break;
        };
        let Some(close) = s[mid..].find(')').map(|i| mid + i) else {
            break;
        };
        let label = s[open + 1..mid].to_string();
        s.replace_range(open..=close, &label);
    }
    s
}

/// Converts a text run to inline html: escaping, `**bold**`, `` `code` ``, `[label](url)`.
fn inline_html(text: &str) -> String {
    let escaped = escape(text);
    let with_code = toggle(&escaped, "`", "<code>", "</code>");
    let with_bold = toggle(&with_code, "**", "<strong>", "</strong>");
    links(&with_bold)
}

fn toggle(text: &str, marker: &str, open: &str, close: &str) -> String {
    let parts: Vec<&str> = text.split(marker).collect();
    if parts.len() < 3 {
        return text.to_string();
    }
    let mut out = String::new();
    let pairs = (parts.len() - 1) / 2;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            if i <= pairs * 2 {
                out.push_str(if i % 2 == 1 { open } else { close });
            } else {
                out.push_str(marker);
            }
        }
        out.push_str(part);
    }
    out
}

fn links(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](").map(|i| open + i) else {
            break;
        };
        let Some(close) = rest[mid..].find(')').map(|i| mid + i) else {
            break;
        };
        out.push_str(&rest[..open]);
        let label = &rest[open + 1..mid];
        let url = &rest[mid + 2..close];
        out.push_str(&format!("<a href=\"{url}\" rel=\"nofollow\">{label}</a>"));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

fn paragraphs(html: &str) -> String {
    html.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>", p.trim_end_matches('\n').replace('\n', "<br/>")))
        .collect::<Vec<_>>()
        .join("")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_mentions_and_formatting() {
        let bot = Uuid::new_v4();
        let r = render(
            "**hi** <@personEmail:bot@x.io|Bot> and <@all> see [doc](http://e.x)",
            |m| match m {
                MentionRef::Email(e) if e == "bot@x.io" => {
                    Some((bot, "BOTID".to_string(), "The Bot".to_string()))
                }
                _ => None,
            },
        );
        assert_eq!(r.text, "hi Bot and All see doc");
        assert_eq!(r.mentioned_people, vec![bot]);
        assert_eq!(r.mentioned_groups, vec!["all".to_string()]);
        assert!(r.html.starts_with("<p><strong>hi</strong> <spark-mention"));
        assert!(r
            .html
            .contains("data-object-type=\"person\" data-object-id=\"BOTID\">Bot</spark-mention>"));
        assert!(r
            .html
            .contains("<a href=\"http://e.x\" rel=\"nofollow\">doc</a>"));
    }

    #[test]
    fn unknown_mentions_stay_text_and_html_is_escaped() {
        let r = render("<@personEmail:nobody@x.io> <b>", |_| None);
        assert!(r.mentioned_people.is_empty());
        assert_eq!(r.text, "nobody@x.io <b>");
        assert_eq!(r.html, "<p>nobody@x.io &lt;b&gt;</p>");
    }
}
