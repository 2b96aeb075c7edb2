//! The `/_sim` control API and the `webex-sim` binary.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use webex_sim::SimServer;

#[tokio::test]
async fn control_api_creates_people_rooms_and_reads_requests() {
    let sim = SimServer::start().await.unwrap();
    let base = sim.url();
    let p = call(
        Method::POST,
        &format!("{base}/_sim/people"),
        None,
        Some(json!({"email": "ann@example.com", "displayName": "Ann", "type": "person"})),
    )
    .await;
    assert_eq!(p.status, 200);
    let ann_token = p.body["token"].as_str().unwrap().to_string();
    assert_eq!(p.body["person"]["type"], "person");
    let b = call(Method::POST, &format!("{base}/_sim/people"), None, Some(json!({"email": "bot@example.com", "displayName": "Bot", "type": "bot", "token": "fixed-token"}))).await;
    assert_eq!(b.body["token"], "fixed-token");
    let room = call(
        Method::POST,
        &format!("{base}/_sim/rooms"),
        None,
        Some(json!({"title": "Ops", "members": ["ann@example.com", "bot@example.com"]})),
    )
    .await;
    assert_eq!(room.status, 200);
    assert_eq!(room.body["title"], "Ops");
    let bad = call(
        Method::POST,
        &format!("{base}/_sim/rooms"),
        None,
        Some(json!({"title": "X", "members": ["ghost@example.com"]})),
    )
    .await;
    assert_webex_error(&bad, 400);

    let me = call(
        Method::GET,
        &format!("{}/people/me", sim.api_base()),
        Some("fixed-token"),
        None,
    )
    .await;
    assert_eq!(me.body["type"], "bot");
    let reqs = call(Method::GET, &format!("{base}/_sim/requests"), None, None).await;
    let items = reqs.items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["method"], "GET");
    assert_eq!(items[0]["path"], "/v1/people/me");
    assert_eq!(items[0]["status"], 200);
    assert_eq!(items[0]["caller"], b.body["person"]["id"]);
    assert!(items[0]["atMs"].as_u64().unwrap() > 0);
    // Library view of the same log.
    let r = &sim.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.query.as_deref()),
        ("GET", "/v1/people/me", None)
    );
    sim.clear_requests();
    assert!(sim.requests().is_empty());

    let msg = call(
        Method::POST,
        &format!("{}/messages", sim.api_base()),
        Some(&ann_token),
        Some(json!({"roomId": room.body["id"], "text": "hi"})),
    )
    .await;
    assert_eq!(msg.status, 200);
    let listed = call(
        Method::GET,
        &format!(
            "{base}/_sim/messages?roomId={}",
            room.body["id"].as_str().unwrap()
        ),
        None,
        None,
    )
    .await;
    assert_eq!(listed.items().len(), 1);
}

#[tokio::test]
async fn control_api_sets_faults_and_fail_next() {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot("bot@example.com", "Bot");
    let base = sim.url();
    let set = call(
        Method::POST,
        &format!("{base}/_sim/faults"),
        None,
        Some(json!({"rateLimitPerMinute": 1, "retryAfterSeconds": 2})),
    )
    .await;
    assert_eq!(set.status, 204);
    assert_eq!(get(&sim, &bot, "/people/me").await.status, 200);
    let limited = get(&sim, &bot, "/people/me").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after").as_deref(), Some("2"));
    call(
        Method::POST,
        &format!("{base}/_sim/faults"),
        None,
        Some(json!({})),
    )
    .await;
    // An empty object leaves faults as they were; failNext alone only adds a rule.
    assert_eq!(get(&sim, &bot, "/people/me").await.status, 429);
    call(
        Method::POST,
        &format!("{base}/_sim/faults"),
        None,
        Some(json!({"latencyMs": 0})),
    )
    .await;
    assert_eq!(get(&sim, &bot, "/people/me").await.status, 200);
    call(
        Method::POST,
        &format!("{base}/_sim/faults"),
        None,
        Some(
            json!({"failNext": {"method": "GET", "path": "/v1/people", "status": 502, "count": 1}}),
        ),
    )
    .await;
    assert_eq!(get(&sim, &bot, "/people/me").await.status, 502);
    assert_eq!(get(&sim, &bot, "/people/me").await.status, 200);
    let bad = call(
        Method::POST,
        &format!("{base}/_sim/faults"),
        None,
        Some(json!({"latencyMs": "slow"})),
    )
    .await;
    assert_webex_error(&bad, 400);
}

/// POSTs `body` to `/_sim/<what>` and returns the 400's message.
async fn refused(sim: &SimServer, what: &str, body: serde_json::Value) -> String {
    let answer = call(
        Method::POST,
        &format!("{}/_sim/{what}", sim.url()),
        None,
        Some(body),
    )
    .await;
    assert_webex_error(&answer, 400)
}

#[tokio::test]
async fn a_misspelt_fault_is_refused_with_its_name_and_changes_nothing() {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot("bot@example.com", "Bot");
    // `rateLimit` is not a fault: accepted silently, it would leave the API unlimited and a
    // test of rate limiting would pass for the wrong reason.
    let message = refused(&sim, "faults", json!({"rateLimit": 1})).await;
    assert!(message.contains("`rateLimit`"), "{message}");
    assert!(
        message.contains("rateLimitPerMinute"),
        "lists the known keys: {message}"
    );
    for _ in 0..3 {
        assert_eq!(get(&sim, &bot, "/people/me").await.status, 200);
    }
    // Every unknown key is named, also next to known ones (which are not applied either).
    let message = refused(
        &sim,
        "faults",
        json!({"latencyMs": 0, "webhookDropRate": 0.5, "retryAfter": 3}),
    )
    .await;
    assert!(
        message.starts_with("Unknown keys in the /_sim/faults body: "),
        "{message}"
    );
    assert!(
        message.contains("`webhookDropRate`") && message.contains("`retryAfter`"),
        "{message}"
    );
    assert!(!message.contains("`latencyMs`"), "{message}");
}

#[tokio::test]
async fn a_misspelt_fail_next_field_is_refused_and_no_rule_is_added() {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot("bot@example.com", "Bot");
    let message = refused(
        &sim,
        "faults",
        json!({"failNext": {"method": "GET", "path": "/v1/people", "staus": 502}}),
    )
    .await;
    assert!(message.contains("in failNext: `staus`"), "{message}");
    assert!(message.contains("status"), "{message}");
    assert_eq!(get(&sim, &bot, "/people/me").await.status, 200);
}

#[tokio::test]
async fn misspelt_people_and_room_keys_are_refused() {
    let sim = SimServer::start().await.unwrap();
    let message = refused(
        &sim,
        "people",
        json!({"email": "ann@example.com", "displayname": "Ann"}),
    )
    .await;
    assert!(
        message.contains("`displayname`") && message.contains("displayName"),
        "{message}"
    );
    assert!(sim.person("ann@example.com").is_none(), "nothing created");
    sim.add_person("ann@example.com", "Ann");
    let message = refused(
        &sim,
        "rooms",
        json!({"title": "Ops", "member": ["ann@example.com"]}),
    )
    .await;
    assert!(
        message.contains("`member`") && message.contains("members"),
        "{message}"
    );
    let message = refused(&sim, "rooms", json!(["not", "an", "object"])).await;
    assert!(message.contains("must be a JSON object"), "{message}");
}

#[tokio::test]
async fn reset_clears_everything() {
    let w = world().await;
    w.sim.dm(&w.alice, "bob@example.com", "hi").await.unwrap();
    w.sim.fail_next("*", "/", 500, 5);
    let r = call(
        Method::POST,
        &format!("{}/_sim/reset", w.sim.url()),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert!(w.sim.requests().is_empty());
    assert!(w.sim.person("alice@example.com").is_none());
    assert_webex_error(&get(&w.sim, &w.alice, "/people/me").await, 401);
    let again = w.sim.add_person("alice@example.com", "Alice");
    assert_eq!(get(&w.sim, &again, "/people/me").await.status, 200);
    w.sim.reset();
    assert!(w.sim.person("alice@example.com").is_none());
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let sim = SimServer::start().await.unwrap();
    let url = format!("{}/_sim/requests", sim.url());
    assert_eq!(call(Method::GET, &url, None, None).await.status, 200);
    sim.shutdown().await;
    assert!(reqwest::get(&url).await.is_err());
}

#[tokio::test]
async fn binary_prints_its_url_first_and_serves_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json5");
    std::fs::write(
        &seed,
        "{ // people and rooms\n people: [{email: 'bot@example.com', displayName: 'Bot', type: 'bot', token: 'BOT'},\n {email: 'amy@example.com', displayName: 'Amy', type: 'person', token: 'AMY'}],\n rooms: [{title: 'Seeded', members: ['amy@example.com', 'bot@example.com']}], }",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_webex-sim"))
        .args(["--listen", "127.0.0.1:0", "--seed"])
        .arg(&seed)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let url = line
        .trim()
        .strip_prefix("webex-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"));
    let rooms = call(Method::GET, &format!("{url}/v1/rooms"), Some("BOT"), None).await;
    assert_eq!(rooms.items().len(), 1);
    assert_eq!(rooms.items()[0]["title"], "Seeded");
    // Reset re-applies the seed.
    call(Method::POST, &format!("{url}/_sim/reset"), None, None).await;
    let me = call(
        Method::GET,
        &format!("{url}/v1/people/me"),
        Some("AMY"),
        None,
    )
    .await;
    assert_eq!(me.body["displayName"], "Amy");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn binary_rejects_a_broken_seed() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json5");
    std::fs::write(
        &seed,
        "{ rooms: [{title: 'X', members: ['ghost@example.com']}] }",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_webex-sim"))
        .arg("--seed")
        .arg(&seed)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ghost@example.com"));
}
