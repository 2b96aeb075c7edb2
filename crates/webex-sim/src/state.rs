//! Shared emulator state: the world, the request log, faults, the seed.

use crate::faults::FaultState;
use crate::model::World;
use crate::seed::Seed;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Mutex, MutexGuard};

/// One recorded API call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    /// Arrival order: 0 for the first `/v1` call the server ever received, then 1, 2, ...
    /// (kept across [`SimState::reset`] and clearing the log, so a
    /// [`Marker`](crate::scenario::Marker) stays meaningful).
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Path, e.g. `/v1/messages`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Status answered.
    pub status: u16,
    /// Encoded person id of the caller, when the token was valid.
    pub caller: Option<String>,
    /// When the request arrived, ms since the Unix epoch.
    pub at_ms: u64,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct SimState {
    /// The data.
    pub world: Mutex<World>,
    /// Recorded API calls.
    pub log: Mutex<Vec<RecordedRequest>>,
    /// Fault configuration and state.
    pub faults: Mutex<FaultState>,
    /// `http://HOST:PORT` of this server.
    pub base_url: String,
    /// Client for webhook deliveries.
    pub http: reqwest::Client,
    /// Whether bots may not open a 1:1 with someone who never messaged them.
    pub first_contact_rule: AtomicBool,
    /// Seed re-applied on reset.
    pub seed: Mutex<Option<Seed>>,
    /// Webhook deliveries without an injected delay, posted one after another in event order
    /// (a drainer task runs while this is non-empty).
    pub delivery_queue: Mutex<std::collections::VecDeque<crate::delivery::Job>>,
    /// Whether a drainer task is running for [`Self::delivery_queue`].
    pub delivery_draining: AtomicBool,
    /// Webhook deliveries scheduled and not finished yet (queued, waiting out an injected
    /// delay, or being posted); dropped ones never count.
    pub deliveries_in_flight: AtomicUsize,
    /// Woken whenever [`Self::deliveries_in_flight`] drops to zero.
    pub deliveries_idle: tokio::sync::Notify,
    /// The [`RecordedRequest::seq`] of the next `/v1` call.
    pub next_request_seq: AtomicU64,
    /// Webhook deliveries their target answered with a 2xx, since the server started.
    pub deliveries_answered: AtomicU64,
    /// How long each webhook's target took to answer its deliveries.
    pub answer_times: Mutex<crate::answer_times::AnswerTimes>,
    /// Resets so far ([`SimState::reset`]): message sequence numbers start again at each.
    pub resets: AtomicU64,
    /// Mercury devices, websocket connections and un-acked events.
    pub mercury: crate::mercury::Hub,
}

/// Locks a mutex, recovering from poisoning (a panicked test must not wedge the server).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimState {
    /// New empty state for a server at `base_url`.
    pub fn new(base_url: String) -> Self {
        SimState {
            world: Mutex::new(World::default()),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(FaultState::default()),
            base_url,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(15))
                .build()
                .unwrap_or_default(),
            first_contact_rule: AtomicBool::new(true),
            seed: Mutex::new(None),
            delivery_queue: Mutex::new(std::collections::VecDeque::new()),
            delivery_draining: AtomicBool::new(false),
            deliveries_in_flight: AtomicUsize::new(0),
            deliveries_idle: tokio::sync::Notify::new(),
            next_request_seq: AtomicU64::new(0),
            deliveries_answered: AtomicU64::new(0),
            answer_times: Mutex::default(),
            resets: AtomicU64::new(0),
            mercury: crate::mercury::Hub::default(),
        }
    }

    /// Locks the world.
    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }
}

impl SimState {
    /// Clears everything (people, rooms, messages, webhooks, request log, faults) and
    /// re-applies the seed, if one was loaded.
    pub fn reset(&self) -> Result<(), crate::seed::SeedError> {
        let mut world = World::default();
        if let Some(seed) = lock(&self.seed).as_ref() {
            seed.apply(&mut world)?;
        }
        {
            let mut current = self.world();
            *current = world;
            // Counted under the world's lock, so a reader of both sees them agree.
            self.resets
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.mercury.reset();
        lock(&self.log).clear();
        lock(&self.answer_times).clear();
        *lock(&self.faults) = FaultState::default();
        self.first_contact_rule
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}
