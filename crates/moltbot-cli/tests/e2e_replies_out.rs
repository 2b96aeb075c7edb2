//! Replies that carry more than text, through the binary against webex-sim: a `command` agent
//! answers `{"text", "card", "files"}`; the text goes first, then the card (with the text as
//! its fallback), then one message per file, each once, also across a crash. Local files come
//! only from the agent's turn folder: the config file or a symlink out of the folder is refused,
//! never uploaded, and logged. An invalid card is logged and left out; the text still goes.

#![allow(clippy::unwrap_used)] // tests may unwrap

use moltbot_core::store::InboundState;
use moltbot_testkit::{wait, Scenario, TestHome, World, OPEN};
use serde_json::{json, Value};
use webex_sim::SimMessage;

const CARD_TYPE: &str = "application/vnd.microsoft.card.adaptive";

/// The card the agent sends with "report".
fn report_card() -> Value {
    json!({
        "type": "AdaptiveCard",
        "version": "1.3",
        "body": [{"type": "TextBlock", "text": "Weekly report", "size": "large"}],
        "actions": [{"type": "Action.OpenUrl", "url": "https://example.com", "title": "Open"}],
    })
}

/// A `command` agent (Python) answering by the message's text:
/// - `report`: text, [`report_card`] and two files it writes in its turn folder (one named by
///   absolute path, one relative);
/// - `steal`: names the config file and a symlink in its folder pointing at the store;
/// - `link`: a file by URL;
/// - `broken link`: a URL Webex refuses (no host), then a file it writes;
/// - `bad card` / `new card` / `big card`: a card that is not an AdaptiveCard / of version
///   1.5 / of 40 KB;
/// - `wait`: like `report`, once the file `go` exists in the state folder;
/// - `form`: a card with an input and a submit button (it expects an answer);
/// - `huge`: a 1.5 MB file it writes;
/// - `long`: eight paragraphs of about 120 characters.
///
/// Every question is noted in `asked.log` in the state folder.
fn agent_script(home: &TestHome) -> String {
    let card = report_card().to_string();
    format!(
        r#"#!/usr/bin/env python3
import json, os, sys, time
req = json.load(sys.stdin)
text = req["text"].strip()
folder = os.environ["MOLTBOT_TURN_DIR"]
state = os.environ["MOLTBOT_STATE_DIR"]
with open(os.path.join(state, "asked.log"), "a") as log:
    log.write(text + "\n")
card = json.loads('{card}')
def report():
    with open(os.path.join(folder, "notes.txt"), "w") as f:
        f.write("first file\n")
    with open(os.path.join(folder, "data.csv"), "w") as f:
        f.write("a,b\n1,2\n")
    return {{"text": "Here is the report.", "card": card,
             "files": [os.path.join(folder, "notes.txt"), "data.csv"]}}
if text == "report":
    out = report()
elif text == "wait":
    go = os.path.join(state, "go")
    for _ in range(600):
        if os.path.exists(go):
            break
        time.sleep(0.05)
    out = report()
elif text == "steal":
    os.symlink({store:?}, os.path.join(folder, "store.sqlite"))
    out = {{"text": "Here you go.", "files": [{config:?}, "store.sqlite"]}}
elif text == "link":
    out = {{"text": "The PDF:", "files": ["https://files.example.com/report.pdf"]}}
elif text == "broken link":
    with open(os.path.join(folder, "data.csv"), "w") as f:
        f.write("a,b\n1,2\n")
    out = {{"text": "Two files.", "files": ["https:///no-host.pdf", "data.csv"]}}
elif text == "bad card":
    out = {{"text": "A card.", "card": {{"type": "MessageCard", "version": "1.0", "body": []}}}}
elif text == "new card":
    out = {{"text": "A card.", "card": dict(card, version="1.5")}}
elif text == "form":
    out = {{"text": "Tell me more.", "card": dict(card, body=[{{"type": "Input.Text", "id": "why"}}],
            actions=[{{"type": "Action.Submit", "title": "Send"}}])}}
elif text == "big card":
    out = {{"text": "A card.", "card": dict(card, body=[{{"type": "TextBlock", "text": "x" * 40000}}])}}
elif text == "huge":
    with open(os.path.join(folder, "huge.bin"), "wb") as f:
        f.write(b"x" * 1500000)
    out = {{"text": "A big one.", "files": ["huge.bin"]}}
elif text == "paths":
    with open(os.path.join(folder, "a.txt"), "w") as f:
        f.write("A\n")
    with open(os.path.join(folder, "b.txt"), "w") as f:
        f.write("B\n")
    os.link(os.path.join(folder, "b.txt"), os.path.join(folder, "c.txt"))
    out = {{"text": "Paths.", "files": ["sub/../a.txt", "c.txt"]}}
elif text == "not a list":
    out = {{"text": "No list.", "files": "notalist"}}
elif text == "long":
    out = {{"text": "\n\n".join("Paragraph %d. %s" % (i, "word " * 20) for i in range(8))}}
else:
    out = {{"text": text}}
print(json.dumps(out))
"#,
        store = home.store_path().display().to_string(),
        config = home.config_path().display().to_string(),
    )
}

async fn start(mode: &str) -> Scenario {
    start_with(mode, OPEN).await
}

/// [`start`] with `extra` in `channels.webex` (after [`OPEN`]'s keys).
async fn start_with(mode: &str, extra: &str) -> Scenario {
    let world = World::new().await;
    let home = TestHome::new();
    let script = home.write_script("agent", &agent_script(&home));
    home.write_config(&world.config_with_command_agent(mode, extra, &script, "", ""));
    Scenario::start_in(world, home).await
}

/// Alice asks the bot `question` in her DM; once the bot has written `n` messages there and
/// the gateway is quiet, returns her message and the bot's messages in the room.
async fn ask(s: &Scenario, question: &str, n: usize) -> (SimMessage, Vec<SimMessage>) {
    let asked_for = s.alice().dm_bot(question).await;
    s.wait_replies(&asked_for, n).await;
    s.settled().await;
    let replies = s.sim.bot_replies_in(&asked_for);
    (asked_for, replies)
}

/// Asserts the gateway logged a line containing every one of `parts`.
fn assert_logged(s: &Scenario, parts: &[&str]) {
    let log = s.log();
    assert!(
        log.lines().any(|l| parts.iter().all(|p| l.contains(p))),
        "no log line with {parts:?}:\n{log}"
    );
}

/// The questions the agent was asked so far.
fn asked(s: &Scenario) -> Vec<String> {
    std::fs::read_to_string(s.home.state_dir().join("asked.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Checks the four messages of the answer to "report", in order: text, card with the text as
/// fallback, `notes.txt`, `data.csv` (uploaded, with their content).
fn assert_report(s: &Scenario, replies: &[SimMessage]) {
    assert_eq!(replies.len(), 4, "{replies:#?}");
    assert_eq!(replies[0].content(), "Here is the report.");
    assert!(replies[0].attachments.is_empty() && replies[0].files.is_empty());
    assert_eq!(replies[1].markdown.as_deref(), Some("Here is the report."));
    assert_eq!(
        replies[1].attachments,
        [json!({"contentType": CARD_TYPE, "content": report_card()})]
    );
    for (reply, (name, content, kind)) in replies[2..].iter().zip([
        ("notes.txt", "first file\n", "text/plain"),
        ("data.csv", "a,b\n1,2\n", "text/csv"),
    ]) {
        assert_eq!(reply.markdown, None, "a file message has no text");
        assert!(reply.attachments.is_empty());
        let file = s.sim.file(reply).expect("uploaded");
        assert_eq!(file.name, name);
        assert_eq!(file.content_type, kind);
        assert_eq!(&file.bytes[..], content.as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_then_the_card_then_two_files_each_once() {
    let s = start("webhook").await;
    let (_, replies) = ask(&s, "report", 4).await;
    assert_report(&s, &replies);
    assert_eq!(s.sim.files().len(), 2, "two uploads, no more");
    // The history notes what was sent; the folder is gone once the turn ends.
    let history = s
        .gateway()
        .ledger()
        .store()
        .sessions()
        .history(&format!("webex:dm:{}", s.alice().id()), 10)
        .await
        .unwrap();
    assert_eq!(
        history.last().unwrap().text,
        "Here is the report.\n[card sent]\n[file sent: notes.txt]\n[file sent: data.csv]"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_outside_the_turn_folder_are_refused_and_never_uploaded() {
    let s = start("webhook").await;
    let (_, replies) = ask(&s, "steal", 1).await;
    let texts: Vec<&str> = replies.iter().map(SimMessage::content).collect();
    assert_eq!(
        texts,
        ["Here you go.\n\n\
          (Not attached: `moltbot.json`: files can only come from this turn's folder.)\n\
          (Not attached: `store.sqlite`: files can only come from this turn's folder.)"]
    );
    assert!(s.sim.files().is_empty(), "nothing uploaded");
    assert!(replies.iter().all(|m| m.files.is_empty()));
    let config = s.home.config_path().display().to_string();
    assert_logged(&s, &["reply file refused", &config]);
    assert_logged(&s, &["reply file refused", "path=store.sqlite"]);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_why_and_dot_dot_is_resolved_as_written() {
    let s = start("webhook").await;
    // `sub` does not exist: `sub/../a.txt` is `a.txt`. `c.txt` is a hard link of `b.txt`.
    let (_, replies) = ask(&s, "paths", 2).await;
    assert_eq!(
        replies[0].content(),
        "Paths.\n\n(Not attached: `c.txt`: it has other hard links.)"
    );
    let file = s.sim.file(&replies[1]).expect("uploaded");
    assert_eq!(
        (file.name.as_str(), &file.bytes[..]),
        ("a.txt", &b"A\n"[..])
    );
    assert_logged(
        &s,
        &[
            "reply file refused",
            "path=c.txt",
            "it has other hard links",
        ],
    );

    // `files` that is not a list: the text goes, no file, and the log says why.
    let (_, replies) = ask(&s, "not a list", 3).await;
    assert_eq!(replies[2].content(), "No list.");
    assert!(replies[2].files.is_empty());
    assert_eq!(s.sim.files().len(), 1, "only a.txt was uploaded");
    assert_logged(&s, &["`files` is not a list", "a string"]);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_by_url_is_posted_as_the_url() {
    let s = start("polling").await;
    let (_, replies) = ask(&s, "link", 2).await;
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0].content(), "The PDF:");
    assert_eq!(replies[1].files, ["https://files.example.com/report.pdf"]);
    assert_eq!(replies[1].markdown, None);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_webex_refuses_is_logged_and_the_next_one_still_goes() {
    let s = start("webhook").await;
    let (asked_for, replies) = ask(&s, "broken link", 2).await;
    assert_eq!(s.handled(&asked_for).await, InboundState::Replied);
    assert_eq!(replies.len(), 2, "{replies:#?}");
    assert_eq!(replies[0].content(), "Two files.");
    assert_eq!(s.sim.file(&replies[1]).unwrap().name, "data.csv");
    assert_logged(&s, &["a part of the reply was not sent", "400"]);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_card_is_logged_and_the_text_still_goes() {
    let s = start("webhook").await;
    let mut room = None;
    for (question, reason) in [
        ("bad card", "not \"AdaptiveCard\""),
        ("new card", "version 1.5 is newer than 1.3"),
        ("big card", "bytes of JSON, more than 28672"),
    ] {
        let asked_for = s.alice().dm_bot(question).await;
        room = Some(asked_for.room_id.clone());
        s.wait_replies_until(&asked_for, wait::TIMEOUT, "the text", |texts| {
            texts.last().is_some_and(|t| t == "A card.")
        })
        .await;
        s.settled().await;
        assert_logged(&s, &["card is not valid", reason]);
    }
    let replies = s.sim.bot_replies_in(room.unwrap().as_str());
    assert_eq!(replies.len(), 3, "{replies:#?}");
    assert!(
        replies.iter().all(|m| m.attachments.is_empty()),
        "no card was sent: {replies:#?}"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_polling_mode_a_card_expecting_an_answer_is_refused_with_the_reason() {
    // Webex delivers card submissions only by webhook or websocket: a form in polling mode could
    // never be answered, so it is left out and the person told why; a card without a submit
    // action still goes.
    let s = start("polling").await;
    let (_, replies) = ask(&s, "form", 1).await;
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert!(replies[0].attachments.is_empty(), "no card: {replies:#?}");
    let text = replies[0].content();
    assert!(text.starts_with("Tell me more."), "{text}");
    assert!(
        text.contains("Card not sent") && text.contains("only by webhook or websocket"),
        "{text}"
    );
    assert_logged(&s, &["expects an answer this channel cannot receive"]);

    let (_, replies) = ask(&s, "report", 4).await;
    assert_report(&s, &replies[replies.len() - 4..]);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_answer_and_the_sends_posts_each_part_once_after_restart() {
    let mut s = start("webhook").await;
    let asked_for = s.alice().dm_bot("wait").await;
    // Webex fails the first two posts (an unknown outcome: a 500), so the answer is recorded
    // but not sent when the gateway dies; the turn folder is gone by then.
    s.sim.fail_next("POST", "/v1/messages", 500, 2);
    std::fs::write(s.home.state_dir().join("go"), "").unwrap();
    let recorded = wait::until_async(wait::TIMEOUT, || async {
        let outbox = s.gateway().ledger().store().outbox();
        let ops = outbox.for_inbound("webex", &asked_for.id).await.ok()?;
        (!ops.is_empty()).then_some(ops.len())
    })
    .await
    .expect("the answer is recorded");
    assert_eq!(recorded, 4, "text, card, two files");
    s.kill_gateway().await;
    assert!(
        s.sim.bot_replies_in(&asked_for).is_empty(),
        "nothing sent yet"
    );

    s.start_gateway().await;
    s.wait_replies(&asked_for, 4).await;
    s.settled().await;
    assert_report(&s, &s.sim.bot_replies_in(&asked_for));
    assert_eq!(asked(&s), ["wait"], "the agent was asked once");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_cut_by_max_reply_messages_attaches_the_whole_answer_as_reply_md() {
    let s = start_with(
        "webhook",
        &format!("{OPEN} textChunkLimit: 300, maxReplyMessages: 2,"),
    )
    .await;
    let (_, replies) = ask(&s, "long", 3).await;
    assert_eq!(replies.len(), 3, "{replies:#?}");
    assert!(replies[0].content().starts_with("Paragraph 0."));
    assert!(
        replies[1].content().contains("(reply cut: "),
        "{}",
        replies[1].content()
    );
    let file = s.sim.file(&replies[2]).expect("reply.md uploaded");
    assert_eq!(file.name, "reply.md");
    assert_eq!(file.content_type, "text/markdown");
    let whole = String::from_utf8(file.bytes.to_vec()).unwrap();
    assert!(
        whole.starts_with("Paragraph 0.") && whole.contains("Paragraph 7."),
        "{whole}"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_within_the_bound_has_no_file() {
    let s = start_with("webhook", &format!("{OPEN} maxReplyMessages: 2,")).await;
    let (_, replies) = ask(&s, "long", 1).await;
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert!(replies[0].files.is_empty());
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_media_max_mb_is_left_out_with_a_notice() {
    let s = start_with("webhook", &format!("{OPEN} mediaMaxMb: 1,")).await;
    let (_, replies) = ask(&s, "huge", 1).await;
    let texts: Vec<&str> = replies.iter().map(SimMessage::content).collect();
    assert_eq!(
        texts,
        ["A big one.\n\n(Not attached: `huge.bin`: larger than this channel sends (1 MB at most).)"]
    );
    assert!(s.sim.files().is_empty(), "nothing uploaded");
    assert_logged(&s, &["too large for the channel", "huge.bin"]);
    s.finish().await;
}
