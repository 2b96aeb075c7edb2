//! Webex failures keep their evidence through the channel: the `ChannelError` the gateway gets
//! (and logs, and stores as the failure reason) still says which HTTP status Webex answered and
//! which trackingId to quote to Webex support.

#![allow(clippy::unwrap_used)] // test setup: a failure should panic loudly

use std::error::Error as _;
use std::sync::Arc;

use moltbot_core::agent::EchoAgent;
use moltbot_core::config::Secret;
use moltbot_core::error::chain;
use moltbot_core::gateway::{
    Channel, ChannelErrorKind, Gateway, GatewayError, GatewayOptions, Metrics, OutgoingMessage,
    SendTarget,
};
use moltbot_core::store::Store;
use moltbot_webex::channel::WebexChannel;
use moltbot_webex::config::{Mode, TokenSource, WebexConfig};
use tokio_util::sync::CancellationToken;
use webex_sim::SimServer;

/// A polling-mode Webex channel against `sim`, with `token`, its store in `dir`.
fn channel(sim: &SimServer, token: &str, dir: &tempfile::TempDir) -> (WebexChannel, Store) {
    let store = Store::open(dir.path().join("state/moltbot.sqlite")).unwrap();
    let mut config = WebexConfig {
        mode: Mode::Polling,
        bot_token: Secret::new(token),
        token_source: TokenSource::Config,
        api_base_url: sim.api_base(),
        ..WebexConfig::default()
    };
    config.webhook.port = 0;
    config.rate_limit.requests_per_minute = 10_000;
    let channel = WebexChannel::new(config, &store, Arc::new(Metrics::default())).unwrap();
    (channel, store)
}

#[tokio::test]
async fn a_send_refused_with_500_keeps_status_and_tracking_id() {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot("molty@webex.bot", "Molty");
    let alice = sim.add_person("alice@example.com", "Alice");
    let first = sim.dm(&alice, &bot.email, "hi").await.unwrap();
    let room = first["roomId"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (channel, _store) = channel(&sim, &bot.token, &dir);
    channel.connect(None).await.unwrap();

    sim.fail_next("POST", "/v1/messages", 500, 1);
    let message = OutgoingMessage::markdown(SendTarget::Room(room.clone()), "the answer");
    let err = channel.send(&message).await.unwrap_err();

    assert_eq!(err.kind(), ChannelErrorKind::Transient);
    assert!(err.is_retryable());
    assert!(
        err.maybe_delivered(),
        "a 500 does not prove nothing was posted"
    );
    let api = err
        .source()
        .and_then(|source| source.downcast_ref::<webex_api::Error>())
        .expect("the Webex error is the source");
    assert_eq!(api.status(), Some(500));
    let tracking_id = api.tracking_id().expect("the sim sends a trackingid");
    assert!(tracking_id.starts_with("ROUTER_"), "{tracking_id}");
    let line = chain(&err).to_string();
    assert!(
        line.starts_with("POST /messages failed: Webex API error 500: "),
        "{line}"
    );
    assert!(
        line.ends_with(&format!("(trackingId {tracking_id})")),
        "{line}"
    );
    assert!(
        sim.messages_by(&bot, &room).is_empty(),
        "nothing was posted"
    );
}

#[tokio::test]
async fn a_refused_token_is_an_auth_error_with_the_evidence_up_to_the_gateway_error() {
    let sim = SimServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (channel, store) = channel(&sim, "not-a-valid-token", &dir);

    let err = channel.connect(None).await.unwrap_err();
    assert_eq!(err.kind(), ChannelErrorKind::Auth);
    assert!(!err.is_retryable());
    let line = chain(&err).to_string();
    assert!(
        line.starts_with("GET /people/me failed (the bot token is invalid"),
        "{line}"
    );
    assert!(line.contains("Webex API error 401"), "{line}");
    assert!(line.contains("(trackingId ROUTER_"), "{line}");

    // The gateway stops with the same chain below its own line (what `moltbot gateway` prints).
    let mut gateway = Gateway::new(store, Arc::new(EchoAgent), GatewayOptions::default());
    gateway.add_channel(Arc::new(channel));
    let err = gateway
        .run(CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::Connect { .. }), "{err:?}");
    let line = chain(&err).to_string();
    assert!(
        line.starts_with(
            "channel webex could not start: GET /people/me failed (the bot token is invalid"
        ),
        "{line}"
    );
    assert!(line.contains("Webex API error 401"), "{line}");
    assert!(line.contains("(trackingId ROUTER_"), "{line}");
}
