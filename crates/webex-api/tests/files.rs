//! Files against the `webex-sim` emulator over real HTTP: multipart upload
//! (`create_message_with_file`), downloads with the file name from `Content-Disposition`,
//! `HEAD` metadata, and Webex's anti-malware answers as typed errors (423 with its
//! `Retry-After`, 410, 428 and `allow=unscannable`).

#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

use std::time::Duration;

use url::Url;
use webex_api::{
    ClientConfig, CreateMessage, DownloadOptions, Error, MessageTarget, UploadFile, WebexClient,
};
use webex_sim::{Faults, SimFile, SimPerson, SimServer};

const BOT: &str = "molty@webex.bot";

struct World {
    sim: SimServer,
    bot: SimPerson,
    client: WebexClient,
}

async fn world() -> World {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot(BOT, "Molty");
    let mut config = ClientConfig::new(bot.token.clone())
        .with_base_url(Url::parse(&sim.api_base()).unwrap())
        .with_requests_per_minute(60_000);
    config.backoff_base = Duration::from_millis(10);
    let client = WebexClient::new(config).unwrap();
    World { sim, bot, client }
}

#[tokio::test]
async fn the_bot_uploads_a_file_into_a_thread_and_the_emulator_stores_it() {
    let w = world().await;
    let asked = w.sim.user("alice").dm_bot("send me the report").await;
    let sent = w
        .client
        .create_message_with_file(
            &CreateMessage::markdown(MessageTarget::Room(asked.room_id.clone()), "**here**")
                .with_text("here")
                .with_parent(asked.id.clone()),
            &UploadFile::new("report.csv", "text/csv", &b"a,b\n1,2\n"[..]),
        )
        .await
        .unwrap();
    assert_eq!(sent.person_id, w.bot.id);
    assert_eq!(sent.parent_id.as_deref(), Some(asked.id.as_str()));
    assert_eq!(sent.markdown.as_deref(), Some("**here**"));
    assert_eq!(sent.files.len(), 1);
    let stored = w.sim.file(&sent.files[0]).unwrap();
    assert_eq!(
        (stored.name.as_str(), stored.content_type.as_str()),
        ("report.csv", "text/csv")
    );
    assert_eq!(&stored.bytes[..], b"a,b\n1,2\n");
    assert_eq!(stored.message_id, sent.id);
    // One request: no retry of a POST that landed.
    let posts: Vec<_> = w
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/messages")
        .collect();
    assert_eq!(posts.len(), 2, "alice's message and the upload");

    // By email too, and the bot can read its own file back.
    let by_email = w
        .client
        .create_message_with_file(
            &CreateMessage::to(MessageTarget::PersonEmail("alice@example.com".into())),
            &UploadFile::new("résumé.txt", "text/plain", "ça va\n"),
        )
        .await
        .unwrap();
    assert_eq!(by_email.text, None);
    let file = w
        .client
        .download_file(&by_email.files[0], 1024)
        .await
        .unwrap();
    assert_eq!(file.filename.as_deref(), Some("résumé.txt"));
    assert_eq!(file.content_type.as_deref(), Some("text/plain"));
    assert_eq!(&file.bytes[..], "ça va\n".as_bytes());
}

#[tokio::test]
async fn a_person_s_file_downloads_with_its_name_and_head_gives_its_size() {
    let w = world().await;
    let shot = w
        .sim
        .user("alice")
        .sends_file_to_bot(SimFile::png("shot.png"), "what is this?")
        .await;
    let url = &shot.files[0];
    let info = w.client.file_info(url, false).await.unwrap();
    assert_eq!(info.filename.as_deref(), Some("shot.png"));
    assert_eq!(info.content_type.as_deref(), Some("image/png"));
    assert_eq!(info.length, Some(webex_sim::files::TINY_PNG.len() as u64));
    let file = w.client.download_file(url, 1024).await.unwrap();
    assert_eq!(&file.bytes[..], webex_sim::files::TINY_PNG);
    assert_eq!(file.filename.as_deref(), Some("shot.png"));
    // Over the cap: refused from the declared length.
    let err = w.client.download_file(url, 10).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 10 }), "{err:?}");
    assert_eq!(w.sim.file(&shot).unwrap().fetches, 3);
}

#[tokio::test]
async fn a_file_being_scanned_is_a_typed_wait_then_it_downloads() {
    let w = world().await;
    let doc = w
        .sim
        .user("alice")
        .sends_file_to_bot(SimFile::text("notes.txt", "hi"), "")
        .await;
    w.sim.file_is_scanning(&doc, 2, Duration::from_secs(7));
    for _ in 0..2 {
        let err = w
            .client
            .download_file(&doc.files[0], 1024)
            .await
            .unwrap_err();
        match &err {
            Error::FileScanning {
                retry_after,
                tracking_id,
            } => {
                assert_eq!(*retry_after, Duration::from_secs(7));
                assert!(tracking_id.is_some());
            }
            other => panic!("expected FileScanning, got {other:?}"),
        }
        assert_eq!(err.status(), Some(423));
    }
    let file = w.client.download_file(&doc.files[0], 1024).await.unwrap();
    assert_eq!(&file.bytes[..], b"hi");
    // The client itself never waited or retried: three requests in all.
    assert_eq!(w.sim.file(&doc).unwrap().fetches, 3);
}

#[tokio::test]
async fn infected_and_unscannable_files_are_typed_and_unscannable_ones_can_be_forced() {
    let w = world().await;
    let alice = w.sim.user("alice");
    let bad = alice
        .sends_file_to_bot(SimFile::text("bad.txt", "x"), "")
        .await;
    let zip = alice
        .sends_file_to_bot(SimFile::new("secret.zip", "application/zip", b"PK"), "")
        .await;
    w.sim.file_is_infected(&bad);
    w.sim.file_is_unscannable(&zip);

    let err = w
        .client
        .download_file(&bad.files[0], 1024)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FileInfected { .. }), "{err:?}");
    assert_eq!(err.status(), Some(410));
    let err = w.client.file_info(&bad.files[0], true).await.unwrap_err();
    assert!(matches!(err, Error::FileInfected { .. }), "{err:?}");

    let err = w
        .client
        .download_file(&zip.files[0], 1024)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FileUnscannable { .. }), "{err:?}");
    assert_eq!(err.status(), Some(428));
    assert!(err.to_string().contains("could not be scanned"), "{err}");
    let forced = w
        .client
        .download_file_with(
            &zip.files[0],
            DownloadOptions::max_bytes(1024).allowing_unscannable(),
        )
        .await
        .unwrap();
    assert_eq!(&forced.bytes[..], b"PK");
    assert_eq!(forced.filename.as_deref(), Some("secret.zip"));
    let last = w.sim.requests().pop().unwrap();
    assert_eq!(last.query.as_deref(), Some("allow=unscannable"));
}

#[tokio::test]
async fn uploads_the_client_refuses_and_ones_webex_refuses() {
    let w = world().await;
    w.sim.user("alice").dm_bot("hi").await;
    let to_alice = || CreateMessage::to(MessageTarget::PersonEmail("alice@example.com".into()));
    let file = UploadFile::new("a.txt", "text/plain", "abcdef");
    for (message, file) in [
        (
            to_alice().with_file("https://example.com/x.png"),
            file.clone(),
        ),
        (
            to_alice().with_attachment(serde_json::json!({"contentType": "x"})),
            file.clone(),
        ),
        (to_alice(), UploadFile::new("a.txt", "not a type", "x")),
        (to_alice(), UploadFile::new(" ", "text/plain", "x")),
    ] {
        let err = w
            .client
            .create_message_with_file(&message, &file)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    }
    // Nothing was sent for those.
    assert!(w
        .sim
        .requests()
        .iter()
        .all(|r| r.caller.as_deref() != Some(w.bot.id.as_str())));

    // Over the emulator's (lowered) limit: Webex's refusal, with its status.
    w.sim.set_max_file_bytes(5);
    let err = w
        .client
        .create_message_with_file(&to_alice(), &file)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(413), "{err:?}");
    assert!(w.sim.files().is_empty());
}

#[tokio::test]
async fn an_upload_is_retried_after_a_429_and_not_after_a_503() {
    let w = world().await;
    w.sim.user("alice").dm_bot("hi").await;
    w.sim.set_faults(Faults {
        retry_after_seconds: Some(0),
        ..Faults::default()
    });
    let message = CreateMessage::to(MessageTarget::PersonEmail("alice@example.com".into()));
    let file = UploadFile::new("a.txt", "text/plain", "hello");

    w.sim.fail_next("POST", "/v1/messages", 429, 1);
    let sent = w
        .client
        .create_message_with_file(&message, &file)
        .await
        .unwrap();
    // The retry sent the whole form again: the file arrived intact.
    assert_eq!(&w.sim.file(&sent.files[0]).unwrap().bytes[..], b"hello");

    let mark = w.sim.mark();
    w.sim.fail_next("POST", "/v1/messages", 503, 1);
    let err = w
        .client
        .create_message_with_file(&message, &file)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        w.sim.calls_by(&w.bot, mark).len(),
        1,
        "a POST is not retried"
    );
    assert_eq!(w.sim.files().len(), 1);
}
