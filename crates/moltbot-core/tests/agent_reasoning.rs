//! Reasoning blocks taken out of model output, whole or in pieces.
#![allow(clippy::unwrap_used)] // tests may unwrap

use moltbot_core::agent::reasoning::Filtered;
use moltbot_core::agent::{
    clean_history, quote_reasoning, split_reasoning, textless_notice, ReasoningFilter, Role, Turn,
    FILES_NOT_READ,
};
use proptest::prelude::*;

/// The answer of `text`.
fn answer(text: &str) -> String {
    split_reasoning(text).answer
}

/// `pieces` pushed one by one: the answer and reasoning of every push and the finish, joined.
fn streamed(pieces: &[&str]) -> Filtered {
    let mut filter = ReasoningFilter::new();
    let mut out = Filtered::default();
    for piece in pieces {
        let got = filter.push(piece);
        out.answer.push_str(&got.answer);
        out.reasoning.push_str(&got.reasoning);
    }
    let got = filter.finish();
    out.answer.push_str(&got.answer);
    out.reasoning.push_str(&got.reasoning);
    out.reasoning = out.reasoning.trim().to_string();
    out
}

#[test]
fn the_issue_example_keeps_only_the_answer() {
    let split =
        split_reasoning("<think>\nThe user asks about the weather.\n</think>\n\nIt is sunny.");
    assert_eq!(split.answer, "It is sunny.");
    assert_eq!(split.reasoning, "The user asks about the weather.");
}

#[test]
fn every_tag_name_in_any_case() {
    for (open, close) in [
        ("<thinking>", "</thinking>"),
        ("<reasoning>", "</reasoning>"),
        ("<THINK>", "</Think>"),
    ] {
        let split = split_reasoning(&format!("{open}plan{close}Answer."));
        assert_eq!(
            (split.answer.as_str(), split.reasoning.as_str()),
            ("Answer.", "plan"),
            "{open}"
        );
    }
}

#[test]
fn an_unterminated_block_is_all_reasoning() {
    let split = split_reasoning("<think>\nLet me think about this for a long");
    assert_eq!(split.answer, "");
    assert_eq!(split.reasoning, "Let me think about this for a long");
    // ...also when it starts after an answer.
    assert_eq!(
        answer("Short answer.\n<think>and then more thinking"),
        "Short answer."
    );
}

#[test]
fn a_close_without_an_open_ends_the_reasoning_before_it() {
    // DeepSeek-R1's template puts `<think>` in the prompt: the output starts inside the block.
    let split = split_reasoning("Okay, the user wants the weather.\n\n</think>\n\nIt is sunny.");
    assert_eq!(split.answer, "It is sunny.");
    assert_eq!(split.reasoning, "Okay, the user wants the weather.");
    // A closing tag after a complete block is dropped, the text around it kept.
    assert_eq!(answer("<think>a</think>Answer </think> end"), "Answer end");
}

#[test]
fn blocks_between_parts_of_the_answer_leave_one_gap() {
    assert_eq!(
        answer("Before.\n\n<think>x</think>\n\nAfter."),
        "Before.\n\nAfter."
    );
    assert_eq!(answer("Hello<think>x</think> world"), "Hello world");
    assert_eq!(answer("Hello <think>x</think>world"), "Hello world");
    let split = split_reasoning("<think>one</think>A<reasoning>two</reasoning>B");
    assert_eq!(split.answer, "AB");
    assert_eq!(split.reasoning, "one\n\ntwo");
}

#[test]
fn tags_in_code_are_content() {
    let fenced = "Tag your plan like this:\n\n```xml\n<think>plan</think>\n```\n\nDone.";
    assert_eq!(answer(fenced), fenced);
    let tilde = "~~~\n</think>\n<think>\n~~~\nafter";
    assert_eq!(answer(tilde), tilde);
    // A longer fence is not closed by a shorter run inside it.
    let nested = "````md\n```\n<think>x</think>\n```\n````";
    assert_eq!(answer(nested), nested);
    let inline = "Wrap it in `<think>` and `` </think> `` tags.";
    assert_eq!(answer(inline), inline);
    // A fence right after a removed block still counts as a fence.
    assert_eq!(
        answer("<think>x</think>```\n<think>kept</think>\n```"),
        "```\n<think>kept</think>\n```"
    );
    // After the fence closes, tags are reasoning again.
    assert_eq!(
        answer("```\ncode\n```\n<think>x</think>\nok"),
        "```\ncode\n```\nok"
    );
}

#[test]
fn text_that_only_looks_like_tags_is_kept() {
    for text in [
        "a < b and <b>bold</b>",
        "<thinker> is not a tag",
        "Plain answer.",
        "x <think",
        "ends with <",
    ] {
        assert_eq!(answer(text), text);
    }
    assert_eq!(answer("  \n padded \n\n"), "padded");
}

#[test]
fn a_tag_split_across_pieces_is_still_caught() {
    let got = streamed(&["<thi", "nk>\nplan\n</th", "ink>\n\nIt is", " sunny."]);
    assert_eq!(got.answer, "It is sunny.");
    assert_eq!(got.reasoning, "plan");
    let got = streamed(&["Before `", "`", "<think>`", "` after"]);
    assert_eq!(got.answer, "Before ``<think>`` after");
    let got = streamed(&["``", "`\n<thi", "nk>\n`", "``\n<", "think>x</think>ok"]);
    assert_eq!(got.answer, "```\n<think>\n```\nok");
}

#[test]
fn after_the_first_tag_the_answer_flows_without_waiting_for_the_end() {
    let mut filter = ReasoningFilter::new();
    assert_eq!(filter.push("<think>plan").answer, "");
    assert_eq!(filter.push("</think>\n\nIt is ").answer, "It is");
    assert_eq!(filter.push("sunny <th").answer, " sunny");
    assert_eq!(filter.push("ere").answer, " <there");
    assert_eq!(filter.finish().answer, "");
}

#[test]
fn text_before_any_tag_waits_until_it_is_known_not_to_be_reasoning() {
    let mut filter = ReasoningFilter::new();
    assert_eq!(filter.push("It is sunny").answer, "");
    assert_eq!(filter.finish().answer, "It is sunny");
    let mut filter = ReasoningFilter::new();
    assert_eq!(filter.push("Intro ").answer, "");
    assert_eq!(filter.push("<think>").answer, "Intro");
}

#[test]
fn quote_prefixes_every_line_and_cuts_long_reasoning() {
    assert_eq!(
        quote_reasoning("\nfirst\n\nsecond\n", 100),
        "> first\n>\n> second"
    );
    assert_eq!(quote_reasoning("abcdef", 3), "> abc…");
}

#[test]
fn history_loses_empty_turns_and_stored_reasoning() {
    let history = vec![
        Turn::user(""),
        Turn::assistant("<think>old reasoning</think>Hello!"),
        Turn::user("  "),
        Turn::assistant("<think>only reasoning</think>"),
        Turn::user("What now?"),
    ];
    let cleaned = clean_history(&history);
    let got: Vec<(Role, &str)> = cleaned.iter().map(|t| (t.role, t.text.as_str())).collect();
    assert_eq!(
        got,
        [(Role::Assistant, "Hello!"), (Role::User, "What now?")]
    );
    // A user's own `<think>` is what they wrote.
    assert_eq!(
        clean_history(&[Turn::user("<think>me</think>")])[0].text,
        "<think>me</think>"
    );
}

#[test]
fn messages_without_text_get_a_notice() {
    assert_eq!(textless_notice("hello", false), None);
    assert_eq!(textless_notice("hello", true), None);
    assert_eq!(textless_notice(" \n", true), Some(FILES_NOT_READ));
    assert_eq!(
        textless_notice("", false),
        Some(moltbot_core::agent::help_text())
    );
}

/// Pieces of text that exercise every rule, glued at random.
fn fragment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "<think>",
        "</think>",
        "<thinking>",
        "</THINKING>",
        "<reasoning>",
        "</reasoning>",
        "<th",
        "<",
        "/",
        ">",
        "```",
        "~~~",
        "````",
        "`",
        "``",
        "\n",
        "\n\n",
        " ",
        "   ",
        "a",
        "é",
        "word",
        "日本",
        "It is sunny.",
    ])
}

/// `text` cut at the `cuts` that fall on character boundaries.
fn cut<'a>(text: &'a str, cuts: &[prop::sample::Index]) -> Vec<&'a str> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(text.len() + 1)).collect();
    points.retain(|p| text.is_char_boundary(*p));
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut last = 0;
    for p in points {
        pieces.push(&text[last..p]);
        last = p;
    }
    pieces.push(&text[last..]);
    pieces
}

proptest! {
    #[test]
    fn any_split_gives_the_whole_text_result(
        parts in prop::collection::vec(fragment(), 0..40),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let text: String = parts.concat();
        prop_assert_eq!(streamed(&cut(&text, &cuts)), split_reasoning(&text));
    }

    #[test]
    fn any_text_any_split_never_panics_and_agrees(
        text in any::<String>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        prop_assert_eq!(streamed(&cut(&text, &cuts)), split_reasoning(&text));
    }

    #[test]
    fn reasoning_in_a_block_never_reaches_the_answer(
        before in "[a-z .\n]{0,30}",
        secret in "[a-z .\n]{0,30}",
        after in "[a-z .\n]{0,30}",
    ) {
        let text = format!("{before}<think>SECRET{secret}</think>{after}");
        let split = split_reasoning(&text);
        prop_assert!(!split.answer.contains("SECRET"), "{:?}", split);
        prop_assert!(!split.answer.contains("think>"), "{:?}", split);
        prop_assert_eq!(split.answer.starts_with(char::is_whitespace), false);
        prop_assert_eq!(split.answer.ends_with(char::is_whitespace), false);
    }
}
