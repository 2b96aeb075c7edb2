//! Replicas behind one public webhook URL: a round-robin HTTP forwarder (the load balancer in
//! front of several `moltbot gateway` replicas), replica homes on one PostgreSQL store, and
//! what the replicas' logs and `channels status` say. Included with `#[path]` by the tests
//! that need it.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use moltbot_testkit::{RunningGateway, TestHome, World};

/// The log line of a replica that wins the lead.
pub const BECAME_LEADER: &str = "became leader";

/// The log line of a replica that registered (reconciled) the webhooks.
pub const WEBHOOKS_REGISTERED: &str = "webhooks registered";

/// The log line of a replica that applies another replica's rate-limit pause.
pub const PAUSED_BY_A_REPLICA: &str = "a replica was rate limited";

/// A round-robin HTTP forwarder: each request goes to the next replica (by request, not by
/// connection, since Webex, and the emulator, keep connections alive); a replica that cannot
/// be reached is skipped. 503 until [`Forwarder::set_replicas`] is called.
#[derive(Clone)]
pub struct Forwarder {
    /// `http://127.0.0.1:PORT` of the forwarder.
    pub url: String,
    state: Arc<Inner>,
}

struct Inner {
    replicas: Mutex<Vec<String>>,
    next: AtomicUsize,
    /// How many requests each replica answered, by its base URL.
    answered: Mutex<Vec<(String, usize)>>,
    http: reqwest::Client,
}

impl Forwarder {
    /// Starts a forwarder on a free loopback port.
    pub async fn start() -> Self {
        let state = Arc::new(Inner {
            replicas: Mutex::new(Vec::new()),
            next: AtomicUsize::new(0),
            answered: Mutex::new(Vec::new()),
            http: reqwest::Client::new(),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the forwarder binds a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}"),
            state,
        }
    }

    /// Forwards to these replicas (`http://127.0.0.1:PORT` each) from now on.
    pub fn set_replicas(&self, replicas: &[&RunningGateway]) {
        let urls: Vec<String> = replicas.iter().map(|r| r.http.clone()).collect();
        *self
            .state
            .replicas
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = urls;
    }

    /// How many requests each replica answered with a 2xx, by its `http` URL.
    pub fn answered(&self) -> Vec<(String, usize)> {
        self.state
            .answered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn forward(
    State(state): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let replicas = state
        .replicas
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if replicas.is_empty() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let first = state.next.fetch_add(1, Ordering::Relaxed);
    for i in 0..replicas.len() {
        let base = &replicas[(first + i) % replicas.len()];
        let mut request = state
            .http
            .request(method.clone(), format!("{base}{path}"))
            .body(body.clone());
        for (name, value) in &headers {
            if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
                request = request.header(name, value);
            }
        }
        let Ok(response) = request.send().await else {
            continue; // a replica that is down: the next one
        };
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            let mut answered = state
                .answered
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match answered.iter_mut().find(|(url, _)| url == base) {
                Some((_, n)) => *n += 1,
                None => answered.push((base.clone(), 1)),
            }
        }
        return (status, bytes).into_response();
    }
    StatusCode::BAD_GATEWAY.into_response()
}

/// A home for one replica (a state folder, so a node id, of its own) on the PostgreSQL store
/// at `url`, in webhook mode with `webhook_url` as the public URL, `store.leaseSeconds` of
/// `lease_seconds` and `extra` spliced into `channels.webex`.
pub fn webhook_replica_home(
    world: &World,
    store_url: &str,
    lease_seconds: u64,
    webhook_url: &str,
    extra: &str,
) -> TestHome {
    let home = TestHome::new();
    home.write_config(
        &world
            .config("webhook", extra)
            .replace("http://127.0.0.1:0/webex/webhook", webhook_url)
            .replace(
                "  channels: {",
                &format!(
                    "  store: {{ url: \"{store_url}\", leaseSeconds: {lease_seconds} }},\n  channels: {{"
                ),
            ),
    );
    home
}

/// Which of `replicas` logged `line` (indices).
pub fn logged(replicas: &[&RunningGateway], line: &str) -> Vec<usize> {
    (0..replicas.len())
        .filter(|&i| replicas[i].stderr_text().contains(line))
        .collect()
}

/// `moltbot channels status` in `home`.
pub fn channels_status(home: &TestHome) -> String {
    let out = home
        .moltbot()
        .args(["channels", "status"])
        .output()
        .expect("moltbot channels status runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until `replica` logged `line` (at most `timeout`); panics with its log otherwise.
pub async fn wait_logged(replica: &RunningGateway, line: &str, timeout: std::time::Duration) {
    let found = moltbot_testkit::wait::until(timeout, || {
        replica.stderr_text().contains(line).then_some(())
    })
    .await;
    assert!(
        found.is_ok(),
        "no {line:?} in the log:\n{}",
        replica.stderr_text()
    );
}
