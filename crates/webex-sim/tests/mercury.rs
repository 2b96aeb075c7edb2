//! Mercury (websocket) emulation over real loopback: catalog, devices, the socket's
//! authorization, buffer state, ping/pong, activities and their REST ids, acks and
//! redelivery, and every websocket fault.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use base64::Engine;
use common::{call, world, World};
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use webex_sim::{SimPerson, SimServer};

const WAIT: Duration = Duration::from_secs(5);

/// A websocket client speaking just enough Mercury for the tests.
struct Ws(WebSocketStream<MaybeTlsStream<TcpStream>>);

/// How a frame read ended.
#[derive(Debug)]
enum Next {
    Json(Value, bool),
    Closed(Option<u16>),
    Ended,
}

impl Ws {
    async fn connect(url: &str) -> Ws {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("upgrade");
        Ws(ws)
    }

    async fn send(&mut self, v: Value) {
        self.0.send(Message::text(v.to_string())).await.unwrap();
    }

    async fn authorize(&mut self, token: &str) {
        self.send(
            json!({"id": uuid::Uuid::new_v4().to_string(), "type": "authorization",
                         "data": {"token": format!("Bearer {token}")}}),
        )
        .await;
    }

    /// The next data frame, close or end within `wait` (`None` on timeout).
    async fn next_within(&mut self, wait: Duration) -> Option<Next> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.0.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => return Some(Next::Ended),
                Ok(Some(Ok(m))) => m,
            };
            return Some(match msg {
                Message::Text(t) => Next::Json(serde_json::from_str(t.as_str()).unwrap(), true),
                Message::Binary(b) => Next::Json(serde_json::from_slice(&b).unwrap(), false),
                Message::Close(f) => Next::Closed(f.map(|f| u16::from(f.code))),
                _ => continue,
            });
        }
    }

    async fn next_json(&mut self) -> Value {
        match self.next_within(WAIT).await {
            Some(Next::Json(v, _)) => v,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    async fn close_code(&mut self) -> Option<u16> {
        match self.next_within(WAIT).await {
            Some(Next::Closed(code)) => code,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    async fn expect_silence(&mut self, wait: Duration) {
        if let Some(n) = self.next_within(wait).await {
            panic!("expected nothing, got {n:?}");
        }
    }

    async fn ack(&mut self, envelope: &Value) {
        self.send(json!({"type": "ack", "messageId": envelope["id"]}))
            .await;
    }
}

async fn register(sim: &SimServer, who: &SimPerson, name: &str) -> Value {
    let a = call(
        Method::POST,
        &format!("{}/devices", sim.wdm_url()),
        Some(&who.token),
        Some(
            json!({"deviceName": "test", "deviceType": "DESKTOP", "name": name,
                    "model": "rust", "localizedModel": "rust", "systemName": "test",
                    "systemVersion": "1"}),
        ),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body
}

/// Registers a device for `who` and opens an authorized text-format socket on it, returning
/// after the buffer-state event.
async fn open(sim: &SimServer, who: &SimPerson) -> (Ws, Value) {
    let device = register(sim, who, "mercury-test").await;
    let ws = reopen(&device, who).await;
    (ws, device)
}

async fn reopen(device: &Value, who: &SimPerson) -> Ws {
    let url = format!(
        "{}?outboundWireFormat=text&bufferStates=true",
        device["webSocketUrl"].as_str().unwrap()
    );
    let mut ws = Ws::connect(&url).await;
    ws.authorize(&who.token).await;
    let first = ws.next_json().await;
    assert_eq!(
        first["data"]["eventType"], "mercury.buffer_state",
        "{first}"
    );
    ws
}

/// The next `conversation.activity` envelope.
async fn activity(ws: &mut Ws) -> Value {
    let env = ws.next_json().await;
    assert_eq!(env["data"]["eventType"], "conversation.activity", "{env}");
    env
}

fn hydra(kind: &str, uuid: &str) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(format!("ciscospark://us/{kind}/{uuid}"))
}

/// `target.url` with `conversations/<target>` replaced by `<what>/<activity id>` (webex_bot's
/// lookup), fetched with `who`'s token.
async fn lookup(who: &SimPerson, env: &Value, what: &str) -> common::Answer {
    let a = &env["data"]["activity"];
    let target = a["target"]["id"].as_str().unwrap();
    let url = a["target"]["url"].as_str().unwrap().replace(
        &format!("conversations/{target}"),
        &format!("{what}/{}", a["id"].as_str().unwrap()),
    );
    call(Method::GET, &url, Some(&who.token), None).await
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn catalog_names_this_servers_wdm_and_needs_a_token() {
    let World { sim, bot, .. } = world().await;
    for path in ["/catalog?format=hostmap", "/limited/catalog?format=hostmap"] {
        let url = format!("{}{path}", sim.u2c_url());
        let anon = call(Method::GET, &url, None, None).await;
        common::assert_webex_error(&anon, 401);
        let a = call(Method::GET, &url, Some(&bot.token), None).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.body["serviceLinks"]["wdm"], json!(sim.wdm_url()));
        assert_eq!(
            a.body["serviceLinks"]["wdm"],
            json!(format!("{}/wdm/api/v1", sim.url()))
        );
        let hosts = a.body["hostCatalog"].as_object().unwrap();
        let ids: Vec<&str> = hosts
            .values()
            .flat_map(|v| v.as_array().unwrap())
            .filter_map(|e| e["id"].as_str())
            .collect();
        assert!(ids.contains(&"urn:TEAM:us-east-2_a:wdm"), "{ids:?}");
    }
    // The calls are in the request log under their full paths.
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.path == "/u2c/api/v1/limited/catalog" && r.status == 200));
}

#[tokio::test]
async fn devices_are_created_listed_refreshed_and_deleted_per_account() {
    let World {
        sim, bot, alice, ..
    } = world().await;
    let devices = format!("{}/devices", sim.wdm_url());
    let none = call(Method::GET, &devices, None, None).await;
    common::assert_webex_error(&none, 401);

    let d = register(&sim, &bot, "molty-gateway").await;
    let id = d["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(d["url"], json!(format!("{devices}/{id}")));
    let ws_url = d["webSocketUrl"].as_str().unwrap();
    assert!(
        ws_url.starts_with(&format!("ws://{}/", sim.addr())),
        "{ws_url}"
    );
    assert!(
        ws_url.ends_with(&format!("/registrations/{id}/messages")),
        "{ws_url}"
    );
    assert_eq!(d["name"], "molty-gateway");
    assert_eq!(d["deviceType"], "DESKTOP");
    assert!(d["modificationTime"].as_str().unwrap().ends_with('Z'));

    let listed = call(Method::GET, &devices, Some(&bot.token), None).await;
    assert_eq!(listed.body["devices"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["devices"][0]["url"], d["url"]);
    // Another account sees none of them and cannot read or delete this one.
    let theirs = call(Method::GET, &devices, Some(&alice.token), None).await;
    assert_eq!(theirs.body["devices"], json!([]));
    let one = format!("{devices}/{id}");
    assert_eq!(
        call(Method::GET, &one, Some(&alice.token), None)
            .await
            .status,
        404
    );
    assert_eq!(
        call(Method::DELETE, &one, Some(&alice.token), None)
            .await
            .status,
        404
    );

    let got = call(Method::GET, &one, Some(&bot.token), None).await;
    assert_eq!(got.body["webSocketUrl"], d["webSocketUrl"]);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let refreshed = call(
        Method::PUT,
        &one,
        Some(&bot.token),
        Some(json!({"name": "renamed"})),
    )
    .await;
    assert_eq!(refreshed.status, 200);
    assert_eq!(refreshed.body["name"], "renamed");
    assert!(refreshed.body["modificationTime"].as_str() > d["modificationTime"].as_str());

    assert_eq!(
        call(Method::DELETE, &one, Some(&bot.token), None)
            .await
            .status,
        204
    );
    assert_eq!(
        call(Method::GET, &one, Some(&bot.token), None).await.status,
        404
    );
    assert!(sim.devices_of(&bot).is_empty());

    // DELETE on the collection removes all of the caller's devices, no one else's.
    register(&sim, &bot, "a").await;
    register(&sim, &bot, "b").await;
    register(&sim, &alice, "c").await;
    assert_eq!(sim.devices_of(&bot).len(), 2);
    assert_eq!(
        call(Method::DELETE, &devices, Some(&bot.token), None)
            .await
            .status,
        204
    );
    assert!(sim.devices_of(&bot).is_empty());
    assert_eq!(sim.devices_of(&alice).len(), 1);
}

#[tokio::test]
async fn a_client_that_reuses_its_device_by_name_leaves_one_device_and_one_that_does_not_piles_up()
{
    let World { sim, bot, .. } = world().await;
    let devices = format!("{}/devices", sim.wdm_url());
    for _ in 0..5 {
        let listed = call(Method::GET, &devices, Some(&bot.token), None).await;
        let found = listed.body["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "molty");
        if !found {
            register(&sim, &bot, "molty").await;
        }
    }
    let mine = sim.devices_of(&bot);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].name.as_deref(), Some("molty"));
    for _ in 0..3 {
        register(&sim, &bot, "careless").await;
    }
    assert_eq!(sim.devices_of(&bot).len(), 4);
}

#[tokio::test]
async fn wdm_calls_honour_scripted_failures() {
    let World { sim, bot, .. } = world().await;
    sim.fail_next("POST", "/wdm/api/v1/devices", 503, 1);
    let devices = format!("{}/devices", sim.wdm_url());
    let failed = call(
        Method::POST,
        &devices,
        Some(&bot.token),
        Some(json!({"name": "x"})),
    )
    .await;
    common::assert_webex_error(&failed, 503);
    register(&sim, &bot, "x").await;
    assert_eq!(sim.devices_of(&bot).len(), 1);
}

#[tokio::test]
async fn authorized_socket_gets_buffer_state_then_pongs_with_the_pings_id() {
    let World { sim, bot, .. } = world().await;
    let (mut ws, _) = open(&sim, &bot).await;
    assert_eq!(sim.websocket_connections(), 1);
    for id in ["ping-1", "3f1c6a0e-0000-4000-8000-000000000001"] {
        ws.send(json!({"id": id, "type": "ping"})).await;
        let pong = ws.next_json().await;
        assert_eq!(pong, json!({"type": "pong", "id": id}));
    }
    assert_eq!(sim.pings_received(), 2);
}

#[tokio::test]
async fn bad_tokens_and_missing_authorization_close_the_socket_with_the_documented_codes() {
    let World {
        sim, bot, alice, ..
    } = world().await;
    let device = register(&sim, &bot, "d").await;
    let url = format!(
        "{}?outboundWireFormat=text",
        device["webSocketUrl"].as_str().unwrap()
    );

    let mut ws = Ws::connect(&url).await;
    ws.authorize("not-a-token").await;
    assert_eq!(ws.close_code().await, Some(4401));

    // A valid token of another account than the device's.
    let mut ws = Ws::connect(&url).await;
    ws.authorize(&alice.token).await;
    assert_eq!(ws.close_code().await, Some(4403));

    // Something other than an authorization frame first.
    let mut ws = Ws::connect(&url).await;
    ws.send(json!({"id": "1", "type": "ping"})).await;
    assert_eq!(ws.close_code().await, Some(1008));

    // Nothing at all within the timeout.
    sim.set_websocket_auth_timeout(Duration::from_millis(200));
    let mut ws = Ws::connect(&url).await;
    let start = Instant::now();
    assert_eq!(ws.close_code().await, Some(1008));
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(sim.websocket_connections(), 0);
}

#[tokio::test]
async fn a_dm_arrives_as_a_post_activity_whose_id_maps_to_the_rest_message() {
    let World {
        sim, bot, alice, ..
    } = world().await;
    let (mut ws, _) = open(&sim, &bot).await;
    let sent = sim
        .dm(&alice, &bot.email, "hello over mercury")
        .await
        .unwrap();
    let rest_id = sent["id"].as_str().unwrap();

    let env = activity(&mut ws).await;
    assert!(
        env["id"].is_string() && env["sequenceNumber"].is_u64() && env["trackingId"].is_string(),
        "{env}"
    );
    let a = &env["data"]["activity"];
    assert_eq!(a["verb"], "post");
    assert_eq!(a["target"]["tags"], json!(["ONE_ON_ONE"]));
    assert_eq!(a["actor"]["emailAddress"], json!(alice.email));
    assert_eq!(a["actor"]["displayName"], json!(alice.display_name));
    assert_eq!(a["actor"]["type"], "PERSON");
    let target = a["target"]["id"].as_str().unwrap();
    assert_eq!(
        a["target"]["url"],
        json!(format!(
            "{}/conversation/api/v1/conversations/{target}",
            sim.url()
        ))
    );
    // The content is not the text (it is encrypted on Webex).
    assert!(!env.to_string().contains("hello over mercury"));
    assert_eq!(
        a["object"]["displayName"]
            .as_str()
            .unwrap()
            .split('.')
            .count(),
        5
    );

    // webex_bot's lookup and JSSDK's id construction both give the REST id.
    let looked = lookup(&bot, &env, "messages").await;
    assert_eq!(looked.status, 200, "{:?}", looked.body);
    assert_eq!(looked.body["id"], json!(rest_id));
    assert_eq!(hydra("MESSAGE", a["id"].as_str().unwrap()), rest_id);
    let fetched = sim
        .call_as(&bot, Method::GET, &format!("/messages/{rest_id}"), None)
        .await
        .unwrap();
    assert_eq!(fetched["text"], "hello over mercury");
    assert_eq!(fetched["roomId"], json!(hydra("ROOM", target)));

    // The bot's own answer comes back too (clients skip it), with a bot actor.
    sim.dm(&bot, &alice.email, "hi").await.unwrap();
    let own = activity(&mut ws).await;
    assert_eq!(
        own["data"]["activity"]["actor"]["emailAddress"],
        json!(bot.email)
    );
    assert_ne!(own["data"]["activity"]["actor"]["type"], "PERSON");
    assert!(own["sequenceNumber"].as_u64() > env["sequenceNumber"].as_u64());
}

#[tokio::test]
async fn a_space_message_arrives_only_when_it_mentions_the_bot() {
    let World {
        sim,
        bot,
        alice,
        bob,
    } = world().await;
    let room = sim.create_room("Ops", &[&alice.email, &bob.email, &bot.email]);
    let (mut ws, _) = open(&sim, &bot).await;
    let (mut alices, _) = open(&sim, &alice).await;

    sim.post_in_room(&alice, &room.id, "no mention here")
        .await
        .unwrap();
    let mention = format!("<@personEmail:{}|Molty> status?", bot.email);
    let sent = sim.post_in_room(&bob, &room.id, &mention).await.unwrap();

    let env = activity(&mut ws).await;
    let a = &env["data"]["activity"];
    assert_eq!(lookup(&bot, &env, "messages").await.body["id"], sent["id"]);
    assert_eq!(a["target"]["tags"], json!([]));
    let bot_uuid = &a["object"]["mentions"]["items"][0]["id"];
    assert_eq!(hydra("PEOPLE", bot_uuid.as_str().unwrap()), bot.id);
    ws.expect_silence(Duration::from_millis(200)).await;

    // A person sees every message of the space.
    assert_eq!(
        activity(&mut alices).await["data"]["activity"]["verb"],
        "post"
    );
    assert_eq!(
        activity(&mut alices).await["data"]["activity"]["verb"],
        "post"
    );
    // The bot may not look up the message it was not mentioned in.
    let hidden = sim
        .messages_in(&room.id)
        .into_iter()
        .find(|m| m.text.as_deref().is_some_and(|t| t.contains("no mention")))
        .unwrap();
    let uuid = common::uuid_of(&hidden.id);
    let url = format!("{}/conversation/api/v1/messages/{uuid}", sim.url());
    assert_eq!(
        call(Method::GET, &url, Some(&bot.token), None).await.status,
        404
    );
}

#[tokio::test]
async fn without_outbound_wire_format_text_events_come_as_binary_frames() {
    let World {
        sim, bot, alice, ..
    } = world().await;
    let device = register(&sim, &bot, "d").await;
    let mut ws = Ws::connect(device["webSocketUrl"].as_str().unwrap()).await;
    ws.authorize(&bot.token).await;
    match ws.next_within(WAIT).await {
        Some(Next::Json(v, false)) => assert_eq!(v["data"]["eventType"], "mercury.buffer_state"),
        other => panic!("expected a binary buffer state, got {other:?}"),
    }
    sim.dm(&alice, &bot.email, "bin").await.unwrap();
    match ws.next_within(WAIT).await {
        Some(Next::Json(v, false)) => assert_eq!(v["data"]["activity"]["verb"], "post"),
        other => panic!("expected a binary activity, got {other:?}"),
    }
}

#[tokio::test]
async fn unacked_events_are_redelivered_on_reconnect_and_acked_ones_are_not() {
    let World {
        sim, bot, alice, ..
    } = world().await;
    let (mut ws, device) = open(&sim, &bot).await;
    sim.dm(&alice, &bot.email, "one").await.unwrap();
    sim.dm(&alice, &bot.email, "two").await.unwrap();
    let first = activity(&mut ws).await;
    let second = activity(&mut ws).await;
    ws.ack(&first).await;
    wait_until("the ack", || sim.acks_received() == 1).await;
    assert_eq!(sim.devices_of(&bot)[0].pending, 1);

    assert_eq!(sim.drop_websockets(), 1);
    assert!(matches!(ws.next_within(WAIT).await, Some(Next::Ended)));
    // Sent while nobody listens: queued for the next connection.
    sim.dm(&alice, &bot.email, "three").await.unwrap();

    let mut ws = reopen(&device, &bot).await;
    let again = activity(&mut ws).await;
    assert_eq!(
        again["id"], second["id"],
        "the un-acked event, same envelope id"
    );
    assert_eq!(
        again["data"]["activity"]["id"],
        second["data"]["activity"]["id"]
    );
    let third = activity(&mut ws).await;
    assert_ne!(third["id"], second["id"]);
    ws.ack(&again).await;
    ws.ack(&third).await;
    wait_until("the acks", || sim.acks_received() == 3).await;
    drop(ws);

    let mut ws = reopen(&device, &bot).await;
    ws.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_card_submission_arrives_as_a_card_action_mapping_to_the_rest_action() {
    let World {
        sim, bot, alice, ..
    } = world().await;
    let (mut ws, _) = open(&sim, &bot).await;
    sim.dm(&alice, &bot.email, "menu").await.unwrap();
    activity(&mut ws).await;
    let card = json!({"contentType": "application/vnd.microsoft.card.adaptive",
        "content": {"type": "AdaptiveCard", "version": "1.0", "body": [],
                    "actions": [{"type": "Action.Submit", "title": "Go"}]}});
    let message = sim
        .send_as(
            &bot,
            json!({"toPersonEmail": alice.email, "text": "pick", "attachments": [card]}),
        )
        .await
        .unwrap();
    activity(&mut ws).await; // the bot's own card message
    let action = sim
        .submit_card(
            &alice,
            message["id"].as_str().unwrap(),
            json!({"choice": "b"}),
        )
        .await
        .unwrap();

    let env = activity(&mut ws).await;
    let a = &env["data"]["activity"];
    assert_eq!(a["verb"], "cardAction");
    assert!(!env.to_string().contains("\"choice\""));
    let looked = lookup(&bot, &env, "attachment/actions").await;
    assert_eq!(looked.status, 200, "{:?}", looked.body);
    assert_eq!(looked.body["id"], action["id"]);
    assert_eq!(looked.body["messageId"], message["id"]);
    assert_eq!(
        hydra("ATTACHMENT_ACTION", a["id"].as_str().unwrap()),
        action["id"].as_str().unwrap()
    );
}

#[tokio::test]
async fn a_second_connection_on_the_same_device_replaces_the_first() {
    let World { sim, bot, .. } = world().await;
    let (mut old, device) = open(&sim, &bot).await;
    let _new = reopen(&device, &bot).await;
    assert_eq!(old.close_code().await, Some(4000));
    assert_eq!(sim.websocket_connections(), 1);
}

#[tokio::test]
async fn fault_dropped_sockets_end_without_a_close_frame_and_close_codes_are_sent_as_asked() {
    let World { sim, bot, .. } = world().await;
    let (mut ws, device) = open(&sim, &bot).await;
    assert_eq!(sim.drop_websockets(), 1);
    assert!(matches!(ws.next_within(WAIT).await, Some(Next::Ended)));
    let mut ws = reopen(&device, &bot).await;
    assert_eq!(sim.close_websockets(4401, "token expired"), 1);
    assert_eq!(ws.close_code().await, Some(4401));
    assert_eq!(sim.websocket_connections(), 0);
}

#[tokio::test]
async fn fault_refused_upgrades_and_forgotten_devices_answer_the_status() {
    let World { sim, bot, .. } = world().await;
    let (mut ws, device) = open(&sim, &bot).await;
    let url = device["webSocketUrl"].as_str().unwrap().to_string();
    sim.refuse_websocket_upgrades(Some(503));
    let err = tokio_tungstenite::connect_async(&url)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("503"), "{err}");
    sim.refuse_websocket_upgrades(None);

    assert_eq!(sim.forget_devices(), 1);
    assert_eq!(ws.close_code().await, Some(4404));
    let err = tokio_tungstenite::connect_async(&url)
        .await
        .expect_err("gone");
    assert!(err.to_string().contains("404"), "{err}");
    let get = call(
        Method::GET,
        device["url"].as_str().unwrap(),
        Some(&bot.token),
        None,
    )
    .await;
    assert_eq!(get.status, 404);
}

#[tokio::test]
async fn fault_duplicated_events_carry_the_same_envelope_id() {
    let World {
        sim, bot, alice, ..
    } = world().await;
    let (mut ws, _) = open(&sim, &bot).await;
    sim.duplicate_events(true);
    sim.dm(&alice, &bot.email, "twice").await.unwrap();
    let a = activity(&mut ws).await;
    let b = activity(&mut ws).await;
    assert_eq!(a, b);
    sim.duplicate_events(false);
    sim.dm(&alice, &bot.email, "once").await.unwrap();
    let c = activity(&mut ws).await;
    assert_ne!(c["id"], a["id"]);
    ws.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn fault_delayed_events_arrive_late() {
    let World {
        sim, bot, alice, ..
    } = world().await;
    let (mut ws, _) = open(&sim, &bot).await;
    sim.delay_events(Duration::from_millis(300));
    let start = Instant::now();
    sim.dm(&alice, &bot.email, "slow").await.unwrap();
    activity(&mut ws).await;
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn fault_unanswered_pings_until_answering_again() {
    let World { sim, bot, .. } = world().await;
    let (mut ws, _) = open(&sim, &bot).await;
    sim.stop_answering_pings();
    ws.send(json!({"id": "p1", "type": "ping"})).await;
    ws.expect_silence(Duration::from_millis(300)).await;
    assert_eq!(sim.pings_received(), 1);
    sim.answer_pings();
    ws.send(json!({"id": "p2", "type": "ping"})).await;
    assert_eq!(ws.next_json().await, json!({"type": "pong", "id": "p2"}));
}

#[tokio::test]
async fn control_api_shows_devices_and_sets_mercury_faults_with_named_errors() {
    let World { sim, bot, .. } = world().await;
    let (mut ws, _) = open(&sim, &bot).await;
    let state = call(
        Method::GET,
        &format!("{}/_sim/mercury", sim.url()),
        None,
        None,
    )
    .await;
    assert_eq!(state.status, 200);
    assert_eq!(state.body["connections"], 1);
    assert_eq!(state.body["devices"][0]["owner"], json!(bot.id));
    assert_eq!(state.body["devices"][0]["connected"], true);

    let faults = format!("{}/_sim/faults", sim.url());
    let bad = call(
        Method::POST,
        &faults,
        None,
        Some(json!({"mercuryRefuseUpgrade": 200})),
    )
    .await;
    assert!(common::assert_webex_error(&bad, 400).contains("mercuryRefuseUpgrade"));
    let bad = call(
        Method::POST,
        &faults,
        None,
        Some(json!({"mercuryDuplicateRatio": 2})),
    )
    .await;
    assert!(common::assert_webex_error(&bad, 400).contains("mercuryDuplicateRatio"));
    let ok = call(
        Method::POST,
        &faults,
        None,
        Some(json!({"mercuryIgnorePings": true})),
    )
    .await;
    assert!(ok.status < 300, "{:?}", ok.body);
    ws.send(json!({"id": "p", "type": "ping"})).await;
    ws.expect_silence(Duration::from_millis(200)).await;

    let close = format!("{}/_sim/mercury/close", sim.url());
    let bad = call(Method::POST, &close, None, Some(json!({"code": 99}))).await;
    assert!(common::assert_webex_error(&bad, 400).contains("code"));
    let closed = call(
        Method::POST,
        &close,
        None,
        Some(json!({"code": 4403, "reason": "x"})),
    )
    .await;
    assert_eq!(closed.body["closed"], 1);
    assert_eq!(ws.close_code().await, Some(4403));

    let (mut ws, _) = open(&sim, &bot).await;
    let dropped = call(
        Method::POST,
        &format!("{}/_sim/mercury/drop", sim.url()),
        None,
        None,
    )
    .await;
    assert_eq!(dropped.body["dropped"], 1);
    assert!(matches!(ws.next_within(WAIT).await, Some(Next::Ended)));
}

#[tokio::test]
async fn with_mercury_registration_status_the_ready_event_is_a_registration_status() {
    let World { sim, bot, .. } = world().await;
    let device = register(&sim, &bot, "d").await;
    let url = format!(
        "{}?outboundWireFormat=text&mercuryRegistrationStatus=true",
        device["webSocketUrl"].as_str().unwrap()
    );
    let mut ws = Ws::connect(&url).await;
    ws.authorize(&bot.token).await;
    let ready = ws.next_json().await;
    assert_eq!(ready["data"]["eventType"], "mercury.registration_status");
    assert!(
        ready.get("type").is_none(),
        "JSSDK ignores ready frames with a `type`"
    );
    assert!(ready["data"]["bufferState"].is_object());
}
