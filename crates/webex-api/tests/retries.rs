//! Retry and error rules against a scripted axum server (exact control over each answer).
//! The same rules are also exercised against `webex-sim` in `sim.rs`.

#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;
use url::Url;
use webex_api::{
    ClientConfig, CreateMessage, Error, MessageTarget, RequestEvent, RequestObserver, WebexClient,
};

#[derive(Clone)]
struct Scripted {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn answer(status: u16, body: &str) -> Scripted {
    Scripted {
        status,
        headers: Vec::new(),
        body: body.to_string(),
    }
}

#[derive(Clone, Default)]
struct Mock {
    script: Arc<Mutex<VecDeque<Scripted>>>,
    log: Arc<Mutex<Vec<(String, String, Instant)>>>,
}

impl Mock {
    fn push(&self, scripted: Scripted) {
        self.script.lock().unwrap().push_back(scripted);
    }
    fn log(&self) -> Vec<(String, String, Instant)> {
        self.log.lock().unwrap().clone()
    }
}

async fn start() -> (Mock, WebexClient, Arc<Events>) {
    let mock = Mock::default();
    let state = mock.clone();
    let app = Router::new().fallback(
        move |method: Method, uri: Uri, _headers: HeaderMap, _body: Bytes| {
            let state = state.clone();
            async move {
                state.log.lock().unwrap().push((
                    method.to_string(),
                    uri.path().to_string(),
                    Instant::now(),
                ));
                let next = state.script.lock().unwrap().pop_front();
                let scripted = next.unwrap_or_else(|| answer(200, r#"{"id":"ok","items":[]}"#));
                let mut response: Response = (
                    StatusCode::from_u16(scripted.status).unwrap(),
                    scripted.body,
                )
                    .into_response();
                for (name, value) in scripted.headers {
                    response.headers_mut().insert(name, value.parse().unwrap());
                }
                response
            }
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let events = Arc::new(Events::default());
    let mut config = ClientConfig::new("token-for-tests-0123456789")
        .with_base_url(Url::parse(&format!("http://{addr}/v1")).unwrap())
        .with_requests_per_minute(6000)
        .with_observer(events.clone());
    config.backoff_base = Duration::from_millis(10);
    (mock, WebexClient::new(config).unwrap(), events)
}

/// (method, endpoint template, status, attempt) per observed attempt.
type Observed = Vec<(String, String, Option<u16>, u32)>;

#[derive(Default)]
struct Events {
    requests: Mutex<Observed>,
    waits: Mutex<Vec<Duration>>,
}

impl RequestObserver for Events {
    fn on_request(&self, e: &RequestEvent<'_>) {
        self.requests.lock().unwrap().push((
            e.method.to_string(),
            e.endpoint.to_string(),
            e.status,
            e.attempt,
        ));
    }
    fn on_rate_limited(&self, _endpoint: &str, wait: Duration) {
        self.waits.lock().unwrap().push(wait);
    }
}

#[tokio::test]
async fn get_retries_server_errors_then_succeeds() {
    let (mock, client, events) = start().await;
    mock.push(answer(503, "down"));
    mock.push(answer(502, "down"));
    mock.push(answer(200, r#"{"id":"r1","title":"Room","type":"group"}"#));
    let room = client.get_room("r1").await.unwrap();
    assert_eq!(room.title, "Room");
    assert_eq!(mock.log().len(), 3);
    let seen = events.requests.lock().unwrap().clone();
    let statuses: Vec<_> = seen.iter().map(|e| (e.2, e.3)).collect();
    assert_eq!(statuses, [(Some(503), 1), (Some(502), 2), (Some(200), 3)]);
    assert!(seen.iter().all(|e| e.0 == "GET" && e.1 == "/rooms/{id}"));
}

#[tokio::test]
async fn get_gives_up_after_four_attempts() {
    let (mock, client, _) = start().await;
    for _ in 0..6 {
        mock.push(answer(500, r#"{"message":"boom","trackingId":"T1"}"#));
    }
    let err = client.people_me().await.unwrap_err();
    assert_eq!(mock.log().len(), 4);
    match err {
        Error::Api {
            status,
            message,
            tracking_id,
            ..
        } => {
            assert_eq!(status, 500);
            assert_eq!(message, "boom");
            assert_eq!(tracking_id.as_deref(), Some("T1"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn post_message_is_not_retried_on_server_errors() {
    let (mock, client, _) = start().await;
    mock.push(answer(500, "{}"));
    let err = client
        .create_message(&CreateMessage::text(MessageTarget::Room("r".into()), "hi"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(
        mock.log().len(),
        1,
        "a POST that may have landed was repeated"
    );
}

#[tokio::test]
async fn post_message_is_retried_after_429_with_the_pause_honoured() {
    let (mock, client, events) = start().await;
    let mut limited = answer(429, "{}");
    limited.headers.push(("retry-after", "1".into()));
    mock.push(limited);
    mock.push(answer(200, r#"{"id":"m1","roomId":"r","text":"hi"}"#));
    let sent = client
        .create_message(&CreateMessage::text(MessageTarget::Room("r".into()), "hi"))
        .await
        .unwrap();
    assert_eq!(sent.id, "m1");
    let log = mock.log();
    assert_eq!(log.len(), 2);
    assert!(log[1].2.duration_since(log[0].2) >= Duration::from_secs(1));
    assert_eq!(
        events.waits.lock().unwrap().clone(),
        [Duration::from_secs(1)]
    );
}

#[tokio::test]
async fn malformed_retry_after_pauses_every_caller_for_fifteen_seconds() {
    let (mock, client, events) = start().await;
    let mut limited = answer(429, "{}");
    limited.headers.push(("retry-after", "soon-ish".into()));
    mock.push(limited);
    // Run the call in the background; do not actually wait 15 s.
    let background = {
        let client = client.clone();
        tokio::spawn(async move { client.people_me().await })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while events.waits.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no 429 observed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        events.waits.lock().unwrap().clone(),
        [Duration::from_secs(15)]
    );
    let pause = client.rate_limit_pause().expect("a global pause is active");
    assert!(pause > Duration::from_secs(14) && pause <= Duration::from_secs(15));
    // Another caller (a clone) is held by the same pause.
    let other =
        tokio::time::timeout(Duration::from_millis(300), client.clone().get_room("x")).await;
    assert!(other.is_err(), "a second caller ignored the global pause");
    assert_eq!(mock.log().len(), 1);
    background.abort();
}

#[tokio::test]
async fn gives_up_with_rate_limited_after_repeated_429s() {
    let (mock, client, _) = start().await;
    for _ in 0..20 {
        let mut limited = answer(429, "{}");
        limited.headers.push(("retry-after", "0".into()));
        mock.push(limited);
    }
    let err = client.people_me().await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    // First attempt plus the configured 10 retries.
    assert_eq!(mock.log().len(), 11);
}

#[tokio::test]
async fn tracking_id_falls_back_to_the_header_and_bad_json_keeps_the_body() {
    let (mock, client, _) = start().await;
    let mut not_found = answer(
        404,
        r#"{"errors":[{"description":"The requested resource could not be found."}]}"#,
    );
    not_found.headers.push(("trackingid", "ROUTER_XYZ".into()));
    mock.push(not_found);
    let err = client.get_message("missing").await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.tracking_id(), Some("ROUTER_XYZ"));
    assert!(err.to_string().contains("could not be found"), "{err}");

    mock.push(answer(200, "<html>proxy error</html>"));
    match client.get_message("m").await.unwrap_err() {
        Error::InvalidJson { raw, .. } => assert_eq!(raw, "<html>proxy error</html>"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn post_is_retried_on_connect_errors_only() {
    // A port with nothing listening: every attempt fails to connect, which proves nothing was
    // sent, so even POST retries (up to max_attempts).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let events = Arc::new(Events::default());
    let mut config = ClientConfig::new("token-for-tests-0123456789")
        .with_base_url(Url::parse(&format!("http://{addr}/v1")).unwrap())
        .with_observer(events.clone());
    config.backoff_base = Duration::from_millis(5);
    let client = WebexClient::new(config).unwrap();
    let err = client
        .create_message(&CreateMessage::text(MessageTarget::Room("r".into()), "hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Network(_)), "{err:?}");
    assert!(!err.to_string().contains("token-for-tests"));
    let attempts: Vec<_> = events
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.3)
        .collect();
    assert_eq!(attempts, [1, 2, 3, 4]);
}
