//! [`LoadBalancer`]: a small round-robin HTTP forwarder on loopback, the load balancer in front
//! of gateway replicas. The emulator delivers its webhooks to it, and it spreads them over the
//! replicas' HTTP ports in turn. A replica that is down (connection refused, or its port is
//! unset while it restarts) is skipped for the next one; the emulator gets the answering
//! replica's status and body, or 502 when none answered (so it redelivers as Webex would).
//!
//! Replicas restart on a new port (port 0), so each backend is a slot the test sets again
//! ([`LoadBalancer::set`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// What the forwarder did, for a test's assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// Requests answered by a backend, per slot.
    pub by_slot: [usize; MAX_SLOTS],
    /// Attempts that found a backend down and went on to the next.
    pub skipped: usize,
    /// Requests no backend answered (502).
    pub unanswered: usize,
}

/// The most backends a balancer has.
pub const MAX_SLOTS: usize = 8;

struct Inner {
    backends: Mutex<Vec<Option<String>>>,
    next: AtomicUsize,
    stats: Mutex<Forwarded>,
    client: reqwest::Client,
}

/// A running round-robin forwarder; stops when dropped.
#[derive(Clone)]
pub struct LoadBalancer {
    addr: SocketAddr,
    inner: Arc<Inner>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for LoadBalancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadBalancer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl LoadBalancer {
    /// Starts a forwarder with `slots` backends (all unset, at most [`MAX_SLOTS`]) on
    /// `127.0.0.1`, any free port.
    pub async fn start(slots: usize) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(std::io::Error::other)?;
        let inner = Arc::new(Inner {
            backends: Mutex::new(vec![None; slots.min(MAX_SLOTS)]),
            next: AtomicUsize::new(0),
            stats: Mutex::new(Forwarded::default()),
            client,
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&inner));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            inner,
            task: Arc::new(task),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Points slot `slot` at `base` (`http://HOST:PORT` of a replica), or unsets it (`None`:
    /// the replica is down). Out-of-range slots are ignored.
    pub fn set(&self, slot: usize, base: Option<&str>) {
        let mut backends = self
            .inner
            .backends
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = backends.get_mut(slot) {
            *entry = base.map(str::to_string);
        }
    }

    /// What it forwarded so far.
    pub fn forwarded(&self) -> Forwarded {
        *self
            .inner
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for LoadBalancer {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

/// Forwards one request to the next backend that answers, starting after the last one used.
async fn forward(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let backends = inner
        .backends
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let n = backends.len();
    let start = inner.next.fetch_add(1, Ordering::Relaxed);
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    for offset in 0..n {
        let slot = (start + offset) % n;
        let Some(base) = &backends[slot] else {
            note(&inner, |s| s.skipped += 1);
            continue;
        };
        let mut request = inner
            .client
            .request(method.clone(), format!("{base}{path}"))
            .body(body.clone());
        for (name, value) in &headers {
            if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
                request = request.header(name, value);
            }
        }
        match request.send().await {
            Ok(resp) => {
                note(&inner, |s| s.by_slot[slot] += 1);
                let status =
                    StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
                let body = resp.bytes().await.unwrap_or_default();
                return (status, body).into_response();
            }
            // Down (refused) or died mid-request: the next one. A request a replica took and
            // then died on may have been claimed; the redelivery is then a duplicate the
            // shared ledger recognises.
            Err(_) => note(&inner, |s| s.skipped += 1),
        }
    }
    note(&inner, |s| s.unanswered += 1);
    (StatusCode::BAD_GATEWAY, "no replica answered").into_response()
}

fn note(inner: &Inner, change: impl FnOnce(&mut Forwarded)) {
    change(&mut inner.stats.lock().unwrap_or_else(PoisonError::into_inner));
}
