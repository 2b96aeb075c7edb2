//! `agents.defaults.streaming`: the real `moltbot gateway` binary against webex-sim over HTTP,
//! with a model that streams its answer slowly as server-sent events. The placeholder shows
//! the answer as it arrives (a few coalesced edits, within Webex's 10) and keeps the final
//! text; edits Webex refuses fall back to a normal post; a stream that breaks off midway
//! becomes the apology.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use moltbot_core::agent::APOLOGY;
use moltbot_core::gateway::PLACEHOLDER_TEXT;
use moltbot_testkit::{
    anthropic_stream, openai_answer, openai_stream, wait, FakeModel, Scenario, SlowStream, OPEN,
};
use serde_json::json;
use webex_sim::{Faults, Marker, SimMessage};

const OPENAI: &str = "openai-completions";
const ANTHROPIC: &str = "anthropic-messages";

/// Streaming on, with the placeholder after 0.2 s.
const STREAMING: &str = "typingDelaySeconds: 0.2, streaming: true";

/// The pieces of a long answer (about 1350 characters), and the answer they make.
fn long_answer(sentences: usize) -> (Vec<String>, String) {
    let pieces: Vec<String> = (1..=sentences)
        .map(|i| format!("Sentence {i:02} of the long answer, told slowly. "))
        .collect();
    let whole = pieces.concat().trim().to_string();
    (pieces, whole)
}

/// The bot's calls since `mark` that change messages: `(method, path, status)`.
fn bot_writes(s: &Scenario, mark: Marker) -> Vec<(String, String, u16)> {
    s.sim
        .calls_by(&s.bot, mark)
        .into_iter()
        .filter(|c| c.method != "GET" && c.path.starts_with("/v1/messages"))
        .map(|c| (c.method, c.path, c.status))
        .collect()
}

/// Waits until the room of `asked` holds exactly the bot messages `want`; then waits for the
/// gateway to settle and checks that nothing else came.
async fn wait_exactly(s: &Scenario, asked: &SimMessage, want: &[&str]) -> Vec<SimMessage> {
    s.wait_replies_until(asked, wait::TIMEOUT, "the final text", |t| t == want)
        .await;
    s.settled().await;
    assert_eq!(s.bot_texts(asked), want);
    s.sim.bot_replies_in(asked)
}

/// The edits among `writes`: `(path, status)`.
fn edits(writes: &[(String, String, u16)]) -> Vec<(String, u16)> {
    writes
        .iter()
        .filter(|(method, _, _)| method == "PUT")
        .map(|(_, path, status)| (path.clone(), *status))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_stream_is_shown_in_the_placeholder_which_keeps_the_answer() {
    let (mut pieces, answer) = long_answer(30);
    // Reasoning first: never shown, neither while streaming nor at the end.
    pieces.insert(0, "<think>The user wants a long answer.".to_string());
    pieces.insert(1, " Take it slowly.</think>\n\n".to_string());
    let model = FakeModel::streaming(SlowStream::new(
        openai_stream(&pieces),
        Duration::from_millis(150),
    ))
    .await;
    let s = Scenario::start_with_model("webhook", OPEN, OPENAI, &model, STREAMING).await;
    let mark = s.sim.mark();
    let asked = s.alice().dm_bot("tell me a long story").await;

    let replies = wait_exactly(&s, &asked, &[&answer]).await;
    let kept = &replies[0];
    assert!(kept.updated.is_some(), "the placeholder, edited");

    // One placeholder, edited a few times (coalesced, within Webex's 10), never deleted.
    let writes = bot_writes(&s, mark);
    assert_eq!(
        writes[0],
        ("POST".to_string(), "/v1/messages".to_string(), 200),
        "{writes:?}"
    );
    assert_eq!(
        writes.iter().filter(|w| w.0 == "POST").count(),
        1,
        "{writes:?}"
    );
    assert!(writes.iter().all(|w| w.0 != "DELETE"), "{writes:?}");
    let edits = edits(&writes);
    assert!(
        (3..=10).contains(&edits.len()),
        "a few streaming edits and the final one: {writes:?}"
    );
    let path = format!("/v1/messages/{}", kept.id);
    assert!(
        edits.iter().all(|(p, status)| *p == path && *status == 200),
        "{edits:?}"
    );
    assert_eq!(model.requests()[0]["stream"], true);
    assert_eq!(
        s.gateway()
            .metric("moltbot_stream_edits_total{channel=\"webex\"}")
            .await,
        (edits.len() - 1) as f64,
        "every edit but the final one is a streaming edit"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_answer_longer_than_a_message_continues_in_new_messages() {
    let (pieces, answer) = long_answer(24);
    let model = FakeModel::streaming(SlowStream::new(
        openai_stream(&pieces),
        Duration::from_millis(120),
    ))
    .await;
    let s = Scenario::start_with_model(
        "webhook",
        &format!("{OPEN}\n      textChunkLimit: 600,"),
        OPENAI,
        &model,
        STREAMING,
    )
    .await;
    let mark = s.sim.mark();
    let asked = s.alice().dm_bot("tell me an even longer story").await;

    let texts = s
        .wait_replies_until(&asked, wait::TIMEOUT, "the whole answer", |t| {
            t.len() >= 2 && t.concat().replace(['\n', ' '], "") == answer.replace(' ', "")
        })
        .await;
    s.settled().await;
    assert_eq!(s.bot_texts(&asked), texts);
    let replies = s.sim.bot_replies_in(&asked);
    // The placeholder holds the first part; the rest came as new messages.
    assert!(replies[0].updated.is_some(), "the edited placeholder first");
    assert!(replies[1..].iter().all(|m| m.updated.is_none()));
    let writes = bot_writes(&s, mark);
    assert_eq!(
        writes.iter().filter(|w| w.0 == "POST").count(),
        replies.len(),
        "the placeholder and the further parts: {writes:?}"
    );
    assert!(writes.iter().all(|w| w.0 != "DELETE"), "{writes:?}");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anthropic_stream_is_shown_without_its_thinking() {
    let (pieces, answer) = long_answer(24);
    let model = FakeModel::streaming(SlowStream::new(
        anthropic_stream(Some("Quietly: tell it slowly."), &pieces),
        Duration::from_millis(150),
    ))
    .await;
    let s = Scenario::start_with_model("polling", OPEN, ANTHROPIC, &model, STREAMING).await;
    let mark = s.sim.mark();
    let asked = s.alice().dm_bot("a story, please").await;

    let replies = wait_exactly(&s, &asked, &[&answer]).await;
    assert!(replies[0].updated.is_some(), "the placeholder, edited");
    let writes = bot_writes(&s, mark);
    let edits = edits(&writes);
    assert!((2..=10).contains(&edits.len()), "{writes:?}");
    assert!(edits.iter().all(|(_, status)| *status == 200), "{edits:?}");
    assert!(writes.iter().all(|w| w.0 != "DELETE"), "{writes:?}");
    assert_eq!(model.requests()[0]["stream"], true);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_webex_refuses_fall_back_to_a_normal_post() {
    let (pieces, answer) = long_answer(20);
    let model = FakeModel::streaming(SlowStream::new(
        openai_stream(&pieces),
        Duration::from_millis(150),
    ))
    .await;
    let s = Scenario::start_with_model("webhook", OPEN, OPENAI, &model, STREAMING).await;
    s.sim.refuse_edits();
    let mark = s.sim.mark();
    let asked = s
        .alice()
        .dm_bot("a story Webex will not let you edit")
        .await;

    let replies = wait_exactly(&s, &asked, &[&answer]).await;
    assert!(replies[0].updated.is_none(), "a new message");
    let writes = bot_writes(&s, mark);
    let placeholder = match &writes[..] {
        [(post, _, 200), (put, edited, 400), (delete, deleted, 204), (post2, _, 200)]
            if post == "POST" && put == "PUT" && delete == "DELETE" && post2 == "POST" =>
        {
            assert_eq!(edited, deleted);
            edited.clone()
        }
        other => panic!(
            "expected placeholder, one refused edit, delete, answer; got {other:?}\n{}",
            s.log()
        ),
    };
    assert_ne!(placeholder, format!("/v1/messages/{}", replies[0].id));
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_breaking_off_midway_becomes_the_apology() {
    let (pieces, _) = long_answer(30);
    let model = FakeModel::streaming(
        SlowStream::new(openai_stream(&pieces), Duration::from_millis(150)).breaking_after(20),
    )
    .await;
    let s = Scenario::start_with_model("webhook", OPEN, OPENAI, &model, STREAMING).await;
    let mark = s.sim.mark();
    let asked = s.alice().dm_bot("a story that never ends").await;

    let replies = wait_exactly(&s, &asked, &[APOLOGY]).await;
    let writes = bot_writes(&s, mark);
    assert_eq!(
        writes.iter().filter(|w| w.0 == "POST").count(),
        1,
        "{writes:?}"
    );
    let path = format!("/v1/messages/{}", replies[0].id);
    assert!(edits(&writes)
        .iter()
        .all(|(p, status)| *p == path && *status == 200));
    assert_eq!(
        model.requests().len(),
        1,
        "a broken stream is not asked again"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_streaming_the_placeholder_gives_way_to_the_answer() {
    let (pieces, answer) = long_answer(12);
    let model = FakeModel::streaming(
        SlowStream::new(openai_stream(&pieces), Duration::from_millis(100))
            .answering_plain_requests_with(openai_answer(&answer, json!({}))),
    )
    .await;
    let s = Scenario::start_with_model("webhook", OPEN, OPENAI, &model, "typingDelaySeconds: 0.2")
        .await;
    let mark = s.sim.mark();
    let asked = s.alice().dm_bot("no streaming here").await;
    let answered = s
        .wait_replies_until(&asked, wait::TIMEOUT, "the answer", |t| {
            t.len() == 1 && t[0] != PLACEHOLDER_TEXT
        })
        .await;
    s.settled().await;
    assert_eq!(answered, [answer.as_str()]);
    let writes: Vec<String> = bot_writes(&s, mark).into_iter().map(|w| w.0).collect();
    assert_eq!(writes, ["POST", "DELETE", "POST"]);
    assert!(model.requests()[0].get("stream").is_none());
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_edit_never_makes_a_second_placeholder() {
    let (pieces, answer) = long_answer(24);
    let model = FakeModel::streaming(SlowStream::new(
        openai_stream(&pieces),
        Duration::from_millis(150),
    ))
    .await;
    let s = Scenario::start_with_model("webhook", OPEN, OPENAI, &model, STREAMING).await;
    s.sim.set_faults(Faults {
        retry_after_seconds: Some(1),
        ..Faults::default()
    });
    // The first edit is answered 429.
    s.sim.fail_next("PUT", "/v1/messages", 429, 1);
    let mark = s.sim.mark();
    let asked = s.alice().dm_bot("a story under pressure").await;

    wait_exactly(&s, &asked, &[&answer]).await;
    let writes = bot_writes(&s, mark);
    assert_eq!(
        writes.iter().filter(|w| w.2 == 429).count(),
        1,
        "{writes:?}"
    );
    // One placeholder: kept with the answer (the edit went through after the wait), or
    // deleted before the answer was posted (streaming stopped).
    let posts = writes.iter().filter(|w| w.0 == "POST").count();
    let deletes = writes.iter().filter(|w| w.0 == "DELETE").count();
    assert!(
        (posts, deletes) == (1, 0) || (posts, deletes) == (2, 1),
        "{writes:?}"
    );
    assert!(edits(&writes).len() <= 10, "{writes:?}");
    s.finish().await;
}
