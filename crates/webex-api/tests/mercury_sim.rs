//! The Mercury client against webex-sim's Mercury emulation: register a device, connect, a DM
//! arrives as an activity, map it to the REST id, read the message, ack, and redelivery of
//! un-acked events after a reconnect.

#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

use std::time::Duration;

use url::Url;
use webex_api::mercury::{
    Activity, Mercury, MercuryConfig, MercuryConnection, MercuryError, MercuryEvent, MercuryStream,
    MessageRef, Recovery,
};
use webex_api::{ClientConfig, WebexClient};
use webex_sim::{SimPerson, SimServer};

const BOT: &str = "moltbot@webex.bot";
const ALICE: &str = "alice@example.com";
const DEVICE: &str = "moltbot-test";

async fn setup() -> (SimServer, SimPerson, SimPerson, WebexClient, Mercury) {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot(BOT, "Molt Bot");
    let alice = sim.add_person(ALICE, "Alice Example");
    let client = WebexClient::new(
        ClientConfig::new(bot.token.clone()).with_base_url(Url::parse(&sim.api_base()).unwrap()),
    )
    .unwrap();
    let config = MercuryConfig::default()
        .with_u2c_url_str(&sim.u2c_url())
        .unwrap();
    let mercury = Mercury::new(client.clone(), config);
    (sim, bot, alice, client, mercury)
}

/// The next activity, skipping other events (bounded by a timeout).
async fn next_activity(conn: &mut MercuryConnection<MercuryStream>) -> Box<Activity> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match conn.next_event().await.unwrap() {
                MercuryEvent::Activity(a) => return a,
                MercuryEvent::Other { .. } => continue,
            }
        }
    })
    .await
    .unwrap()
}

/// Reads events until the connection ends; the error it ended with.
async fn next_error(conn: &mut MercuryConnection<MercuryStream>) -> MercuryError {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Err(err) = conn.next_event().await {
                return err;
            }
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn dm_arrives_maps_to_the_rest_id_and_unacked_events_come_back() {
    let (sim, bot, alice, client, mercury) = setup().await;
    let (device, mut conn) = mercury.connect_named(DEVICE).await.unwrap();
    assert_eq!(device.name.as_deref(), Some(DEVICE));

    let sent = sim.dm(&alice, BOT, "hello over mercury").await.unwrap();
    let activity = next_activity(&mut conn).await;
    assert_eq!(activity.verb, "post");
    assert!(activity.target.one_on_one);
    let reference = MessageRef::from_activity(&activity).unwrap();
    let resolved = mercury.resolve(&reference).await.unwrap();
    let id = resolved.id;
    assert_eq!(id, sent["id"].as_str().unwrap());
    assert_eq!(resolved.room_id.as_deref(), sent["roomId"].as_str());
    let message = client.get_message(&id).await.unwrap();
    assert_eq!(message.text.as_deref(), Some("hello over mercury"));

    // Not acked: dropped socket, reconnect, the same envelope comes again.
    assert_eq!(sim.acks_received(), 0);
    sim.drop_websockets();
    let err = next_error(&mut conn).await;
    assert_eq!(err.recovery(), Recovery::Reconnect, "{err}");
    let (again_device, mut conn) = mercury.connect_named(DEVICE).await.unwrap();
    assert_eq!(again_device.url, device.url, "the device is reused");
    let again = next_activity(&mut conn).await;
    assert_eq!(again.envelope_id, activity.envelope_id);
    conn.ack(&again.envelope_id).await.unwrap();

    // Acked: a second DM arrives, the first does not come back after another reconnect.
    sim.dm(&alice, BOT, "second").await.unwrap();
    let second = next_activity(&mut conn).await;
    assert_ne!(second.envelope_id, activity.envelope_id);
    conn.ack(&second.envelope_id).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while sim.acks_received() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    conn.close().await;
    let (_, mut conn) = mercury.connect_named(DEVICE).await.unwrap();
    sim.dm(&alice, BOT, "third").await.unwrap();
    let third = next_activity(&mut conn).await;
    let id = mercury
        .resolve(&MessageRef::from_activity(&third).unwrap())
        .await
        .unwrap()
        .id;
    assert_eq!(
        client.get_message(&id).await.unwrap().text.as_deref(),
        Some("third")
    );
    assert_eq!(
        sim.devices_of(&bot).len(),
        1,
        "one device across reconnects"
    );
}

#[tokio::test]
async fn a_gone_device_is_replaced_and_an_auth_close_asks_for_a_token_check() {
    let (sim, bot, _alice, _client, mercury) = setup().await;
    let (first, conn) = mercury.connect_named(DEVICE).await.unwrap();
    conn.close().await;
    sim.forget_devices();
    let (second, mut conn) = mercury.connect_named(DEVICE).await.unwrap();
    assert_ne!(first.url, second.url);
    assert_eq!(sim.devices_of(&bot).len(), 1);

    sim.close_websockets(4401, "NotAuthorized");
    let err = next_error(&mut conn).await;
    assert!(
        matches!(err, MercuryError::Auth { code: 4401, .. }),
        "{err}"
    );
    assert_eq!(err.recovery(), Recovery::CheckToken);

    // Upgrades refused with 404 every time: bounded re-registration.
    sim.refuse_websocket_upgrades(Some(404));
    let err = mercury.connect_named(DEVICE).await.err();
    assert!(
        matches!(err, Some(MercuryError::DeviceChurn { attempts: 3 })),
        "{err:?}"
    );
}
