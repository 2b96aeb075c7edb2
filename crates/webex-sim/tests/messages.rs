//! `/messages` fidelity: creation rules, mentions, threads, listing, bot visibility, edits.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};

fn card() -> Value {
    json!({
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {"type": "AdaptiveCard", "version": "1.0",
                    "body": [{"type": "TextBlock", "text": "Pick"}],
                    "actions": [{"type": "Action.Submit", "title": "Go"}]}
    })
}

#[tokio::test]
async fn create_answers_200_with_the_message() {
    let w = world().await;
    let a = post(
        &w.sim,
        &w.alice,
        "/messages",
        json!({"toPersonEmail": "bob@example.com", "text": "hello"}),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["text"], "hello");
    assert_eq!(a.body["roomType"], "direct");
    assert_eq!(a.body["personId"], json!(w.alice.id));
    assert_eq!(a.body["personEmail"], "alice@example.com");
    assert_eq!(a.body["toPersonEmail"], "bob@example.com");
    assert!(a.body["created"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn exactly_one_destination_is_required() {
    let w = world().await;
    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "bob@example.com"]);
    let none = post(&w.sim, &w.alice, "/messages", json!({"text": "x"})).await;
    assert!(assert_webex_error(&none, 400).contains("roomId"));
    let two = post(
        &w.sim,
        &w.alice,
        "/messages",
        json!({"text": "x", "roomId": room.id, "toPersonEmail": "bob@example.com"}),
    )
    .await;
    assert_webex_error(&two, 400);
    let three = post(&w.sim, &w.alice, "/messages", json!({"text": "x", "roomId": room.id, "toPersonId": w.bob.id, "toPersonEmail": "bob@example.com"})).await;
    assert_webex_error(&three, 400);
}

#[tokio::test]
async fn content_is_required_unless_files_or_card() {
    let w = world().await;
    let empty = post(
        &w.sim,
        &w.alice,
        "/messages",
        json!({"toPersonEmail": "bob@example.com"}),
    )
    .await;
    assert_webex_error(&empty, 400);
    let blank = post(
        &w.sim,
        &w.alice,
        "/messages",
        json!({"toPersonEmail": "bob@example.com", "text": ""}),
    )
    .await;
    assert_webex_error(&blank, 400);
    let file = post(
        &w.sim,
        &w.alice,
        "/messages",
        json!({"toPersonEmail": "bob@example.com", "files": ["https://example.com/a.png"]}),
    )
    .await;
    assert_eq!(file.status, 200);
    assert_eq!(file.body["files"], json!(["https://example.com/a.png"]));
    let card_only = post(
        &w.sim,
        &w.alice,
        "/messages",
        json!({"toPersonEmail": "bob@example.com", "attachments": [card()]}),
    )
    .await;
    assert_eq!(card_only.status, 200);
    assert_eq!(
        card_only.body["attachments"][0]["content"]["type"],
        "AdaptiveCard"
    );
}

#[tokio::test]
async fn text_and_markdown_are_capped_at_7439_bytes() {
    let w = world().await;
    let ok = post(
        &w.sim,
        &w.alice,
        "/messages",
        json!({"toPersonEmail": "bob@example.com", "text": "a".repeat(7439)}),
    )
    .await;
    assert_eq!(ok.status, 200);
    let long = post(
        &w.sim,
        &w.alice,
        "/messages",
        json!({"toPersonEmail": "bob@example.com", "text": "a".repeat(7440)}),
    )
    .await;
    assert!(assert_webex_error(&long, 400).contains("7439"));
    // Bytes, not characters: 2480 three-byte characters are 7440 bytes.
    let wide = post(
        &w.sim,
        &w.alice,
        "/messages",
        json!({"toPersonEmail": "bob@example.com", "markdown": "€".repeat(2480)}),
    )
    .await;
    assert_webex_error(&wide, 400);
}

#[tokio::test]
async fn at_most_one_file_and_one_card() {
    let w = world().await;
    let files = post(
        &w.sim,
        &w.alice,
        "/messages",
        json!({"toPersonEmail": "bob@example.com", "files": ["https://e.x/1", "https://e.x/2"]}),
    )
    .await;
    assert_webex_error(&files, 400);
    let cards = post(
        &w.sim,
        &w.alice,
        "/messages",
        json!({"toPersonEmail": "bob@example.com", "text": "x", "attachments": [card(), card()]}),
    )
    .await;
    assert_webex_error(&cards, 400);
    let bad_card = post(&w.sim, &w.alice, "/messages", json!({"toPersonEmail": "bob@example.com", "text": "x", "attachments": [{"contentType": "text/plain", "content": {}}]})).await;
    assert_webex_error(&bad_card, 400);
}

/// Alice's `POST /messages` of `body` to Bob (`toPersonEmail` added).
async fn alice_to_bob(w: &World, mut body: Value) -> Answer {
    body["toPersonEmail"] = json!("bob@example.com");
    post(&w.sim, &w.alice, "/messages", body).await
}

#[tokio::test]
async fn a_json_file_is_a_public_url_and_a_card_content_an_object() {
    let w = world().await;
    for not_a_url in [
        "/etc/passwd",
        "file:///etc/passwd",
        "report.pdf",
        "https://",
    ] {
        let refused = alice_to_bob(&w, json!({"files": [not_a_url]})).await;
        assert_webex_error(&refused, 400);
    }
    let url = alice_to_bob(&w, json!({"files": ["https://e.x/r.pdf"]})).await;
    assert_eq!(url.status, 200, "{:?}", url.body);
    let content = json!("{\"type\": \"AdaptiveCard\"}");
    let string_card = alice_to_bob(
        &w,
        json!({"text": "x", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": content}]}),
    )
    .await;
    assert_webex_error(&string_card, 400);
}

#[tokio::test]
async fn threads_allow_one_level_only() {
    let w = world().await;
    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "bob@example.com"]);
    let root = w
        .sim
        .post_in_room(&w.alice, &room.id, "root")
        .await
        .unwrap();
    let reply = w
        .sim
        .send_as(
            &w.bob,
            json!({"roomId": room.id, "parentId": root["id"], "text": "reply"}),
        )
        .await
        .unwrap();
    assert_eq!(reply["parentId"], root["id"]);
    let nested = w
        .sim
        .send_as(
            &w.alice,
            json!({"roomId": room.id, "parentId": reply["id"], "text": "nested"}),
        )
        .await;
    let (status, body) = nested.unwrap_err();
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("reply"));
    let unknown = w
        .sim
        .send_as(
            &w.alice,
            json!({"roomId": room.id, "parentId": "nope", "text": "x"}),
        )
        .await;
    assert_eq!(unknown.unwrap_err().0, 404);
    let thread = get(
        &w.sim,
        &w.alice,
        &format!(
            "/messages?roomId={}&parentId={}",
            room.id,
            root["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(thread.items().len(), 1);
    assert_eq!(thread.items()[0]["id"], reply["id"]);
}

#[tokio::test]
async fn direct_rooms_are_created_by_email_or_id_and_reused() {
    let w = world().await;
    let a = w.sim.dm(&w.alice, "bob@example.com", "one").await.unwrap();
    let b = w
        .sim
        .send_as(&w.alice, json!({"toPersonId": w.bob.id, "text": "two"}))
        .await
        .unwrap();
    assert_eq!(a["roomId"], b["roomId"]);
    assert_eq!(b["toPersonId"], json!(w.bob.id));
    let back = w
        .sim
        .dm(&w.bob, "alice@example.com", "three")
        .await
        .unwrap();
    assert_eq!(back["roomId"], a["roomId"]);
    let room = get(
        &w.sim,
        &w.bob,
        &format!("/rooms/{}", a["roomId"].as_str().unwrap()),
    )
    .await;
    assert_eq!(room.body["type"], "direct");
    assert_eq!(room.body["title"], "Alice Liddell");
    assert_eq!(
        w.sim.direct_room(&w.alice, &w.bob).as_deref(),
        a["roomId"].as_str()
    );
}

#[tokio::test]
async fn bots_cannot_start_a_1to1_before_the_person_writes() {
    let w = world().await;
    let first = w
        .sim
        .dm(&w.bot, "alice@example.com", "hi, I am a bot")
        .await;
    let (status, body) = first.unwrap_err();
    assert_eq!(status, 403);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("message the bot first"));
    let by_id = w
        .sim
        .send_as(&w.bot, json!({"toPersonId": w.alice.id, "text": "hi"}))
        .await;
    assert_eq!(by_id.unwrap_err().0, 403);
    // After Alice writes, the bot may answer in the 1:1.
    w.sim
        .dm(&w.alice, "molty@webex.bot", "hello bot")
        .await
        .unwrap();
    let reply = w
        .sim
        .dm(&w.bot, "alice@example.com", "hello Alice")
        .await
        .unwrap();
    assert_eq!(reply["roomType"], "direct");
    // The rule can be switched off.
    w.sim.set_first_contact_rule(false);
    w.sim.dm(&w.bot, "bob@example.com", "hi Bob").await.unwrap();
}

#[tokio::test]
async fn mentions_render_into_html_text_and_ids() {
    let w = world().await;
    let room = w.sim.create_room(
        "Team",
        &["alice@example.com", "bob@example.com", "molty@webex.bot"],
    );
    let m = w
        .sim
        .post_in_room(
            &w.alice,
            &room.id,
            &format!(
                "<@personEmail:molty@webex.bot|Molty> ask <@personId:{}|Bob> and <@all> **now**",
                w.bob.id
            ),
        )
        .await
        .unwrap();
    assert_eq!(m["mentionedPeople"], json!([w.bot.id, w.bob.id]));
    assert_eq!(m["mentionedGroups"], json!(["all"]));
    assert_eq!(m["text"], "Molty ask Bob and All now");
    let html = m["html"].as_str().unwrap();
    assert!(
        html.contains(&format!(
        "<spark-mention data-object-type=\"person\" data-object-id=\"{}\">Molty</spark-mention>",
        w.bot.id
    )),
        "{html}"
    );
    assert!(
        html.contains("data-object-type=\"groupMention\" data-group-type=\"all\""),
        "{html}"
    );
    assert!(html.contains("<strong>now</strong>"));
    // Without a name, the display name is used.
    let plain = w
        .sim
        .post_in_room(&w.alice, &room.id, "<@personEmail:molty@webex.bot> hi")
        .await
        .unwrap();
    assert_eq!(plain["text"], "Molty hi");
    // A text-only message is not parsed for mentions.
    let text_only = w
        .sim
        .send_as(
            &w.alice,
            json!({"roomId": room.id, "text": "<@personEmail:molty@webex.bot>"}),
        )
        .await
        .unwrap();
    assert!(text_only.get("mentionedPeople").is_none());
}

#[tokio::test]
async fn listing_is_newest_first_with_link_pagination() {
    let w = world().await;
    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "bob@example.com"]);
    let mut sent = Vec::new();
    for i in 0..7 {
        sent.push(
            w.sim
                .post_in_room(&w.alice, &room.id, &format!("m{i}"))
                .await
                .unwrap()["id"]
                .clone(),
        );
    }
    let first = get(
        &w.sim,
        &w.bob,
        &format!("/messages?roomId={}&max=3", room.id),
    )
    .await;
    assert_eq!(first.status, 200);
    let ids: Vec<Value> = first.items().iter().map(|m| m["id"].clone()).collect();
    assert_eq!(ids, vec![sent[6].clone(), sent[5].clone(), sent[4].clone()]);
    let next = first.next_link().expect("a next link");
    assert!(next.starts_with(&w.sim.api_base()), "{next}");
    // A message arriving meanwhile does not shift the pages.
    w.sim
        .post_in_room(&w.alice, &room.id, "late")
        .await
        .unwrap();
    let mut all = ids;
    let mut url = Some(next);
    while let Some(u) = url {
        let page = call(reqwest::Method::GET, &u, Some(&w.bob.token), None).await;
        all.extend(page.items().iter().map(|m| m["id"].clone()));
        url = page.next_link();
    }
    let mut expected = sent.clone();
    expected.reverse();
    assert_eq!(all, expected);
    let default = get(&w.sim, &w.bob, &format!("/messages?roomId={}", room.id)).await;
    assert_eq!(default.items().len(), 8);
    assert!(default.next_link().is_none());
}

#[tokio::test]
async fn max_is_validated_and_capped() {
    let w = world().await;
    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "molty@webex.bot"]);
    for q in ["max=0", "max=abc", "max=1001"] {
        let a = get(
            &w.sim,
            &w.alice,
            &format!("/messages?roomId={}&{q}", room.id),
        )
        .await;
        assert_webex_error(&a, 400);
    }
    let ok = get(
        &w.sim,
        &w.alice,
        &format!("/messages?roomId={}&max=1000", room.id),
    )
    .await;
    assert_eq!(ok.status, 200);
    // "Cannot exceed 100 if used with mentionedPeople" (List Messages docs).
    let over = get(
        &w.sim,
        &w.bot,
        &format!("/messages?roomId={}&mentionedPeople=me&max=101", room.id),
    )
    .await;
    assert_webex_error(&over, 400);
    let missing_room = get(&w.sim, &w.alice, "/messages").await;
    assert_webex_error(&missing_room, 400);
}

#[tokio::test]
async fn before_and_before_message_filter() {
    let w = world().await;
    let room = w.sim.create_room("Team", &["alice@example.com"]);
    let a = w.sim.post_in_room(&w.alice, &room.id, "a").await.unwrap();
    let b = w.sim.post_in_room(&w.alice, &room.id, "b").await.unwrap();
    let c = w.sim.post_in_room(&w.alice, &room.id, "c").await.unwrap();
    let bm = get(
        &w.sim,
        &w.alice,
        &format!(
            "/messages?roomId={}&beforeMessage={}",
            room.id,
            c["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(
        bm.items()
            .iter()
            .map(|m| m["id"].clone())
            .collect::<Vec<_>>(),
        vec![b["id"].clone(), a["id"].clone()]
    );
    let before = get(
        &w.sim,
        &w.alice,
        &format!(
            "/messages?roomId={}&before={}",
            room.id,
            b["created"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(before.items().len(), 1);
    assert_eq!(before.items()[0]["id"], a["id"]);
    let bad = get(
        &w.sim,
        &w.alice,
        &format!("/messages?roomId={}&before=yesterday", room.id),
    )
    .await;
    assert_webex_error(&bad, 400);
}

#[tokio::test]
async fn bots_must_use_mentioned_people_me_in_group_rooms() {
    let w = world().await;
    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "molty@webex.bot"]);
    w.sim
        .post_in_room(&w.alice, &room.id, "not for the bot")
        .await
        .unwrap();
    let mention = w
        .sim
        .post_in_room(
            &w.alice,
            &room.id,
            "<@personEmail:molty@webex.bot> for the bot",
        )
        .await
        .unwrap();
    let refused = get(&w.sim, &w.bot, &format!("/messages?roomId={}", room.id)).await;
    assert_eq!(assert_webex_error(&refused, 403), "Failed to get activity.");
    let mine = get(
        &w.sim,
        &w.bot,
        &format!("/messages?roomId={}&mentionedPeople=me", room.id),
    )
    .await;
    assert_eq!(mine.items().len(), 1);
    assert_eq!(mine.items()[0]["id"], mention["id"]);
    let by_id = get(
        &w.sim,
        &w.bot,
        &format!("/messages?roomId={}&mentionedPeople={}", room.id, w.bot.id),
    )
    .await;
    assert_eq!(by_id.items().len(), 1);
    let someone_else = get(
        &w.sim,
        &w.bot,
        &format!(
            "/messages?roomId={}&mentionedPeople={}",
            room.id, w.alice.id
        ),
    )
    .await;
    assert_webex_error(&someone_else, 400);
    // People see everything.
    let alice = get(&w.sim, &w.alice, &format!("/messages?roomId={}", room.id)).await;
    assert_eq!(alice.items().len(), 2);
}

#[tokio::test]
async fn bots_see_every_dm_message_but_only_mentions_in_groups() {
    let w = world().await;
    let dm = w.sim.dm(&w.alice, "molty@webex.bot", "one").await.unwrap();
    w.sim.dm(&w.alice, "molty@webex.bot", "two").await.unwrap();
    let list = get(
        &w.sim,
        &w.bot,
        &format!("/messages?roomId={}", dm["roomId"].as_str().unwrap()),
    )
    .await;
    assert_eq!(list.items().len(), 2);
    let one = get(
        &w.sim,
        &w.bot,
        &format!("/messages/{}", dm["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(one.body["text"], "one");

    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "molty@webex.bot"]);
    let hidden = w
        .sim
        .post_in_room(&w.alice, &room.id, "private chatter")
        .await
        .unwrap();
    let a = get(
        &w.sim,
        &w.bot,
        &format!("/messages/{}", hidden["id"].as_str().unwrap()),
    )
    .await;
    assert_webex_error(&a, 404);
    // Non-members see nothing.
    let b = get(
        &w.sim,
        &w.bob,
        &format!("/messages/{}", hidden["id"].as_str().unwrap()),
    )
    .await;
    assert_webex_error(&b, 404);
    let c = get(&w.sim, &w.bob, &format!("/messages?roomId={}", room.id)).await;
    assert_webex_error(&c, 404);
}

#[tokio::test]
async fn direct_listing_by_person_id_or_email() {
    let w = world().await;
    w.sim.dm(&w.alice, "molty@webex.bot", "one").await.unwrap();
    w.sim.dm(&w.bot, "alice@example.com", "two").await.unwrap();
    let by_email = get(
        &w.sim,
        &w.bot,
        "/messages/direct?personEmail=alice@example.com",
    )
    .await;
    assert_eq!(by_email.status, 200);
    let texts: Vec<Value> = by_email.items().iter().map(|m| m["text"].clone()).collect();
    assert_eq!(texts, vec![json!("two"), json!("one")]);
    let by_id = get(
        &w.sim,
        &w.alice,
        &format!("/messages/direct?personId={}", w.bot.id),
    )
    .await;
    assert_eq!(by_id.items().len(), 2);
    let neither = get(&w.sim, &w.alice, "/messages/direct").await;
    assert_webex_error(&neither, 400);
    let nobody = get(
        &w.sim,
        &w.alice,
        "/messages/direct?personEmail=bob@example.com",
    )
    .await;
    assert!(nobody.items().is_empty());
}

/// A world where Alice posted "v0" in the space "Team" (with Bob): the room and the
/// message's `/messages/{id}` path.
async fn alice_posted_v0() -> (World, webex_sim::SimRoom, String) {
    let w = world().await;
    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "bob@example.com"]);
    let m = w.sim.post_in_room(&w.alice, &room.id, "v0").await.unwrap();
    let path = format!("/messages/{}", m["id"].as_str().unwrap());
    (w, room, path)
}

#[tokio::test]
async fn edits_need_room_id_author_and_stop_after_ten() {
    let (w, room, path) = alice_posted_v0().await;
    let no_room = put(&w.sim, &w.alice, &path, json!({"text": "v1"})).await;
    assert_webex_error(&no_room, 400);
    let not_author = put(
        &w.sim,
        &w.bob,
        &path,
        json!({"roomId": room.id, "text": "hack"}),
    )
    .await;
    assert_webex_error(&not_author, 403);
    for i in 1..=10 {
        let a = put(
            &w.sim,
            &w.alice,
            &path,
            json!({"roomId": room.id, "markdown": format!("**v{i}**")}),
        )
        .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(a.body["markdown"], format!("**v{i}**"));
        assert_eq!(a.body["text"], format!("v{i}"));
        assert!(a.body["updated"].is_string());
    }
    let eleventh = put(
        &w.sim,
        &w.alice,
        &path,
        json!({"roomId": room.id, "text": "v11"}),
    )
    .await;
    let message = assert_webex_error(&eleventh, 400);
    assert!(message.contains("edit limit has been reached"), "{message}");
    assert_eq!(get(&w.sim, &w.bob, &path).await.body["text"], "v10");
}

#[tokio::test]
async fn messages_with_files_or_cards_cannot_be_edited_and_markdown_edits_carry_no_html() {
    let w = world().await;
    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "bob@example.com"]);
    let alice = w.sim.as_user(&w.alice);
    let file = alice
        .sends_file(&room, webex_sim::SimFile::text("a.txt", "a"), "with a file")
        .await;
    let url_file = alice
        .try_send(json!({"roomId": room.id, "text": "x", "files": ["https://e.x/a.png"]}))
        .await
        .unwrap();
    let card = alice
        .try_send(
            json!({"roomId": room.id, "text": "fallback", "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {"type": "AdaptiveCard", "version": "1.3", "body": []}
            }]}),
        )
        .await
        .unwrap();
    for m in [&file, &url_file, &card] {
        let a = put(
            &w.sim,
            &w.alice,
            &format!("/messages/{}", m.id),
            json!({"roomId": room.id, "text": "changed"}),
        )
        .await;
        let message = assert_webex_error(&a, 400);
        assert!(message.contains("currently unsupported"), "{message}");
    }
    // The GET-then-PUT pattern must drop `html` when it sends `markdown`.
    let plain = alice.post(&room, "**v0**").await;
    let mut fetched = plain.raw().clone();
    fetched["markdown"] = json!("**v1**");
    let path = format!("/messages/{}", plain.id);
    let with_html = put(&w.sim, &w.alice, &path, fetched.clone()).await;
    let message = assert_webex_error(&with_html, 400);
    assert!(message.contains("html"), "{message}");
    fetched.as_object_mut().unwrap().remove("html");
    let ok = put(&w.sim, &w.alice, &path, fetched).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["html"], "<p><strong>v1</strong></p>");
    // The fetched `text` went back too: it stays the alternate text, as sent.
    let edited = w.sim.messages_in(&room).pop().unwrap();
    assert_eq!(
        (edited.content(), edited.text.as_deref()),
        ("**v1**", Some("v0"))
    );
    assert!(edited.updated.is_some());
}

#[tokio::test]
async fn delete_answers_204_and_the_message_is_gone() {
    let w = world().await;
    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "bob@example.com"]);
    let m = w
        .sim
        .post_in_room(&w.alice, &room.id, "oops")
        .await
        .unwrap();
    let path = format!("/messages/{}", m["id"].as_str().unwrap());
    let not_author = delete(&w.sim, &w.bob, &path).await;
    assert_webex_error(&not_author, 403);
    let gone = delete(&w.sim, &w.alice, &path).await;
    assert_eq!(gone.status, 204);
    assert_eq!(gone.body, Value::Null);
    assert_webex_error(&get(&w.sim, &w.alice, &path).await, 404);
    assert!(w.sim.messages_in(&room.id).is_empty());
}

#[tokio::test]
async fn messages_in_and_messages_by_helpers_are_oldest_first() {
    let w = world().await;
    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "molty@webex.bot"]);
    w.sim
        .post_in_room(&w.alice, &room.id, "<@personEmail:molty@webex.bot> hi")
        .await
        .unwrap();
    w.sim.post_in_room(&w.bot, &room.id, "hello").await.unwrap();
    let all = w.sim.messages_in(&room.id);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].text.as_deref(), Some("Molty hi"));
    assert_eq!(all[0].raw()["text"], "Molty hi");
    let replies = w.sim.messages_by(&w.bot, &room.id);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].content(), "hello");
}

#[tokio::test]
async fn the_refuse_edits_fault_refuses_every_edit_until_turned_off() {
    let (w, room, path) = alice_posted_v0().await;
    let edit = |text: &'static str| {
        put(
            &w.sim,
            &w.alice,
            &path,
            json!({"roomId": room.id, "text": text}),
        )
    };

    w.sim.refuse_edits();
    let refused = edit("v1").await;
    let message = assert_webex_error(&refused, 400);
    assert!(message.contains("currently unsupported"), "{message}");
    assert_eq!(get(&w.sim, &w.bob, &path).await.body["text"], "v0");

    // The control API's `refuseEdits`; replacing the faults turns it off.
    w.sim.set_faults(webex_sim::Faults::default());
    assert_eq!(edit("v2").await.status, 200);
    let base = w.sim.url();
    let set = common::call(
        reqwest::Method::POST,
        &format!("{base}/_sim/faults"),
        None,
        Some(json!({"refuseEdits": true})),
    )
    .await;
    assert_eq!(set.status, 204);
    assert_webex_error(&edit("v3").await, 400);
    assert_eq!(get(&w.sim, &w.bob, &path).await.body["text"], "v2");
}
