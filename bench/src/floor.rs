//! The floors: the least any bot must do to answer a message, to measure the gateway against.
//!
//! A reply is always the same two calls, [`reply`]: `GET /messages/{id}` and `POST /messages`
//! with the text back. [`crate::scenarios::floor_responder`] makes them as soon as the user's
//! `POST` returned (no webhook hop); [`WebhookFloor`] makes them on each webhook delivery, as a
//! real webhook bot must, so it also pays the emulator's delivery (one at a time, in order,
//! each waiting for its receiver's answer).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use webex_api::{CreateMessage, MessageTarget, WebexClient};
use webex_sim::{SimPerson, SimServer};

/// The two calls any bot makes to answer message `id`: `GET /messages/{id}`, then `POST
/// /messages` in its room with its text as markdown (the echo). Errors are dropped: a missing
/// reply shows as `missing` in the figures.
pub async fn reply(client: &WebexClient, id: &str) {
    if let Ok(m) = client.get_message(id).await {
        let text = m.text.unwrap_or_default();
        let reply = CreateMessage::markdown(MessageTarget::Room(m.room_id), text);
        let _ = client.create_message(&reply).await;
    }
}

/// Deliveries counted by a [`WebhookFloor`].
#[derive(Debug, Default)]
struct Counts {
    received: AtomicUsize,
    own_skipped: AtomicUsize,
}

struct Receiver {
    client: WebexClient,
    bot_id: String,
    counts: Counts,
}

/// The webhook floor: an HTTP server on `127.0.0.1:0`, registered in the emulator as a bot's
/// `messages:created` webhook, that answers every delivery 200 at once and, in a task of its
/// own, [`reply`]s to it, unless the message is the bot's own (`data.personId` is the bot's
/// id), which it skips without a `GET`. Nothing else: no signature check, store, queue, agent
/// or ordering within a room. Stopped when dropped.
pub struct WebhookFloor {
    receiver: Arc<Receiver>,
    server: JoinHandle<()>,
}

impl WebhookFloor {
    /// Binds the server and registers its webhook (`POST /webhooks` as `bot`, no secret).
    /// `client` holds `bot`'s token. Errors: the bind, or the emulator refusing the webhook.
    pub async fn start(
        sim: &SimServer,
        bot: &SimPerson,
        client: WebexClient,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind the webhook floor")?;
        let port = listener.local_addr()?.port();
        let receiver = Arc::new(Receiver {
            client,
            bot_id: bot.id.clone(),
            counts: Counts::default(),
        });
        let app = Router::new()
            .route("/webhook", post(deliver))
            .with_state(Arc::clone(&receiver));
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                eprintln!("webhook floor server stopped: {err}");
            }
        });
        let floor = Self { receiver, server };
        sim.call_as(
            bot,
            reqwest::Method::POST,
            "/webhooks",
            Some(json!({
                "name": "floor",
                "targetUrl": format!("http://127.0.0.1:{port}/webhook"),
                "resource": "messages",
                "event": "created",
            })),
        )
        .await
        .map_err(|(status, body)| anyhow!("register the floor's webhook: {status} {body}"))?;
        Ok(floor)
    }

    /// `(deliveries received, of which the bot's own messages skipped)` so far.
    pub fn counts(&self) -> (usize, usize) {
        let c = &self.receiver.counts;
        (
            c.received.load(Ordering::Relaxed),
            c.own_skipped.load(Ordering::Relaxed),
        )
    }
}

impl Drop for WebhookFloor {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One delivery: 200 at once (400 without `data.id`), the reply in a task of its own.
async fn deliver(State(r): State<Arc<Receiver>>, body: Bytes) -> StatusCode {
    r.counts.received.fetch_add(1, Ordering::Relaxed);
    let envelope: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let data = &envelope["data"];
    let Some(id) = data["id"].as_str() else {
        return StatusCode::BAD_REQUEST;
    };
    if data["personId"].as_str() == Some(r.bot_id.as_str()) {
        r.counts.own_skipped.fetch_add(1, Ordering::Relaxed);
        return StatusCode::OK;
    }
    let (r, id) = (Arc::clone(&r), id.to_string());
    tokio::spawn(async move { reply(&r.client, &id).await });
    StatusCode::OK
}
