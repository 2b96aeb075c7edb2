//! `mode: "websocket"`: Webex's Mercury websocket, opened from inside the network.
//!
//! Not an official Webex API (only webex-js-sdk's `messages.listen()` is supported by Webex);
//! the protocol follows webex-js-sdk `internal-plugin-mercury` / `internal-plugin-device` and
//! fbradyirl/webex_bot (see `webex_api::mercury` and shared/spec/webex-api-notes.md section 8).
//!
//! The listener:
//! 1. names its device once (`moltbot-<hex>`, kept in the store) and reuses it on every start
//!    and reconnect: devices do not pile up ([`webex_api::mercury::Mercury::connect_named`]);
//! 2. connects and authorizes, then marks the channel ready once the start-up catch-up is done;
//! 3. hands each activity to one worker that, in order, maps it to its REST id through the
//!    conversation URL it carries ([`MessageRef`], as webex_bot does: right in every Webex
//!    cluster), **claims** the id in the store and only then **acknowledges** the event, and
//!    queues the message to be fetched by its room's worker (`GET /messages/{id}`: the frame's
//!    content is never trusted; on real Webex it is encrypted anyway). The socket task keeps
//!    reading and answering pings meanwhile;
//! 4. reconnects with capped exponential backoff and jitter; after every reconnect it asks the
//!    poller for a catch-up pass, so a gap loses nothing (un-acked events also come again and
//!    are duplicates by then). An authentication close (4401, 4403, 1008) is checked with
//!    `GET /people/me`: a bad token stops the gateway with a clear error (no reconnect storm), a
//!    good one gets a fresh device registration.

pub mod status;

use std::sync::Arc;
use std::time::Duration;

use moltbot_core::error::chain;
use moltbot_core::gateway::{ChannelError, ChannelErrorKind, ChannelMetrics, Claim, ReadySignal};
use moltbot_core::store::Store;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use webex_api::mercury::{
    reconnect_backoff, Activity, Device, Keepalive, Mercury, MercuryConfig, MercuryError,
    MercuryEvent, MessageRef, Recovery,
};
use webex_api::{same_entity, WebexId};

use crate::shared::{WebexShared, CHANNEL};

use self::status::{SocketState, StatusBook};

/// Store namespace and key of the device name.
const DEVICE_NS: &str = "webex";
const DEVICE_KEY: &str = "websocket_device_name";

/// Activities read from the socket and not yet claimed (the socket task waits beyond this).
const EVENT_QUEUE: usize = 256;

/// A connection that lived this long resets the reconnect backoff. webex-js-sdk resets it on
/// every successful connect; we ask for a couple of seconds more, so a server that authorizes
/// and drops at once is still met with a growing delay (each reconnect also costs a catch-up
/// pass). The bench's "socket dropped every 3 s" case waited up to 17-25 s with 60 s and 10 s.
const STABLE_AFTER: Duration = Duration::from_secs(2);

/// The close code of a socket another connection on the same device replaced
/// (webex-js-sdk `internal-plugin-mercury`, `mercury.js`: 4000 "replaced").
const CLOSE_REPLACED: u16 = 4000;

/// The longest reconnect delay.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(30);

/// How often and how long a lookup that answers 404 is retried: the event can come before the
/// message is readable.
const LOOKUP_RETRIES: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(400),
    Duration::from_secs(1),
];

/// The Mercury settings from `channels.webex.websocket`.
pub fn mercury_config(shared: &WebexShared) -> Result<MercuryConfig, ChannelError> {
    let websocket = &shared.config.websocket;
    let config = MercuryConfig {
        keepalive: Keepalive {
            ping_interval: websocket.ping_interval,
            pong_timeout: websocket.pong_timeout,
            ..Keepalive::default()
        },
        ..MercuryConfig::default()
    };
    config.with_u2c_url_str(&websocket.u2c_url).map_err(|err| {
        ChannelError::new(ChannelErrorKind::Config, err).with_context(format!(
            "channels.webex.websocket.u2cUrl {:?} is not usable",
            websocket.u2c_url
        ))
    })
}

/// The name of this gateway's device: made once, then read from the store.
pub async fn device_name(store: &Store) -> Result<String, ChannelError> {
    use rand::RngCore;
    let mut bytes = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let fresh = format!("moltbot-{}", hex::encode(bytes));
    store
        .kv()
        .get_or_insert(DEVICE_NS, DEVICE_KEY, &fresh)
        .await
        .map_err(|err| {
            ChannelError::new(ChannelErrorKind::Transient, err)
                .with_context("cannot keep the websocket device name in the state store")
        })
}

/// The websocket receiver of the Webex channel.
pub struct WebsocketListener {
    shared: Arc<WebexShared>,
    mercury: Mercury,
    metrics: ChannelMetrics,
    book: StatusBook,
    device_name: String,
    /// Asks the poller for a catch-up pass.
    catch_up: Arc<Notify>,
}

impl std::fmt::Debug for WebsocketListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebsocketListener")
            .field("device_name", &self.device_name)
            .finish_non_exhaustive()
    }
}

/// How one connection ended.
enum Ended {
    /// The gateway is shutting down.
    Shutdown,
    /// The connection failed or was lost.
    Lost(MercuryError),
}

impl WebsocketListener {
    /// A listener for `shared`'s bot that keeps its device name and status in `store` and
    /// nudges `catch_up` after every reconnect.
    pub async fn new(
        shared: Arc<WebexShared>,
        store: Store,
        metrics: ChannelMetrics,
        catch_up: Arc<Notify>,
    ) -> Result<Self, ChannelError> {
        let config = mercury_config(&shared)?;
        let device_name = device_name(&store).await?;
        Ok(Self {
            mercury: Mercury::new(shared.client.clone(), config),
            book: StatusBook::new(store, device_name.clone()),
            shared,
            metrics,
            device_name,
            catch_up,
        })
    }

    /// Listens until `shutdown`, reconnecting as needed; marks `ready` once connected and
    /// caught up. Returns an [`Auth`](ChannelErrorKind::Auth) error when the token is refused,
    /// a [`Config`](ChannelErrorKind::Config) error when nothing but a config change can help.
    pub async fn run(
        self: Arc<Self>,
        ready: ReadySignal,
        shutdown: CancellationToken,
    ) -> Result<(), ChannelError> {
        let outcome = self.listen(&ready, &shutdown).await;
        self.metrics.set_listener_connected(false);
        self.book
            .set(SocketState::Stopped, |status| {
                if let Err(err) = &outcome {
                    status.last_error = Some(chain(err).to_string());
                }
            })
            .await;
        outcome
    }

    async fn listen(
        self: &Arc<Self>,
        ready: &ReadySignal,
        shutdown: &CancellationToken,
    ) -> Result<(), ChannelError> {
        let mut delays = reconnect_backoff();
        let mut lost: Option<&'static str> = None;
        let mut last_device: Option<Device> = None;
        loop {
            let state = if lost.is_some() {
                SocketState::Reconnecting
            } else {
                SocketState::Connecting
            };
            self.book.set(state, |_| {}).await;
            let attempt = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                attempt = self.mercury.connect_named(&self.device_name) => attempt,
            };
            let err = match attempt {
                Ok((device, conn)) => {
                    self.on_connected(&device, lost.take(), ready).await;
                    last_device = Some(device);
                    let started = tokio::time::Instant::now();
                    let ended = self.serve(conn, shutdown).await;
                    self.metrics.set_listener_connected(false);
                    match ended {
                        Ended::Shutdown => return Ok(()),
                        Ended::Lost(err) => {
                            if started.elapsed() >= STABLE_AFTER {
                                delays = reconnect_backoff();
                            }
                            err
                        }
                    }
                }
                Err(err) => err,
            };
            match err.recovery() {
                Recovery::GiveUp => {
                    return Err(
                        ChannelError::new(ChannelErrorKind::Config, err).with_context(
                            "the websocket cannot work with this configuration (check \
                         channels.webex.websocket.u2cUrl)",
                        ),
                    )
                }
                Recovery::CheckToken => {
                    self.check_token(&err, last_device.take()).await?;
                }
                Recovery::Reregister | Recovery::Reconnect => {}
            }
            lost = Some(cause_label(&err));
            let delay = delays.next().unwrap_or(MAX_RECONNECT_DELAY);
            if matches!(
                err,
                MercuryError::Closed {
                    code: CLOSE_REPLACED,
                    ..
                }
            ) {
                // Webex keeps one socket per device: another client took this one.
                tracing::error!(channel = CHANNEL, device = %self.device_name, ?delay, "another client connected with this gateway's websocket device (close 4000 replaced): is a second gateway running on this state directory? Run one gateway per state directory");
            }
            tracing::warn!(channel = CHANNEL, error = %chain(&err), ?delay, "websocket lost; reconnecting");
            self.book
                .set(SocketState::Reconnecting, |status| {
                    status.last_error = Some(chain(&err).to_string());
                })
                .await;
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn on_connected(&self, device: &Device, lost: Option<&'static str>, ready: &ReadySignal) {
        self.metrics.set_listener_connected(true);
        match lost {
            Some(cause) => {
                self.metrics.listener_reconnected(cause);
                // Whatever happened in the gap: the socket redelivers what it had not got an
                // ack for, the catch-up pass finds the rest.
                self.catch_up.notify_one();
                tracing::info!(channel = CHANNEL, device = %device.url, "websocket reconnected; catching up");
            }
            None => {
                tracing::info!(channel = CHANNEL, device = %device.url, name = %self.device_name, "websocket connected")
            }
        }
        self.book
            .set(SocketState::Connected, |status| {
                status.device_url = Some(device.url.clone());
                if lost.is_some() {
                    status.reconnects += 1;
                }
            })
            .await;
        let (shared, ready) = (Arc::clone(&self.shared), ready.clone());
        tokio::spawn(async move {
            shared.caught_up.wait().await;
            ready.mark_ready();
        });
    }

    /// After an authentication close: `Err` (the gateway stops) when `GET /people/me` says the
    /// token is bad; otherwise the device is registered afresh on the next connect.
    async fn check_token(
        &self,
        closed: &MercuryError,
        device: Option<Device>,
    ) -> Result<(), ChannelError> {
        match self.shared.client.people_me().await {
            Err(err) if err.status() == Some(401) => {
                tracing::error!(channel = CHANNEL, closed = %closed, "the websocket refused the bot token and GET /people/me answers 401");
                Err(crate::channel::failed_call(
                    err,
                    "websocket authorization (then GET /people/me)",
                ))
            }
            Err(err) => {
                tracing::warn!(channel = CHANNEL, error = %chain(&err), "cannot check the bot token after the websocket refused it; trying again");
                Ok(())
            }
            Ok(_) => {
                tracing::warn!(channel = CHANNEL, closed = %closed, "the device service or the websocket refused the bot token although GET /people/me accepts it; registering the device again");
                if let Some(device) = device {
                    if let Err(err) = self.mercury.delete_device(&device).await {
                        tracing::warn!(channel = CHANNEL, error = %chain(&err), "could not delete the refused device");
                    }
                }
                Ok(())
            }
        }
    }

    /// Reads the socket until it fails or the gateway stops. Activities go, in order, to one
    /// worker that claims them; its acknowledgements come back here to be sent.
    async fn serve(
        self: &Arc<Self>,
        mut conn: webex_api::mercury::MercuryConnection<webex_api::mercury::MercuryStream>,
        shutdown: &CancellationToken,
    ) -> Ended {
        let (events, queued) = mpsc::channel::<Box<Activity>>(EVENT_QUEUE);
        let (acks, mut to_ack) = mpsc::unbounded_channel::<String>();
        let mut worker = tokio::spawn(Arc::clone(self).work(queued, acks));
        let ended = loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break Ended::Shutdown,
                Some(envelope) = to_ack.recv() => {
                    if let Err(err) = conn.ack(&envelope).await {
                        break Ended::Lost(err);
                    }
                    self.metrics.listener_ack();
                }
                event = conn.next_event() => match event {
                    Err(err) => break Ended::Lost(err),
                    Ok(MercuryEvent::Activity(activity)) => {
                        self.book.event().await;
                        if events.send(activity).await.is_err() {
                            break Ended::Shutdown;
                        }
                    }
                    Ok(other) => {
                        self.metrics.listener_event("other");
                        if let Some(envelope) = other.envelope_id() {
                            if let Err(err) = conn.ack(envelope).await {
                                break Ended::Lost(err);
                            }
                            self.metrics.listener_ack();
                        }
                    }
                },
            }
        };
        // The worker finishes what it took (claims are atomic; what it could not ack comes
        // again after the reconnect, as a duplicate), so the next connection's events never
        // overtake this one's within a room.
        drop(events);
        match ended {
            Ended::Shutdown => {
                conn.close().await;
                worker.abort();
            }
            Ended::Lost(_) => {
                tokio::select! {
                    () = shutdown.cancelled() => worker.abort(),
                    _ = &mut worker => {}
                }
            }
        }
        ended
    }

    /// Claims queued activities one after another, sending back the envelope ids to ack.
    async fn work(
        self: Arc<Self>,
        mut queued: mpsc::Receiver<Box<Activity>>,
        acks: mpsc::UnboundedSender<String>,
    ) {
        while let Some(activity) = queued.recv().await {
            if self.take(&activity).await {
                let _ = acks.send(activity.envelope_id.clone());
            }
        }
    }

    /// Takes one activity in; returns whether it may be acknowledged (it is claimed, or needs
    /// nothing).
    async fn take(&self, activity: &Activity) -> bool {
        let Some(bot) = self.shared.bot() else {
            return false;
        };
        let Some(sink) = self.shared.sink.get() else {
            return false;
        };
        if same_entity(&activity.actor.id, &bot.id) {
            self.metrics.listener_event("own");
            sink.ignore_own(&activity.activity_id);
            return true;
        }
        // An edit is posted as a `post` whose parent is of type `edit`: not a new message.
        let edit = activity.parent_type.as_deref() == Some("edit");
        let reference = MessageRef::from_activity(activity).filter(|_| !edit);
        let Some(reference) = reference else {
            self.metrics.listener_event("other");
            tracing::debug!(channel = CHANNEL, verb = %activity.verb, "websocket activity ignored");
            return true;
        };
        let kind = match reference {
            MessageRef::AttachmentAction { .. } => "card_action",
            MessageRef::Message { .. } => "message",
        };
        self.metrics.listener_event(kind);
        let resolved = match self.resolve(&reference).await {
            Ok(resolved) => resolved,
            Err(err) => {
                // Not acked: Mercury sends it again after a reconnect; the catch-up pass asked
                // for here (and the safety poll) find the message meanwhile.
                tracing::info!(channel = CHANNEL, activity = %activity.activity_id, error = %chain(&err), "cannot look up the message of a websocket event yet; catching up instead");
                self.catch_up.notify_one();
                return false;
            }
        };
        let room_id = resolved
            .room_id
            .unwrap_or_else(|| room_of(&resolved.id, &activity.target.id));
        let created_ms = activity
            .published
            .as_deref()
            .and_then(parse_ms)
            .unwrap_or_else(|| sink.store().now_ms());
        // The message's read runs beside the claim's store write (cancelled for a duplicate).
        let early = sink.fetch_early(&resolved.id);
        match sink.claim(&resolved.id, &room_id, created_ms).await {
            Err(err) => {
                tracing::error!(channel = CHANNEL, message_id = %resolved.id, error = %err, "could not record a websocket event; not acknowledged, so Mercury sends it again");
                false
            }
            Ok(Claim::Duplicate) => {
                tracing::debug!(channel = CHANNEL, message_id = %resolved.id, "message already seen; ignored");
                true
            }
            Ok(Claim::New) => {
                crate::inbound::hand_over(&self.shared, sink, &resolved.id, &room_id, early).await;
                true
            }
        }
    }

    /// [`Mercury::resolve`], retrying a 404 briefly.
    async fn resolve(
        &self,
        reference: &MessageRef,
    ) -> Result<webex_api::mercury::Resolved, MercuryError> {
        let mut delays = LOOKUP_RETRIES.iter();
        loop {
            match self.mercury.resolve(reference).await {
                Err(MercuryError::Api(err)) if err.is_not_found() => match delays.next() {
                    Some(delay) => tokio::time::sleep(*delay).await,
                    None => return Err(MercuryError::Api(err)),
                },
                other => return other,
            }
        }
    }
}

/// The room id when the lookup did not name it: the conversation's uuid as a `ROOM` id in the
/// message id's own cluster (Webex ids are base64 of `ciscospark://<cluster>/<KIND>/<uuid>`,
/// and a conversation's uuid is its room's). Used only to order the room's queue and for the
/// ledger row; the room's worker reads the real room from `GET /messages/{id}`.
fn room_of(message_id: &str, conversation_uuid: &str) -> String {
    let cluster = WebexId::decode(message_id)
        .map(|id| id.cluster)
        .unwrap_or_else(|| "us".to_string());
    WebexId::encode(&cluster, "ROOM", conversation_uuid)
}

fn parse_ms(published: &str) -> Option<i64> {
    let at = time::OffsetDateTime::parse(published, &time::format_description::well_known::Rfc3339)
        .ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The `cause` label of `moltbot_listener_reconnects_total`.
fn cause_label(err: &MercuryError) -> &'static str {
    match err {
        MercuryError::PongTimeout(_) | MercuryError::PongMismatch => "pong_timeout",
        MercuryError::Auth { .. } => "auth",
        MercuryError::DeviceGone | MercuryError::DeviceChurn { .. } => "device_gone",
        MercuryError::Closed { .. } => "closed",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_id_is_made_in_the_message_ids_cluster() {
        let message = WebexId::encode("urn:TEAM:eu-central-1_k", "MESSAGE", "m-1");
        let room = WebexId::decode(&room_of(&message, "c-1")).unwrap();
        assert_eq!(
            (
                room.cluster.as_str(),
                room.kind.as_str(),
                room.uuid.as_str()
            ),
            ("urn:TEAM:eu-central-1_k", "ROOM", "c-1")
        );
    }

    #[test]
    fn published_times_parse_to_unix_ms() {
        assert_eq!(parse_ms("1970-01-01T00:00:01.500Z"), Some(1500));
        assert_eq!(parse_ms("yesterday"), None);
    }

    #[test]
    fn reconnect_causes_are_stable_labels() {
        assert_eq!(
            cause_label(&MercuryError::PongTimeout(Duration::from_secs(14))),
            "pong_timeout"
        );
        assert_eq!(cause_label(&MercuryError::from_close(4401, "")), "auth");
        assert_eq!(cause_label(&MercuryError::from_close(4000, "")), "closed");
        assert_eq!(cause_label(&MercuryError::DeviceGone), "device_gone");
    }
}
