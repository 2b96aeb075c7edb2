//! The polling receiver, also used once on start in webhook mode to catch up on downtime
//! (spec `webex-channel.md` §3).
//!
//! One pass ([`Poller::poll_once`]):
//! 1. `GET /rooms?sortBy=lastactivity&max=50`, walking rooms newest first while their
//!    `lastActivity` is past the global cursor (and recent enough to hold anything answerable);
//!    the next `Link` page is followed only when every room of a page moved. An idle pass is
//!    therefore exactly one request, however many rooms the bot is in.
//! 2. Each moved room: `GET /messages?roomId=..` (plus `mentionedPeople=me` in spaces), newest
//!    first, following pages back to the room's cursor (or the global cursor for a room never
//!    read). The new messages are claimed OLDEST FIRST through
//!    [`crate::inbound::ingest_listed`] (which dedupes against the webhook path and skips the
//!    bot's own); those older than `catchUp.maxAgeMinutes` are claimed and skipped.
//! 3. The room cursor moves to the newest claimed message, and after all rooms the global cursor
//!    to the newest `lastActivity` listed. A failure leaves the cursors where they were (claims
//!    dedupe the retry).
//!
//! The very first start (no global cursor) records the current newest `lastActivity`, or the
//! moment `connect` verified the token when a room moved since (a message that came while the
//! receivers started): history is never answered, what came after `connect` is. Later starts resume from the persisted cursor, so messages sent
//! while the gateway was down are picked up.
//!
//! Known limitation (Webex, OpenAPI `GET /rooms`): `sortBy=lastactivity` is only reliable for
//! accounts in fewer than about 3000 spaces.

pub mod cursor;
pub mod room;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use moltbot_core::error::chain;
use moltbot_core::gateway::{ChannelError, Claim, InboundSink};
use moltbot_core::store::StoreError;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use webex_api::ListRooms;

use crate::inbound::{created_ms, ingest_listed, IngestError};
use crate::shared::{WebexShared, CHANNEL};
use cursor::RoomCursor;
use room::{Bounds, Target};

/// Page size of `GET /rooms`.
pub const ROOM_PAGE: u32 = 50;

/// Longest pause after the first failure; doubled after each further one.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);

/// Longest pause after repeated failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Skip reason of messages found on catch-up that are older than `catchUp.maxAgeMinutes`.
pub const TOO_OLD_REASON: &str = "older than catchUp.maxAgeMinutes";

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Webex API requests made (`GET /rooms` pages and `GET /messages` pages).
    pub requests: u32,
    /// Rooms whose messages were listed.
    pub rooms_read: u32,
    /// Messages claimed for the first time (delivered, or skipped: own, too old).
    pub new_messages: u32,
}

/// Why a pass failed. Cursors stay where they were; the next pass retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PollError {
    /// Webex failed (after the client's own retries).
    #[error(transparent)]
    Api(#[from] webex_api::Error),
    /// The state store failed.
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    /// The gateway stopped taking messages (shutting down); claimed ones are recovered on start.
    #[error("gateway is shutting down")]
    Closed,
    /// The channel has not learned the bot's identity (`GET /people/me`) yet.
    #[error("not connected: the bot's identity (GET /people/me) is not known yet")]
    NotConnected,
}

impl PollError {
    /// Webex's tracking id, when Webex answered.
    pub fn tracking_id(&self) -> Option<&str> {
        match self {
            PollError::Api(err) => err.tracking_id(),
            _ => None,
        }
    }
}

impl From<IngestError> for PollError {
    fn from(err: IngestError) -> Self {
        match err {
            IngestError::Store(err) => PollError::Store(err),
            IngestError::Api(err) => PollError::Api(err),
            IngestError::Closed => PollError::Closed,
            IngestError::NotConnected => PollError::NotConnected,
        }
    }
}

/// The polling receiver of one gateway run.
pub struct Poller {
    shared: Arc<WebexShared>,
    sink: InboundSink,
    /// 1:1 rooms whose newest readable message was older than their `lastActivity`: read once
    /// more on the next pass, in case Webex listed the activity before the message was readable.
    recheck: HashMap<String, Target>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("recheck", &self.recheck.len())
            .finish_non_exhaustive()
    }
}

impl Poller {
    /// A poller taking its cursors from `sink.store()`.
    pub fn new(shared: Arc<WebexShared>, sink: InboundSink) -> Self {
        Self {
            shared,
            sink,
            recheck: HashMap::new(),
        }
    }

    /// One pass: returns what it did (requests made, rooms read, messages new).
    pub async fn poll_once(&mut self) -> Result<PollReport, PollError> {
        if self.shared.bot().is_none() {
            return Err(PollError::NotConnected);
        }
        let store = self.sink.store().clone();
        let now = store.now_ms();
        let max_age =
            i64::try_from(self.shared.config.catch_up.max_age.as_millis()).unwrap_or(i64::MAX);
        let age_cutoff = now.saturating_sub(max_age);
        let mut report = PollReport::default();

        let global = match cursor::load_global(&store).await? {
            Some(global) => global,
            None => match self.first_start(now, &mut report).await? {
                Some(since) => since,
                None => return Ok(report),
            },
        };

        let (mut targets, high) = self.walk_rooms(global, age_cutoff, &mut report).await?;
        // Rooms queued for a second look are read once more, never queued again (the queue is
        // replaced only when the pass succeeds).
        let rechecked: HashSet<String> = self.recheck.keys().cloned().collect();
        for target in self.recheck.values() {
            if !targets.iter().any(|t| t.id == target.id) {
                targets.push(target.clone());
            }
        }
        let mut recheck = HashMap::new();
        // Oldest activity first, so a catch-up replays in about the order things happened.
        for target in targets.iter().rev() {
            let room_cursor = cursor::load_room(&store, &target.id).await?;
            // Nothing new: the room's last activity is the newest message already claimed
            // (e.g. it arrived while the room was being read in the previous pass).
            if let (Some(la), Some(c)) = (target.last_activity_ms, &room_cursor) {
                if la == c.created_ms {
                    continue;
                }
            }
            let bounds = Bounds {
                global_ms: global,
                room: room_cursor.as_ref(),
                age_cutoff_ms: age_cutoff,
            };
            let listing = match room::list_new(&self.shared, target, bounds).await {
                Ok(listing) => listing,
                Err(err) if matches!(err.status(), Some(403 | 404)) => {
                    // Left the room or it was deleted between the two calls: nothing to read.
                    tracing::info!(channel = CHANNEL, room = %target.id, error = %err, "room not readable; skipping it");
                    report.requests += 1;
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            report.requests += listing.requests;
            report.rooms_read += 1;
            let lagging = target.direct
                && !rechecked.contains(&target.id)
                && match (target.last_activity_ms, listing.newest_listed_ms) {
                    (Some(la), Some(newest)) => newest < la,
                    (Some(_), None) => true,
                    _ => false,
                };
            if lagging {
                recheck.insert(target.id.clone(), target.clone());
            }
            self.claim_all(&target.id, &listing.fresh, age_cutoff, &mut report)
                .await?;
        }
        self.recheck = recheck;
        if high > global {
            cursor::save_global(&store, high).await?;
        }
        Ok(report)
    }

    /// Polls every `interval` until `shutdown` is cancelled, the first pass one `interval` from
    /// now: the caller has just made a pass (the start-up catch-up), and repeating its
    /// `GET /rooms` at once would only spend budget. Errors are logged (with Webex's trackingId)
    /// and the loop backs off (about 1 s doubling to [`MAX_BACKOFF`], jittered) and goes on; it
    /// never exits on an API error. Returns `Ok(())` on shutdown. A 429 is handled by the client,
    /// which pauses every caller for `Retry-After`.
    pub async fn run(
        self,
        interval: Duration,
        shutdown: CancellationToken,
    ) -> Result<(), ChannelError> {
        self.run_with(Some(interval), None, shutdown).await
    }

    /// Like [`run`](Self::run), with the periodic pass optional (`None`: no timer) and a
    /// `nudge` that asks for a pass now (a push listener that reconnected wants a catch-up).
    /// A nudge given while a pass runs is kept and starts one more pass after it.
    pub async fn run_with(
        mut self,
        interval: Option<Duration>,
        nudge: Option<Arc<tokio::sync::Notify>>,
        shutdown: CancellationToken,
    ) -> Result<(), ChannelError> {
        let mut ticker = interval.map(|interval| {
            let interval = interval.max(Duration::from_millis(1));
            let mut ticker =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticker
        });
        let mut delays = failure_delays();
        let mut failures: u32 = 0;
        loop {
            let tick = async {
                match ticker.as_mut() {
                    Some(ticker) => {
                        ticker.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            let nudged = async {
                match &nudge {
                    Some(nudge) => nudge.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                () = tick => {}
                () = nudged => {}
            }
            let outcome = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                outcome = self.poll_once() => outcome,
            };
            match outcome {
                Ok(report) => {
                    failures = 0;
                    delays = failure_delays();
                    if report.new_messages > 0 {
                        tracing::debug!(
                            channel = CHANNEL,
                            new = report.new_messages,
                            rooms = report.rooms_read,
                            requests = report.requests,
                            "poll pass"
                        );
                    }
                }
                Err(PollError::Closed) if shutdown.is_cancelled() => return Ok(()),
                Err(PollError::Closed) => {
                    return Err(ChannelError::transient("gateway is not taking messages"))
                }
                // The token was refused: retrying cannot help; the gateway stops with it.
                Err(PollError::Api(err)) if err.status() == Some(401) => {
                    return Err(crate::channel::failed_call(err, "polling"));
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    let delay = delays.next().unwrap_or(MAX_BACKOFF);
                    tracing::warn!(
                        channel = CHANNEL,
                        error = %chain(&err),
                        tracking_id = err.tracking_id().unwrap_or("-"),
                        failures,
                        ?delay,
                        "poll failed; retrying"
                    );
                    tokio::select! {
                        biased;
                        () = shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// First start ever: record where history ends, so it is never answered: the newest
    /// `lastActivity` (server time), or, when a room moved after `connect` verified the token
    /// (a message that came while the receivers were starting, whose webhook delivery was
    /// answered 503), the moment of `connect`. Returns that moment when rooms moved after it
    /// (the pass then reads them from there), `None` when there is nothing to read. Without
    /// any room, the local clock stands in.
    async fn first_start(
        &mut self,
        now: i64,
        report: &mut PollReport,
    ) -> Result<Option<i64>, PollError> {
        let filter = ListRooms {
            max: Some(ROOM_PAGE),
            ..ListRooms::by_last_activity()
        };
        let mut pages = self.shared.client.list_rooms(&filter);
        let first = pages.try_next().await?;
        report.requests += 1;
        let high = first
            .iter()
            .flat_map(|page| page.items.iter())
            .filter_map(|room| room.last_activity.map(cursor::to_ms))
            .max()
            .unwrap_or(now);
        // Without a `connect` (a poller driven by hand), the newest activity is the start.
        let connected = self.shared.connected_at_ms.get().copied().unwrap_or(high);
        let since = high.min(connected);
        cursor::save_global(self.sink.store(), since).await?;
        tracing::info!(channel = CHANNEL, since = %cursor::format_ms(since), "polling starts from now; earlier messages are not answered");
        Ok((high > since).then_some(since))
    }

    /// Lists rooms newest first; returns those that moved past `global` (newest first) and the
    /// newest `lastActivity` seen. Further pages come from the `Link: <..>; rel="next"` header
    /// (developer.webex.com/docs/basics#pagination); they are fetched only while every room
    /// moved, since the list is sorted by `lastActivity`, newest first.
    async fn walk_rooms(
        &self,
        global: i64,
        age_cutoff: i64,
        report: &mut PollReport,
    ) -> Result<(Vec<Target>, i64), PollError> {
        let filter = ListRooms {
            max: Some(ROOM_PAGE),
            ..ListRooms::by_last_activity()
        };
        let mut pages = self.shared.client.list_rooms(&filter);
        let mut moved = Vec::new();
        let mut high = global;
        while let Some(page) = pages.try_next().await? {
            report.requests += 1;
            let has_next = page.next.is_some();
            let mut all_moved = true;
            for room in &page.items {
                let target = Target::from_room(room);
                let Some(la) = target.last_activity_ms else {
                    continue;
                };
                high = high.max(la);
                // A room whose last activity is older than the catch-up age holds nothing
                // that would be answered: not worth a request.
                if la > global && la >= age_cutoff {
                    moved.push(target);
                } else {
                    all_moved = false;
                    break;
                }
            }
            if !all_moved || !has_next {
                break;
            }
        }
        Ok((moved, high))
    }

    /// Claims `fresh` (oldest first) and moves the room cursor to the last one claimed, also
    /// when a later one fails.
    async fn claim_all(
        &self,
        room_id: &str,
        fresh: &[webex_api::Message],
        age_cutoff: i64,
        report: &mut PollReport,
    ) -> Result<(), PollError> {
        let mut newest: Option<RoomCursor> = None;
        let mut failure = None;
        for message in fresh {
            let created = created_ms(message);
            let outcome = if created < age_cutoff {
                self.claim_too_old(message).await
            } else {
                ingest_listed(&self.shared, &self.sink, message)
                    .await
                    .map_err(PollError::from)
            };
            match outcome {
                Ok(new) => {
                    report.new_messages += u32::from(new);
                    newest = Some(RoomCursor {
                        created_ms: created,
                        id: message.id.clone(),
                    });
                }
                // Claimed, but the gateway is closing: recovered on start, so the cursor may
                // pass it; stop here anyway.
                Err(PollError::Closed) => {
                    newest = Some(RoomCursor {
                        created_ms: created,
                        id: message.id.clone(),
                    });
                    failure = Some(PollError::Closed);
                    break;
                }
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        if let Some(newest) = newest {
            cursor::save_room(self.sink.store(), room_id, &newest).await?;
        }
        match failure {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Found on catch-up but older than `catchUp.maxAgeMinutes`: marked seen, not answered.
    async fn claim_too_old(&self, message: &webex_api::Message) -> Result<bool, PollError> {
        let claim = self
            .sink
            .claim_listed(&message.id, &message.room_id, created_ms(message))
            .await?;
        if claim == Claim::Duplicate {
            return Ok(false);
        }
        self.sink
            .skip(&message.id, &message.room_id, TOO_OLD_REASON)
            .await?;
        Ok(true)
    }
}

/// Pauses after 1, 2, 3, ... consecutive failed passes: about 1 s, 2 s, 4 s, ... at most
/// [`MAX_BACKOFF`], jittered ([`moltbot_core::backoff::exponential`]).
fn failure_delays() -> impl Iterator<Item = Duration> + Send {
    moltbot_core::backoff::exponential(BACKOFF_BASE, MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        // Equal jitter: pause n is in [d/2, d] for d = min(2^(n-1) s, 60 s); backon computes
        // in f32, so allow a microsecond of rounding.
        let slack = Duration::from_micros(1);
        let within =
            |delay: Duration, full: Duration| delay + slack >= full / 2 && delay <= full + slack;
        for _ in 0..50 {
            let delays: Vec<Duration> = failure_delays().take(8).collect();
            let fulls = [1, 2, 4, 8, 16, 32, 60, 60].map(Duration::from_secs);
            for (delay, full) in delays.iter().zip(fulls) {
                assert!(within(*delay, full), "{delays:?}");
            }
        }
        let late = failure_delays().nth(1_000);
        assert!(late.is_some_and(|d| within(d, MAX_BACKOFF)));
    }

    #[test]
    fn poll_errors_keep_the_tracking_id() {
        let err = PollError::from(webex_api::Error::Api {
            status: 502,
            message: "Bad gateway".into(),
            tracking_id: Some("ROUTER_1".into()),
            body: String::new(),
        });
        assert_eq!(err.tracking_id(), Some("ROUTER_1"));
        assert!(err.to_string().contains("502"));
        assert_eq!(PollError::Closed.tracking_id(), None);
    }
}
