//! `moltbot message send --channel webex`: to an email, a person id, a room; markdown, files,
//! chunking; and the first-contact refusal. No gateway runs in these tests.

#![allow(clippy::unwrap_used)]

mod common;
mod ops_support;

use common::TestHome;
use moltbot_testkit::World;
use ops_support::{config, moltbot, scrub, texts};

/// A home whose config points at the emulator with the bot's token.
fn home_for(world: &World, extra: &str) -> TestHome {
    let home = TestHome::new();
    home.write_config(&config(
        "polling",
        &world.sim.api_base(),
        Some(&world.bot.token),
        extra,
    ));
    home
}

async fn send(home: &TestHome, to: &str, more: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec!["message", "send", "--channel", "webex", "--to", to];
    args.extend_from_slice(more);
    let out = moltbot(home, &args, &[]).await;
    let (stdout, stderr) = texts(&out);
    (out.status.code(), stdout, stderr)
}

/// Alice writes to the bot first, so the bot may answer her; returns the DM room id.
async fn alice_writes_first(world: &World) -> String {
    world.alice().dm_bot("hi bot").await.room_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_to_an_email_and_prints_the_message_id() {
    let world = World::new().await;
    let room = alice_writes_first(&world).await;
    let home = home_for(&world, "");
    let (code, stdout, stderr) = send(&home, "Alice@Example.com", &["Hello **Alice**"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let sent = world.sim.messages_by(&world.bot, &room);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].text.as_deref(), Some("Hello **Alice**"));
    assert_eq!(sent[0].markdown, None);
    let id = sent[0].id.as_str();
    assert_eq!(stdout, format!("{id}\n"));
    insta::assert_snapshot!(scrub(&format!("{stdout}{stderr}"), &[(id, "[MESSAGE_ID]")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_markdown_with_a_file_to_a_person_id() {
    let world = World::new().await;
    let room = alice_writes_first(&world).await;
    let home = home_for(&world, "");
    let alice_id = world.alice().id().to_string();
    let to = format!("person:{alice_id}");
    let (code, stdout, stderr) = send(
        &home,
        &to,
        &[
            "--markdown",
            "--file",
            "https://example.com/report.pdf",
            "See the **report**",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let sent = world.sim.messages_by(&world.bot, &room);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].markdown.as_deref(), Some("See the **report**"));
    assert_eq!(sent[0].files.len(), 1);
    let id = sent[0].id.as_str();
    insta::assert_snapshot!(scrub(
        &format!("{stdout}{stderr}"),
        &[(id, "[MESSAGE_ID]"), (&alice_id, "[ALICE_ID]")]
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_text_to_a_room_is_split_per_text_chunk_limit() {
    let world = World::new().await;
    let space = world.sim.space("Team", &["alice", "bob"]);
    let home = home_for(&world, "textChunkLimit: 40,");
    let text = "First paragraph is here.\n\nSecond paragraph follows it.\n\nThird one ends.";
    let (code, stdout, stderr) = send(&home, &format!("room:{}", space.id), &[text]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let sent = world.sim.messages_by(&world.bot, &space.id);
    let texts: Vec<&str> = sent.iter().map(|m| m.content()).collect();
    assert_eq!(
        texts,
        [
            "First paragraph is here.",
            "Second paragraph follows it.",
            "Third one ends."
        ]
    );
    let ids: Vec<&str> = sent.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(stdout, format!("{}\n", ids.join("\n")));
    let labels = ["[MESSAGE_ID_1]", "[MESSAGE_ID_2]", "[MESSAGE_ID_3]"];
    let mut pairs: Vec<(&str, &str)> = ids.iter().copied().zip(labels).collect();
    pairs.push((&space.id, "[ROOM_ID]"));
    insta::assert_snapshot!(scrub(&format!("{stdout}{stderr}"), &pairs));
}

/// Operator text is the operator's: mentions and tables are sent as written (only agent
/// output goes through the channel's output hook).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_text_is_not_rewritten() {
    let world = World::new().await;
    let space = world.sim.space("Team", &["alice", "bob"]);
    let home = home_for(&world, "");
    let text = "<@all> standup in 5\n\n| a | b |\n|---|---|\n| 1 | 2 |";
    let (code, _, stderr) = send(&home, &format!("room:{}", space.id), &["--markdown", text]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let sent = world.sim.messages_by(&world.bot, &space.id);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].markdown.as_deref(), Some(text));
    assert_eq!(sent[0].mentioned_groups, ["all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_contact_is_refused_with_an_explanation() {
    let world = World::new().await;
    let home = home_for(&world, "");
    // Bob never wrote to the bot.
    let (code, stdout, stderr) = send(&home, world.bob().email(), &["hello Bob"]).await;
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty(), "{stdout}");
    assert!(!stderr.contains(&world.bot.token), "{stderr}");
    assert!(world
        .sim
        .direct_room(&world.bot, world.bob().person())
        .is_none());
    insta::assert_snapshot!(scrub(&stderr, &[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_targets_and_missing_plugin_fail_before_sending() {
    let world = World::new().await;
    let home = home_for(&world, "");
    let (code, _, stderr) = send(&home, "two words", &["hi"]).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("--to: target `two words` contains whitespace"),
        "{stderr}"
    );

    let home = TestHome::new();
    home.write_config("{}");
    let (code, _, stderr) = send(&home, "a@example.com", &["hi"]).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("moltbot plugins install @moltbot/webex"),
        "{stderr}"
    );
    assert!(world.sim.requests().iter().all(|r| r.method != "POST"));
}
