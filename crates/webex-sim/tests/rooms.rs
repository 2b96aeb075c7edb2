//! `/rooms` and `/memberships`.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn rooms_carry_type_lock_created_creator_and_last_activity() {
    let w = world().await;
    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "molty@webex.bot"]);
    let a = get(&w.sim, &w.bot, &format!("/rooms/{}", room.id)).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["title"], "Team");
    assert_eq!(a.body["type"], "group");
    assert_eq!(a.body["isLocked"], false);
    assert_eq!(a.body["creatorId"], json!(w.alice.id));
    assert_eq!(a.body["created"], a.body["lastActivity"]);
    let m = w.sim.post_in_room(&w.alice, &room.id, "hi").await.unwrap();
    let b = get(&w.sim, &w.bot, &format!("/rooms/{}", room.id)).await;
    assert_eq!(b.body["lastActivity"], m["created"]);
}

#[tokio::test]
async fn rooms_are_visible_to_members_only() {
    let w = world().await;
    let room = w.sim.create_room("Secret", &["alice@example.com"]);
    assert_webex_error(
        &get(&w.sim, &w.bob, &format!("/rooms/{}", room.id)).await,
        404,
    );
    let list = get(&w.sim, &w.bob, "/rooms").await;
    assert!(list.items().is_empty());
}

#[tokio::test]
async fn list_filters_by_type_and_sorts_by_last_activity() {
    let w = world().await;
    let r1 = w
        .sim
        .create_room("One", &["alice@example.com", "molty@webex.bot"]);
    let r2 = w
        .sim
        .create_room("Two", &["alice@example.com", "molty@webex.bot"]);
    let dm = w.sim.dm(&w.alice, "molty@webex.bot", "hi").await.unwrap();
    // Activity in r1 moves it to the front.
    w.sim
        .post_in_room(&w.alice, &r1.id, "<@personEmail:molty@webex.bot> ping")
        .await
        .unwrap();
    let by_activity = get(&w.sim, &w.bot, "/rooms?sortBy=lastactivity").await;
    let ids: Vec<Value> = by_activity
        .items()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(r1.id), dm["roomId"].clone(), json!(r2.id)]);
    let groups = get(&w.sim, &w.bot, "/rooms?type=group").await;
    assert_eq!(groups.items().len(), 2);
    let direct = get(&w.sim, &w.bot, "/rooms?type=direct").await;
    assert_eq!(direct.items().len(), 1);
    assert_eq!(direct.items()[0]["title"], "Alice Liddell");
    let by_created = get(&w.sim, &w.bot, "/rooms?sortBy=created").await;
    assert_eq!(by_created.items()[0]["id"], dm["roomId"]);
    let by_id = get(&w.sim, &w.bot, "/rooms?sortBy=id").await;
    let mut sorted: Vec<String> = by_id
        .items()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let copy = sorted.clone();
    sorted.sort();
    assert_eq!(sorted, copy);
    assert_webex_error(&get(&w.sim, &w.bot, "/rooms?sortBy=name").await, 400);
    assert_webex_error(&get(&w.sim, &w.bot, "/rooms?type=team").await, 400);
}

#[tokio::test]
async fn room_list_pages_with_link_headers() {
    let w = world().await;
    for i in 0..5 {
        w.sim.create_room(&format!("R{i}"), &["alice@example.com"]);
    }
    let first = get(&w.sim, &w.alice, "/rooms?max=2").await;
    assert_eq!(first.items().len(), 2);
    let mut seen: Vec<Value> = first.items().iter().map(|r| r["id"].clone()).collect();
    let mut next = first.next_link();
    while let Some(url) = next {
        assert!(url.contains("max=2"), "{url}");
        let page = call(reqwest::Method::GET, &url, Some(&w.alice.token), None).await;
        seen.extend(page.items().iter().map(|r| r["id"].clone()));
        next = page.next_link();
    }
    assert_eq!(seen.len(), 5);
    seen.dedup();
    assert_eq!(seen.len(), 5);
    assert_webex_error(&get(&w.sim, &w.alice, "/rooms?max=1001").await, 400);
}

#[tokio::test]
async fn memberships_list_room_members() {
    let w = world().await;
    let room = w.sim.create_room(
        "Team",
        &["alice@example.com", "bob@example.com", "molty@webex.bot"],
    );
    let a = get(&w.sim, &w.bot, &format!("/memberships?roomId={}", room.id)).await;
    assert_eq!(a.status, 200);
    let emails: Vec<Value> = a.items().iter().map(|m| m["personEmail"].clone()).collect();
    assert_eq!(
        emails,
        vec![
            json!("alice@example.com"),
            json!("bob@example.com"),
            json!("molty@webex.bot")
        ]
    );
    assert_eq!(a.items()[2]["personDisplayName"], "Molty");
    assert_eq!(a.items()[0]["roomType"], "group");
    let one = get(
        &w.sim,
        &w.bot,
        &format!(
            "/memberships?roomId={}&personEmail=bob@example.com",
            room.id
        ),
    )
    .await;
    assert_eq!(one.items().len(), 1);
    assert_eq!(one.items()[0]["personId"], json!(w.bob.id));
    let mine = get(&w.sim, &w.bot, "/memberships").await;
    assert_eq!(mine.items().len(), 1);
    assert_webex_error(
        &get(&w.sim, &w.bot, "/memberships?personEmail=bob@example.com").await,
        400,
    );
    let outsider = w.sim.add_person("eve@example.com", "Eve");
    assert_webex_error(
        &get(
            &w.sim,
            &outsider,
            &format!("/memberships?roomId={}", room.id),
        )
        .await,
        404,
    );
}

#[tokio::test]
async fn people_can_create_rooms_and_add_members() {
    let w = world().await;
    let room = post(&w.sim, &w.alice, "/rooms", json!({"title": "Fresh"})).await;
    assert_eq!(room.status, 200);
    let id = room.body["id"].as_str().unwrap();
    let added = post(
        &w.sim,
        &w.alice,
        "/memberships",
        json!({"roomId": id, "personEmail": "molty@webex.bot"}),
    )
    .await;
    assert_eq!(added.status, 200);
    assert_eq!(added.body["personId"], json!(w.bot.id));
    let again = post(
        &w.sim,
        &w.alice,
        "/memberships",
        json!({"roomId": id, "personId": w.bot.id}),
    )
    .await;
    assert_webex_error(&again, 409);
    let visible = get(&w.sim, &w.bot, &format!("/rooms/{id}")).await;
    assert_eq!(visible.body["title"], "Fresh");
}
