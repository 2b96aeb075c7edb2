//! Property tests for the Webex output hook (`moltbot_webex::output::WebexReplyFilter`).
//!
//! - The messages do not depend on how the answer is split into pieces (streaming): random
//!   split points of random Markdown (mentions, tables, fences, images) give the messages of
//!   the whole text.
//! - With `agentMentions: false` no message mentions anyone but the person answered: no
//!   `<@all>` in any letter case, no `<@personEmail:…>`/`<@personId:…>` token of someone else.
//! - Every message is within the limits (characters, 7439 bytes), not blank, not fence-only,
//!   not only Markdown markers, and a reply has at most `maxReplyMessages` messages.
//! - Shown reasoning never pushes the answer out: an answer that fits the bound on its own is
//!   posted whole after whatever reasoning is shown.

use moltbot_core::gateway::{ConversationKind, ReplyContext, ReplyFilter, SenderInfo};
use moltbot_webex::chunk::{is_fence_only, is_marker_only, MAX_MESSAGE_BYTES};
use moltbot_webex::output::tables::TableMode;
use moltbot_webex::output::{OutputConfig, WebexReplyFilter};
use proptest::prelude::*;

const ALICE_EMAIL: &str = "alice@example.com";

fn context() -> ReplyContext {
    ReplyContext::new(
        SenderInfo {
            id: "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9hYWFh".to_string(),
            email: Some(ALICE_EMAIL.to_string()),
            display_name: Some("Alice".to_string()),
        },
        ConversationKind::Group,
        "room",
    )
}

fn run(config: OutputConfig, pieces: &[&str]) -> Vec<String> {
    run_with_reasoning(config, None, pieces)
}

fn run_with_reasoning(
    config: OutputConfig,
    reasoning: Option<&str>,
    pieces: &[&str],
) -> Vec<String> {
    let mut filter: Box<dyn ReplyFilter> = Box::new(WebexReplyFilter::new(config, &context()));
    let mut out = Vec::new();
    if let Some(reasoning) = reasoning {
        out.extend(filter.push_reasoning(reasoning));
        out.extend(filter.end_reasoning());
    }
    for piece in pieces {
        out.extend(filter.push(piece));
    }
    out.extend(filter.finish());
    out
}

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z ]{1,30}",
        1 => Just("\n".to_string()),
        1 => Just("\n\n".to_string()),
        1 => Just("<@all>".to_string()),
        1 => Just("<@ALL> ".to_string()),
        1 => Just("<@personEmail:bob@example.com|Bob>".to_string()),
        1 => Just(format!("<@personEmail:{ALICE_EMAIL}|Alice>")),
        1 => Just("<@personId:Y2lzY29zcGFyazovL3VzL1BFT1BMRS9iYmJi>".to_string()),
        1 => Just("<@".to_string()),
        1 => Just("<".to_string()),
        1 => Just(">".to_string()),
        1 => Just("\n| a | b |\n|---|:-:|\n| 1 | 2 |\n".to_string()),
        1 => Just("| x |".to_string()),
        1 => Just("\n```\n".to_string()),
        1 => Just("![pic](https://x/p.png)".to_string()),
        1 => "[a-z0-9]{40,120}",
    ]
}

fn answer() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..40).prop_map(|parts| parts.concat())
}

fn config() -> impl Strategy<Value = OutputConfig> {
    (
        any::<bool>(),
        prop_oneof![
            Just(TableMode::Code),
            Just(TableMode::Bullets),
            Just(TableMode::Off)
        ],
        prop_oneof![1 => 20usize..80, 1 => 80usize..2000],
        1usize..8,
    )
        .prop_map(|(agent_mentions, tables, limit, max)| OutputConfig {
            agent_mentions,
            tables,
            text_chunk_limit: limit,
            max_reply_messages: max,
        })
}

/// Whether `message` holds a mention token of someone other than Alice.
fn mentions_others(message: &str) -> bool {
    let lower = message.to_lowercase();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("<@") {
        let token = &rest[at..];
        // Only a complete token on one line is a mention (a chunk may end inside one).
        let complete = token
            .find(['>', '\n'])
            .is_some_and(|end| token[end..].starts_with('>'));
        if complete && !token.starts_with(&format!("<@personemail:{ALICE_EMAIL}|")) {
            return true;
        }
        rest = &token[2..];
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_split_gives_the_same_messages(
        text in answer(),
        config in config(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let whole = run(config, &[&text]);
        let mut points: Vec<usize> = cuts
            .iter()
            .map(|cut| cut.index(text.len() + 1))
            .filter(|at| text.is_char_boundary(*at))
            .collect();
        points.sort_unstable();
        points.dedup();
        let mut pieces = Vec::new();
        let mut from = 0;
        for at in points {
            pieces.push(&text[from..at]);
            from = at;
        }
        pieces.push(&text[from..]);
        prop_assert_eq!(&run(config, &pieces), &whole);

        prop_assert!(whole.len() <= config.max_reply_messages);
        for message in &whole {
            prop_assert!(message.chars().count() <= config.text_chunk_limit, "{:?}", message);
            prop_assert!(message.len() <= MAX_MESSAGE_BYTES);
            prop_assert!(!message.trim().is_empty());
            prop_assert!(!is_fence_only(message), "{:?}", message);
            prop_assert!(!is_marker_only(message), "{:?}", message);
            if !config.agent_mentions {
                prop_assert!(!mentions_others(message), "{:?}", message);
            }
        }
    }
}

/// The text of `messages` without whitespace and the markers the chunker may add or repeat
/// (fence lines, quote markers): what must survive of an answer.
fn letters(messages: &[String]) -> String {
    messages
        .concat()
        .chars()
        .filter(|c| !c.is_whitespace() && !"`~>".contains(*c))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn shown_reasoning_never_pushes_the_answer_out(
        reasoning in prop::collection::vec("[a-z ]{1,60}|\n|[a-z]{80,300}", 1..20)
            .prop_map(|parts| format!("> {}", parts.concat().replace('\n', "\n> "))),
        text in answer(),
        config in config(),
    ) {
        let alone = run(config, &[&text]);
        let shown = run_with_reasoning(config, Some(&reasoning), &[&text]);
        prop_assert!(shown.len() <= config.max_reply_messages);
        for message in &shown {
            prop_assert!(message.chars().count() <= config.text_chunk_limit, "{:?}", message);
            prop_assert!(!message.trim().is_empty() && !is_marker_only(message), "{:?}", message);
        }
        let cut = alone.last().is_some_and(|last| last.contains("(reply cut") || last.contains("… (+") || last.ends_with('…'));
        if !cut {
            prop_assert!(
                letters(&shown).ends_with(&letters(&alone)),
                "answer {:?} not whole in {:?}",
                alone,
                shown
            );
        }
    }
}

/// The checker must see a mention of someone else, or the property above proves nothing.
#[test]
fn the_checker_sees_other_mentions() {
    assert!(mentions_others("hi <@all>"));
    assert!(mentions_others("<@personEmail:bob@example.com|Bob>"));
    assert!(!mentions_others(
        "<@personEmail:alice@example.com|Alice> <\u{200B}@all"
    ));
}
