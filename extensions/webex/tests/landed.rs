//! `find_landed`: after a send with an unknown outcome, is the message already there?

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use moltbot_core::gateway::{OutgoingMessage, SendTarget};
use moltbot_webex::landed::find_landed;
use moltbot_webex::shared::{BotIdentity, CatchUpGate, WebexShared};
use webex_api::{ClientConfig, WebexClient};
use webex_sim::{SimFile, SimPerson, SimServer};

fn shared_for(sim: &SimServer, bot: &SimPerson) -> WebexShared {
    let client = WebexClient::new(
        ClientConfig::new(bot.token.clone())
            .with_base_url_str(&sim.api_base())
            .unwrap()
            .with_requests_per_minute(10_000),
    )
    .unwrap();
    let identity = OnceLock::new();
    identity
        .set(BotIdentity {
            id: bot.id.clone(),
            email: Some(bot.email.clone()),
            display_name: bot.display_name.clone(),
        })
        .unwrap();
    WebexShared {
        client,
        config: moltbot_webex::config::WebexConfig::default(),
        bot: identity,
        sink: OnceLock::new(),
        connected_at_ms: OnceLock::new(),
        caught_up: CatchUpGate::opened(),
    }
}

/// An emulator where Alice has said "hi" to the bot: the bot's view of it from `since` on.
struct Dm {
    sim: SimServer,
    bot: SimPerson,
    alice: SimPerson,
    shared: WebexShared,
    since: time::OffsetDateTime,
    room: String,
}

impl Dm {
    async fn start() -> Self {
        let sim = SimServer::start().await.unwrap();
        let bot = sim.add_bot("molty@webex.bot", "Molty");
        let alice = sim.add_person("alice@example.com", "Alice");
        let shared = shared_for(&sim, &bot);
        let since = time::OffsetDateTime::now_utc();
        let room = sim.as_user(&alice).dm_bot("hi").await.room_id;
        Self {
            sim,
            bot,
            alice,
            shared,
            since,
            room,
        }
    }
}

fn outgoing(target: SendTarget, markdown: &str) -> OutgoingMessage {
    OutgoingMessage::markdown(target, markdown)
}

#[tokio::test]
async fn a_reply_that_landed_in_a_dm_is_found_and_one_that_did_not_is_not() {
    let dm = Dm::start().await;
    let (sim, bot, alice, shared) = (&dm.sim, &dm.bot, &dm.alice, &dm.shared);
    let (since, room) = (dm.since, dm.room.clone());
    let posted = sim.as_user(bot).post(&room, "the **answer**").await;

    let found = find_landed(
        shared,
        &outgoing(SendTarget::Room(room.clone()), "the **answer**"),
        None,
        since,
    )
    .await;
    assert_eq!(found.as_deref(), Some(posted.id.as_str()));
    let by_person = find_landed(
        shared,
        &outgoing(SendTarget::Person(alice.id.clone()), "the **answer**"),
        None,
        since,
    )
    .await;
    assert_eq!(by_person.as_deref(), Some(posted.id.as_str()));
    assert_eq!(
        find_landed(
            shared,
            &outgoing(SendTarget::Room(room), "another answer"),
            None,
            since
        )
        .await,
        None
    );
}

#[tokio::test]
async fn in_a_space_the_bot_cannot_see_its_own_reply_so_nothing_is_found() {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot("molty@webex.bot", "Molty");
    let alice = sim.add_person("alice@example.com", "Alice");
    let space = sim.create_room("Team", &[&alice.email, &bot.email]);
    let shared = shared_for(&sim, &bot);
    let since = time::OffsetDateTime::now_utc();
    sim.send_as(
        &bot,
        serde_json::json!({"roomId": space.id, "markdown": "hello team"}),
    )
    .await
    .unwrap();
    let found = find_landed(
        &shared,
        &outgoing(SendTarget::Room(space.id.clone()), "hello team"),
        None,
        since,
    )
    .await;
    assert_eq!(
        found, None,
        "Webex refuses a bot listing a space without mentionedPeople"
    );
}

#[tokio::test]
async fn a_card_or_a_file_is_found_only_as_itself_not_as_the_text_or_file_before_it() {
    let dm = Dm::start().await;
    let (sim, bot, shared) = (&dm.sim, &dm.bot, &dm.shared);
    let (since, room) = (dm.since, dm.room.clone());
    let card = serde_json::json!({"type": "AdaptiveCard", "version": "1.3", "body": []});
    let target = SendTarget::Room(room.clone());
    // The reply's text, then its first file.
    sim.as_user(bot).post(&room, "the answer").await;
    let first = sim
        .as_user(bot)
        .sends_file(&room, SimFile::text("one.txt", "1"), "")
        .await;
    // The card (same fallback as the text) and the second file never landed.
    let card_message = outgoing(target.clone(), "the answer").with_card(card.clone());
    assert_eq!(find_landed(shared, &card_message, None, since).await, None);
    let file_message = outgoing(target.clone(), "");
    assert_eq!(
        find_landed(shared, &file_message, Some("two.txt"), since).await,
        None
    );
    assert_eq!(
        find_landed(shared, &file_message, Some("one.txt"), since).await,
        Some(first.id)
    );
    // Now they did.
    let landed_card = sim
        .as_user(bot)
        .try_send(
            serde_json::json!({"roomId": room, "markdown": "the answer", "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}),
        )
        .await
        .unwrap();
    assert_eq!(
        find_landed(shared, &card_message, None, since).await,
        Some(landed_card.id)
    );
    let url = "https://files.example.com/report.pdf";
    let landed_url = sim
        .as_user(bot)
        .try_send(serde_json::json!({"roomId": room, "files": [url]}))
        .await
        .unwrap();
    assert_eq!(
        find_landed(shared, &file_message.clone().with_file(url), None, since).await,
        Some(landed_url.id)
    );
}
