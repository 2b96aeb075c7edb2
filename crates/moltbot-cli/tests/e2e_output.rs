//! The output hook end to end (issue 12 items 2, 5, 9, 10): what the agent writes is
//! adapted before it is posted — mentions neutralised, tables rendered, no empty code block,
//! a long answer bounded — through the real `moltbot gateway` binary against webex-sim.

#![allow(clippy::unwrap_used)]

use moltbot_testkit::{Scenario, TestHome, World, OPEN_FAST};
use webex_sim::SimMessage;

/// A `command` agent answering each request text with the answer the table in it gives
/// (Python source of a dict from request text to answer; `big` answers 100 000 characters).
fn agent(answers: &str) -> String {
    format!(
        "#!/usr/bin/env python3\nimport json, sys\ntext = json.load(sys.stdin)[\"text\"].strip()\n\
answers = {answers}\n\
if text == \"big\":\n    line = \"abcdefghi \" * 9 + \"abcdefghi\\n\"\n    sys.stdout.write(line * 1000)\n\
else:\n    sys.stdout.write(answers.get(text, \"?\"))\n"
    )
}

const ANSWERS: &str = r#"{
  "all": "<@all> the build is broken",
  "cc": "<@personEmail:bob@example.com|Bob> and <@personEmail:alice@example.com|Alice>: see this",
  "table": "Scores:\n\n| Name | Score |\n| --- | ---: |\n| Alice | 10 |\n| Bob | 7 |\n\nDone.",
  "longline": "Here:\n```\n" + "x" * 7200 + "\n```",
  "short": "Here:\n```sh\n" + "y" * 30 + "\n```\nafter",
  "long-info": "Code:\n```rust title=main.rs linenos=1\n"
    + "\n".join("let x%d = %d;" % (i, i) for i in range(8)) + "\n```\nafter",
  "quote": "> " + "q" * 600,
  "list": "- " + "z" * 600,
  "ordered": "1. " + "n" * 600,
  "think": "<think>" + "r" * 600 + "</think>\n\nThe real answer.",
  "think-long": "<think>" + ("why " * 150) + "</think>\n\n" + ("answer " * 100),
}"#;

/// The bot's messages in `room` as Webex stores them (markdown, mentions).
fn bot_messages(s: &Scenario, room: &SimMessage) -> Vec<SimMessage> {
    s.sim.messages_by(&s.bot, room)
}

/// The bot's text messages in `room`, after checking that the one other message is the whole
/// answer as `reply.md` (a cut reply attaches it; see e2e_replies_out.rs).
fn texts_of_cut_reply(s: &Scenario, room: &SimMessage) -> Vec<String> {
    let (files, texts): (Vec<SimMessage>, Vec<SimMessage>) = bot_messages(s, room)
        .into_iter()
        .partition(|m| !m.files.is_empty());
    assert_eq!(files.len(), 1, "{files:#?}");
    assert_eq!(s.sim.file(&files[0]).unwrap().name, "reply.md");
    texts.iter().map(|m| m.content().to_string()).collect()
}

async fn start(extra: &str) -> Scenario {
    Scenario::start_with_agent("webhook", &format!("{OPEN_FAST} {extra}"), &agent(ANSWERS)).await
}

/// Like [`start`], with `agents.defaults.showReasoning: true`.
async fn start_showing_reasoning(extra: &str) -> Scenario {
    let world = World::new().await;
    let home = TestHome::new();
    let script = home.write_script("agent", &agent(ANSWERS));
    let extra = format!("{OPEN_FAST} {extra}");
    home.write_config(&world.config_with_command_agent(
        "webhook",
        &extra,
        &script,
        "showReasoning: true",
        "",
    ));
    Scenario::start_in(world, home).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_mentions_are_neutralised_except_the_person_answered() {
    let s = start("").await;
    let team = s.sim.space("Team", &["alice", "bob"]);

    // The issue's example: an agent answering `<@all> the build is broken` pings nobody.
    let asked = s.alice().mention_bot(&team, "all").await;
    assert_eq!(
        s.wait_replies(&asked, 1).await,
        ["@all the build is broken"]
    );
    let sent = bot_messages(&s, &asked);
    assert!(sent[0].mentioned_groups.is_empty(), "{:?}", sent[0]);
    assert!(sent[0].mentioned_people.is_empty(), "{:?}", sent[0]);

    // Another person is neutralised; the person answered (Alice) keeps her mention.
    s.alice().mention_bot(&team, "cc").await;
    let texts = s.wait_replies(&team, 2).await;
    assert_eq!(
        texts[1],
        "@Bob and <@personEmail:alice@example.com|Alice>: see this"
    );
    let sent = bot_messages(&s, &asked);
    assert_eq!(sent[1].mentioned_people, vec![s.alice().id().to_string()]);
    assert!(sent[1].mentioned_groups.is_empty());
    s.settled().await;
    assert_eq!(s.bot_texts(&team).len(), 2);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_mentions_true_keeps_them() {
    let s = start("agentMentions: true,").await;
    let team = s.sim.space("Team", &["alice", "bob"]);
    let asked = s.bob().mention_bot(&team, "all").await;
    assert_eq!(
        s.wait_replies(&asked, 1).await,
        ["<@all> the build is broken"]
    );
    assert_eq!(bot_messages(&s, &asked)[0].mentioned_groups, ["all"]);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_becomes_a_code_block_by_default() {
    let s = start("").await;
    let asked = s.alice().dm_bot("table").await;
    assert_eq!(
        s.wait_replies(&asked, 1).await,
        ["Scores:\n\n```\nName  | Score\n------|------\nAlice | 10\nBob   | 7\n```\n\nDone."]
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markdown_tables_bullets_lists_rows() {
    let s = start("markdown: { tables: \"bullets\" },").await;
    let asked = s.alice().dm_bot("table").await;
    assert_eq!(
        s.wait_replies(&asked, 1).await,
        ["Scores:\n\n- Alice\n  - Score: 10\n- Bob\n  - Score: 7\n\nDone."]
    );
    s.finish().await;
}

/// No message is only a fence (issue 12 item 5), and the long line is split inside its fence.
fn assert_no_empty_block(texts: &[String], marker: char, expected: usize) {
    for text in texts {
        let inside: String = text
            .lines()
            .filter(|line| !line.starts_with("```"))
            .collect();
        assert!(!inside.trim().is_empty(), "fence-only message: {text:?}");
    }
    let total: usize = texts.iter().map(|t| t.matches(marker).count()).sum();
    assert_eq!(total, expected, "{texts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_line_longer_than_a_message_is_split_inside_its_fence() {
    let s = start("").await;
    // One 7 200-character line in a fence.
    let asked = s.alice().dm_bot("longline").await;
    s.wait_replies(&asked, 2).await;
    s.settled().await;
    let texts = s.bot_texts(&asked);
    assert_eq!(texts.len(), 3, "Here:, then two halves of the line");
    assert_eq!(texts[0], "Here:");
    for text in &texts[1..] {
        assert!(
            text.starts_with("```\nx") && text.ends_with("x\n```"),
            "{text:.40}"
        );
    }
    assert_no_empty_block(&texts, 'x', 7200);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_20_character_limit_a_30_character_code_line_is_split() {
    let s = start("textChunkLimit: 20, maxReplyMessages: 50,").await;
    let asked = s.alice().dm_bot("short").await;
    s.wait_replies_until(
        &asked,
        moltbot_testkit::wait::TIMEOUT,
        "the last chunk",
        |t| t.last().is_some_and(|t| t.ends_with("after")),
    )
    .await;
    s.settled().await;
    let texts = s.bot_texts(&asked);
    assert_eq!(texts[0], "Here:");
    assert!(texts.iter().all(|t| t.chars().count() <= 20), "{texts:?}");
    assert_no_empty_block(&texts, 'y', 30);
    s.finish().await;
}

/// Issue 12 follow-up: a code block whose opening line takes more than a quarter of
/// `textChunkLimit` was posted unclosed. Each message of the split block now opens with the
/// marker and language (the rest of the info string only picks highlighting) and is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_fence_opening_line_keeps_every_message_a_closed_code_block() {
    let s = start("textChunkLimit: 60, maxReplyMessages: 50,").await;
    let asked = s.alice().dm_bot("long-info").await;
    let texts = s.wait_replies(&asked, 4).await;
    let code = |lines: std::ops::Range<usize>| {
        let lines: Vec<String> = lines.map(|i| format!("let x{i} = {i};")).collect();
        format!("```rust\n{}\n```", lines.join("\n"))
    };
    assert_eq!(
        texts,
        [
            "Code:".to_string(),
            code(0..4),
            code(4..8),
            "after".to_string()
        ]
    );
    s.settled().await;
    assert_eq!(s.bot_texts(&asked).len(), 4);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_kb_answer_is_bounded_to_six_messages() {
    let s = start("").await;
    let asked = s.alice().dm_bot("big").await;
    s.wait_replies(&asked, 7).await;
    s.settled().await;
    let texts = texts_of_cut_reply(&s, &asked);
    assert_eq!(texts.len(), 6);
    let last = texts.last().unwrap();
    let notice = last.lines().last().unwrap();
    assert!(
        notice.starts_with("… (reply cut: ") && notice.ends_with(" more characters not shown)"),
        "{notice}"
    );
    let hidden: usize = notice
        .trim_start_matches("… (reply cut: ")
        .trim_end_matches(" more characters not shown)")
        .parse()
        .unwrap();
    let shown: usize =
        texts.iter().map(|t| t.chars().count()).sum::<usize>() - notice.chars().count();
    // 100 000 characters in all: what is shown and what is said hidden add up (the line
    // breaks dropped at cuts and around the notice aside).
    assert!(
        (99_900..=100_000).contains(&(shown + hidden)),
        "{shown} + {hidden}"
    );
    for text in &texts {
        assert!(text.len() <= 7439 && text.chars().count() <= 7000);
    }
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_reply_messages_sets_the_bound() {
    let s = start("maxReplyMessages: 2,").await;
    let asked = s.alice().dm_bot("big").await;
    s.wait_replies(&asked, 3).await;
    s.settled().await;
    let texts = texts_of_cut_reply(&s, &asked);
    assert_eq!(texts.len(), 2);
    assert!(texts[1].contains("(reply cut: "), "{:.80}", texts[1]);
    assert!(texts[0].starts_with("abcdefghi abcdefghi"));
    s.finish().await;
}

/// Issue 12 review: a quote or list line whose word is longer than `textChunkLimit` posted
/// its marker alone (`>`, `-`) and the rest unquoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_is_never_posted_alone_and_a_quote_stays_quoted() {
    let s = start("textChunkLimit: 500,").await;
    let cases = [
        ("quote", 'q', "> q"),
        ("list", 'z', "- z"),
        ("ordered", 'n', "1. n"),
    ];
    let mut asked = None;
    for (index, (ask, letter, lead)) in cases.into_iter().enumerate() {
        let message = s.alice().dm_bot(ask).await;
        let texts = s.wait_replies(&message, 2 * (index + 1)).await;
        asked = Some(message);
        let mine: Vec<&String> = texts.iter().filter(|t| t.contains(letter)).collect();
        assert_eq!(mine.len(), 2, "{ask}: {texts:?}");
        assert!(mine[0].starts_with(lead), "{ask}: {:.20}", mine[0]);
        let letters: usize = mine.iter().map(|t| t.matches(letter).count()).sum();
        assert_eq!(letters, 600, "{ask}");
        if ask == "quote" {
            assert!(
                mine[1].starts_with("> q"),
                "the quote was lost: {:.20}",
                mine[1]
            );
        }
        for text in &mine {
            assert!(text.chars().count() <= 500);
        }
    }
    s.settled().await;
    let texts = s.bot_texts(asked.unwrap());
    assert_eq!(texts.len(), 6, "{texts:?}");
    assert!(
        texts.iter().all(|t| t.chars().any(char::is_alphanumeric)),
        "a message of markers only: {texts:?}"
    );
    s.finish().await;
}

/// Issue 12 review: with `showReasoning`, `maxReplyMessages: 1` and `textChunkLimit: 500`,
/// 600 characters of reasoning posted `>` and a cut notice, neither reasoning nor answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shown_reasoning_never_pushes_the_answer_out() {
    let s = start_showing_reasoning("textChunkLimit: 500, maxReplyMessages: 1,").await;
    let asked = s.alice().dm_bot("think").await;
    let texts = s.wait_replies(&asked, 1).await;
    assert!(texts[0].starts_with("> rrr"), "{:.40}", texts[0]);
    assert!(texts[0].ends_with("r…\n\nThe real answer."), "{texts:?}");
    assert!(texts[0].chars().count() <= 500);

    // An answer that needs the whole bound: posted as without reasoning (none shown).
    let asked = s.alice().dm_bot("think-long").await;
    s.wait_replies(&asked, 3).await;
    s.settled().await;
    let texts = texts_of_cut_reply(&s, &asked);
    assert!(texts[1].contains("(reply cut: "), "{texts:?}");
    let last = texts.last().unwrap();
    assert!(last.starts_with("answer answer"), "{last:.40}");
    assert!(!last.contains("why"), "{last:.40}");
    s.finish().await;
}
