//! The webhook receiver with a running core gateway: claims before answering, dedupes
//! redeliveries, refuses bad signatures without side effects, and (through webex-sim's real
//! webhook delivery) gets a DM answered exactly once.
//!
//! The gateway runs with a small test-only `Channel` whose `run` hands the gateway's sink to the
//! shared state, exactly as the real channel does, and whose `send` records replies.

#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use moltbot_core::access::{AccessPolicy, DmPolicy, GroupPolicy};
use moltbot_core::agent::EchoAgent;
use moltbot_core::gateway::{
    BoxFuture, Channel, ChannelContext, ChannelError, Fetched, Gateway, GatewayOptions, Metrics,
    OutgoingMessage,
};
use moltbot_core::store::{InboundState, Store};
use moltbot_webex::shared::{BotIdentity, WebexShared};
use moltbot_webex::webhook::{self, signature::sign};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use webex_api::{ClientConfig, WebexClient};
use webex_sim::{Faults, SimPerson, SimServer};

const SECRET: &str = "receiver-secret";
const PATH: &str = "/webex/webhook";

struct TestChannel {
    shared: Arc<WebexShared>,
    sent: Mutex<Vec<OutgoingMessage>>,
}

impl Channel for TestChannel {
    fn id(&self) -> &str {
        "webex"
    }

    fn connect(&self, _http_addr: Option<SocketAddr>) -> BoxFuture<'_, Result<(), ChannelError>> {
        Box::pin(async { Ok(()) })
    }

    fn run(self: Arc<Self>, ctx: ChannelContext) -> BoxFuture<'static, Result<(), ChannelError>> {
        Box::pin(async move {
            let _ = self.shared.sink.set(ctx.sink.clone());
            ctx.ready.mark_ready();
            ctx.shutdown.cancelled().await;
            Ok(())
        })
    }

    /// Webhook deliveries are queued by id and fetched by the room's worker through here,
    /// exactly as `WebexChannel::refetch` does.
    fn refetch<'a>(&'a self, message_id: &'a str) -> BoxFuture<'a, Result<Fetched, ChannelError>> {
        Box::pin(moltbot_webex::fetch::refetch(&self.shared, message_id))
    }

    fn access_policy(&self) -> AccessPolicy {
        AccessPolicy::new("webex", DmPolicy::Open, &["*"], GroupPolicy::Open, &["*"])
    }

    fn catch_up_max_age(&self) -> Duration {
        Duration::from_secs(15 * 60)
    }

    fn send<'a>(
        &'a self,
        message: &'a OutgoingMessage,
    ) -> BoxFuture<'a, Result<String, ChannelError>> {
        Box::pin(async move {
            let mut sent = self.sent.lock().unwrap();
            sent.push(message.clone());
            Ok(format!("sent-{}", sent.len()))
        })
    }
}

struct Harness {
    sim: SimServer,
    bot: SimPerson,
    alice: SimPerson,
    store: Store,
    shared: Arc<WebexShared>,
    channel: Arc<TestChannel>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start() -> Harness {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot("molty@webex.bot", "Molty");
    let alice = sim.add_person("alice@example.com", "Alice");
    let client = WebexClient::new(
        ClientConfig::new(bot.token.as_str())
            .with_base_url_str(&sim.api_base())
            .unwrap()
            .with_requests_per_minute(10_000),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("state/moltbot.sqlite")).unwrap();
    let bot_identity = OnceLock::new();
    bot_identity
        .set(BotIdentity {
            id: bot.id.clone(),
            email: Some(bot.email.clone()),
            display_name: bot.display_name.clone(),
        })
        .unwrap();
    let mut gateway = Gateway::new(
        store.clone(),
        Arc::new(EchoAgent),
        GatewayOptions::default(),
    );
    let metrics = gateway.metrics();
    let shared = Arc::new(WebexShared {
        client,
        config: moltbot_webex::config::WebexConfig::default(),
        bot: bot_identity,
        sink: OnceLock::new(),
        connected_at_ms: OnceLock::new(),
        caught_up: moltbot_webex::shared::CatchUpGate::opened(),
    });
    let channel = Arc::new(TestChannel {
        shared: Arc::clone(&shared),
        sent: Mutex::new(Vec::new()),
    });
    gateway.add_channel(channel.clone());
    let shutdown = CancellationToken::new();
    tokio::spawn(gateway.run(shutdown.clone(), |_| {}));
    wait_for(
        || shared.sink.get().is_some(),
        "the gateway to start the channel",
    )
    .await;
    Harness {
        sim,
        bot,
        alice,
        store,
        shared,
        channel,
        metrics,
        shutdown,
        _dir: dir,
    }
}

/// Waits until `done` holds, naming `what` if it never does.
async fn wait_for(done: impl FnMut() -> bool, what: &str) {
    moltbot_testkit::wait::eventually(format!("waiting for {what}"), done).await;
}

impl Harness {
    fn app(&self) -> axum::Router {
        webhook::router(Arc::clone(&self.shared), PATH, SECRET.to_string())
    }

    fn sent(&self) -> Vec<OutgoingMessage> {
        self.channel.sent.lock().unwrap().clone()
    }

    async fn state(&self, id: &str) -> Option<InboundState> {
        self.store.ledger().state_of("webex", id).await.unwrap()
    }

    /// Alice DMs the bot through the sim; returns (message id, room id).
    async fn alice_dm(&self, text: &str) -> (String, String) {
        let msg = self.sim.as_user(&self.alice).dm(&self.bot, text).await;
        (msg.id, msg.room_id)
    }

    fn counter(&self, name: &str) -> u64 {
        let rendered = self.metrics.render().unwrap();
        let prefix = format!("{name}{{channel=\"webex\"}} ");
        rendered
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0)
    }
}

fn envelope(message_id: &str, room_id: &str, person_id: &str) -> String {
    serde_json::json!({
        "id": "webhook-id",
        "name": "moltbot",
        "targetUrl": "https://bot.example.com/webex/webhook",
        "resource": "messages",
        "event": "created",
        "orgId": "org",
        "createdBy": "creator",
        "appId": "app",
        "ownedBy": "creator",
        "status": "active",
        "created": "2026-01-01T00:00:00.000Z",
        "actorId": person_id,
        "data": {
            "id": message_id,
            "roomId": room_id,
            "roomType": "direct",
            "personId": person_id,
            "personEmail": "alice@example.com",
            "created": "2026-01-01T00:00:01.000Z"
        }
    })
    .to_string()
}

fn post(body: String, signature: Option<String>) -> Request<Body> {
    let mut req = Request::post(PATH).header("content-type", "application/json");
    if let Some(sig) = signature {
        req = req.header("X-Spark-Signature", sig);
    }
    req.body(Body::from(body)).unwrap()
}

fn signed(body: String) -> Request<Body> {
    let sig = sign(SECRET, body.as_bytes());
    post(body, Some(sig))
}

async fn call(app: axum::Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[tokio::test]
async fn signed_delivery_is_claimed_before_the_answer_and_answered_once() {
    let h = start().await;
    let (id, room) = h.alice_dm("hello bot").await;
    let body = envelope(&id, &room, &h.alice.id);

    let (status, json) = call(h.app(), signed(body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["status"], "accepted");
    // Recorded by the time the answer was given.
    assert!(h.state(&id).await.is_some());

    wait_for(|| h.sent().len() == 1, "the echo reply").await;
    assert_eq!(h.sent()[0].markdown, "hello bot");
    wait_for(
        || h.counter("moltbot_messages_answered_total") == 1,
        "answered",
    )
    .await;

    // Webex redelivers: claimed already, nothing else happens.
    for _ in 0..2 {
        let (status, json) = call(h.app(), signed(body.clone())).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["status"], "duplicate");
    }
    assert_eq!(h.counter("moltbot_messages_received_total"), 1);
    assert_eq!(h.counter("moltbot_messages_duplicate_total"), 2);
    assert_eq!(h.state(&id).await, Some(InboundState::Replied));
    assert_eq!(h.sent().len(), 1);
}

#[tokio::test]
async fn bad_or_replayed_signatures_change_nothing() {
    let h = start().await;
    let (id, room) = h.alice_dm("first").await;
    let (other_id, _) = h.alice_dm("second").await;
    let body = envelope(&id, &room, &h.alice.id);
    let original_sig = sign(SECRET, body.as_bytes());
    h.sim.clear_requests();

    let (status, json) = call(h.app(), post(body.clone(), None)).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("missing X-Spark-Signature"))
    );
    let wrong = sign("not-the-secret", body.as_bytes());
    let (status, json) = call(h.app(), post(body.clone(), Some(wrong))).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid X-Spark-Signature"))
    );

    // A captured delivery replayed with another message id and the original signature.
    let altered = body.replace(&id, &other_id);
    let (status, json) = call(h.app(), post(altered, Some(original_sig))).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid X-Spark-Signature"))
    );

    assert_eq!(h.state(&id).await, None);
    assert_eq!(h.state(&other_id).await, None);
    assert_eq!(h.counter("moltbot_messages_received_total"), 0);
    assert!(h.sim.requests().is_empty(), "no API call on 401");
    assert!(h.sent().is_empty());
}

#[tokio::test]
async fn oversized_and_malformed_bodies_record_nothing() {
    let h = start().await;
    let (id, room) = h.alice_dm("hi").await;
    let mut big = envelope(&id, &room, &h.alice.id);
    big.push_str(&" ".repeat(webhook::MAX_BODY_BYTES));
    let (status, _) = call(h.app(), signed(big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let broken = envelope(&id, &room, &h.alice.id).replace('}', "");
    let (status, json) = call(h.app(), signed(broken)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json["error"]
        .as_str()
        .unwrap()
        .starts_with("malformed webhook payload"));

    let no_id = envelope("", &room, &h.alice.id);
    let (status, _) = call(h.app(), signed(no_id)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    assert_eq!(h.state(&id).await, None);
    assert_eq!(h.counter("moltbot_messages_received_total"), 0);
}

#[tokio::test]
async fn own_messages_are_passed_over_unrecorded_and_not_fetched() {
    let h = start().await;
    let (_, room) = h.alice_dm("hi").await;
    let own = h.sim.as_user(&h.bot).post(&room, "my reply").await;
    h.sim.clear_requests();

    let (status, json) = call(h.app(), signed(envelope(&own.id, &room, &h.bot.id))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["status"], "own message");
    // Passed over in the handler: no ledger row, no worker, nothing will ever fetch it.
    assert_eq!(h.state(&own.id).await, None);
    assert_eq!(h.counter("moltbot_messages_received_total"), 0);
    assert!(h.sim.requests().is_empty(), "{:?}", h.sim.requests());
    assert!(h.sent().is_empty());
}

#[tokio::test]
async fn a_brief_404_is_retried() {
    let h = start().await;
    let (id, room) = h.alice_dm("early bird").await;
    h.sim.fail_next("GET", "/v1/messages/", 404, 1);
    let (status, _) = call(h.app(), signed(envelope(&id, &room, &h.alice.id))).await;
    assert_eq!(status, StatusCode::OK);
    wait_for(|| h.sent().len() == 1, "the reply after a retried 404").await;
    assert_eq!(h.sent()[0].markdown, "early bird");
}

#[tokio::test]
async fn card_submissions_are_claimed_once_and_answered() {
    let h = start().await;
    let (_, room) = h.alice_dm("hi").await;
    let card = h
        .sim
        .as_user(&h.bot)
        .post_card(
            room.as_str(),
            "form",
            serde_json::json!({"type": "AdaptiveCard", "version": "1.3", "body": [],
                               "actions": [{"type": "Action.Submit", "title": "Send"}]}),
        )
        .await;
    let action = h
        .sim
        .as_user(&h.alice)
        .submit_card(&card, serde_json::json!({"choice": "B"}))
        .await;
    let body = serde_json::json!({
        "resource": "attachmentActions",
        "event": "created",
        "data": {"id": action["id"], "type": "submit", "messageId": card.id,
                 "personId": h.alice.id, "roomId": room}
    })
    .to_string();
    let (status, json) = call(h.app(), signed(body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["status"], "accepted");
    // A redelivery is a duplicate: the action id is claimed in the ledger like a message id.
    let (_, again) = call(h.app(), signed(body)).await;
    assert_eq!(again["status"], "duplicate");
    wait_for(|| h.sent().len() == 1, "the answer to the card submission").await;
    assert_eq!(h.sent()[0].markdown, "[card submitted] choice: B");
    assert_eq!(h.counter("moltbot_messages_received_total"), 1);
}

/// The whole path through real sockets: `reconcile` registers the served URL with the sim, the
/// sim delivers signed webhooks (each one twice), and the DM is answered once.
#[tokio::test]
async fn sim_deliveries_end_to_end_with_duplicates() {
    let h = start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = h.app();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let target = format!("http://{addr}{PATH}");
    let report = webhook::reconcile(&h.shared.client, &target, SECRET, "moltbot")
        .await
        .unwrap();
    assert_eq!(report.created.len(), 2);
    h.sim.set_faults(Faults {
        webhook_duplicate_ratio: 1.0,
        ..Faults::default()
    });

    let (id, _) = h.alice_dm("through the wire").await;
    wait_for(
        || h.sent().len() == 1,
        "the reply to a sim-delivered webhook",
    )
    .await;
    assert_eq!(h.sent()[0].markdown, "through the wire");
    wait_for(
        || h.counter("moltbot_messages_duplicate_total") >= 1,
        "the duplicate delivery",
    )
    .await;
    assert_eq!(h.counter("moltbot_messages_received_total"), 1);
    assert_eq!(h.state(&id).await, Some(InboundState::Replied));
    assert_eq!(h.sent().len(), 1);
}

#[tokio::test]
async fn a_store_failure_is_500_so_webex_redelivers() {
    let h = start().await;
    let (id, room) = h.alice_dm("hi").await;
    // Break the ledger under the running gateway.
    // (With a connection of the test's own: the store hands out none.)
    rusqlite::Connection::open(h.store.path().unwrap())
        .unwrap()
        .execute_batch("ALTER TABLE ledger RENAME TO broken_ledger")
        .unwrap();
    h.sim.clear_requests();
    let (status, json) = call(h.app(), signed(envelope(&id, &room, &h.alice.id))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json["error"], "state store unavailable");
    // Refused before the hand-over: no worker holds it, so nothing will ever fetch it.
    assert_eq!(h.counter("moltbot_messages_received_total"), 0);
    assert!(
        h.sim.requests().is_empty(),
        "nothing fetched before the id is recorded"
    );
    assert!(h.sent().is_empty());
}
