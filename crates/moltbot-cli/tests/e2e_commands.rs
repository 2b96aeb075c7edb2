//! Issue 14 part 4: chat commands, answered by the gateway before the agent, through the real
//! `moltbot` binary against webex-sim and a recording fake model. `/help`, `/new` and
//! `/reset`, `/status` and `/whoami` never reach the model and leave no turn in the session;
//! `/reset` empties it; refused senders get what any of their messages gets, except `/whoami`
//! in a DM; unknown `/words` and look-alikes are ordinary text; `commands.enabled: false`
//! hands every `/word` to the agent.

#![allow(clippy::unwrap_used)]

mod common;

use common::pairing_list;
use moltbot_core::agent::help_text;
use moltbot_core::agent::speakers::GROUP_NOTE;
use moltbot_core::store::InboundState;
use moltbot_testkit::{turns, wait, FakeModel, Scenario, TestHome, World, OPEN};
use serde_json::{json, Value};
use webex_sim::InRoom;

const OPENAI: &str = "openai-completions";

/// A gateway in `mode` with `extra` in `channels.webex`, answering with
/// [`FakeModel::numbered`] (`answer <n>` to its n-th request).
async fn with_model(mode: &str, extra: &str) -> (Scenario, FakeModel) {
    let model = FakeModel::numbered().await;
    let s = Scenario::start_with_model(mode, extra, OPENAI, &model, "").await;
    (s, model)
}

/// Asserts that `text` contains every one of `parts`.
fn assert_contains(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} is not in:\n{text}");
    }
}

/// Waits for the bot's message in `room` that starts with `prefix`; returns it.
async fn wait_reply_starting(s: &Scenario, room: impl InRoom, prefix: &str) -> String {
    let texts = s
        .wait_replies_until(room, wait::TIMEOUT, prefix, |texts| {
            texts.iter().any(|t| t.starts_with(prefix))
        })
        .await;
    texts
        .into_iter()
        .find(|t| t.starts_with(prefix))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_answers_in_a_dm_and_in_a_space_and_unknown_words_reach_the_agent() {
    let (s, model) = with_model("webhook", OPEN).await;

    let dm = s.alice().dm_bot("/help").await;
    let dm_help = s.wait_replies(&dm, 1).await.remove(0);
    assert!(dm_help.starts_with(help_text()), "{dm_help}");
    assert_contains(
        &dm_help,
        &[
            "In our direct chat I remember the last 20 messages",
            "- `/help`: ",
            "- `/new` or `/reset`: ",
            "- `/status`: ",
            "- `/whoami`: ",
        ],
    );
    assert!(!dm_help.contains("mention me first"), "{dm_help}");

    // In a space, after the mention; any letter case, words after it ignored.
    let team = s.sim.space("Team", &["alice", "bob"]);
    s.bob().mention_bot(&team, "/HELP me please").await;
    let space_help = s.wait_replies(&team, 1).await.remove(0);
    assert_contains(
        &space_help,
        &[
            "**Commands** (in a space, mention me first)",
            "shared by everyone in it",
            "- `/whoami`: ",
        ],
    );
    s.settled().await;
    assert!(
        model.requests().is_empty(),
        "the model was asked: {:?}",
        model.requests()
    );

    // Unknown words and look-alikes are ordinary text for the agent.
    let texts = [
        "/weather in Paris",
        "/help@Molty",
        "/ help",
        "see /help",
        "//help",
    ];
    for (n, text) in texts.iter().enumerate() {
        s.alice().dm_bot(text).await;
        s.wait_replies(&dm, n + 2).await;
    }
    s.settled().await;
    // The first request is the first unknown word alone: `/help` left no turn behind.
    let conversations = model.conversations();
    assert_eq!(conversations.len(), texts.len(), "{conversations:?}");
    assert_eq!(conversations[0], turns(&[("user", "/weather in Paris")]));
    let last: Vec<&str> = conversations[texts.len() - 1]
        .iter()
        .filter(|(role, _)| role == "user")
        .map(|(_, content)| content.as_str())
        .collect();
    assert_eq!(last, texts);
    assert_eq!(
        s.bot_texts(&dm)[1..],
        ["answer 1", "answer 2", "answer 3", "answer 4", "answer 5"]
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_forgets_the_conversation_of_a_dm_and_of_a_space() {
    let (s, model) = with_model("webhook", OPEN).await;

    // A DM: the agent's request after /reset has no history.
    let name = s.alice().dm_bot("my name is Alice").await;
    s.wait_replies(&name, 1).await;
    let reset = s.alice().dm_bot("/reset").await;
    let replies = s.wait_replies(&name, 2).await;
    assert!(replies[1].starts_with("Fresh start"), "{}", replies[1]);
    assert_eq!(s.handled(&reset).await, InboundState::Replied);
    s.alice().dm_bot("what's my name?").await;
    assert_eq!(s.wait_replies(&name, 3).await[2], "answer 2");
    assert_eq!(
        Value::Array(model.messages_ending_with("what's my name?")),
        json!([{"role": "user", "content": "what's my name?"}])
    );

    // A space: anyone the group policy admits may reset it, for everyone.
    let team = s.sim.space("Budget", &["alice", "bob"]);
    s.alice().mention_bot(&team, "the budget is approved").await;
    s.wait_replies(&team, 1).await;
    s.bob().mention_bot(&team, "/new").await;
    let replies = s.wait_replies(&team, 2).await;
    assert!(
        replies[1].contains("forgotten this space's conversation"),
        "{}",
        replies[1]
    );
    s.alice().mention_bot(&team, "what was approved?").await;
    s.wait_replies(&team, 3).await;
    assert_eq!(
        Value::Array(model.messages_ending_with("what was approved?")),
        json!([
            {"role": "system", "content": GROUP_NOTE},
            {"role": "user", "content": "[Alice Liddell <alice@example.com>]: what was approved?"}
        ])
    );
    s.settled().await;
    assert_eq!(
        model.requests().len(),
        4,
        "the commands never asked the model"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_the_model_the_mode_the_session_and_the_access() {
    let world = World::new().await;
    let home = TestHome::new();
    let model = FakeModel::numbered().await;
    home.write_config(&world.config_with_model(
        "polling",
        r#"groupAllowFrom: ["bob@example.com"],"#,
        OPENAI,
        &model,
        "",
    ));
    let out = home
        .moltbot()
        .args(["pair", "webex", "alice@example.com"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = Scenario::start_in(world, home).await;

    // Alice, approved, after one exchange.
    let hi = s.alice().dm_bot("hello").await;
    wait_reply_starting(&s, &hi, "answer 1").await;
    s.alice().dm_bot("/status").await;
    let status = wait_reply_starting(&s, &hi, "**Status**").await;
    assert_eq!(
        status,
        "**Status**\n\
         - Model: `fake/test-model`\n\
         - Receive mode: polling\n\
         - Our conversation: 2 messages remembered (at most 20)\n\
         - You: approved (pairing)"
    );

    // Bob, in groupAllowFrom, in a space: not approved for DMs.
    let team = s.sim.space("Team", &["alice", "bob"]);
    s.bob().mention_bot(&team, "/status").await;
    let status = wait_reply_starting(&s, &team, "**Status**").await;
    assert_contains(
        &status,
        &[
            "- Receive mode: polling",
            "- This space's conversation: 0 messages remembered (at most 20)",
            "- You in this space: allowed (you are in groupAllowFrom)",
            "- Your direct messages: not approved yet: send me any other direct message to get \
             a pairing code",
        ],
    );
    s.settled().await;
    assert_eq!(model.requests().len(), 1, "/status never asks the model");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_answers_a_stranger_in_a_dm_but_no_other_command_bypasses_access() {
    // Defaults: dmPolicy "pairing", groupPolicy "allowlist" with nobody in groupAllowFrom.
    let (s, model) = with_model("webhook", "").await;
    let alice = s.sim.person("alice@example.com").unwrap();

    // Not approved, yet answered with what the owner needs; no pairing code is spent.
    let who = s.alice().dm_bot("/whoami").await;
    let answer = s.wait_replies(&who, 1).await.remove(0);
    assert_contains(
        &answer,
        &[
            &format!("- Person id: `{}`", alice.id),
            "- Email: `alice@example.com`",
            "not approved yet",
            "`moltbot pair webex alice@example.com`",
        ],
    );
    assert_eq!(s.handled(&who).await, InboundState::Replied);
    assert!(pairing_list(&s.home).is_empty(), "no pairing request");

    // Any other command from her gets what any message gets: the pairing reply, then nothing.
    let help = s.alice().dm_bot("/help").await;
    let replies = s.wait_replies(&help, 2).await;
    assert!(
        replies[1].contains("moltbot pairing approve webex "),
        "{}",
        replies[1]
    );
    let pending = pairing_list(&s.home);
    assert_eq!(pending.len(), 1);
    let code = pending[0]["code"].as_str().unwrap().to_string();
    let status = s.alice().dm_bot("/status").await;
    assert_eq!(s.handled(&status).await, InboundState::Skipped);

    // With her code pending, /whoami says so, with the code and what to do.
    let again = s.alice().dm_bot("/whoami").await;
    let answer = s.wait_replies(&again, 3).await.remove(2);
    assert_contains(
        &answer,
        &[
            &format!("your pairing code `{code}` is waiting for approval"),
            &format!("ask the owner of this bot to approve it with `moltbot pairing approve webex {code}`"),
        ],
    );
    assert!(
        !answer.contains("send me any other direct message"),
        "{answer}"
    );

    // In a space the group policy refuses Bob: /whoami gets nothing.
    let team = s.sim.space("Team", &["alice", "bob"]);
    let space_who = s.bob().mention_bot(&team, "/whoami").await;
    assert_eq!(s.handled(&space_who).await, InboundState::Skipped);
    s.settled().await;
    assert!(s.bot_texts(&team).is_empty(), "{:?}", s.bot_texts(&team));
    assert_eq!(s.bot_texts(&who).len(), 3, "{:?}", s.bot_texts(&who));
    assert!(model.requests().is_empty());
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_commands_disabled_every_word_goes_to_the_agent() {
    let extra = format!("{OPEN} commands: {{ enabled: false }},");
    let (s, model) = with_model("webhook", &extra).await;

    let help = s.alice().dm_bot("/help").await;
    assert_eq!(s.wait_replies(&help, 1).await, ["answer 1"]);
    s.alice().dm_bot("/reset").await;
    assert_eq!(s.wait_replies(&help, 2).await, ["answer 1", "answer 2"]);
    s.settled().await;
    assert_eq!(
        model.conversations()[1],
        turns(&[
            ("user", "/help"),
            ("assistant", "answer 1"),
            ("user", "/reset"),
        ])
    );
    s.finish().await;
}
