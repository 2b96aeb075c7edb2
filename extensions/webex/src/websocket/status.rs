//! What the websocket listener is doing, kept in the store so `moltbot channels status` (another
//! process) can show it: state, device, last event, reconnects.
//!
//! Written on every change of state and, for the last event's time, at most once per
//! [`EVENT_WRITE_EVERY`], so the message path pays no store write per event.

use std::sync::Mutex;
use std::time::Duration;

use moltbot_core::store::Store;
use serde::{Deserialize, Serialize};

use crate::shared::CHANNEL;

/// Store namespace and key of the record.
const NAMESPACE: &str = "webex";
const KEY: &str = "websocket_status";

/// The shortest time between two writes that only move `lastEventMs`.
const EVENT_WRITE_EVERY: Duration = Duration::from_secs(10);

/// The listener's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SocketState {
    /// Registering the device and opening the socket (first time).
    Connecting,
    /// Authorized; events flow.
    Connected,
    /// The socket was lost; waiting to open it again.
    Reconnecting,
    /// The gateway stopped (or the listener gave up).
    Stopped,
}

impl SocketState {
    /// The lowercase name shown by `channels status`.
    pub fn as_str(self) -> &'static str {
        match self {
            SocketState::Connecting => "connecting",
            SocketState::Connected => "connected",
            SocketState::Reconnecting => "reconnecting",
            SocketState::Stopped => "stopped",
        }
    }
}

/// The record, as stored (JSON, camelCase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SocketStatus {
    /// What the listener is doing.
    pub state: SocketState,
    /// Since when (unix ms).
    pub since_ms: i64,
    /// The device's name (kept across restarts, so the device is reused).
    pub device_name: Option<String>,
    /// The device's URL at the device service, once registered.
    pub device_url: Option<String>,
    /// When the last event arrived (unix ms; up to 10 s stale while events flow).
    pub last_event_ms: Option<i64>,
    /// Reconnects since the gateway started.
    pub reconnects: u64,
    /// Why the socket was last lost, when it was.
    pub last_error: Option<String>,
}

/// Reads the record the running (or last) gateway wrote; `None` when there is none or it
/// cannot be read.
pub async fn read(store: &Store) -> Option<SocketStatus> {
    let text = store.kv().get(NAMESPACE, KEY).await.ok()??;
    serde_json::from_str(&text).ok()
}

/// The listener's handle on its record.
#[derive(Debug)]
pub(crate) struct StatusBook {
    store: Store,
    /// The record, and when an event last caused a write (`None`: not since the last state
    /// change).
    current: Mutex<(SocketStatus, Option<tokio::time::Instant>)>,
}

impl StatusBook {
    pub(crate) fn new(store: Store, device_name: String) -> Self {
        let status = SocketStatus {
            state: SocketState::Connecting,
            since_ms: store.now_ms(),
            device_name: Some(device_name),
            device_url: None,
            last_event_ms: None,
            reconnects: 0,
            last_error: None,
        };
        Self {
            store,
            current: Mutex::new((status, None)),
        }
    }

    fn edit(&self, change: impl FnOnce(&mut SocketStatus)) -> SocketStatus {
        let mut guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut guard.0);
        guard.1 = None;
        guard.0.clone()
    }

    /// Records a new state (and writes it).
    pub(crate) async fn set(&self, state: SocketState, change: impl FnOnce(&mut SocketStatus)) {
        let now = self.store.now_ms();
        let status = self.edit(|status| {
            if status.state != state {
                status.since_ms = now;
            }
            status.state = state;
            change(status);
        });
        self.write(&status).await;
    }

    /// Notes that an event arrived; writes only when the last write is old enough.
    pub(crate) async fn event(&self) {
        let now = self.store.now_ms();
        let due = {
            let mut guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
            guard.0.last_event_ms = Some(now);
            let due = guard
                .1
                .is_none_or(|written| written.elapsed() >= EVENT_WRITE_EVERY);
            if due {
                guard.1 = Some(tokio::time::Instant::now());
            }
            due.then(|| guard.0.clone())
        };
        if let Some(status) = due {
            self.write(&status).await;
        }
    }

    async fn write(&self, status: &SocketStatus) {
        let Ok(text) = serde_json::to_string(status) else {
            return;
        };
        if let Err(err) = self.store.kv().set(NAMESPACE, KEY, &text).await {
            tracing::debug!(channel = CHANNEL, error = %err, "could not record the websocket status");
        }
    }
}
