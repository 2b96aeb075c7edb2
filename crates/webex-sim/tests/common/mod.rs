//! Shared helpers for the integration tests.
#![allow(dead_code, missing_docs)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post as axum_post;
use axum::Router;
use serde_json::Value;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use webex_sim::{SimPerson, SimServer};

/// A sim with a person (alice), a second person (bob) and a bot.
pub struct World {
    pub sim: SimServer,
    pub alice: SimPerson,
    pub bob: SimPerson,
    pub bot: SimPerson,
}

pub async fn world() -> World {
    let sim = SimServer::start().await.unwrap();
    let alice = sim.add_person("alice@example.com", "Alice Liddell");
    let bob = sim.add_person("bob@example.com", "Bob Builder");
    let bot = sim.add_bot("molty@webex.bot", "Molty");
    World {
        sim,
        alice,
        bob,
        bot,
    }
}

/// The uuid inside an encoded id (`base64("ciscospark://us/<KIND>/<uuid>")`).
pub fn uuid_of(id: &str) -> String {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(id)
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    text.rsplit('/').next().unwrap().to_string()
}

/// A raw HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The `rel="next"` URL of the Link header.
    pub fn next_link(&self) -> Option<String> {
        let link = self.header("link")?;
        let start = link.find('<')? + 1;
        let end = link.find('>')?;
        assert!(link.contains("rel=\"next\""), "{link}");
        Some(link[start..end].to_string())
    }

    pub fn items(&self) -> Vec<Value> {
        self.body["items"].as_array().cloned().unwrap_or_default()
    }
}

pub async fn call(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let client = reqwest::Client::new();
    let mut req = client.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        headers,
        body,
    }
}

pub async fn get(sim: &SimServer, who: &SimPerson, path: &str) -> Answer {
    call(
        reqwest::Method::GET,
        &format!("{}{}", sim.api_base(), path),
        Some(&who.token),
        None,
    )
    .await
}

pub async fn post(sim: &SimServer, who: &SimPerson, path: &str, body: Value) -> Answer {
    call(
        reqwest::Method::POST,
        &format!("{}{}", sim.api_base(), path),
        Some(&who.token),
        Some(body),
    )
    .await
}

pub async fn put(sim: &SimServer, who: &SimPerson, path: &str, body: Value) -> Answer {
    call(
        reqwest::Method::PUT,
        &format!("{}{}", sim.api_base(), path),
        Some(&who.token),
        Some(body),
    )
    .await
}

pub async fn delete(sim: &SimServer, who: &SimPerson, path: &str) -> Answer {
    call(
        reqwest::Method::DELETE,
        &format!("{}{}", sim.api_base(), path),
        Some(&who.token),
        None,
    )
    .await
}

/// Asserts Webex's error body shape and returns its message.
pub fn assert_webex_error(a: &Answer, status: u16) -> String {
    assert_eq!(a.status, status, "{:?}", a.body);
    let message = a.body["message"].as_str().expect("message").to_string();
    assert_eq!(
        a.body["errors"][0]["description"],
        Value::String(message.clone())
    );
    let tracking = a.body["trackingId"].as_str().expect("trackingId");
    assert_eq!(a.header("trackingid").as_deref(), Some(tracking));
    message
}

/// One received webhook delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub headers: HeaderMap,
    pub raw: Bytes,
    pub body: Value,
}

/// A local HTTP endpoint receiving webhook deliveries.
pub struct Receiver {
    pub url: String,
    pub rx: mpsc::UnboundedReceiver<Delivery>,
    pub status: Arc<AtomicU16>,
}

#[derive(Clone)]
struct RecvState {
    tx: mpsc::UnboundedSender<Delivery>,
    status: Arc<AtomicU16>,
}

async fn hook(State(s): State<RecvState>, headers: HeaderMap, raw: Bytes) -> StatusCode {
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let _ = s.tx.send(Delivery { headers, raw, body });
    StatusCode::from_u16(s.status.load(Ordering::SeqCst)).unwrap()
}

pub async fn receiver() -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let status = Arc::new(AtomicU16::new(200));
    let app = Router::new()
        .route("/hook", axum_post(hook))
        .with_state(RecvState {
            tx,
            status: Arc::clone(&status),
        });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver {
        url: format!("http://{addr}/hook"),
        rx,
        status,
    }
}

impl Receiver {
    /// Next delivery within 5 s.
    pub async fn next(&mut self) -> Delivery {
        tokio::time::timeout(Duration::from_secs(5), self.rx.recv())
            .await
            .expect("a webhook delivery within 5 s")
            .expect("receiver open")
    }

    /// Asserts nothing arrives within `ms`.
    pub async fn none_within(&mut self, ms: u64) {
        let got = tokio::time::timeout(Duration::from_millis(ms), self.rx.recv()).await;
        assert!(
            got.is_err(),
            "unexpected delivery: {:?}",
            got.ok().flatten().map(|d| d.body)
        );
    }
}

/// Registers a webhook for `who`.
pub async fn register(
    sim: &SimServer,
    who: &SimPerson,
    url: &str,
    resource: &str,
    filter: Option<&str>,
    secret: Option<&str>,
) -> Value {
    let mut body = serde_json::json!({
        "name": "test hook", "targetUrl": url, "resource": resource, "event": "created",
    });
    if let Some(f) = filter {
        body["filter"] = Value::String(f.into());
    }
    if let Some(s) = secret {
        body["secret"] = Value::String(s.into());
    }
    let a = post(sim, who, "/webhooks", body).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body
}
