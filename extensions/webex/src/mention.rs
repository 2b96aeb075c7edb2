//! Stripping the bot's own @mention from a group message (spec section 3).
//!
//! In a space, Webex delivers a message to a bot only when it is @mentioned, and the mention is
//! part of the message: `text` carries it as the rendered name ("Molt what's up?"), `html` as
//! `<spark-mention data-object-type="person" data-object-id="ID">Molt</spark-mention>`. The
//! agent should see "what's up?".
//!
//! The `html` is authoritative: its mention names exactly which words are the bot's mention (the
//! rendered name may be the first name only) and whose it is. `ID` may be the base64 Webex id or
//! the raw uuid, so ids are compared with [`webex_api::ids::same_entity`]. The rendered name is
//! removed from `text` at the same position: if the bot's mention is the k-th occurrence of that
//! name in the visible html text, the k-th occurrence in `text` is removed, so other people's
//! mentions (even with the same first name) are left alone. Without `html`, or when it has no
//! mention of the bot, a leading display name (full, or its first word) is removed from `text`.
//!
//! See <https://developer.webex.com/docs/bots>: "In group spaces, bots must be @mentioned to
//! access the message."

use webex_api::ids::same_entity;

/// A message text with the bot's mention removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrippedText {
    /// The text without the bot's mention, trimmed, without a leading `,`/`:` left over.
    pub text: String,
    /// Whether a mention of the bot was found (in `html`, or by name at the start of `text`).
    pub mentioned_bot: bool,
}

/// One `<spark-mention>` element found in message html.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SparkMention {
    /// `data-object-id`, if present.
    object_id: Option<String>,
    /// `data-object-type`, if present (`person`, `groupMention`).
    object_type: Option<String>,
    /// The visible text inside the element (tags removed, entities decoded).
    name: String,
    /// How many times `name` occurs in the visible html text before this mention.
    occurrence: usize,
}

/// Removes the bot's own mention from a group message.
///
/// `text` is the message's plain text, `html` its html (if Webex sent one), `bot_id` the bot's
/// person id (base64) and `bot_display_name` its display name. Other people's mentions are never
/// removed. See the module docs for the algorithm.
pub fn strip_bot_mention(
    text: &str,
    html: Option<&str>,
    bot_id: &str,
    bot_display_name: &str,
) -> StrippedText {
    let bot_mentions: Vec<SparkMention> = html
        .map(parse_mentions)
        .unwrap_or_default()
        .into_iter()
        .filter(|mention| is_bot_mention(mention, bot_id))
        .collect();
    if bot_mentions.is_empty() {
        return strip_leading_name(text, bot_display_name);
    }
    let ranges: Vec<(usize, usize)> = bot_mentions
        .iter()
        .filter_map(|mention| locate(text, &mention.name, mention.occurrence))
        .collect();
    if ranges.is_empty() {
        let mut fallback = strip_leading_name(text, bot_display_name);
        fallback.mentioned_bot = true;
        return fallback;
    }
    let mut out = text.to_string();
    for (start, end) in merge_ranges(ranges).into_iter().rev() {
        out = remove_range(&out, start, end);
    }
    StrippedText {
        text: tidy(&out),
        mentioned_bot: true,
    }
}

/// Sorts byte ranges and merges overlapping ones, so removing them last-first stays valid.
fn merge_ranges(mut ranges: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Whether a mention names the bot (person mentions only; `groupMention` "All" is not the bot).
fn is_bot_mention(mention: &SparkMention, bot_id: &str) -> bool {
    let is_person = mention
        .object_type
        .as_deref()
        .is_none_or(|kind| kind.eq_ignore_ascii_case("person"));
    let id_matches = mention
        .object_id
        .as_deref()
        .is_some_and(|id| same_entity(id, bot_id));
    is_person && id_matches
}

/// The byte range of the `occurrence`-th (0-based) occurrence of `name` in `text`, or of the
/// last one when there are fewer (the html and text renderings may differ slightly).
fn locate(text: &str, name: &str, occurrence: usize) -> Option<(usize, usize)> {
    if name.is_empty() {
        return None;
    }
    let starts: Vec<usize> = text.match_indices(name).map(|(at, _)| at).collect();
    let start = starts.get(occurrence).or(starts.last())?;
    Some((*start, start + name.len()))
}

/// `text` without `start..end`, plus a preceding `@`, joining the two sides neatly: no doubled
/// spaces, no space before a following `,`/`:`/`;`/`.`/`?`/`!`.
fn remove_range(text: &str, start: usize, end: usize) -> String {
    let (Some(before), Some(after)) = (text.get(..start), text.get(end..)) else {
        return text.to_string();
    };
    let before = before.strip_suffix('@').unwrap_or(before);
    if after.starts_with([',', ':', ';', '.', '?', '!']) {
        return format!("{}{after}", before.trim_end_matches([' ', '\t']));
    }
    if before.is_empty() || before.ends_with(char::is_whitespace) {
        return format!("{before}{}", after.trim_start_matches([' ', '\t']));
    }
    format!("{before}{after}")
}

/// Trims, and drops a leading `,` or `:` left over from "Name, ..." / "Name: ...".
fn tidy(text: &str) -> String {
    let trimmed = text.trim();
    let trimmed = trimmed
        .strip_prefix([',', ':'])
        .map_or(trimmed, str::trim_start);
    trimmed.to_string()
}

/// The fallback: removes a leading `@`? display name (full, else its first word) from `text`.
fn strip_leading_name(text: &str, display_name: &str) -> StrippedText {
    let body = text.trim_start();
    let body = body.strip_prefix('@').unwrap_or(body);
    let full = display_name.trim();
    let first = full.split_whitespace().next().unwrap_or_default();
    let rest = [full, first]
        .into_iter()
        .filter(|name| !name.is_empty())
        .find_map(|name| strip_word_prefix_ci(body, name));
    match rest {
        Some(rest) => StrippedText {
            text: tidy(rest),
            mentioned_bot: true,
        },
        None => StrippedText {
            text: text.trim().to_string(),
            mentioned_bot: false,
        },
    }
}

/// `text` without a case-insensitive `prefix`, if the prefix ends on a word boundary (so the
/// name "Molt" does not eat the start of "Molty").
fn strip_word_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let mut rest = text.chars();
    for expected in prefix.chars() {
        let actual = rest.next()?;
        if !actual.to_lowercase().eq(expected.to_lowercase()) {
            return None;
        }
    }
    let rest = rest.as_str();
    match rest.chars().next() {
        Some(next) if next.is_alphanumeric() => None,
        _ => Some(rest),
    }
}

/// All `<spark-mention>` elements of `html`, in document order.
fn parse_mentions(html: &str) -> Vec<SparkMention> {
    let mut mentions = Vec::new();
    let mut visible = String::new();
    let mut rest = html;
    while let Some(open) = find_ci(rest, "<spark-mention") {
        visible.push_str(&visible_text(rest.get(..open).unwrap_or_default()));
        let Some(element) = rest.get(open..).and_then(split_element) else {
            break;
        };
        let inner_text = visible_text(element.inner);
        let name = inner_text.trim().to_string();
        let occurrence = if name.is_empty() {
            0
        } else {
            visible.matches(name.as_str()).count()
        };
        mentions.push(SparkMention {
            object_id: attribute(element.attributes, "data-object-id"),
            object_type: attribute(element.attributes, "data-object-type"),
            name,
            occurrence,
        });
        visible.push_str(&inner_text);
        rest = element.rest;
    }
    mentions
}

/// A `<spark-mention ...>inner</spark-mention>` element cut into its parts.
struct Element<'a> {
    /// The attribute text of the opening tag.
    attributes: &'a str,
    /// The html between the opening and closing tags.
    inner: &'a str,
    /// The html after the closing tag.
    rest: &'a str,
}

/// Splits `html`, which starts with `<spark-mention`, into an [`Element`]. `None` if the opening
/// tag never ends; a missing closing tag runs to the end.
fn split_element(html: &str) -> Option<Element<'_>> {
    let tag_end = tag_end(html)?;
    let attributes = html
        .get("<spark-mention".len()..tag_end)
        .unwrap_or_default();
    let after_tag = html.get(tag_end + 1..).unwrap_or_default();
    let close = find_ci(after_tag, "</spark-mention").unwrap_or(after_tag.len());
    let after_close = after_tag.get(close..).unwrap_or_default();
    let rest = after_close
        .find('>')
        .and_then(|gt| after_close.get(gt + 1..))
        .unwrap_or_default();
    Some(Element {
        attributes,
        inner: after_tag.get(..close).unwrap_or_default(),
        rest,
    })
}

/// The index of the `>` ending the tag that starts `tag`, skipping `>` inside quoted values.
fn tag_end(tag: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (at, c) in tag.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(at),
            (None, _) => {}
        }
    }
    None
}

/// The value of attribute `name` in a tag's attribute text (`a="x" b='y' c=z`), entity-decoded.
fn attribute(attributes: &str, name: &str) -> Option<String> {
    let mut rest = attributes;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if rest.is_empty() {
            return None;
        }
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace() || c == '/')
            .unwrap_or(rest.len());
        let key = rest.get(..key_end).unwrap_or_default();
        let after_key = rest.get(key_end..).unwrap_or_default().trim_start();
        let (value, next) = match after_key.strip_prefix('=') {
            Some(value_part) => split_value(value_part.trim_start()),
            None => (None, after_key),
        };
        if key.eq_ignore_ascii_case(name) {
            return value.map(decode_entities);
        }
        if next.len() >= rest.len() {
            return None;
        }
        rest = next;
    }
}

/// Splits an attribute value (quoted or bare) from what follows it.
fn split_value(text: &str) -> (Option<&str>, &str) {
    let Some(quote) = text.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        let end = text.find(char::is_whitespace).unwrap_or(text.len());
        return (text.get(..end), text.get(end..).unwrap_or_default());
    };
    let body = text.get(1..).unwrap_or_default();
    match body.find(quote) {
        Some(end) => (body.get(..end), body.get(end + 1..).unwrap_or_default()),
        None => (Some(body), ""),
    }
}

/// The visible text of an html fragment: tags removed, entities decoded.
fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(rest.get(..lt).unwrap_or_default());
        let tag = rest.get(lt..).unwrap_or_default();
        rest = match tag_end(tag) {
            Some(gt) => tag.get(gt + 1..).unwrap_or_default(),
            None => "",
        };
    }
    out.push_str(rest);
    decode_entities(&out)
}

/// Decodes the html entities Webex emits (`&amp; &lt; &gt; &quot; &apos; &#39; &#x27; &nbsp;`).
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or_default());
        let entity = rest.get(amp..).unwrap_or_default();
        match entity.find(';').filter(|end| *end <= 10) {
            Some(end) => match decode_entity(entity.get(1..end).unwrap_or_default()) {
                Some(c) => {
                    out.push(c);
                    rest = entity.get(end + 1..).unwrap_or_default();
                }
                None => {
                    out.push('&');
                    rest = entity.get(1..).unwrap_or_default();
                }
            },
            None => {
                out.push('&');
                rest = entity.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// One entity body (between `&` and `;`).
fn decode_entity(body: &str) -> Option<char> {
    let numeric = |digits: &str, radix| {
        u32::from_str_radix(digits, radix)
            .ok()
            .and_then(char::from_u32)
    };
    match body {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => {
            let number = body.strip_prefix('#')?;
            match number.strip_prefix(['x', 'X']) {
                Some(hex) => numeric(hex, 16),
                None => numeric(number, 10),
            }
        }
    }
}

/// The byte index of `needle` (ASCII) in `haystack`, ignoring ASCII case.
fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use webex_api::ids::WebexId;

    const BOT_UUID: &str = "0c4c8f34-70cf-4a3b-9f3e-2b1d1f2a9b01";
    const ALICE_UUID: &str = "7d2f3a55-1c2b-4e5f-8a9b-0c1d2e3f4a5b";

    fn bot_id() -> String {
        WebexId::encode("us", "PEOPLE", BOT_UUID)
    }

    fn mention(id: &str, name: &str) -> String {
        format!(
            r#"<spark-mention data-object-type="person" data-object-id="{id}">{name}</spark-mention>"#
        )
    }

    fn strip(text: &str, html: Option<&str>) -> StrippedText {
        strip_bot_mention(text, html, &bot_id(), "Molt Bot")
    }

    #[test]
    fn base64_id_mention_at_start() {
        let html = format!("<p>{} what's up?</p>", mention(&bot_id(), "Molt Bot"));
        let out = strip("Molt Bot what's up?", Some(&html));
        assert_eq!(out.text, "what's up?");
        assert!(out.mentioned_bot);
    }

    #[test]
    fn raw_uuid_id_in_any_case() {
        let html = format!("{}, hello", mention(&BOT_UUID.to_uppercase(), "Molt Bot"));
        let out = strip("Molt Bot, hello", Some(&html));
        assert_eq!(out.text, "hello");
        assert!(out.mentioned_bot);
    }

    #[test]
    fn padded_id() {
        let unpadded = WebexId::encode("us", "PEOPLE", BOT_UUID);
        let padded = format!("{unpadded}{}", "=".repeat((4 - unpadded.len() % 4) % 4));
        assert!(padded.ends_with('='));
        let html = format!("{}: ping", mention(&padded, "Molt"));
        let out = strip("Molt: ping", Some(&html));
        assert_eq!(out.text, "ping");
        assert!(out.mentioned_bot);
    }

    #[test]
    fn url_safe_alphabet_id() {
        // Real uuids never encode to `+`/`/`; this odd one does, to exercise the URL-safe form.
        let bot = WebexId::encode("us", "PEOPLE", "ab?>~");
        let url_safe = bot.replace('+', "-").replace('/', "_");
        let url_safe = format!("{url_safe}{}", "=".repeat((4 - url_safe.len() % 4) % 4));
        assert_ne!(url_safe.trim_end_matches('='), bot);
        let html = format!("{} ping", mention(&url_safe, "Molt"));
        let out = strip_bot_mention("Molt ping", Some(&html), &bot, "Molt");
        assert_eq!(out.text, "ping");
        assert!(out.mentioned_bot);
    }

    #[test]
    fn attribute_order_and_quotes_may_vary() {
        let html = format!(
            "<spark-mention data-object-id='{}' data-object-type=person>Molt</spark-mention> go",
            bot_id()
        );
        let out = strip("Molt go", Some(&html));
        assert_eq!(out.text, "go");
        assert!(out.mentioned_bot);
    }

    #[test]
    fn mention_in_the_middle() {
        let html = format!("<p>Hey {} can you help?</p>", mention(&bot_id(), "Molt"));
        let out = strip("Hey Molt can you help?", Some(&html));
        assert_eq!(out.text, "Hey can you help?");
        let html = format!("<p>Thanks {}, great</p>", mention(&bot_id(), "Molt"));
        assert_eq!(
            strip("Thanks Molt, great", Some(&html)).text,
            "Thanks, great"
        );
    }

    #[test]
    fn other_peoples_mentions_are_kept() {
        let alice = WebexId::encode("us", "PEOPLE", ALICE_UUID);
        let html = format!(
            "<p>{} ask {} about it</p>",
            mention(&bot_id(), "Molt"),
            mention(&alice, "Alice")
        );
        let out = strip("Molt ask Alice about it", Some(&html));
        assert_eq!(out.text, "ask Alice about it");
        assert!(out.mentioned_bot);
    }

    #[test]
    fn same_first_name_as_the_bot_is_not_removed() {
        // Alice's mention renders "Molt" too; only the bot's (second) occurrence goes.
        let alice = WebexId::encode("us", "PEOPLE", ALICE_UUID);
        let html = format!(
            "{} meet {}",
            mention(&alice, "Molt"),
            mention(&bot_id(), "Molt")
        );
        let out = strip("Molt meet Molt", Some(&html));
        assert_eq!(out.text, "Molt meet");
    }

    #[test]
    fn message_without_bot_mention_in_html_falls_back_to_the_name() {
        let alice = WebexId::encode("us", "PEOPLE", ALICE_UUID);
        let html = format!("{} hi", mention(&alice, "Alice"));
        let out = strip("Alice hi", Some(&html));
        assert_eq!(out.text, "Alice hi");
        assert!(!out.mentioned_bot);
    }

    #[test]
    fn html_absent_uses_the_display_name() {
        let out = strip("Molt Bot: summarize this", None);
        assert_eq!(out.text, "summarize this");
        assert!(out.mentioned_bot);
        let out = strip("molt what time is it", None);
        assert_eq!(out.text, "what time is it");
        assert!(out.mentioned_bot);
        let out = strip("Molty is a different word", None);
        assert_eq!(out.text, "Molty is a different word");
        assert!(!out.mentioned_bot);
    }

    #[test]
    fn first_name_only_mention() {
        let html = format!("<p>{} translate: bonjour</p>", mention(&bot_id(), "Molt"));
        let out = strip("Molt translate: bonjour", Some(&html));
        assert_eq!(out.text, "translate: bonjour");
        assert!(out.mentioned_bot);
    }

    #[test]
    fn non_ascii_names() {
        let html = format!("<p>{} ¿qué tal? 😀</p>", mention(&bot_id(), "Zoë Ångström"));
        let out = strip_bot_mention(
            "Zoë Ångström ¿qué tal? 😀",
            Some(&html),
            &bot_id(),
            "Zoë Ångström",
        );
        assert_eq!(out.text, "¿qué tal? 😀");
        let out = strip_bot_mention("zoë, hallo", None, &bot_id(), "Zoë Ångström");
        assert_eq!(out.text, "hallo");
        assert!(out.mentioned_bot);
        let html = format!("{} 你好", mention(&bot_id(), "机器人"));
        assert_eq!(
            strip_bot_mention("机器人 你好", Some(&html), &bot_id(), "机器人").text,
            "你好"
        );
    }

    #[test]
    fn entities_in_names_are_decoded() {
        let html = format!("{} go", mention(&bot_id(), "Q&amp;A Bot"));
        let out = strip_bot_mention("Q&A Bot go", Some(&html), &bot_id(), "Q&A Bot");
        assert_eq!(out.text, "go");
    }

    #[test]
    fn group_mention_all_is_not_the_bot() {
        let html = format!(
            r#"<spark-mention data-object-type="groupMention" data-group-type="all" data-object-id="{}">All</spark-mention> hi"#,
            bot_id()
        );
        let out = strip("All hi", Some(&html));
        assert_eq!(out.text, "All hi");
        assert!(!out.mentioned_bot);
    }

    #[test]
    fn bot_mentioned_twice() {
        let html = format!(
            "{} hello {}",
            mention(&bot_id(), "Molt"),
            mention(&bot_id(), "Molt")
        );
        let out = strip("Molt hello Molt", Some(&html));
        assert_eq!(out.text, "hello");
    }

    #[test]
    fn overlapping_bot_mentions_remove_only_the_mention() {
        // Two renderings of the bot's mention that overlap in `text` ("Molt Bot" and "Molt").
        let html = format!(
            "{} {} go",
            mention(&bot_id(), "Molt Bot"),
            mention(&bot_id(), "Molt")
        );
        let out = strip("Molt Bot go", Some(&html));
        assert_eq!(out.text, "go");
        assert_eq!(
            merge_ranges(vec![(4, 6), (0, 8), (10, 12)]),
            vec![(0, 8), (10, 12)]
        );
    }

    #[test]
    fn malformed_html_does_not_panic() {
        for html in [
            "<spark-mention",
            "<spark-mention data-object-id=\"",
            "<spark-mention data-object-id=x>Molt",
            "&#xZZZZ; <spark-mention>>",
            "<<<>>>",
            "<spark-mention data-object-id",
        ] {
            let out = strip("Molt hi", Some(html));
            assert!(out.text.ends_with("hi"), "{html}: {out:?}");
        }
    }
}
