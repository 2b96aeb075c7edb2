//! `find_landed`: after a send with an unknown outcome, is the message already there?

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use moltbot_core::gateway::{OutgoingMessage, SendTarget};
use moltbot_webex::landed::find_landed;
use moltbot_webex::shared::{BotIdentity, CatchUpGate, WebexShared};
use webex_api::{ClientConfig, WebexClient};
use webex_sim::{SimPerson, SimServer};

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
        caught_up: CatchUpGate::opened(),
    }
}

fn outgoing(target: SendTarget, markdown: &str) -> OutgoingMessage {
    OutgoingMessage::markdown(target, markdown)
}

#[tokio::test]
async fn a_reply_that_landed_in_a_dm_is_found_and_one_that_did_not_is_not() {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot("molty@webex.bot", "Molty");
    let alice = sim.add_person("alice@example.com", "Alice");
    let shared = shared_for(&sim, &bot);
    let since = time::OffsetDateTime::now_utc();
    let room = sim.as_user(&alice).dm_bot("hi").await.room_id;
    let posted = sim.as_user(&bot).post(&room, "the **answer**").await;

    let found = find_landed(
        &shared,
        &outgoing(SendTarget::Room(room.clone()), "the **answer**"),
        since,
    )
    .await;
    assert_eq!(found.as_deref(), Some(posted.id.as_str()));
    let by_person = find_landed(
        &shared,
        &outgoing(SendTarget::Person(alice.id.clone()), "the **answer**"),
        since,
    )
    .await;
    assert_eq!(by_person.as_deref(), Some(posted.id.as_str()));
    assert_eq!(
        find_landed(
            &shared,
            &outgoing(SendTarget::Room(room), "another answer"),
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
        since,
    )
    .await;
    assert_eq!(
        found, None,
        "Webex refuses a bot listing a space without mentionedPeople"
    );
}
