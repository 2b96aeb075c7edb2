//! Markdown rendering: mentions into `<spark-mention>` tags, Markdown into html with
//! `pulldown-cmark` (CommonMark), and the plain `text` Webex derives from markdown.
//!
//! Mention syntax (developer.webex.com/docs/basics, "Formatting Messages"):
//! `<@personEmail:a@b.c|Name>`, `<@personEmail:a@b.c>`, `<@personId:ID|Name>`, `<@all>`.
//! A pre-pass takes the mentions out (they look like inline html to a Markdown parser) and
//! leaves placeholders that the html and text renderings put back.
//!
//! What the html follows (BASICS lists bold, italic, links, ordered and unordered lists with
//! sub-items, block quotes, inline code and fenced code blocks, paragraphs and hard line breaks):
//! CommonMark without extensions (no tables, which Webex does not render). Links get
//! `rel="nofollow"` as in the OpenAPI `html` example; only `http`, `https` and `mailto` links are
//! kept (others become their text), images become links to their URL, and raw html in the
//! markdown is shown as text (escaped): these three are guesses at what Webex does.

use pulldown_cmark::{CodeBlockKind, Event, LinkType, Options, Parser, Tag, TagEnd};
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

/// A mention found by the pre-pass.
enum Mention {
    Person { id: String, name: String },
    All,
}

impl Mention {
    fn name(&self) -> &str {
        match self {
            Mention::Person { name, .. } => name,
            Mention::All => "All",
        }
    }

    fn html(&self) -> String {
        match self {
            Mention::Person { id, name } => format!(
                "<spark-mention data-object-type=\"person\" data-object-id=\"{}\">{}</spark-mention>",
                escape(id),
                escape(name)
            ),
            Mention::All => "<spark-mention data-object-type=\"groupMention\" \
                 data-group-type=\"all\">All</spark-mention>"
                .to_string(),
        }
    }
}

/// Opens a placeholder (a private-use character: never Markdown syntax, stripped from the input first, so it cannot be forged).
const OPEN: char = '\u{E000}';
/// Closes a placeholder.
const CLOSE: char = '\u{E001}';

/// Renders `markdown`; `lookup` resolves a mention to `(uuid, encoded id, display name)`.
pub fn render(
    markdown: &str,
    lookup: impl Fn(&MentionRef) -> Option<(Uuid, String, String)>,
) -> Rendered {
    let mut out = Rendered::default();
    let clean: String = markdown
        .chars()
        .filter(|c| *c != OPEN && *c != CLOSE)
        .collect();
    let mut mentions: Vec<Mention> = Vec::new();
    let mut source = String::new();
    let mut rest = clean.as_str();
    while let Some(start) = rest.find("<@") {
        let (before, tail) = rest.split_at(start);
        let Some(end) = tail.find('>') else {
            break;
        };
        source.push_str(before);
        let mention = match parse_mention(&tail[2..end]) {
            Some(Parsed::All) => {
                if !out.mentioned_groups.iter().any(|g| g == "all") {
                    out.mentioned_groups.push("all".to_string());
                }
                Some(Mention::All)
            }
            Some(Parsed::Person(r, name)) => match lookup(&r) {
                Some((uuid, id, display)) => {
                    if !out.mentioned_people.contains(&uuid) {
                        out.mentioned_people.push(uuid);
                    }
                    Some(Mention::Person {
                        id,
                        name: name.unwrap_or(display),
                    })
                }
                None => {
                    // An unknown person stays as the name given, or the address.
                    source.push_str(&name.unwrap_or(match r {
                        MentionRef::Email(e) | MentionRef::Id(e) => e,
                    }));
                    None
                }
            },
            None => {
                source.push_str(&tail[..=end]);
                None
            }
        };
        if let Some(mention) = mention {
            source.push(OPEN);
            source.push_str(&mentions.len().to_string());
            source.push(CLOSE);
            mentions.push(mention);
        }
        rest = &tail[end + 1..];
    }
    source.push_str(rest);

    let events: Vec<Event<'_>> = Parser::new_ext(&source, Options::empty()).collect();
    out.html = html_of(&events, &mentions);
    out.text = text_of(&events, &mentions);
    out
}

/// A piece of text with placeholders: plain text or a mention.
enum Piece<'a> {
    Plain(&'a str),
    Mention(&'a Mention),
}

/// Splits `text` at its placeholders, in order.
fn expand<'a>(text: &'a str, mentions: &'a [Mention]) -> Vec<Piece<'a>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(OPEN) {
        let Some(close) = rest[open..].find(CLOSE).map(|i| open + i) else {
            break;
        };
        pieces.push(Piece::Plain(&rest[..open]));
        let index = rest[open + OPEN.len_utf8()..close].parse::<usize>().ok();
        if let Some(m) = index.and_then(|i| mentions.get(i)) {
            pieces.push(Piece::Mention(m));
        }
        rest = &rest[close + CLOSE.len_utf8()..];
    }
    pieces.push(Piece::Plain(rest));
    pieces
}

/// `text` with each mention as its name, prefixed with `at` (`"@"` or `""`).
fn with_names(text: &str, mentions: &[Mention], at: &str) -> String {
    expand(text, mentions)
        .into_iter()
        .map(|piece| match piece {
            Piece::Plain(p) => p.to_string(),
            Piece::Mention(m) => format!("{at}{}", m.name()),
        })
        .collect()
}

/// Whether a link destination is kept as a link (`http`, `https`, `mailto`).
fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

fn html_of(events: &[Event<'_>], mentions: &[Mention]) -> String {
    let mut mapped: Vec<Event<'_>> = Vec::with_capacity(events.len());
    // For each open link or image: whether an `<a>` was opened for it.
    let mut anchors: Vec<bool> = Vec::new();
    for event in events {
        match event {
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                ..
            })
            | Event::Start(Tag::Image {
                link_type,
                dest_url,
                ..
            }) => {
                let href = if *link_type == LinkType::Email {
                    format!("mailto:{dest_url}")
                } else {
                    dest_url.to_string()
                };
                let keep = safe_url(&href);
                if keep {
                    mapped.push(Event::Html(
                        format!("<a href=\"{}\" rel=\"nofollow\">", escape(&href)).into(),
                    ));
                }
                anchors.push(keep);
            }
            Event::End(TagEnd::Link) | Event::End(TagEnd::Image) => {
                if anchors.pop().unwrap_or(false) {
                    mapped.push(Event::Html("</a>".into()));
                }
            }
            Event::Html(raw) | Event::InlineHtml(raw) => {
                mapped.push(Event::Html(escape(raw).into()));
            }
            Event::Text(text) if text.contains(OPEN) => {
                let html: String = expand(text, mentions)
                    .into_iter()
                    .map(|piece| match piece {
                        Piece::Plain(p) => escape(p),
                        Piece::Mention(m) => m.html(),
                    })
                    .collect();
                mapped.push(Event::Html(html.into()));
            }
            Event::Code(code) if code.contains(OPEN) => {
                mapped.push(Event::Code(with_names(code, mentions, "@").into()));
            }
            other => mapped.push(other.clone()),
        }
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, mapped.into_iter());
    html.trim_end().to_string()
}

/// The plain text: the words without Markdown, mentions as names, autolinks as typed
/// (`<https://..>`), paragraphs and headings apart by a blank line, list items and lines on
/// their own lines (a guess at Webex's own derivation, which is not documented).
fn text_of(events: &[Event<'_>], mentions: &[Mention]) -> String {
    let mut text = String::new();
    let mut in_item = 0usize;
    let newline = |text: &mut String, blank: bool| {
        if text.is_empty() {
            return;
        }
        while text.ends_with(' ') {
            text.pop();
        }
        let want = if blank { "\n\n" } else { "\n" };
        if !text.ends_with(want) {
            if text.ends_with('\n') && blank {
                text.push('\n');
            } else if !text.ends_with('\n') {
                text.push_str(want);
            }
        }
    };
    // For each open link: whether it is an autolink (`<https://..>`, `<a@b.c>`), whose angle
    // brackets the text keeps as typed.
    let mut links: Vec<bool> = Vec::new();
    for event in events {
        match event {
            Event::Start(Tag::Link { link_type, .. }) => {
                let auto = matches!(link_type, LinkType::Autolink | LinkType::Email);
                if auto {
                    text.push('<');
                }
                links.push(auto);
            }
            Event::End(TagEnd::Link) => {
                let auto = links.pop().unwrap_or(false);
                text.push_str(if auto { ">" } else { "" });
            }
            Event::Text(t) | Event::Code(t) => text.push_str(&with_names(t, mentions, "")),
            Event::Html(raw) | Event::InlineHtml(raw) => text.push_str(raw),
            Event::SoftBreak | Event::HardBreak => text.push('\n'),
            Event::Start(Tag::Item) => {
                newline(&mut text, false);
                in_item += 1;
            }
            Event::End(TagEnd::Item) => {
                in_item = in_item.saturating_sub(1);
                newline(&mut text, false);
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_) | CodeBlockKind::Indented)) => {
                newline(&mut text, in_item == 0);
            }
            Event::End(
                TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::CodeBlock | TagEnd::List(_),
            ) => {
                newline(&mut text, in_item == 0);
            }
            _ => {}
        }
    }
    text.trim_end().to_string()
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

/// Escapes html special characters.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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

    fn md(markdown: &str) -> Rendered {
        render(markdown, |_| None)
    }

    #[test]
    fn lists_code_quotes_and_paragraphs_render_as_commonmark() {
        let r = md("Intro *it*\n\n- one\n- two\n  - sub\n\n1. first\n\n> quoted\n\n```rust\nlet a = 1 < 2;\n```");
        assert_eq!(
            r.html,
            "<p>Intro <em>it</em></p>\n<ul>\n<li>one</li>\n<li>two\n<ul>\n<li>sub</li>\n</ul>\n</li>\n</ul>\n\
             <ol>\n<li>first</li>\n</ol>\n<blockquote>\n<p>quoted</p>\n</blockquote>\n\
             <pre><code class=\"language-rust\">let a = 1 &lt; 2;\n</code></pre>"
        );
        assert_eq!(
            r.text,
            "Intro it\n\none\ntwo\nsub\n\nfirst\n\nquoted\n\nlet a = 1 < 2;"
        );
    }

    #[test]
    fn only_web_and_mail_links_stay_links_and_images_become_links() {
        let r = md("[a](javascript:alert(1)) [b](https://e.x/?q=\"1\") <https://auto.link> ![pic](http://e.x/p.png) <me@x.io>");
        assert_eq!(
            r.html,
            "<p>a <a href=\"https://e.x/?q=&quot;1&quot;\" rel=\"nofollow\">b</a> \
             <a href=\"https://auto.link\" rel=\"nofollow\">https://auto.link</a> \
             <a href=\"http://e.x/p.png\" rel=\"nofollow\">pic</a> \
             <a href=\"mailto:me@x.io\" rel=\"nofollow\">me@x.io</a></p>"
        );
        assert_eq!(r.text, "a b <https://auto.link> pic <me@x.io>");
    }

    #[test]
    fn mentions_survive_markdown_around_them_and_cannot_be_forged() {
        let bot = Uuid::new_v4();
        let lookup = |m: &MentionRef| match m {
            MentionRef::Id(id) if id == "BOT" => {
                Some((bot, "BOTID".to_string(), "Bot".to_string()))
            }
            _ => None,
        };
        let r = render("**<@personId:BOT|Molty>** - `<@all>`\n\n- <@all>", lookup);
        assert_eq!(
            r.html,
            "<p><strong><spark-mention data-object-type=\"person\" data-object-id=\"BOTID\">Molty\
             </spark-mention></strong> - <code>@All</code></p>\n<ul>\n<li><spark-mention \
             data-object-type=\"groupMention\" data-group-type=\"all\">All</spark-mention></li>\n</ul>"
        );
        assert_eq!(r.text, "Molty - All\n\nAll");
        assert_eq!(r.mentioned_people, vec![bot]);
        // A placeholder typed by hand is dropped, not expanded.
        let forged = render("x \u{E000}0\u{E001} <@personId:BOT>", lookup);
        assert_eq!(forged.text, "x 0 Bot");
    }
}
