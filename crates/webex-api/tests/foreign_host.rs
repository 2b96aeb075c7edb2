//! The bearer token never leaves the API origin: downloads, pagination links and redirects to
//! another origin carry no `Authorization`. Uses two tiny axum servers on 127.0.0.1:0 (different
//! ports are different origins).

#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use tokio::net::TcpListener;
use url::Url;
use webex_api::{ClientConfig, Error, ListMessages, ListRooms, WebexClient};

const TOKEN: &str = "test-token-abcdefghijklmnop";

/// (path and query, Authorization header) of each request.
type Seen = Vec<(String, Option<String>)>;

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Seen>>,
}

impl Recorder {
    fn record(&self, uri: &Uri, headers: &HeaderMap) {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        self.seen.lock().unwrap().push((uri.to_string(), auth));
    }

    fn requests(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().unwrap().clone()
    }
}

struct Server {
    base: String,
    recorder: Recorder,
}

async fn serve(router: Router<Recorder>) -> Server {
    let recorder = Recorder::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router.with_state(recorder.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        base: format!("http://{addr}"),
        recorder,
    }
}

/// A foreign host that records every request and answers with a small file.
async fn foreign() -> Server {
    async fn any(State(rec): State<Recorder>, uri: Uri, headers: HeaderMap) -> Response {
        rec.record(&uri, &headers);
        (
            [("content-disposition", "attachment; filename=\"f.txt\"")],
            r#"{"items":[]}"#,
        )
            .into_response()
    }
    serve(Router::new().fallback(any)).await
}

/// The "API": `/v1/rooms` links to `next`, `/v1/contents/x` serves a file, `/v1/redirect`
/// redirects to `next`, `/v1/big` streams 10 chunks of 1 KiB without a length.
async fn api(next: String) -> Server {
    let router = Router::new()
        .route(
            "/v1/rooms",
            get({
                let next = next.clone();
                move |State(rec): State<Recorder>, uri: Uri, headers: HeaderMap| {
                    let next = next.clone();
                    async move {
                        rec.record(&uri, &headers);
                        (
                            [("link", format!("<{next}/v1/rooms?cursor=2>; rel=\"next\""))],
                            r#"{"items":[{"id":"r1","title":"One","type":"group"}]}"#,
                        )
                            .into_response()
                    }
                }
            }),
        )
        .route(
            "/v1/contents/x",
            get(
                |State(rec): State<Recorder>, uri: Uri, headers: HeaderMap| async move {
                    rec.record(&uri, &headers);
                    (
                        [
                            ("content-type", "text/plain"),
                            ("content-disposition", "attachment; filename=\"hello.txt\""),
                        ],
                        "hello",
                    )
                        .into_response()
                },
            ),
        )
        .route(
            "/v1/redirect",
            get(
                move |State(rec): State<Recorder>, uri: Uri, headers: HeaderMap| {
                    let next = next.clone();
                    async move {
                        rec.record(&uri, &headers);
                        (StatusCode::FOUND, [("location", format!("{next}/file"))]).into_response()
                    }
                },
            ),
        )
        .route(
            "/v1/big",
            get(
                |State(rec): State<Recorder>, uri: Uri, headers: HeaderMap| async move {
                    rec.record(&uri, &headers);
                    let chunks = futures::stream::iter(0..10).then(|_| async {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        Ok::<_, std::io::Error>(vec![b'x'; 1024])
                    });
                    Body::from_stream(chunks).into_response()
                },
            ),
        )
        .route(
            "/v1/messages",
            get(
                |State(rec): State<Recorder>, uri: Uri, headers: HeaderMap| async move {
                    rec.record(&uri, &headers);
                    let first = !uri.query().unwrap_or("").contains("cursor");
                    let body = r#"{"items":[{"id":"m","roomId":"r","text":"x"}]}"#;
                    if first {
                        // A relative next link that drops mentionedPeople.
                        (
                            [("link", "</v1/messages?roomId=r&cursor=2>; rel=\"next\"")],
                            body,
                        )
                            .into_response()
                    } else {
                        body.into_response()
                    }
                },
            ),
        )
        .route(
            "/v1/declared",
            get(|| async { vec![b'y'; 4096].into_response() }),
        );
    serve(router).await
}

fn client(api: &Server) -> WebexClient {
    let config = ClientConfig::new(TOKEN)
        .with_base_url(Url::parse(&format!("{}/v1", api.base)).unwrap())
        .with_requests_per_minute(6000);
    WebexClient::new(config).unwrap()
}

#[tokio::test]
async fn download_sends_the_token_only_to_the_api_origin() {
    let foreign = foreign().await;
    let api = api(foreign.base.clone()).await;
    let client = client(&api);

    let own = client
        .download_file(&format!("{}/v1/contents/x", api.base), 1024)
        .await
        .unwrap();
    assert_eq!(own.filename.as_deref(), Some("hello.txt"));
    assert_eq!(own.content_type.as_deref(), Some("text/plain"));
    assert_eq!(&own.bytes[..], b"hello");
    let api_seen = api.recorder.requests();
    assert_eq!(api_seen[0].1.as_deref(), Some(&*format!("Bearer {TOKEN}")));

    let other = client
        .download_file(&format!("{}/some/file", foreign.base), 1024)
        .await
        .unwrap();
    assert_eq!(other.filename.as_deref(), Some("f.txt"));
    let seen = foreign.recorder.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].1, None, "token leaked to a foreign host");
}

#[tokio::test]
async fn a_redirect_to_another_origin_drops_the_token() {
    let foreign = foreign().await;
    let api = api(foreign.base.clone()).await;
    let client = client(&api);
    let file = client
        .download_file(&format!("{}/v1/redirect", api.base), 1024)
        .await
        .unwrap();
    assert_eq!(file.filename.as_deref(), Some("f.txt"));
    let seen = foreign.recorder.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "/file");
    assert_eq!(
        seen[0].1, None,
        "token followed a redirect to a foreign host"
    );
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_refused_and_never_requested() {
    let foreign = foreign().await;
    let api = api(foreign.base.clone()).await;
    let client = client(&api);
    let mut pages = client.list_rooms(&ListRooms::by_last_activity());
    let first = pages.next().await.unwrap().unwrap();
    assert_eq!(first.items.len(), 1);
    assert_eq!(first.items[0].title, "One");
    assert!(first.next.is_none());
    let second = pages.next().await.unwrap();
    assert!(
        matches!(second, Err(Error::ForeignHost { .. })),
        "{second:?}"
    );
    assert!(pages.next().await.is_none());
    assert!(foreign.recorder.requests().is_empty());
    // The error names the origin only, never the token.
    let text = format!("{:?}", second.unwrap_err());
    assert!(!text.contains(TOKEN));
}

#[tokio::test]
async fn downloads_stop_at_the_size_cap() {
    let foreign = foreign().await;
    let api = api(foreign.base.clone()).await;
    let client = client(&api);
    // Streamed without a length: stops once past the cap.
    let err = client
        .download_file(&format!("{}/v1/big", api.base), 3000)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 3000 }), "{err:?}");
    // Declared length over the cap: refused before reading the body.
    let err = client
        .download_file(&format!("{}/v1/declared", api.base), 4095)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 4095 }), "{err:?}");
    // Exactly at the cap is fine.
    let ok = client
        .download_file(&format!("{}/v1/declared", api.base), 4096)
        .await
        .unwrap();
    assert_eq!(ok.bytes.len(), 4096);
    // Non-http schemes are refused outright.
    let err = client
        .download_file("file:///etc/passwd", 10)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUrl(_)), "{err:?}");
}

#[tokio::test]
async fn a_next_link_that_drops_mentioned_people_gets_it_back() {
    let foreign = foreign().await;
    let api = api(foreign.base.clone()).await;
    let client = client(&api);
    let messages = client
        .list_messages(&ListMessages::in_room("r").mentioning_me())
        .collect_all()
        .await
        .unwrap();
    assert_eq!(messages.len(), 2);
    let seen = api.recorder.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].0, "/v1/messages?roomId=r&mentionedPeople=me");
    assert_eq!(
        seen[1].0,
        "/v1/messages?roomId=r&cursor=2&mentionedPeople=me"
    );
    assert!(seen.iter().all(|(_, auth)| auth.is_some()));
}
