//! Gateway metrics on [`prometheus_client`], rendered in the Prometheus text format (0.0.4).
//!
//! [`Metrics`] owns the registry; [`Metrics::channel`] hands out a [`ChannelMetrics`] handle per
//! channel whose hot-path counters (received, duplicate, answered, failed, the closed set of
//! drop reasons) are resolved once, so recording an event is an atomic add: no lock, no label
//! lookup, no allocation. Series a channel reports with open label values (API calls by
//! endpoint, reasons the channel itself gives for skipping) go through their family's
//! read-mostly map, with `&'static str` labels, so they allocate only on a series' first event.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::access::DropReason;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of the reply latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Why a message was not answered on purpose: the `reason` label of
/// `moltbot_messages_dropped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dropped {
    /// The access policy refused it (labelled [`DropReason::metrics_label`]).
    Access(DropReason),
    /// The sender's pairing request is pending and was already answered (`pairing_pending`).
    PairingPending,
    /// The sender was sent a pairing code instead of an answer (`pairing_requested`).
    PairingRequested,
    /// It could not be read before `catchUp.maxAgeMinutes` after its creation (`unreadable`).
    Unreadable,
    /// The channel skipped it with this reason (see
    /// [`InboundSink::skip`](super::InboundSink::skip)), labelled in snake_case: lowercase
    /// ASCII letters and digits, every other character `_`, no leading or trailing `_`
    /// (`"own message"` -> `own_message`).
    Skipped(&'static str),
}

impl Dropped {
    /// The reasons known in advance, in [`Dropped::slot`] order.
    fn closed() -> impl Iterator<Item = Dropped> {
        DropReason::ALL
            .iter()
            .map(|reason| Dropped::Access(*reason))
            .chain([
                Dropped::PairingPending,
                Dropped::PairingRequested,
                Dropped::Unreadable,
            ])
    }

    /// Index of a reason known in advance among [`Dropped::closed`].
    fn slot(self) -> Option<usize> {
        let access = DropReason::ALL.len();
        match self {
            Dropped::Access(reason) => Some(reason as usize),
            Dropped::PairingPending => Some(access),
            Dropped::PairingRequested => Some(access + 1),
            Dropped::Unreadable => Some(access + 2),
            Dropped::Skipped(_) => None,
        }
    }
}

impl EncodeLabelValue for Dropped {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        use std::fmt::Write as _;
        let label = match self {
            Dropped::Access(reason) => reason.metrics_label(),
            Dropped::PairingPending => "pairing_pending",
            Dropped::PairingRequested => "pairing_requested",
            Dropped::Unreadable => "unreadable",
            Dropped::Skipped(reason) => {
                // Lower case; every run of other characters becomes one `_`, none at the ends:
                // `the bot may not read this message (403)` ->
                // `the_bot_may_not_read_this_message_403`.
                let words = reason
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .filter(|word| !word.is_empty());
                for (index, word) in words.enumerate() {
                    if index > 0 {
                        encoder.write_char('_')?;
                    }
                    for c in word.chars() {
                        encoder.write_char(c.to_ascii_lowercase())?;
                    }
                }
                return Ok(());
            }
        };
        encoder.write_str(label)
    }
}

/// The HTTP method of an API call: the `method` label of `moltbot_api_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Other,
}

impl HttpMethod {
    fn parse(method: &str) -> Self {
        match method {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "PATCH" => HttpMethod::Patch,
            "DELETE" => HttpMethod::Delete,
            "HEAD" => HttpMethod::Head,
            _ => HttpMethod::Other,
        }
    }
}

impl EncodeLabelValue for HttpMethod {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        use std::fmt::Write as _;
        encoder.write_str(match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
            HttpMethod::Other => "OTHER",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ChannelLabels {
    channel: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DroppedLabels {
    channel: Arc<str>,
    reason: Dropped,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ApiLabels {
    channel: Arc<str>,
    method: HttpMethod,
    endpoint: &'static str,
    status: u16,
}

/// What a channel did to one of its webhooks found not as registered while running: the
/// labels of `moltbot_webhook_repairs_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RepairLabels {
    channel: Arc<str>,
    /// `reactivated`, `recreated`, `updated` or `deleted` (see
    /// [`ChannelMetrics::webhook_repaired`]).
    action: &'static str,
}

/// One event of a push listener (e.g. a websocket): the labels of
/// `moltbot_listener_events_total` (`kind`) and `moltbot_listener_reconnects_total` (`cause`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ListenerLabels {
    channel: Arc<str>,
    kind: &'static str,
}

/// A push listener's connection: the labels of `moltbot_listener_reconnects_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReconnectLabels {
    channel: Arc<str>,
    cause: &'static str,
}

/// The gateway's metrics: a private registry and the metric families in it.
///
/// | series | type | labels |
/// |---|---|---|
/// | `moltbot_messages_received_total` | counter | `channel` |
/// | `moltbot_messages_duplicate_total` | counter | `channel` |
/// | `moltbot_messages_answered_total` | counter | `channel` |
/// | `moltbot_messages_failed_total` | counter | `channel` |
/// | `moltbot_messages_taken_over_total` | counter | `channel` |
/// | `moltbot_replies_resent_total` | counter | `channel` |
/// | `moltbot_messages_dropped_total` | counter | `channel`, `reason` ([`Dropped`]) |
/// | `moltbot_api_requests_total` | counter | `channel`, `method`, `endpoint`, `status` |
/// | `moltbot_api_rate_limited_total` | counter | |
/// | `moltbot_webhook_repairs_total` | counter | `channel`, `action` |
/// | `moltbot_listener_events_total` | counter | `channel`, `kind` |
/// | `moltbot_listener_acks_total` | counter | `channel` |
/// | `moltbot_stream_edits_total` | counter | `channel` |
/// | `moltbot_listener_reconnects_total` | counter | `channel`, `cause` |
/// | `moltbot_listener_connected` | gauge | `channel` |
/// | `moltbot_queue_depth` | gauge | |
/// | `moltbot_reply_latency_seconds` | histogram | |
/// | `moltbot_store_written_bytes_total` | counter | `file` (`wal`, `db`) |
/// | `moltbot_store_writes_total` | counter | |
/// | `moltbot_store_commits_total` | counter | |
/// | `moltbot_store_backend_info` | gauge (always 1) | `backend` (`sqlite`, `postgres`) |
/// | `moltbot_replica_leader` | gauge | (1: this replica leads or is the only one; 0: follower) |
/// | `moltbot_replicas_live` | gauge | (replicas sharing the request budget, this one included; 1 without an election) |
/// | `moltbot_replicas_config_differs` | gauge | (on the leader: live replicas whose config fingerprint differs from its own; 0 elsewhere) |
pub struct Metrics {
    registry: Registry,
    received: Family<ChannelLabels, Counter>,
    duplicate: Family<ChannelLabels, Counter>,
    answered: Family<ChannelLabels, Counter>,
    failed: Family<ChannelLabels, Counter>,
    taken_over: Family<ChannelLabels, Counter>,
    resent: Family<ChannelLabels, Counter>,
    dropped: Family<DroppedLabels, Counter>,
    api_requests: Family<ApiLabels, Counter>,
    rate_limited: Counter,
    webhook_repairs: Family<RepairLabels, Counter>,
    listener_events: Family<ListenerLabels, Counter>,
    listener_acks: Family<ChannelLabels, Counter>,
    stream_edits: Family<ChannelLabels, Counter>,
    listener_reconnects: Family<ReconnectLabels, Counter>,
    listener_connected: Family<ChannelLabels, Gauge>,
    queue_depth: Gauge,
    latency: Histogram,
    store_wal: Counter,
    store_db: Counter,
    store_writes: Counter,
    store_commits: Counter,
    /// Where the store's totals are read from at each render.
    store_source: std::sync::OnceLock<crate::store::Store>,
    store_backend: Family<BackendLabels, Gauge>,
    replica_leader: Gauge,
    replicas_live: Gauge,
    replicas_config_differs: Gauge,
}

/// The `backend` label of `moltbot_store_backend_info`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BackendLabels {
    backend: &'static str,
}

/// The `file` label of `moltbot_store_written_bytes_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FileLabels {
    file: &'static str,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let received = Family::default();
        let duplicate = Family::default();
        let answered = Family::default();
        let failed = Family::default();
        let taken_over = Family::default();
        let resent = Family::default();
        let dropped = Family::default();
        let api_requests = Family::default();
        let rate_limited = Counter::default();
        let webhook_repairs = Family::default();
        let listener_events = Family::default();
        let listener_acks = Family::default();
        let stream_edits = Family::default();
        let listener_reconnects = Family::default();
        let listener_connected = Family::default();
        let queue_depth = Gauge::default();
        let latency = Histogram::new(LATENCY_BUCKETS);
        let store_written = Family::<FileLabels, Counter>::default();
        let store_wal = store_written.get_or_create_owned(&FileLabels { file: "wal" });
        let store_db = store_written.get_or_create_owned(&FileLabels { file: "db" });
        // Names without `_total` (the encoder adds it to counters) and help without the final
        // full stop (the registry adds it).
        let mut registry = Registry::with_prefix("moltbot");
        registry.register(
            "messages_received",
            "Messages received for processing (first sighting; the bot's own messages are not counted)",
            received.clone(),
        );
        registry.register(
            "messages_duplicate",
            "Message sightings ignored because the id was already recorded",
            duplicate.clone(),
        );
        registry.register("messages_answered", "Messages answered", answered.clone());
        registry.register(
            "messages_failed",
            "Messages whose reply could not be sent",
            failed.clone(),
        );
        registry.register(
            "messages_taken_over",
            "Messages this process took over from another whose lease on them expired (a replica or an earlier run that died)",
            taken_over.clone(),
        );
        registry.register(
            "replies_resent",
            "Reply chunks sent again because an earlier send's outcome was unknown (the documented duplicate window)",
            resent.clone(),
        );
        registry.register(
            "messages_dropped",
            "Messages not answered on purpose, by reason",
            dropped.clone(),
        );
        registry.register(
            "api_requests",
            "Chat network API calls by method, endpoint template and HTTP status (0: no response)",
            api_requests.clone(),
        );
        registry.register(
            "api_rate_limited",
            "API responses with status 429",
            rate_limited.clone(),
        );
        registry.register(
            "webhook_repairs",
            "Webhooks the running gateway found inactive, missing or changed at the chat network and put back, by action",
            webhook_repairs.clone(),
        );
        registry.register(
            "listener_events",
            "Events a push listener (a websocket) received, by kind (message, card_action, own, other)",
            listener_events.clone(),
        );
        registry.register(
            "listener_acks",
            "Events a push listener acknowledged (each only after its message was durably claimed)",
            listener_acks.clone(),
        );
        registry.register(
            "stream_edits",
            "Placeholder edits showing a streamed answer as it arrives (agents.defaults.streaming)",
            stream_edits.clone(),
        );
        registry.register(
            "listener_reconnects",
            "Times a push listener connected again after losing its connection, by cause",
            listener_reconnects.clone(),
        );
        registry.register(
            "listener_connected",
            "Whether a push listener is connected and authorized (1) or not (0)",
            listener_connected.clone(),
        );
        registry.register(
            "queue_depth",
            "Messages queued or in progress",
            queue_depth.clone(),
        );
        registry.register(
            "reply_latency_seconds",
            "Time from receiving a message to its reply being sent",
            latency.clone(),
        );
        registry.register(
            "store_written_bytes",
            "Bytes the state store wrote to its write-ahead log (wal) and, by checkpoints, to its database file (db)",
            store_written,
        );
        let store_writes = Counter::default();
        let store_commits = Counter::default();
        registry.register(
            "store_writes",
            "Units of work the state store wrote (a claim, an answer with its reply, a send)",
            store_writes.clone(),
        );
        registry.register(
            "store_commits",
            "State store commits (units of work arriving together share one)",
            store_commits.clone(),
        );
        let store_backend = Family::<BackendLabels, Gauge>::default();
        registry.register(
            "store_backend_info",
            "The state store backend this gateway uses (the label; the value is always 1)",
            store_backend.clone(),
        );
        let replica_leader = Gauge::default();
        registry.register(
            "replica_leader",
            "Whether this replica runs the singletons (1: leader, or the only gateway of its store; 0: follower)",
            replica_leader.clone(),
        );
        let replicas_live = Gauge::default();
        replicas_live.set(1);
        registry.register(
            "replicas_live",
            "Replicas sharing the bot's request budget, this one included (1 without an election)",
            replicas_live.clone(),
        );
        let replicas_config_differs = Gauge::default();
        registry.register(
            "replicas_config_differs",
            "On the leader: live replicas whose channel config fingerprint differs from its own (0 elsewhere)",
            replicas_config_differs.clone(),
        );
        Self {
            registry,
            received,
            duplicate,
            answered,
            failed,
            taken_over,
            resent,
            dropped,
            api_requests,
            rate_limited,
            webhook_repairs,
            listener_events,
            listener_acks,
            stream_edits,
            listener_reconnects,
            listener_connected,
            queue_depth,
            latency,
            store_wal,
            store_db,
            store_writes,
            store_commits,
            store_source: std::sync::OnceLock::new(),
            store_backend,
            replica_leader,
            replicas_live,
            replicas_config_differs,
        }
    }
}

impl Metrics {
    /// The handle channel `id` records its events through. Creates the channel's series (at 0,
    /// so rates work from the first event); calling it again for the same id returns a handle
    /// on the same series.
    pub fn channel(&self, id: &str) -> ChannelMetrics {
        let channel: Arc<str> = Arc::from(id);
        let by_channel = |family: &Family<ChannelLabels, Counter>| {
            family.get_or_create_owned(&ChannelLabels {
                channel: Arc::clone(&channel),
            })
        };
        let dropped = Dropped::closed()
            .map(|reason| {
                self.dropped.get_or_create_owned(&DroppedLabels {
                    channel: Arc::clone(&channel),
                    reason,
                })
            })
            .collect();
        ChannelMetrics(Arc::new(ChannelHandles {
            received: by_channel(&self.received),
            duplicate: by_channel(&self.duplicate),
            answered: by_channel(&self.answered),
            failed: by_channel(&self.failed),
            taken_over: by_channel(&self.taken_over),
            resent: by_channel(&self.resent),
            dropped,
            dropped_family: self.dropped.clone(),
            api_requests: self.api_requests.clone(),
            rate_limited: self.rate_limited.clone(),
            webhook_repairs: self.webhook_repairs.clone(),
            listener_events: self.listener_events.clone(),
            listener_acks: self.listener_acks.clone(),
            stream_edits: self.stream_edits.clone(),
            listener_reconnects: self.listener_reconnects.clone(),
            listener_connected: self.listener_connected.clone(),
            latency: self.latency.clone(),
            channel,
        }))
    }

    /// Sets `moltbot_replica_leader`: whether this replica runs the singletons now.
    pub fn set_replica_leader(&self, leader: bool) {
        self.replica_leader.set(i64::from(leader));
    }

    /// Sets `moltbot_replicas_live` (this one included) and `moltbot_replicas_config_differs`.
    pub fn set_replicas(&self, live: u32, config_differs: u32) {
        self.replicas_live.set(i64::from(live));
        self.replicas_config_differs.set(i64::from(config_differs));
    }

    /// Sets the number of messages queued or in progress.
    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// Reads the store's write totals (`moltbot_store_*`) from `store` at every render (once
    /// set, later calls are ignored).
    /// Also sets `moltbot_store_backend_info{backend}` to 1 for its backend.
    pub fn observe_store(&self, store: crate::store::Store) {
        self.store_backend
            .get_or_create(&BackendLabels {
                backend: store.backend_info().name,
            })
            .set(1);
        let _ = self.store_source.set(store);
    }

    /// Brings `moltbot_store_written_bytes_total` up to the store's own totals.
    pub fn set_store_written(&self, written: crate::store::WrittenBytes) {
        for (counter, total) in [
            (&self.store_wal, written.wal),
            (&self.store_db, written.db),
            (&self.store_writes, written.writes),
            (&self.store_commits, written.commits),
        ] {
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }

    /// Renders every metric in the Prometheus text format, version 0.0.4
    /// (`text/plain; version=0.0.4; charset=utf-8`).
    /// Series of one metric come in no particular order.
    ///
    /// # Errors
    /// Only if a label value fails to encode, which none of the gateway's do.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        if let Some(written) = self.store_source.get().and_then(|s| s.written_bytes()) {
            self.set_store_written(written);
        }
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// One channel's view of the [`Metrics`], from [`Metrics::channel`]. Cheap to clone.
#[derive(Clone)]
pub struct ChannelMetrics(Arc<ChannelHandles>);

struct ChannelHandles {
    channel: Arc<str>,
    received: Counter,
    duplicate: Counter,
    answered: Counter,
    failed: Counter,
    taken_over: Counter,
    resent: Counter,
    /// Indexed by [`Dropped::slot`].
    dropped: Vec<Counter>,
    dropped_family: Family<DroppedLabels, Counter>,
    api_requests: Family<ApiLabels, Counter>,
    rate_limited: Counter,
    webhook_repairs: Family<RepairLabels, Counter>,
    listener_events: Family<ListenerLabels, Counter>,
    // Created on a channel's first listener event: a channel without a push listener shows
    // no `listener` series at all (not a misleading "disconnected").
    listener_acks: Family<ChannelLabels, Counter>,
    stream_edits: Family<ChannelLabels, Counter>,
    listener_reconnects: Family<ReconnectLabels, Counter>,
    listener_connected: Family<ChannelLabels, Gauge>,
    latency: Histogram,
}

impl std::fmt::Debug for ChannelMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelMetrics")
            .field("channel", &self.0.channel)
            .finish_non_exhaustive()
    }
}

impl ChannelMetrics {
    /// A new message was handed over for processing (first sighting, not the bot's own).
    pub fn received(&self) {
        self.0.received.inc();
    }

    /// A message was seen again and ignored.
    pub fn duplicate(&self) {
        self.0.duplicate.inc();
    }

    /// A message was answered, `latency` after it was received.
    pub fn answered(&self, latency: Duration) {
        self.0.answered.inc();
        self.0.latency.observe(latency.as_secs_f64());
    }

    /// A message was not answered on purpose.
    pub fn dropped(&self, reason: Dropped) {
        match reason.slot().and_then(|slot| self.0.dropped.get(slot)) {
            Some(counter) => {
                counter.inc();
            }
            None => {
                self.0
                    .dropped_family
                    .get_or_create(&DroppedLabels {
                        channel: Arc::clone(&self.0.channel),
                        reason,
                    })
                    .inc();
            }
        }
    }

    /// A message could not be answered.
    pub fn failed(&self) {
        self.0.failed.inc();
    }

    /// A message whose lease had expired (its process died) was taken over by this process.
    pub fn taken_over(&self) {
        self.0.taken_over.inc();
    }

    /// A reply chunk is sent again because its earlier send's outcome is unknown (the process
    /// that sent it died before recording it): the reply may appear twice.
    pub fn resent(&self) {
        self.0.resent.inc();
    }

    /// A chat network API call finished: `method` (e.g. `GET`), `endpoint` the path template
    /// (e.g. `/messages/{id}`, never an id), `status` the HTTP status (0 for no response).
    pub fn api_call(&self, method: &str, endpoint: &'static str, status: u16) {
        self.0
            .api_requests
            .get_or_create(&ApiLabels {
                channel: Arc::clone(&self.0.channel),
                method: HttpMethod::parse(method),
                endpoint,
                status,
            })
            .inc();
        if status == 429 {
            self.0.rate_limited.inc();
        }
    }

    /// The channel found one of its webhooks not as it registered it and put it back:
    /// `action` is `reactivated` (it was inactive), `recreated` (it was gone), `updated` (its
    /// target or secret had been changed) or `deleted` (a duplicate was removed).
    pub fn webhook_repaired(&self, action: &'static str) {
        self.0
            .webhook_repairs
            .get_or_create(&RepairLabels {
                channel: Arc::clone(&self.0.channel),
                action,
            })
            .inc();
    }

    /// A push listener received an event of `kind` (`message`, `card_action`, `own`, `other`).
    pub fn listener_event(&self, kind: &'static str) {
        self.0
            .listener_events
            .get_or_create(&ListenerLabels {
                channel: Arc::clone(&self.0.channel),
                kind,
            })
            .inc();
    }

    /// A push listener acknowledged an event.
    pub fn listener_ack(&self) {
        self.0
            .listener_acks
            .get_or_create(&self.channel_labels())
            .inc();
    }

    /// The placeholder was edited with the streamed answer so far.
    pub fn stream_edit(&self) {
        self.0
            .stream_edits
            .get_or_create(&self.channel_labels())
            .inc();
    }

    fn channel_labels(&self) -> ChannelLabels {
        ChannelLabels {
            channel: Arc::clone(&self.0.channel),
        }
    }

    /// A push listener lost its connection for `cause` (e.g. `closed`, `pong_timeout`,
    /// `auth`, `device_gone`, `error`) and connected again.
    pub fn listener_reconnected(&self, cause: &'static str) {
        self.0
            .listener_reconnects
            .get_or_create(&ReconnectLabels {
                channel: Arc::clone(&self.0.channel),
                cause,
            })
            .inc();
    }

    /// Whether a push listener is connected and authorized now.
    pub fn set_listener_connected(&self, connected: bool) {
        self.0
            .listener_connected
            .get_or_create(&self.channel_labels())
            .set(i64::from(connected));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_closed_reason_has_its_own_slot() {
        let slots: Vec<_> = Dropped::closed().map(Dropped::slot).collect();
        let expected: Vec<_> = (0..Dropped::closed().count()).map(Some).collect();
        assert_eq!(slots, expected);
        assert_eq!(Dropped::Skipped("own message").slot(), None);
    }

    #[test]
    fn a_channel_skip_reason_becomes_a_label_with_single_underscores() {
        let metrics = Metrics::default();
        let webex = metrics.channel("webex");
        webex.dropped(Dropped::Skipped("the bot may not read this message (403)"));
        webex.dropped(Dropped::Skipped(
            "  Webex refused -- to return: this message!  ",
        ));
        let text = metrics.render().unwrap();
        for label in [
            "the_bot_may_not_read_this_message_403",
            "webex_refused_to_return_this_message",
        ] {
            assert!(
                text.contains(&format!("reason=\"{label}\"")),
                "{label} in:\n{text}"
            );
        }
        assert!(!text.contains("__"), "{text}");
    }

    #[test]
    fn webhook_repairs_are_counted_by_channel_and_action() {
        let metrics = Metrics::default();
        let webex = metrics.channel("webex");
        webex.webhook_repaired("reactivated");
        webex.webhook_repaired("reactivated");
        webex.webhook_repaired("recreated");
        let text = metrics.render().unwrap();
        assert!(text
            .contains("moltbot_webhook_repairs_total{channel=\"webex\",action=\"reactivated\"} 2"));
        assert!(text
            .contains("moltbot_webhook_repairs_total{channel=\"webex\",action=\"recreated\"} 1"));
    }

    #[test]
    fn listener_series_are_counted_by_channel() {
        let metrics = Metrics::default();
        let webex = metrics.channel("webex");
        webex.listener_event("message");
        webex.listener_event("message");
        webex.listener_event("own");
        webex.listener_ack();
        webex.listener_reconnected("pong_timeout");
        webex.set_listener_connected(true);
        let text = metrics.render().unwrap();
        for line in [
            "moltbot_listener_events_total{channel=\"webex\",kind=\"message\"} 2",
            "moltbot_listener_events_total{channel=\"webex\",kind=\"own\"} 1",
            "moltbot_listener_acks_total{channel=\"webex\"} 1",
            "moltbot_listener_reconnects_total{channel=\"webex\",cause=\"pong_timeout\"} 1",
            "moltbot_listener_connected{channel=\"webex\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
