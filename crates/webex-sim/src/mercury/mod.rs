//! Mercury: the websocket Webex clients listen on instead of webhooks (U2C catalog → WDM device
//! → websocket). Not an official REST API; what follows the SDK sources and what is a guess is
//! listed in the crate README ("Mercury").
//!
//! * [`routes`]: `GET /u2c/api/v1/catalog`, the WDM device routes, the conversation lookups.
//! * [`socket`]: the websocket itself (authorization frame, buffer state, ping/pong, acks).
//! * [`activity`]: the `conversation.activity` envelopes built from webhook [`Event`]s.
//! * [`Hub`] (here): devices, live connections and the un-acked events of each device.

pub mod activity;
pub mod routes;
pub mod scenario;
pub mod socket;

use crate::delivery::Event;
use crate::model::World;
use crate::state::{lock, SimState};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

/// How long an un-acked event is kept for redelivery on reconnect. webex_bot#2 reports events
/// of "the last 15 minutes or so" coming back after a reconnect; the exact figure is a guess.
pub const REDELIVERY_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The close code sent to a connection another one for the same device replaced (JSSDK
/// `mercury.js` treats 4000 as "replaced" and does not reconnect).
pub const CLOSE_REPLACED: u16 = 4000;

/// A device registered with `POST /wdm/api/v1/devices`.
#[derive(Debug, Clone)]
pub struct Device {
    /// Device id (the last segment of its `url` and of its websocket path).
    pub uuid: Uuid,
    /// The person (or bot) whose token registered it.
    pub owner: Uuid,
    /// The fields the client sent (`name`, `deviceName`, `deviceType`, `model`, ...), echoed.
    pub fields: serde_json::Map<String, Value>,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Last create/refresh, ms since the epoch.
    pub modified_ms: i64,
    /// Envelopes sent (or waiting to be sent) and not acknowledged yet, oldest first.
    pub pending: VecDeque<Pending>,
    /// The `sequenceNumber` of the next envelope.
    pub next_seq: u64,
}

/// One un-acked envelope.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The envelope `id` an ack names.
    pub id: String,
    /// The serialized envelope.
    pub frame: String,
    /// When it was queued.
    pub at: Instant,
}

/// What the websocket task of a connection is told to do.
#[derive(Debug, Clone)]
pub enum Out {
    /// Send this JSON frame.
    Frame(String),
    /// Close the TCP connection without a close frame (a dropped socket).
    Drop,
    /// Send a close frame with this code and reason, then stop.
    Close(u16, String),
}

#[derive(Debug)]
struct Conn {
    id: u64,
    tx: mpsc::UnboundedSender<Out>,
}

#[derive(Debug, Default)]
struct HubState {
    devices: Vec<Device>,
    conns: HashMap<Uuid, Conn>,
}

/// Devices, live websocket connections and un-acked events.
#[derive(Debug, Default)]
pub struct Hub {
    inner: Mutex<HubState>,
    next_conn: AtomicU64,
    acks: AtomicU64,
    pings: AtomicU64,
}

/// A device as the control API and [`crate::SimServer::devices_of`] show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Device id.
    pub id: String,
    /// Encoded person id of its owner.
    pub owner: String,
    /// Its `name` field, if the client sent one.
    pub name: Option<String>,
    /// Whether a websocket is authorized on it right now.
    pub connected: bool,
    /// Events not acknowledged yet.
    pub pending: usize,
}

impl Hub {
    /// Registers a device for `owner` with the client's `fields`.
    pub fn create(
        &self,
        owner: Uuid,
        fields: serde_json::Map<String, Value>,
        now_ms: i64,
    ) -> Device {
        let device = Device {
            uuid: Uuid::new_v4(),
            owner,
            fields,
            created_ms: now_ms,
            modified_ms: now_ms,
            pending: VecDeque::new(),
            next_seq: 1,
        };
        lock(&self.inner).devices.push(device.clone());
        device
    }

    /// The devices of `owner`, oldest first.
    pub fn devices_of(&self, owner: &Uuid) -> Vec<Device> {
        lock(&self.inner)
            .devices
            .iter()
            .filter(|d| &d.owner == owner)
            .cloned()
            .collect()
    }

    /// Device `id` of `owner`.
    pub fn device(&self, owner: &Uuid, id: &Uuid) -> Option<Device> {
        lock(&self.inner)
            .devices
            .iter()
            .find(|d| &d.owner == owner && &d.uuid == id)
            .cloned()
    }

    /// The owner of device `id`, whoever it is.
    pub fn owner_of(&self, id: &Uuid) -> Option<Uuid> {
        lock(&self.inner)
            .devices
            .iter()
            .find(|d| &d.uuid == id)
            .map(|d| d.owner)
    }

    /// Refreshes device `id` of `owner` (`PUT`): merges `fields`, bumps `modificationTime`.
    pub fn refresh(
        &self,
        owner: &Uuid,
        id: &Uuid,
        fields: serde_json::Map<String, Value>,
        now_ms: i64,
    ) -> Option<Device> {
        let mut hub = lock(&self.inner);
        let d = hub
            .devices
            .iter_mut()
            .find(|d| &d.owner == owner && &d.uuid == id)?;
        d.fields.extend(fields);
        d.modified_ms = now_ms;
        Some(d.clone())
    }

    /// Deletes the devices of `owner` (all of them, or only `id`), dropping their sockets.
    /// Returns how many were deleted.
    pub fn delete(&self, owner: Option<&Uuid>, id: Option<&Uuid>) -> usize {
        let mut hub = lock(&self.inner);
        let gone: Vec<Uuid> = hub
            .devices
            .iter()
            .filter(|d| owner.is_none_or(|o| &d.owner == o) && id.is_none_or(|i| &d.uuid == i))
            .map(|d| d.uuid)
            .collect();
        hub.devices.retain(|d| !gone.contains(&d.uuid));
        for uuid in &gone {
            if let Some(conn) = hub.conns.remove(uuid) {
                let _ = conn.tx.send(Out::Close(4404, "Device deleted".into()));
            }
        }
        gone.len()
    }

    /// Every device, for the control API.
    pub fn infos(&self, owner: Option<&Uuid>) -> Vec<DeviceInfo> {
        let hub = lock(&self.inner);
        hub.devices
            .iter()
            .filter(|d| owner.is_none_or(|o| &d.owner == o))
            .map(|d| DeviceInfo {
                id: d.uuid.to_string(),
                owner: crate::ids::encode(crate::ids::Kind::People, &d.owner),
                name: d
                    .fields
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                connected: hub.conns.contains_key(&d.uuid),
                pending: d.pending.len(),
            })
            .collect()
    }

    /// Makes `tx` the live connection of `device` (closing the one it replaces with
    /// [`CLOSE_REPLACED`]), then queues `first` and every un-acked envelope younger than
    /// [`REDELIVERY_WINDOW`] on it, in order. `None` when the device is gone.
    pub fn attach(
        &self,
        device: &Uuid,
        tx: mpsc::UnboundedSender<Out>,
        first: String,
    ) -> Option<u64> {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let mut hub = lock(&self.inner);
        let now = Instant::now();
        let d = hub.devices.iter_mut().find(|d| &d.uuid == device)?;
        d.pending
            .retain(|p| now.duration_since(p.at) < REDELIVERY_WINDOW);
        let _ = tx.send(Out::Frame(first));
        for p in &d.pending {
            let _ = tx.send(Out::Frame(p.frame.clone()));
        }
        if let Some(old) = hub.conns.insert(*device, Conn { id, tx }) {
            let _ = old.tx.send(Out::Close(
                CLOSE_REPLACED,
                "Replaced by a new connection".into(),
            ));
        }
        Some(id)
    }

    /// Forgets connection `conn` of `device` (if it is still the live one).
    pub fn detach(&self, device: &Uuid, conn: u64) {
        let mut hub = lock(&self.inner);
        if hub.conns.get(device).is_some_and(|c| c.id == conn) {
            hub.conns.remove(device);
        }
    }

    /// Records an ack of envelope `message_id` on `device`; true when it was pending.
    pub fn ack(&self, device: &Uuid, message_id: &str) -> bool {
        let mut hub = lock(&self.inner);
        let Some(d) = hub.devices.iter_mut().find(|d| &d.uuid == device) else {
            return false;
        };
        let before = d.pending.len();
        d.pending.retain(|p| p.id != message_id);
        let found = d.pending.len() < before;
        if found {
            self.acks.fetch_add(1, Ordering::AcqRel);
        }
        found
    }

    /// Acks received for pending envelopes since the server started.
    pub fn acks(&self) -> u64 {
        self.acks.load(Ordering::Acquire)
    }

    /// Counts a ping frame received (answered or not).
    pub fn count_ping(&self) {
        self.pings.fetch_add(1, Ordering::AcqRel);
    }

    /// Ping frames received since the server started.
    pub fn pings(&self) -> u64 {
        self.pings.load(Ordering::Acquire)
    }

    /// Sends `out` to every live connection; returns how many there were. The connections
    /// are forgotten at once (their tasks end on their own).
    pub fn broadcast(&self, out: Out) -> usize {
        let mut hub = lock(&self.inner);
        let conns: Vec<Conn> = hub.conns.drain().map(|(_, c)| c).collect();
        for c in &conns {
            let _ = c.tx.send(out.clone());
        }
        conns.len()
    }

    /// Live connections.
    pub fn connections(&self) -> usize {
        lock(&self.inner).conns.len()
    }

    /// Drops every connection and device (the server's reset).
    pub fn reset(&self) {
        self.broadcast(Out::Drop);
        lock(&self.inner).devices.clear();
    }

    /// Queues a new envelope built by `build(sequence_number)` on `device` as un-acked and
    /// returns its frame and the live connection to send it on (if any).
    fn enqueue(
        &self,
        device: &Uuid,
        build: impl FnOnce(u64) -> (String, String),
    ) -> Option<(String, Option<mpsc::UnboundedSender<Out>>)> {
        let mut hub = lock(&self.inner);
        let d = hub.devices.iter_mut().find(|d| &d.uuid == device)?;
        let now = Instant::now();
        while d
            .pending
            .front()
            .is_some_and(|p| now.duration_since(p.at) >= REDELIVERY_WINDOW)
        {
            d.pending.pop_front();
        }
        let seq = d.next_seq;
        d.next_seq += 1;
        let (id, frame) = build(seq);
        d.pending.push_back(Pending {
            id,
            frame: frame.clone(),
            at: now,
        });
        let tx = hub.conns.get(device).map(|c| c.tx.clone());
        Some((frame, tx))
    }

    /// The live connection of `device`, if any.
    fn sender(&self, device: &Uuid) -> Option<mpsc::UnboundedSender<Out>> {
        lock(&self.inner).conns.get(device).map(|c| c.tx.clone())
    }
}

/// Fans `ev` out as a `conversation.activity` to every device whose owner may see it, under
/// the webhook visibility rules ([`crate::delivery::owner_sees`]). Events with no Mercury
/// counterpart here (memberships, edits) are skipped. Called with the world locked, from
/// [`crate::delivery::dispatch`].
pub fn publish(state: &Arc<SimState>, world: &World, ev: &Event) {
    let Some(activity) = activity::activity(world, &state.base_url, ev) else {
        return;
    };
    let owners: Vec<(Uuid, Uuid)> = lock(&state.mercury.inner)
        .devices
        .iter()
        .map(|d| (d.uuid, d.owner))
        .collect();
    for (device, owner) in owners {
        if !crate::delivery::owner_sees(world, &owner, ev) {
            continue;
        }
        let Some((frame, tx)) = state.mercury.enqueue(&device, |seq| {
            activity::envelope(
                "conversation.activity",
                json!({ "activity": activity }),
                seq,
            )
        }) else {
            continue;
        };
        let plan = lock(&state.faults).plan_event();
        let times = if plan.duplicate { 2 } else { 1 };
        if plan.delay.is_zero() {
            if let Some(tx) = tx {
                for _ in 0..times {
                    let _ = tx.send(Out::Frame(frame.clone()));
                }
            }
            continue;
        }
        let state = Arc::clone(state);
        tokio::spawn(async move {
            tokio::time::sleep(plan.delay).await;
            // Whatever connection is live by then (a reconnect in between got it from the
            // pending list already, so this may be a duplicate, as on Webex).
            if let Some(tx) = state.mercury.sender(&device) {
                for _ in 0..times {
                    let _ = tx.send(Out::Frame(frame.clone()));
                }
            }
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn frames(rx: &mut mpsc::UnboundedReceiver<Out>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(Out::Frame(f)) = rx.try_recv() {
            out.push(f);
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn unacked_events_older_than_the_window_are_not_redelivered() {
        let hub = Hub::default();
        let device = hub.create(Uuid::new_v4(), serde_json::Map::new(), 0).uuid;
        hub.enqueue(&device, |seq| ("old".into(), format!("old-{seq}")));
        tokio::time::advance(REDELIVERY_WINDOW - Duration::from_secs(60)).await;
        hub.enqueue(&device, |seq| ("young".into(), format!("young-{seq}")));
        tokio::time::advance(Duration::from_secs(61)).await;

        let (tx, mut rx) = mpsc::unbounded_channel();
        hub.attach(&device, tx, "buffer".into()).unwrap();
        assert_eq!(frames(&mut rx), ["buffer", "young-2"]);
        assert!(hub.ack(&device, "young"));
        assert!(!hub.ack(&device, "old"), "expired, nothing to ack");
        assert_eq!(hub.acks(), 1);
    }
}
