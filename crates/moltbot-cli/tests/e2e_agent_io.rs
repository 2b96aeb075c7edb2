//! What goes to a model provider and what comes back, through the binary against webex-sim and
//! a recording fake provider: reasoning is neither posted nor fed back, and no request carries
//! an empty turn or ends on anything but the new user message.

#![allow(clippy::unwrap_used)] // tests may unwrap

use moltbot_core::agent::{help_text, NO_ANSWER};
use moltbot_testkit::{anthropic_answer, openai_answer, turns, FakeModel, Scenario, OPEN};
use serde_json::json;
use webex_sim::SimFile;

const OPENAI: &str = "openai-completions";
const ANTHROPIC: &str = "anthropic-messages";

/// Every request's turns have content and the last one is a user turn; none mentions `absent`.
fn assert_well_formed(model: &FakeModel, absent: &str) {
    for conversation in model.conversations() {
        let last = conversation.last().unwrap();
        assert_eq!(last.0, "user", "{conversation:?}");
        assert!(
            conversation
                .iter()
                .all(|(_, content)| !content.trim().is_empty()),
            "an empty turn was sent: {conversation:?}"
        );
        assert!(
            conversation
                .iter()
                .all(|(_, content)| !content.contains(absent)),
            "{absent:?} was sent: {conversation:?}"
        );
    }
}

/// Alice asks about the weather twice in a DM (the model always answers "It is sunny.", with
/// `reasoning` in some form); returns what the bot posted. Checks that the second request
/// carries the first exchange without any reasoning, and that every request is well formed.
async fn weather_twice(s: Scenario, model: &FakeModel, reasoning: &str) -> Vec<String> {
    let first = s.alice().dm_bot("What's the weather?").await;
    s.wait_replies(&first, 1).await;
    s.alice().dm_bot("And tomorrow?").await;
    let posted = s.wait_replies(&first, 2).await;
    s.settled().await;
    let conversations = model.conversations();
    assert_eq!(conversations.len(), 2, "{conversations:?}");
    assert_eq!(
        conversations[1],
        turns(&[
            ("user", "What's the weather?"),
            ("assistant", "It is sunny."),
            ("user", "And tomorrow?"),
        ])
    );
    assert_well_formed(model, reasoning);
    s.finish().await;
    posted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn think_blocks_are_neither_posted_nor_fed_back() {
    let model = FakeModel::start(vec![openai_answer(
        "<think>\nThe user wants the weather. Check the sky.\n</think>\n\nIt is sunny.",
        json!({}),
    )])
    .await;
    let s = Scenario::start_with_model("webhook", OPEN, OPENAI, &model, "").await;
    assert_eq!(
        weather_twice(s, &model, "sky").await,
        ["It is sunny.", "It is sunny."]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_reasoning_is_quoted_with_show_reasoning_and_never_fed_back() {
    let model = FakeModel::start(vec![openai_answer(
        "It is sunny.",
        json!({"reasoning_content": "The sky is clear.\nNo clouds."}),
    )])
    .await;
    let s =
        Scenario::start_with_model("polling", OPEN, OPENAI, &model, "showReasoning: true").await;
    let posted = "> The sky is clear.\n> No clouds.\n\nIt is sunny.";
    assert_eq!(weather_twice(s, &model, "sky").await, [posted, posted]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_thinking_blocks_are_not_posted() {
    let model = FakeModel::start(vec![anthropic_answer(json!([
        {"type": "thinking", "thinking": "Clear sky, so sunny.", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "It is sunny."}
    ]))])
    .await;
    let s = Scenario::start_with_model("webhook", OPEN, ANTHROPIC, &model, "").await;
    assert_eq!(
        weather_twice(s, &model, "sky").await,
        ["It is sunny.", "It is sunny."]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_mention_gets_the_help_line_without_asking_the_model() {
    let model = FakeModel::start(vec![openai_answer("Sure.", json!({}))]).await;
    let s = Scenario::start_with_model("webhook", OPEN, OPENAI, &model, "").await;
    let team = s.sim.space("Team", &["alice", "bob"]);

    // The first message of the space is a bare mention.
    s.alice().mention_bot(&team, "").await;
    assert_eq!(s.wait_replies(&team, 1).await, [help_text()]);
    s.settled().await;
    assert!(
        model.requests().is_empty(),
        "the model was asked: {:?}",
        model.requests()
    );

    // Later in the conversation: again the help line, and it leaves no turn behind.
    s.bob().mention_bot(&team, "deploy status?").await;
    s.wait_replies(&team, 2).await;
    s.alice().mention_bot(&team, " ").await;
    s.wait_replies(&team, 3).await;
    s.bob().mention_bot(&team, "thanks").await;
    assert_eq!(
        s.wait_replies(&team, 4).await,
        [help_text(), "Sure.", help_text(), "Sure."]
    );

    s.settled().await;
    let conversations = model.conversations();
    assert_eq!(conversations.len(), 2, "{conversations:?}");
    // The help line left no turn: Bob's exchange, then his "thanks" (after the system prompt
    // that explains the speaker prefixes of a space).
    let turns: Vec<&(String, String)> = conversations[1]
        .iter()
        .filter(|(role, _)| role != "system")
        .collect();
    let roles: Vec<&str> = turns.iter().map(|(role, _)| role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "user"], "{conversations:?}");
    assert!(turns[2].1.ends_with("thanks"), "{conversations:?}");
    assert_well_formed(&model, help_text());
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_only_dm_reaches_the_model_with_its_file_and_the_history_keeps_a_note() {
    for api in [OPENAI, ANTHROPIC] {
        let answer = if api == OPENAI {
            openai_answer("Hello!", json!({}))
        } else {
            anthropic_answer(json!([{"type": "text", "text": "Hello!"}]))
        };
        let model = FakeModel::start(vec![answer]).await;
        let s = Scenario::start_with_model("webhook", OPEN, api, &model, "").await;

        let hi = s.alice().dm_bot("Hi").await;
        assert_eq!(s.wait_replies(&hi, 1).await, ["Hello!"]);
        s.alice()
            .sends_file_to_bot(SimFile::text("notes.txt", "remember the milk"), "")
            .await;
        assert_eq!(s.wait_replies(&hi, 2).await, ["Hello!", "Hello!"], "{api}");
        s.settled().await;
        let with_file = model.conversations()[1].last().unwrap().1.clone();
        assert!(
            with_file.contains("[file: notes.txt, text/plain]")
                && with_file.contains("remember the milk"),
            "{api}: the file reached the model: {with_file}"
        );

        // A file on another host is never fetched with the bot token: the model is told.
        s.alice()
            .try_send(json!({
                "toPersonEmail": s.bot.email,
                "files": ["https://files.example.com/report.pdf"],
            }))
            .await
            .unwrap();
        s.wait_replies(&hi, 3).await;
        s.settled().await;
        let foreign = model.conversations()[2].last().unwrap().1.clone();
        assert!(
            foreign.contains("not available (could not be downloaded)"),
            "{api}: {foreign}"
        );

        s.alice().dm_bot("What can you do?").await;
        s.wait_replies(&hi, 4).await;
        s.settled().await;
        let later = &model.conversations()[3];
        assert_eq!(
            later[2],
            (
                "user".to_string(),
                "[file: notes.txt, text/plain]".to_string()
            ),
            "{api}: the history keeps a note, not the file: {later:?}"
        );
        assert!(
            later
                .iter()
                .all(|(_, text)| !text.contains("remember the milk")),
            "{api}: {later:?}"
        );
        assert_well_formed(&model, "\u{0}");
        s.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_is_only_reasoning_posts_a_notice_and_leaves_no_turn() {
    let model = FakeModel::start(vec![
        openai_answer(
            "<think>\nThe user asks about the weather. Let me",
            json!({}),
        ),
        openai_answer("It is sunny.", json!({})),
    ])
    .await;
    let s = Scenario::start_with_model("webhook", OPEN, OPENAI, &model, "").await;

    let first = s.alice().dm_bot("What's the weather?").await;
    assert_eq!(s.wait_replies(&first, 1).await, [NO_ANSWER]);
    s.alice().dm_bot("Weather, please?").await;
    assert_eq!(s.wait_replies(&first, 2).await, [NO_ANSWER, "It is sunny."]);

    s.settled().await;
    assert_eq!(
        model.conversations()[1],
        turns(&[("user", "Weather, please?")])
    );
    assert_well_formed(&model, "Let me");
    s.finish().await;
}
