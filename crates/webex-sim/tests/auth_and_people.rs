//! Bearer auth, tracking ids, id encoding, and `/people`.

#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine;
use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn missing_token_is_401_with_webex_error_body() {
    let w = world().await;
    let a = call(
        Method::GET,
        &format!("{}/people/me", w.sim.api_base()),
        None,
        None,
    )
    .await;
    let msg = assert_webex_error(&a, 401);
    assert_eq!(
        msg,
        "The request requires a valid access token set in the Authorization request header."
    );
    assert!(a.body["trackingId"]
        .as_str()
        .unwrap()
        .starts_with("ROUTER_"));
}

#[tokio::test]
async fn unknown_token_is_401() {
    let w = world().await;
    let a = call(
        Method::GET,
        &format!("{}/rooms", w.sim.api_base()),
        Some("not-a-token"),
        None,
    )
    .await;
    assert_webex_error(&a, 401);
    // Recorded, without a caller.
    let r = w.sim.requests();
    assert_eq!(r.last().unwrap().status, 401);
    assert_eq!(r.last().unwrap().caller, None);
}

#[tokio::test]
async fn every_response_has_a_trackingid_header() {
    let w = world().await;
    let ok = get(&w.sim, &w.alice, "/people/me").await;
    assert_eq!(ok.status, 200);
    assert!(ok.header("trackingid").unwrap().starts_with("ROUTER_"));
    let missing = get(&w.sim, &w.alice, "/nope").await;
    assert_webex_error(&missing, 404);
    let del = post(
        &w.sim,
        &w.alice,
        "/messages",
        json!({"toPersonEmail": "bob@example.com", "text": "x"}),
    )
    .await;
    let gone = delete(
        &w.sim,
        &w.alice,
        &format!("/messages/{}", del.body["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(gone.status, 204);
    assert!(gone.header("trackingid").is_some());
    let control = call(
        Method::GET,
        &format!("{}/_sim/requests", w.sim.url()),
        None,
        None,
    )
    .await;
    assert!(control.header("trackingid").is_some());
}

#[tokio::test]
async fn ids_are_base64_of_ciscospark_uris() {
    let w = world().await;
    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "bob@example.com"]);
    let m = w.sim.post_in_room(&w.alice, &room.id, "hi").await.unwrap();
    let hook = register(
        &w.sim,
        &w.alice,
        "http://127.0.0.1:9/hook",
        "messages",
        None,
        None,
    )
    .await;
    let memberships = get(
        &w.sim,
        &w.alice,
        &format!("/memberships?roomId={}", room.id),
    )
    .await;
    for (id, kind) in [
        (w.alice.id.clone(), "PEOPLE"),
        (room.id.clone(), "ROOM"),
        (m["id"].as_str().unwrap().to_string(), "MESSAGE"),
        (hook["id"].as_str().unwrap().to_string(), "WEBHOOK"),
        (
            memberships.items()[0]["id"].as_str().unwrap().to_string(),
            "MEMBERSHIP",
        ),
    ] {
        assert!(!id.contains('='), "padding is stripped: {id}");
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(&id)
            .unwrap();
        let text = String::from_utf8(raw).unwrap();
        let prefix = format!("ciscospark://us/{kind}/");
        assert!(text.starts_with(&prefix), "{text}");
    }
    assert!(w.alice.id.starts_with("Y2lzY29zcGFyazovL3VzL1BFT1BMRS"));
}

#[tokio::test]
async fn lookups_accept_the_raw_uuid_too() {
    let w = world().await;
    let uuid = common::uuid_of(&w.bob.id);
    let a = get(&w.sim, &w.alice, &format!("/people/{uuid}")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["id"], json!(w.bob.id));
}

#[tokio::test]
async fn people_me_reports_type_person_or_bot() {
    let w = world().await;
    let me = get(&w.sim, &w.alice, "/people/me").await;
    assert_eq!(me.body["type"], "person");
    assert_eq!(me.body["emails"], json!(["alice@example.com"]));
    assert_eq!(me.body["displayName"], "Alice Liddell");
    let bot = get(&w.sim, &w.bot, "/people/me").await;
    assert_eq!(bot.body["type"], "bot");
    assert_eq!(bot.body["id"], json!(w.bot.id));
}

#[tokio::test]
async fn people_by_email_and_id() {
    let w = world().await;
    let by_email = get(&w.sim, &w.bot, "/people?email=Bob@Example.com").await;
    assert_eq!(by_email.status, 200);
    assert_eq!(by_email.items().len(), 1);
    assert_eq!(by_email.items()[0]["id"], json!(w.bob.id));
    let none = get(&w.sim, &w.bot, "/people?email=nobody@example.com").await;
    assert!(none.items().is_empty());
    let by_id = get(&w.sim, &w.bot, &format!("/people/{}", w.alice.id)).await;
    assert_eq!(by_id.body["emails"][0], "alice@example.com");
    let unknown = get(
        &w.sim,
        &w.bot,
        "/people/Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ub3BlAA",
    )
    .await;
    assert_webex_error(&unknown, 404);
    let no_filter = get(&w.sim, &w.bot, "/people").await;
    assert_webex_error(&no_filter, 400);
}

#[tokio::test]
async fn debug_output_never_shows_tokens() {
    let w = world().await;
    let shown = format!("{:?} {:?}", w.alice, w.sim);
    assert!(!shown.contains(&w.alice.token), "{shown}");
    assert!(!shown.contains(&w.bot.token));
}

#[tokio::test]
async fn framework_rejections_also_get_the_webex_error_body() {
    let w = world().await;
    // Method not allowed, and a path segment that is not valid UTF-8.
    let a = call(
        Method::PATCH,
        &format!("{}/rooms", w.sim.api_base()),
        Some(&w.alice.token),
        None,
    )
    .await;
    assert_webex_error(&a, 405);
    let b = get(&w.sim, &w.alice, "/people/%FF").await;
    assert_webex_error(&b, 400);
}
