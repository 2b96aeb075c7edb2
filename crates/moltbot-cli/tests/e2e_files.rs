//! Files people send reach the agent: downloaded with the bot token from webex-sim, waited out
//! while Webex scans them, capped by `mediaMaxMb`, and given to each provider in the form its
//! API documents (or named in a line when the provider cannot read them).

#![allow(clippy::unwrap_used)]

use moltbot_testkit::{
    anthropic_answer, openai_answer, wait, FakeModel, Scenario, TestHome, World, OPEN,
};
use serde_json::{json, Value};
use webex_sim::{Scan, SimFile};

const OPENAI: &str = "openai-completions";
const ANTHROPIC: &str = "anthropic-messages";

/// The content of the last message of the model's `n`-th request (as JSON).
fn last_content(model: &FakeModel, n: usize) -> Value {
    let requests = model.requests();
    let messages = requests[n]["messages"].as_array().unwrap().clone();
    messages.last().unwrap()["content"].clone()
}

fn answer(api: &str) -> Value {
    if api == OPENAI {
        openai_answer("Got it.", json!({}))
    } else {
        anthropic_answer(json!([{"type": "text", "text": "Got it."}]))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_png_and_a_text_file_reach_openai_and_anthropic_in_their_documented_shapes() {
    for api in [OPENAI, ANTHROPIC] {
        let model = FakeModel::start(vec![answer(api)]).await;
        let s = Scenario::start_with_model("webhook", OPEN, api, &model, "").await;
        let shot = s
            .alice()
            .sends_file_to_bot(SimFile::png("screenshot.png"), "What is on this screen?")
            .await;
        assert_eq!(s.wait_replies(&shot, 1).await, ["Got it."]);
        let log = s
            .alice()
            .sends_file_to_bot(SimFile::text("app.log", "ERROR disk full\n"), "Why?")
            .await;
        s.wait_replies(&log, 2).await;
        s.settled().await;

        let image = last_content(&model, 0);
        let text = last_content(&model, 1);
        if api == OPENAI {
            // https://platform.openai.com/docs/guides/images-vision: an image_url part.
            assert_eq!(
                image[0],
                json!({"type": "text", "text": "What is on this screen?"})
            );
            let url = image[1]["image_url"]["url"].as_str().unwrap();
            assert_eq!(image[1]["type"], "image_url");
            assert!(url.starts_with("data:image/png;base64,iVBOR"), "{url}");
        } else {
            // https://docs.anthropic.com/en/docs/build-with-claude/vision: an image block.
            assert_eq!(image[0]["type"], "text");
            assert_eq!(image[1]["type"], "image");
            assert_eq!(image[1]["source"]["type"], "base64");
            assert_eq!(image[1]["source"]["media_type"], "image/png");
            assert!(image[1]["source"]["data"]
                .as_str()
                .unwrap()
                .starts_with("iVBOR"));
        }
        // A text file: a text part with its name, fenced.
        let file_part = text[1]["text"].as_str().unwrap();
        assert!(
            file_part.starts_with("[file: app.log, text/plain]\n```\nERROR disk full"),
            "{api}: {file_part}"
        );
        s.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_only_provider_is_told_the_file_name_instead_of_failing() {
    let model = FakeModel::start(vec![answer(OPENAI)]).await;
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(
        &world
            .config_with_model("webhook", OPEN, OPENAI, &model, "")
            .replace(
                "api: \"openai-completions\",",
                "api: \"openai-completions\", input: [\"text\"],",
            ),
    );
    let s = Scenario::start_in(world, home).await;
    let shot = s
        .alice()
        .sends_file_to_bot(SimFile::png("diagram.png"), "Look")
        .await;
    assert_eq!(s.wait_replies(&shot, 1).await, ["Got it."]);
    let content = last_content(&model, 0);
    let note = content[1]["text"].as_str().unwrap();
    assert!(
        note.starts_with("[file: diagram.png, image/png:")
            && note.contains("this model cannot read this kind of file"),
        "{content}"
    );
    assert!(!content.to_string().contains("image_url"), "{content}");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_over_the_cap_still_scanning_or_blocked_are_handled_as_the_docs_say() {
    // The echo agent says what it received, so the story reads from the replies.
    let s = Scenario::start("webhook", &format!("{OPEN} mediaMaxMb: 1,")).await;

    // Over mediaMaxMb: named, not downloaded.
    let big = SimFile::new(
        "dump.bin",
        "application/octet-stream",
        vec![7u8; 1024 * 1024 + 1],
    );
    let sent = s.alice().sends_file_to_bot(big, "big one").await;
    let replies = s.wait_replies(&sent, 1).await;
    assert_eq!(
        replies[0],
        "big one\n[file not received: dump.bin, application/octet-stream: larger than 1 MB (channels.webex.mediaMaxMb)]"
    );

    // Still being scanned twice (Retry-After: 1 s), then served: waited out.
    s.sim.new_files_scan_as(Scan::scanning(2, 1));
    let sent = s
        .alice()
        .sends_file_to_bot(SimFile::text("plan.md", "# Plan\n"), "scanned")
        .await;
    // The wait outlasts the typing delay, so "Working on it..." may show meanwhile; it is gone
    // once the answer is posted.
    let answer = "scanned\n[received file: plan.md, text/plain, 7 bytes]";
    s.wait_replies_until(&sent, wait::TIMEOUT, "the answer after the scan", |texts| {
        texts.last().is_some_and(|t| t == answer)
    })
    .await;
    s.settled().await;
    let replies = s.bot_texts(&sent);
    assert_eq!(replies.len(), 2, "the placeholder is gone: {replies:?}");
    assert_eq!(replies[1], answer);

    // Infected: blocked, said so.
    s.sim.new_files_scan_as(Scan::Infected);
    let sent = s
        .alice()
        .sends_file_to_bot(SimFile::text("evil.txt", "x"), "infected")
        .await;
    let replies = s.wait_replies(&sent, 3).await;
    assert!(
        replies[2].starts_with("infected\n[file not received: ")
            && replies[2].ends_with("blocked by Webex's malware scan]"),
        "{}",
        replies[2]
    );

    // Unscannable: not read unless mediaAllowUnscannable.
    s.sim.new_files_scan_as(Scan::Unscannable);
    let sent = s
        .alice()
        .sends_file_to_bot(SimFile::text("odd.txt", "x"), "unscannable")
        .await;
    let replies = s.wait_replies(&sent, 4).await;
    assert!(
        replies[3].contains("Webex could not scan it for malware"),
        "{}",
        replies[3]
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unscannable_files_are_read_when_the_config_allows_it() {
    let s = Scenario::start("webhook", &format!("{OPEN} mediaAllowUnscannable: true,")).await;
    s.sim.new_files_scan_as(Scan::Unscannable);
    let sent = s
        .alice()
        .sends_file_to_bot(SimFile::text("odd.txt", "hello"), "read it")
        .await;
    assert_eq!(
        s.wait_replies(&sent, 1).await,
        ["read it\n[received file: odd.txt, text/plain, 5 bytes]"]
    );
    s.finish().await;
}

/// Reads the first file from the turn's folder and answers with its content and where it was.
const FILE_READING_AGENT: &str = r#"#!/usr/bin/env python3
import json, sys
req = json.load(sys.stdin)
f = req["files"][0]
content = open(f["path"]).read().strip()
print(json.dumps({"text": f"{f['name']} ({f['contentType']}, {f['size']} bytes): {content} | {req['folder']}"}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_agent_reads_files_from_its_turn_folder_which_is_removed_after_the_turn() {
    let s = Scenario::start_with_agent("webhook", OPEN, FILE_READING_AGENT).await;
    let sent = s
        .alice()
        .sends_file_to_bot(SimFile::text("../../todo.txt", "buy milk"), "read this")
        .await;
    let reply = s.wait_replies(&sent, 1).await.remove(0);
    let (answer, folder) = reply.split_once(" | ").unwrap();
    // The name arrives as a base name (and would be reduced to one for the folder anyway).
    assert_eq!(answer, "todo.txt (text/plain, 8 bytes): buy milk");
    let folder = std::path::Path::new(folder);
    assert!(
        folder
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("moltbot-turn-"),
        "{reply}"
    );
    s.settled().await;
    assert!(
        !folder.exists(),
        "the turn folder is removed: {}",
        folder.display()
    );
    s.finish().await;
}
