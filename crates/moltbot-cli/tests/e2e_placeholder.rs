//! "Working on it...": the real `moltbot gateway` binary against webex-sim over HTTP. A slow
//! agent shows one placeholder, which gives way to the answer (deleted, so the answer is a new
//! message that notifies) or becomes the apology (edited); a fast agent, or
//! `typingDelaySeconds: 0`, never shows one.

#![allow(clippy::unwrap_used)]

use moltbot_core::agent::APOLOGY;
use moltbot_core::gateway::PLACEHOLDER_TEXT;
use moltbot_testkit::{slow_echo_agent, wait, Scenario, TestHome, World, OPEN};
use webex_sim::{Marker, RecordedRequest, Scan, SimFile, SimMessage};

/// A failing `command` agent that thinks a while first.
const SLOW_FAILING_AGENT: &str = "#!/bin/sh\ncat >/dev/null\nsleep 1\nexit 3\n";

/// A scenario in webhook mode whose `command` agent runs `script`, with `agents.defaults`
/// `typingDelaySeconds: delay`.
async fn start(script: &str, delay: &str) -> Scenario {
    let world = World::new().await;
    let home = TestHome::new();
    let script = home.write_script("agent", script);
    home.write_config(&world.config_with_command_agent(
        "webhook",
        OPEN,
        &script,
        &format!("typingDelaySeconds: {delay}"),
        "",
    ));
    Scenario::start_in(world, home).await
}

/// Waits until the bot shows the placeholder in the room of `asked`; returns it.
async fn wait_placeholder(s: &Scenario, asked: &SimMessage) -> SimMessage {
    wait::until(wait::TIMEOUT, || {
        s.sim
            .bot_replies_in(asked)
            .into_iter()
            .find(|m| m.content() == PLACEHOLDER_TEXT)
    })
    .await
    .unwrap_or_else(|_| panic!("no placeholder shown; log:\n{}", s.log()))
}

/// The bot's calls since `mark` that change messages: `(method, path)`.
fn bot_writes(s: &Scenario, mark: Marker) -> Vec<(String, String)> {
    s.sim
        .calls_by(&s.bot, mark)
        .into_iter()
        .filter(|c: &RecordedRequest| c.method != "GET" && c.path.starts_with("/v1/messages"))
        .map(|c| (c.method, c.path))
        .collect()
}

/// `POST /v1/messages`, as [`bot_writes`] lists it.
fn post() -> (String, String) {
    ("POST".to_string(), "/v1/messages".to_string())
}

/// `method /v1/messages/{id}`, as [`bot_writes`] lists it.
fn on(method: &str, id: &str) -> (String, String) {
    (method.to_string(), format!("/v1/messages/{id}"))
}

/// Asserts that `asked` got exactly one message from the bot, the answer `text`, and that the
/// bot changed nothing else since `mark` (no placeholder posted, edited or deleted).
async fn assert_answered_without_placeholder(
    s: &Scenario,
    mark: Marker,
    asked: &SimMessage,
    text: &str,
) {
    assert_eq!(s.wait_replies(asked, 1).await, [text]);
    s.settled().await;
    assert_eq!(s.bot_texts(asked), [text]);
    assert_eq!(bot_writes(s, mark), [post()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_replaces_its_placeholder_in_the_thread() {
    let s = start(&slow_echo_agent("1.5"), "0.2").await;
    let team = s.sim.space("Team", &["alice", "bob"]);
    let top = s.bob().post(&team, "the build is red").await;
    let mark = s.sim.mark();
    let asked = s
        .alice()
        .reply_in_thread(&top, &format!("<@personEmail:{}|Molty> why?", s.bot.email))
        .await;

    // While the agent thinks: one placeholder, where the answer will go (the thread).
    let placeholder = wait_placeholder(&s, &asked).await;
    assert_eq!(placeholder.parent_id.as_deref(), Some(top.id.as_str()));

    // Then the answer, alone: the placeholder is gone.
    let texts = s
        .wait_replies_until(&team, wait::TIMEOUT, "the answer alone", |t| {
            t == ["why?".to_string()]
        })
        .await;
    assert_eq!(texts, ["why?"]);
    s.settled().await;
    let answer = s.sim.bot_replies_in(&team).pop().unwrap();
    assert_eq!(answer.parent_id.as_deref(), Some(top.id.as_str()));
    assert!(
        answer.updated.is_none(),
        "the answer is a new message, not an edit"
    );
    assert_ne!(answer.id, placeholder.id);
    // Exactly: the placeholder posted, deleted, the answer posted (never a second placeholder).
    assert_eq!(
        bot_writes(&s, mark),
        [post(), on("DELETE", &placeholder.id), post()]
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_still_being_scanned_shows_the_placeholder_while_it_is_fetched() {
    // A quick agent: the wait is the file's virus scan (two 423s, Retry-After: 1 s), which
    // the typing delay covers as much as the agent's thinking.
    let s = start(&slow_echo_agent("0"), "0.2").await;
    s.sim.new_files_scan_as(Scan::scanning(2, 1));
    let mark = s.sim.mark();
    let asked = s
        .alice()
        .sends_file_to_bot(SimFile::text("plan.md", "# Plan\n"), "read this")
        .await;
    let placeholder = wait_placeholder(&s, &asked).await;
    let texts = s
        .wait_replies_until(&asked, wait::TIMEOUT, "the answer alone", |t| {
            t == ["read this".to_string()]
        })
        .await;
    assert_eq!(texts, ["read this"]);
    s.settled().await;
    assert_eq!(s.bot_texts(&asked), ["read this"]);
    // Exactly one placeholder, posted while the file was still being scanned (before it was
    // served), then deleted for the answer.
    assert_eq!(
        bot_writes(&s, mark),
        [post(), on("DELETE", &placeholder.id), post()]
    );
    let calls = s.sim.calls_by(&s.bot, mark);
    let posted = calls
        .iter()
        .position(|c| c.method == "POST" && c.path == "/v1/messages")
        .unwrap();
    let scanning = calls
        .iter()
        .filter(|c| c.path.starts_with("/v1/contents/"))
        .map(|c| c.status)
        .collect::<Vec<_>>();
    assert_eq!(scanning, [423, 423, 200], "{calls:?}");
    let served = calls
        .iter()
        .position(|c| c.path.starts_with("/v1/contents/") && c.status == 200)
        .unwrap();
    assert!(posted < served, "{calls:?}");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placeholder_that_cannot_be_posted_is_not_tried_again() {
    let s = start(&slow_echo_agent("1"), "0.2").await;
    let asked = s.alice().dm_bot("go on without it").await;
    let mark = s.sim.mark();
    // The bot's next post (the placeholder, 0.2 s into the agent's second) fails.
    s.sim.fail_next("POST", "/v1/messages", 500, 1);
    assert_eq!(s.wait_replies(&asked, 1).await, ["go on without it"]);
    s.settled().await;
    assert_eq!(s.bot_texts(&asked), ["go on without it"]);
    let posts: Vec<u16> = s
        .sim
        .calls_by(&s.bot, mark)
        .iter()
        .filter(|c| c.method == "POST" && c.path == "/v1/messages")
        .map(|c| c.status)
        .collect();
    assert_eq!(posts, [500, 200], "the failed placeholder, then the answer");
    assert!(bot_writes(&s, mark)
        .iter()
        .all(|(method, _)| method == "POST"));
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_agent_turns_its_placeholder_into_the_apology() {
    let s = start(SLOW_FAILING_AGENT, "0.2").await;
    let mark = s.sim.mark();
    let asked = s.alice().dm_bot("this will break").await;
    let placeholder = wait_placeholder(&s, &asked).await;

    s.wait_replies_until(&asked, wait::TIMEOUT, "the apology", |t| t == [APOLOGY])
        .await;
    s.settled().await;
    let replies = s.sim.bot_replies_in(&asked);
    assert_eq!(replies.len(), 1, "one message: the edited placeholder");
    assert_eq!(replies[0].id, placeholder.id);
    assert_eq!(replies[0].content(), APOLOGY);
    assert!(replies[0].updated.is_some(), "edited");
    assert_eq!(bot_writes(&s, mark), [post(), on("PUT", &placeholder.id)]);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_agent_never_shows_a_placeholder() {
    // The built-in echo agent answers at once, well within 0.2 s.
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&world.config("webhook", OPEN).replace(
        "  channels: {",
        "  agents: { defaults: { typingDelaySeconds: 0.2 } },\n  channels: {",
    ));
    let s = Scenario::start_in(world, home).await;
    let mark = s.sim.mark();
    let asked = s.alice().dm_bot("quick one").await;
    assert_answered_without_placeholder(&s, mark, &asked, "quick one").await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_delay_zero_never_shows_a_placeholder() {
    let s = start(&slow_echo_agent("1"), "0").await;
    let mark = s.sim.mark();
    let asked = s.alice().dm_bot("take your time").await;
    s.wait_agent_asked("take your time").await;
    assert_answered_without_placeholder(&s, mark, &asked, "take your time").await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_while_the_agent_thinks_reuses_the_placeholder_after_restart() {
    let mut s = start(&slow_echo_agent("1.5"), "0.2").await;
    let mark = s.sim.mark();
    let asked = s.alice().dm_bot("survive this").await;
    let placeholder = wait_placeholder(&s, &asked).await;
    // The placeholder is on record (what the next run finds) before the gateway dies.
    let key = format!("webex/{}", asked.id);
    wait::until_async(wait::TIMEOUT, || async {
        let kv = s.gateway().ledger().store().kv();
        kv.get("placeholder", &key).await.ok().flatten()
    })
    .await
    .expect("the placeholder is recorded");
    s.kill_gateway().await;
    assert_eq!(s.bot_texts(&asked), [PLACEHOLDER_TEXT]);

    // The next run asks the agent again (slow again) and uses the same placeholder: one
    // placeholder in all, deleted, then the answer.
    s.start_gateway().await;
    s.wait_replies_until(&asked, wait::TIMEOUT, "the answer alone", |t| {
        t == ["survive this".to_string()]
    })
    .await;
    s.settled().await;
    let writes = bot_writes(&s, mark);
    assert_eq!(writes, [post(), on("DELETE", &placeholder.id), post()]);
    let kv = s.gateway().ledger().store().kv();
    assert_eq!(
        kv.get("placeholder", &key).await.unwrap(),
        None,
        "record cleared"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placeholder_webex_will_not_delete_stays_and_the_answer_still_comes() {
    let s = start(&slow_echo_agent("1"), "0.2").await;
    let asked = s.alice().dm_bot("answer anyway").await;
    wait_placeholder(&s, &asked).await;
    s.sim.fail_next("DELETE", "/v1/messages", 403, 1);
    s.wait_replies_until(&asked, wait::TIMEOUT, "the answer", |t| {
        t.last().is_some_and(|last| last == "answer anyway")
    })
    .await;
    s.settled().await;
    assert_eq!(s.bot_texts(&asked), [PLACEHOLDER_TEXT, "answer anyway"]);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placeholder_webex_will_not_edit_gives_way_to_a_posted_apology() {
    let s = start(SLOW_FAILING_AGENT, "0.2").await;
    s.sim.refuse_edits();
    let mark = s.sim.mark();
    let asked = s.alice().dm_bot("this will break, and no edits").await;
    let placeholder = wait_placeholder(&s, &asked).await;

    s.wait_replies_until(&asked, wait::TIMEOUT, "the apology alone", |t| {
        t == [APOLOGY]
    })
    .await;
    s.settled().await;
    assert_eq!(s.bot_texts(&asked), [APOLOGY]);
    // The refused edit, the apology posted instead, the placeholder taken away.
    assert_eq!(
        bot_writes(&s, mark),
        [
            post(),
            on("PUT", &placeholder.id),
            post(),
            on("DELETE", &placeholder.id)
        ]
    );
    s.finish().await;
}
