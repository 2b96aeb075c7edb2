//! The control API and the seed refuse what they cannot apply, naming the key and the allowed
//! values, and apply nothing of a refused body (issue 10).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Command;
use webex_sim::{SimPerson, SimServer};

/// Sends `body` to `/_sim/<what>` with `method` and returns the 400's message.
async fn refused_with(sim: &SimServer, method: Method, what: &str, body: Value) -> String {
    let answer = call(
        method,
        &format!("{}/_sim/{what}", sim.url()),
        None,
        Some(body),
    )
    .await;
    assert_webex_error(&answer, 400)
}

async fn refused(sim: &SimServer, what: &str, body: Value) -> String {
    refused_with(sim, Method::POST, what, body).await
}

/// Asserts `message` names every one of `parts`.
fn names(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{part:?} missing in {message:?}");
    }
}

/// Three calls in a row all answer 200: no rate limit, latency or scripted failure was applied.
async fn api_untouched(sim: &SimServer, bot: &SimPerson) {
    for _ in 0..3 {
        assert_eq!(get(sim, bot, "/people/me").await.status, 200);
    }
}

#[tokio::test]
async fn type_errors_name_the_key_path_and_the_expected_type() {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot("bot@example.com", "Bot");
    // The reviewer's inputs.
    let m = refused(&sim, "faults", json!({"latencyMs": "100"})).await;
    names(&m, &["`latencyMs`", "string \"100\"", "expected u64"]);
    let m = refused(&sim, "faults", json!({"failNext": [1]})).await;
    names(&m, &["`failNext`", "expected an object"]);
    let m = refused(
        &sim,
        "people",
        json!({"email": "a@example.com", "displayName": 5}),
    )
    .await;
    names(&m, &["`displayName`", "integer `5`", "expected a string"]);
    assert!(!m.contains("Invalid the"), "{m}");
    let m = refused(
        &sim,
        "rooms",
        json!({"title": 5, "members": ["bot@example.com"]}),
    )
    .await;
    names(&m, &["`title`", "expected a string"]);
    let m = refused(&sim, "rooms", json!({"title": "T", "members": "x"})).await;
    names(&m, &["`members`", "expected a sequence"]);
    // More of the same kind: nested and indexed paths.
    let m = refused(&sim, "rooms", json!({"title": "T", "members": [5]})).await;
    names(&m, &["`members[0]`", "expected a string"]);
    let m = refused(&sim, "faults", json!({"failNext": {"status": "502"}})).await;
    names(&m, &["`failNext.status`", "expected u16"]);
    let m = refused(&sim, "faults", json!({"firstContactRule": "no"})).await;
    names(&m, &["`firstContactRule`", "boolean"]);
    // Nothing of a refused body is applied.
    let m = refused(
        &sim,
        "faults",
        json!({"rateLimitPerMinute": 1, "webhookDropRatio": "half"}),
    )
    .await;
    names(&m, &["`webhookDropRatio`", "expected f64"]);
    let m = refused(
        &sim,
        "faults",
        json!({"rateLimitPerMinute": 1, "failNext": {"status": 500, "count": "2"}}),
    )
    .await;
    names(&m, &["`failNext.count`"]);
    api_untouched(&sim, &bot).await;
    assert!(sim.person("a@example.com").is_none());
    assert!(sim.requests().iter().all(|r| r.path == "/v1/people/me"));
}

#[tokio::test]
async fn fault_values_out_of_range_are_refused_with_the_range() {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot("bot@example.com", "Bot");
    let cases = [
        // The reviewer's inputs.
        (
            json!({"webhookDropRatio": 2}),
            "`webhookDropRatio`",
            "0..=1",
        ),
        (
            json!({"webhookDropRatio": -0.5}),
            "`webhookDropRatio`",
            "0..=1",
        ),
        (
            json!({"failNext": {"method": "GETT", "status": 500}}),
            "`failNext.method`",
            "`*` or an HTTP method",
        ),
        (
            json!({"failNext": {"path": "people/me", "status": 500}}),
            "`failNext.path`",
            "starting with `/`",
        ),
        (
            json!({"failNext": {"status": 500, "count": 0}}),
            "`failNext.count`",
            "at least 1",
        ),
        (
            json!({"failNext": {"status": 200}}),
            "`failNext.status`",
            "400..=599",
        ),
        (json!({"latencyMs": u64::MAX}), "`latencyMs`", "0..=60000"),
        // More of the same kind.
        (
            json!({"webhookDuplicateRatio": 1.5}),
            "`webhookDuplicateRatio`",
            "0..=1",
        ),
        (
            json!({"webhookReorderRatio": -1}),
            "`webhookReorderRatio`",
            "0..=1",
        ),
        (
            json!({"webhookDelayMs": 60_001}),
            "`webhookDelayMs`",
            "0..=60000",
        ),
        (
            json!({"retryAfterSeconds": 86_401}),
            "`retryAfterSeconds`",
            "0..=86400",
        ),
        (
            json!({"retryAfterRaw": "1\r\nX-Evil: 1"}),
            "`retryAfterRaw`",
            "printable ASCII",
        ),
        (
            json!({"failNext": {"method": "*"}}),
            "`failNext.status`",
            "required",
        ),
        (
            json!({"failNext": {"status": 600}}),
            "`failNext.status`",
            "400..=599",
        ),
    ];
    for (body, key, range) in cases {
        // Each also carries a valid rate limit, which must not be applied either.
        let mut body = body;
        body["rateLimitPerMinute"] = json!(1);
        let m = refused(&sim, "faults", body.clone()).await;
        names(&m, &[key, range]);
        api_untouched(&sim, &bot).await;
    }
    // The edges of the ranges are accepted.
    for body in [
        json!({"webhookDropRatio": 1, "webhookDuplicateRatio": 0, "latencyMs": 60_000}),
        json!({"latencyMs": 0, "retryAfterSeconds": 86_400, "retryAfterRaw": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        json!({"failNext": {"method": "get", "path": "/people", "status": 400, "count": 1}}),
        json!({"failNext": {"method": "*", "path": "/", "status": 599}}),
    ] {
        let ok = call(
            Method::POST,
            &format!("{}/_sim/faults", sim.url()),
            None,
            Some(body.clone()),
        )
        .await;
        assert_eq!(ok.status, 204, "{body}: {:?}", ok.body);
    }
    assert_eq!(get(&sim, &bot, "/people/me").await.status, 400);
    assert_eq!(get(&sim, &bot, "/people/me").await.status, 599);
    assert_eq!(get(&sim, &bot, "/people/me").await.status, 200);
}

#[tokio::test]
async fn calls_without_a_body_refuse_one_and_apply_nothing() {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot("bot@example.com", "Bot");
    assert_eq!(get(&sim, &bot, "/people/me").await.status, 200);
    // The reviewer's inputs.
    let m = refused(&sim, "reset", json!({"keepPeople": true})).await;
    names(&m, &["`keepPeople`", "/_sim/reset", "Known keys: none"]);
    assert!(sim.person("bot@example.com").is_some(), "nothing was reset");
    let m = refused_with(&sim, Method::DELETE, "requests", json!({"x": 1})).await;
    names(&m, &["`x`", "DELETE /_sim/requests"]);
    assert!(!sim.requests().is_empty(), "the log was not cleared");
    // More of the same kind: a body that is not an object, several keys.
    let m = refused(&sim, "reset", json!([1])).await;
    names(&m, &["must be empty or `{}`"]);
    let m = refused_with(
        &sim,
        Method::DELETE,
        "requests",
        json!({"all": true, "seq": 3}),
    )
    .await;
    names(&m, &["`all`", "`seq`"]);
    assert!(!sim.requests().is_empty());
    // `{}` and no body are fine.
    let url = format!("{}/_sim/requests", sim.url());
    assert_eq!(
        call(Method::DELETE, &url, None, Some(json!({})))
            .await
            .status,
        204
    );
    assert!(sim.requests().is_empty());
    let url = format!("{}/_sim/reset", sim.url());
    assert_eq!(
        call(Method::POST, &url, None, Some(json!({}))).await.status,
        204
    );
    assert!(sim.person("bot@example.com").is_none());
}

#[tokio::test]
async fn an_invalid_email_and_an_unknown_room_get_the_right_message() {
    let sim = SimServer::start().await.unwrap();
    // The reviewer's inputs.
    let m = refused(&sim, "people", json!({"email": "not-an-email"})).await;
    names(&m, &["`email`", "\"not-an-email\" is not an email address"]);
    assert!(!m.contains("required"), "{m}");
    let nope = call(
        Method::GET,
        &format!("{}/_sim/messages?roomId=nope", sim.url()),
        None,
        None,
    )
    .await;
    let m = assert_webex_error(&nope, 404);
    names(&m, &["\"nope\""]);
    // More of the same kind.
    for email in ["a@", "@x.io", "a b@x.io", "a@b@c"] {
        let m = refused(&sim, "people", json!({"email": email})).await;
        names(&m, &["`email`", "not an email address"]);
    }
    let m = refused(&sim, "people", json!({"displayName": "Ann"})).await;
    names(&m, &["email is required"]);
    let m = refused(&sim, "people", json!({"email": "r@x.io", "type": "robot"})).await;
    names(&m, &["`type`", "\"robot\""]);
    assert!(sim.person("r@x.io").is_none());
    // A well-formed id of something else (a person) is no room either.
    let bot = sim.add_bot("bot@example.com", "Bot");
    let other = call(
        Method::GET,
        &format!("{}/_sim/messages?roomId={}", sim.url(), bot.id),
        None,
        None,
    )
    .await;
    assert_webex_error(&other, 404);
    let missing = call(
        Method::GET,
        &format!("{}/_sim/messages", sim.url()),
        None,
        None,
    )
    .await;
    names(&assert_webex_error(&missing, 400), &["roomId is required"]);
}

/// Runs the binary on a seed with `text`; returns its stderr (asserting a non-zero exit).
fn refused_seed(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json5");
    std::fs::write(&seed, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_webex-sim"))
        .args(["--listen", "127.0.0.1:0", "--seed"])
        .arg(&seed)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{text} was accepted");
    assert!(out.stdout.is_empty(), "nothing started");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    err
}

#[test]
fn the_binary_refuses_a_bad_seed_naming_the_entry() {
    let person = "{email: 'a@x.io', token: 'T'}";
    let cases = [
        // The reviewer's inputs.
        (
            "{peple: [{email: 'a@x.io'}]}".to_string(),
            vec!["peple", "people"],
        ),
        (
            "{people: [{email: 'a@x.io', tokn: 'T'}]}".to_string(),
            vec!["people[0]", "tokn"],
        ),
        (
            "{people: [{email: 'r@x.io', type: 'robot'}]}".to_string(),
            vec!["people[0].type", "\"robot\""],
        ),
        (
            format!("{{people: [{person}, {{email: 'b@x.io', token: 'T'}}]}}"),
            vec!["people[1].token", "people[0]"],
        ),
        (
            format!("{{people: [{person}, {{email: 'A@X.io'}}]}}"),
            vec!["people[1].email", "people[0]"],
        ),
        // More of the same kind.
        (
            "{people: [{email: 'not-an-email'}]}".to_string(),
            vec!["people[0].email", "not an email address"],
        ),
        (
            "{people: [{email: 5}]}".to_string(),
            vec!["people[0].email", "expected a string"],
        ),
        (
            format!("{{people: [{person}], rooms: [{{title: 'Empty'}}]}}"),
            vec!["rooms[0].members", "at least one"],
        ),
        (
            format!(
                "{{people: [{person}], rooms: [{{title: 'T', members: ['a@x.io'], topic: 'x'}}]}}"
            ),
            vec!["rooms[0]", "topic"],
        ),
        (
            "{people: [{email: 'a@x.io', token: ''}]}".to_string(),
            vec!["people[0].token", "empty"],
        ),
    ];
    for (text, parts) in cases {
        let err = refused_seed(&text);
        names(&err, &parts);
        assert!(err.contains("seed.json5"), "names the file: {err}");
    }
}
