//! Files: multipart upload on `POST /messages`, `GET`/`HEAD /contents/{id}` behind auth and room
//! membership, the anti-malware answers (423 + Retry-After, 410, 428 and `allow=unscannable`), the
//! size limit, and the control API that scripts them.

#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_webex_error, call, delete, post, uuid_of, world};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use webex_sim::{Scan, SimFile, SimPerson, SimServer};

/// `GET` (or `HEAD`) a content URL with `who`'s token.
async fn fetch(method: Method, url: &str, who: Option<&SimPerson>) -> (common::Answer, Vec<u8>) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(who) = who {
        req = req.bearer_auth(&who.token);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap().to_vec();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (
        common::Answer {
            status,
            headers,
            body,
        },
        bytes,
    )
}

/// A hand-made multipart `POST /messages` as `who`.
async fn post_form(
    sim: &SimServer,
    who: &SimPerson,
    form: reqwest::multipart::Form,
) -> common::Answer {
    let resp = reqwest::Client::new()
        .post(format!("{}/messages", sim.api_base()))
        .bearer_auth(&who.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(Value::Null);
    common::Answer {
        status,
        headers,
        body,
    }
}

async fn control(sim: &SimServer, path: &str, body: Value) -> common::Answer {
    call(
        Method::POST,
        &format!("{}/_sim{path}", sim.url()),
        None,
        Some(body),
    )
    .await
}

#[tokio::test]
async fn a_person_sends_a_file_and_the_bot_downloads_it_with_its_name() {
    let w = world().await;
    let note = w
        .sim
        .user("alice@example.com")
        .sends_file_to_bot(SimFile::text("notes.txt", "line one\n"), "see attached")
        .await;
    assert_eq!(note.text.as_deref(), Some("see attached"));
    assert_eq!(note.files.len(), 1);
    let url = &note.files[0];
    let prefix = format!("{}/v1/contents/", w.sim.url());
    assert!(url.starts_with(&prefix), "{url}");
    // The content id is `ciscospark://us/CONTENT/<message uuid>/0` (notes §9).
    let content_id = &url[prefix.len()..];
    assert_eq!(uuid_of(content_id), "0");
    assert!(String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            content_id
        )
        .unwrap()
    )
    .unwrap()
    .ends_with(&format!("/CONTENT/{}/0", uuid_of(&note.id))));

    let (ok, bytes) = fetch(Method::GET, url, Some(&w.bot)).await;
    assert_eq!(ok.status, 200);
    assert_eq!(bytes, b"line one\n");
    assert_eq!(ok.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(ok.header("content-length").as_deref(), Some("9"));
    assert_eq!(
        ok.header("content-disposition").as_deref(),
        Some("attachment; filename=\"notes.txt\"")
    );
    assert!(ok.header("trackingid").is_some());

    let (head, bytes) = fetch(Method::HEAD, url, Some(&w.bot)).await;
    assert_eq!(head.status, 200);
    assert!(bytes.is_empty());
    assert_eq!(head.header("content-length").as_deref(), Some("9"));
    assert_eq!(
        head.header("content-disposition").as_deref(),
        Some("attachment; filename=\"notes.txt\"")
    );

    let stored = w.sim.file(&note).unwrap();
    assert_eq!(
        (stored.name.as_str(), stored.size, stored.fetches),
        ("notes.txt", 9, 2)
    );
    assert_eq!(stored.message_id, note.id);
    assert_eq!(&stored.bytes[..], b"line one\n");
    // The message reads back the same way, and the webhook filter sees a file.
    let read = common::get(&w.sim, &w.bot, &format!("/messages/{}", note.id)).await;
    assert_eq!(read.body["files"], json!([url]));
}

#[tokio::test]
async fn contents_need_a_token_and_room_membership() {
    let w = world().await;
    let room = w
        .sim
        .create_room("Team", &["alice@example.com", "molty@webex.bot"]);
    let shot = w
        .sim
        .as_user(&w.alice)
        .sends_file(&room, SimFile::png("shot.png"), "**look**")
        .await;
    assert_eq!(shot.text.as_deref(), Some("look"));
    assert!(shot
        .html
        .as_deref()
        .unwrap()
        .contains("<strong>look</strong>"));
    let url = &shot.files[0];
    assert_webex_error(&fetch(Method::GET, url, None).await.0, 401);
    // Bob is not in the room.
    assert_webex_error(&fetch(Method::GET, url, Some(&w.bob)).await.0, 404);
    let (ok, bytes) = fetch(Method::GET, url, Some(&w.bot)).await;
    assert_eq!(ok.status, 200);
    assert_eq!(bytes, webex_sim::files::TINY_PNG);
    assert_eq!(ok.header("content-type").as_deref(), Some("image/png"));
    // A content id that names nothing.
    let unknown = url.replace(&url[url.len() - 4..], "AAAA");
    assert_webex_error(&fetch(Method::GET, &unknown, Some(&w.bot)).await.0, 404);
}

#[tokio::test]
async fn one_file_per_message_and_the_size_limit() {
    let w = world().await;
    let alice = w.sim.as_user(&w.alice);
    // Two `files` parts.
    let form = reqwest::multipart::Form::new()
        .text("toPersonEmail", "molty@webex.bot")
        .part(
            "files",
            reqwest::multipart::Part::bytes(b"a".to_vec()).file_name("a.txt"),
        )
        .part(
            "files",
            reqwest::multipart::Part::bytes(b"b".to_vec()).file_name("b.txt"),
        );
    let two = post_form(&w.sim, &w.alice, form).await;
    let message = assert_webex_error(&two, 400);
    assert_eq!(message, "Only one file is allowed per message.");

    // No destination.
    let err = alice
        .try_send_file(json!({"text": "x"}), &SimFile::text("a.txt", "a"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));

    // Over the limit (lowered so the test need not send 100 MB): 413, nothing stored.
    w.sim.set_max_file_bytes(10);
    let big = alice
        .try_send_file(
            json!({"toPersonEmail": "molty@webex.bot"}),
            &SimFile::text("big.txt", "0123456789x"),
        )
        .await
        .unwrap_err();
    assert_eq!(big.status(), Some(413), "{big}");
    assert!(w.sim.files().is_empty());
    let fits = alice
        .sends_file_to_bot(SimFile::text("fits.txt", "0123456789"), "")
        .await;
    assert_eq!(fits.text, None);
    assert_eq!(w.sim.file(&fits).unwrap().size, 10);
    // The file part without a name or type gets defaults.
    let form = reqwest::multipart::Form::new()
        .text("toPersonEmail", "molty@webex.bot")
        .part("files", reqwest::multipart::Part::bytes(b"raw".to_vec()));
    assert_eq!(post_form(&w.sim, &w.alice, form).await.status, 200);
    let stored = w.sim.files().pop().unwrap();
    assert_eq!(
        (stored.name.as_str(), stored.content_type.as_str()),
        ("file", "application/octet-stream")
    );
}

#[tokio::test]
async fn a_json_file_url_is_recorded_not_fetched() {
    let w = world().await;
    let m = post(
        &w.sim,
        &w.alice,
        "/messages",
        json!({"toPersonEmail": "molty@webex.bot", "files": ["https://example.com/a.png"]}),
    )
    .await;
    assert_eq!(m.status, 200);
    assert_eq!(m.body["files"], json!(["https://example.com/a.png"]));
    assert!(w.sim.files().is_empty());
}

#[tokio::test]
async fn a_scanning_file_answers_423_with_retry_after_then_200() {
    let w = world().await;
    let m = w
        .sim
        .user("alice@example.com")
        .sends_file_to_bot(SimFile::png("shot.png"), "")
        .await;
    w.sim.file_is_scanning(&m, 2, Duration::from_secs(3));
    for _ in 0..2 {
        let (locked, _) = fetch(Method::GET, &m.files[0], Some(&w.bot)).await;
        assert_webex_error(&locked, 423);
        assert_eq!(locked.header("retry-after").as_deref(), Some("3"));
    }
    let (ok, bytes) = fetch(Method::GET, &m.files[0], Some(&w.bot)).await;
    assert_eq!(ok.status, 200);
    assert_eq!(bytes, webex_sim::files::TINY_PNG);
    let stored = w.sim.file(&m).unwrap();
    assert_eq!((stored.scan, stored.fetches), (Scan::Clean, 3));
}

#[tokio::test]
async fn infected_is_410_and_unscannable_is_428_unless_allowed() {
    let w = world().await;
    let alice = w.sim.user("alice@example.com");
    let bad = alice
        .sends_file_to_bot(SimFile::text("bad.exe", "x"), "")
        .await;
    let locked = alice
        .sends_file_to_bot(SimFile::new("secret.zip", "application/zip", b"PK"), "")
        .await;
    w.sim.file_is_infected(&bad);
    w.sim.file_is_unscannable(&locked);
    for method in [Method::GET, Method::HEAD] {
        let (gone, _) = fetch(method.clone(), &bad.files[0], Some(&w.bot)).await;
        assert_eq!(gone.status, 410);
        let (pre, _) = fetch(method, &locked.files[0], Some(&w.bot)).await;
        assert_eq!(pre.status, 428);
    }
    let (gone, _) = fetch(Method::GET, &bad.files[0], Some(&w.bot)).await;
    assert_webex_error(&gone, 410);
    let (forced, bytes) = fetch(
        Method::GET,
        &format!("{}?allow=unscannable", locked.files[0]),
        Some(&w.bot),
    )
    .await;
    assert_eq!(forced.status, 200);
    assert_eq!(bytes, b"PK");
    // Infected stays infected, even with the parameter.
    let (still, _) = fetch(
        Method::GET,
        &format!("{}?allow=unscannable", bad.files[0]),
        Some(&w.bot),
    )
    .await;
    assert_eq!(still.status, 410);
}

#[tokio::test]
async fn control_api_scripts_the_scan_of_new_files_and_of_one_file() {
    let w = world().await;
    let alice = w.sim.user("alice@example.com");
    // Every new upload starts scanning (once, Retry-After 2).
    let set = control(
        &w.sim,
        "/contents/scan",
        json!({"state": "scanning", "times": 1, "retryAfterSeconds": 2}),
    )
    .await;
    assert_eq!(set.status, 204, "{:?}", set.body);
    let m = alice.sends_file_to_bot(SimFile::png("a.png"), "").await;
    let (locked, _) = fetch(Method::HEAD, &m.files[0], Some(&w.bot)).await;
    assert_eq!(locked.status, 423);
    assert_eq!(locked.header("retry-after").as_deref(), Some("2"));
    assert_eq!(
        fetch(Method::GET, &m.files[0], Some(&w.bot)).await.0.status,
        200
    );

    // One file by its URL.
    let infected = control(
        &w.sim,
        "/contents/scan",
        json!({"contentId": m.files[0], "state": "infected"}),
    )
    .await;
    assert_eq!(infected.status, 204);
    assert_eq!(
        fetch(Method::GET, &m.files[0], Some(&w.bot)).await.0.status,
        410
    );
    let listed = call(
        Method::GET,
        &format!("{}/_sim/contents", w.sim.url()),
        None,
        None,
    )
    .await;
    let items = listed.items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["scan"], json!({"state": "infected"}));
    assert_eq!(items[0]["name"], "a.png");
    assert_eq!(items[0]["fetches"], 3);

    // Refusals name the problem and change nothing.
    for (body, needle) in [
        (json!({"state": "melting"}), "`state`"),
        (json!({"state": "clean", "times": 2}), "`state`"),
        (json!({"state": "scanning", "times": 0}), "`times`"),
        (json!({"sate": "clean"}), "`sate`"),
    ] {
        let refused = control(&w.sim, "/contents/scan", body.clone()).await;
        assert_webex_error(&refused, 400);
        let message = refused.body["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
    let missing = control(
        &w.sim,
        "/contents/scan",
        json!({"contentId": "nope", "state": "clean"}),
    )
    .await;
    assert_webex_error(&missing, 404);

    // The limit, over the control API.
    assert_eq!(
        control(&w.sim, "/contents/limit", json!({"maxFileBytes": 3}))
            .await
            .status,
        204
    );
    assert_webex_error(
        &control(&w.sim, "/contents/limit", json!({"maxFileBytes": 0})).await,
        400,
    );
    let err = alice
        .try_send_file(
            json!({"toPersonEmail": "molty@webex.bot"}),
            &SimFile::text("four.txt", "four"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(413));
    // A reset restores the defaults.
    w.sim.reset();
    let w2 = world_after_reset(&w.sim);
    let ok = w2
        .sends_file_to_bot(SimFile::text("four.txt", "four"), "")
        .await;
    assert_eq!(w.sim.file(&ok).unwrap().scan, Scan::Clean);
}

fn world_after_reset(sim: &SimServer) -> webex_sim::SimUser<'_> {
    sim.add_bot("molty@webex.bot", "Molty");
    sim.user("alice")
}

#[tokio::test]
async fn deleting_the_message_removes_its_file() {
    let w = world().await;
    let m = w
        .sim
        .as_user(&w.alice)
        .sends_file_to_bot(SimFile::text("a.txt", "a"), "")
        .await;
    assert_eq!(
        fetch(Method::GET, &m.files[0], Some(&w.bot)).await.0.status,
        200
    );
    let gone = delete(&w.sim, &w.alice, &format!("/messages/{}", m.id)).await;
    assert_eq!(gone.status, 204);
    assert_webex_error(&fetch(Method::GET, &m.files[0], Some(&w.bot)).await.0, 404);
    assert!(w.sim.file(&m).is_none());
}

#[tokio::test]
async fn files_larger_than_a_json_body_go_through() {
    // axum refuses bodies over 2 MB by default; Webex takes files up to 100 MB.
    let w = world().await;
    let big = vec![b'x'; 3 * 1024 * 1024];
    let m = w
        .sim
        .as_user(&w.alice)
        .sends_file_to_bot(SimFile::new("big.bin", "application/octet-stream", big), "")
        .await;
    let (ok, bytes) = fetch(Method::GET, &m.files[0], Some(&w.bot)).await;
    assert_eq!(ok.status, 200);
    assert_eq!(bytes.len(), 3 * 1024 * 1024);
}
