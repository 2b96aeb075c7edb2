//! Display names of the people who write to the bot: `GET /people/{id}` once per person,
//! remembered for a day.
//!
//! Webex messages carry the sender's id and email but not their name
//! (<https://developer.webex.com/docs/api/v1/messages/get-message-details>), so the channel looks
//! the person up (<https://developer.webex.com/docs/api/v1/people/get-person-details>) the first
//! time it answers them or records their pairing request, and keeps the name in memory for
//! [`NAME_TTL`]. Concurrent messages of one person share one lookup.
//!
//! A lookup never holds up or fails a message: it waits at most [`LOOKUP_TIMEOUT`] (the
//! client's retries and the shared rate budget included; lookups are reads, so queued replies
//! go first), and on any failure the message goes on with the email and id alone; the failure
//! is remembered for [`FAILED_LOOKUP_TTL`] so a broken lookup is not retried on every message.
//! The cache is not persisted: after a restart each person costs one lookup again (the names
//! already stored with session turns and pairing requests stay).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moltbot_core::gateway::SenderInfo;
use tokio::sync::OnceCell;
use tokio::time::Instant;
use webex_api::WebexClient;

/// How long a looked-up name is used before it is looked up again.
pub const NAME_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a failed lookup is remembered (the person's messages go on without a name).
pub const FAILED_LOOKUP_TTL: Duration = Duration::from_secs(10 * 60);
/// The longest a message waits for its sender's lookup.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// The most people remembered; past it, expired entries go first, then arbitrary ones.
pub const MAX_PEOPLE: usize = 10_000;

/// What one lookup found.
#[derive(Debug, Clone)]
struct Looked {
    /// The display name, when the lookup succeeded and Webex has one.
    name: Option<String>,
    /// When to look again.
    until: Instant,
}

/// One person's lookup: done once, shared by whoever asks meanwhile.
type Slot = Arc<OnceCell<Looked>>;

/// The display names of people, by person id (see the module docs).
#[derive(Debug)]
pub struct PeopleCache {
    slots: Mutex<HashMap<String, Slot>>,
    name_ttl: Duration,
    failed_ttl: Duration,
}

impl Default for PeopleCache {
    /// An empty cache keeping names for [`NAME_TTL`] and failures for [`FAILED_LOOKUP_TTL`].
    fn default() -> Self {
        Self::with_ttls(NAME_TTL, FAILED_LOOKUP_TTL)
    }
}

impl PeopleCache {
    /// An empty cache keeping names for [`NAME_TTL`] and failures for [`FAILED_LOOKUP_TTL`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache keeping names for `name_ttl` and failed lookups for `failed_ttl` (tests).
    pub fn with_ttls(name_ttl: Duration, failed_ttl: Duration) -> Self {
        Self {
            slots: Mutex::default(),
            name_ttl,
            failed_ttl,
        }
    }

    /// `sender` with its display name filled in from the cache or one lookup through `client`;
    /// unchanged when it already has a name, when its id is empty or when the lookup fails.
    pub async fn resolve(&self, client: &WebexClient, sender: &SenderInfo) -> SenderInfo {
        let mut resolved = sender.clone();
        if sender.display_name.is_some() || sender.id.trim().is_empty() {
            return resolved;
        }
        let slot = self.slot(&sender.id);
        let looked = slot
            .get_or_init(|| lookup(client, &sender.id, self.name_ttl, self.failed_ttl))
            .await;
        resolved.display_name = looked.name.clone();
        resolved
    }

    /// The slot of `id`: the current one, or a new one when there is none or it expired.
    fn slot(&self, id: &str) -> Slot {
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get(id) {
            // A slot still being looked up (no value yet) is shared, not replaced.
            if slot.get().is_none_or(|looked| looked.until > now) {
                return Arc::clone(slot);
            }
        }
        if slots.len() >= MAX_PEOPLE {
            slots.retain(|_, slot| slot.get().is_none_or(|looked| looked.until > now));
            while slots.len() >= MAX_PEOPLE {
                let Some(key) = slots.keys().next().cloned() else {
                    break;
                };
                slots.remove(&key);
            }
        }
        let slot = Slot::default();
        slots.insert(id.to_string(), Arc::clone(&slot));
        slot
    }
}

/// One `GET /people/{id}`, bounded by [`LOOKUP_TIMEOUT`]; never fails. A name is kept for
/// `name_ttl`, a failure for `failed_ttl`.
async fn lookup(
    client: &WebexClient,
    id: &str,
    name_ttl: Duration,
    failed_ttl: Duration,
) -> Looked {
    let result = tokio::time::timeout(LOOKUP_TIMEOUT, client.person(id)).await;
    let now = Instant::now();
    match result {
        Ok(Ok(person)) => {
            let name = Some(person.display_name.trim().to_string()).filter(|n| !n.is_empty());
            tracing::debug!(person_id = %id, name = ?name, "display name looked up");
            Looked {
                name,
                until: now + name_ttl,
            }
        }
        Ok(Err(err)) => {
            tracing::warn!(person_id = %id, error = %moltbot_core::error::chain(&err), retry_in = ?failed_ttl, "cannot look up a sender's display name; using their email");
            Looked {
                name: None,
                until: now + failed_ttl,
            }
        }
        Err(_) => {
            tracing::warn!(person_id = %id, after = ?LOOKUP_TIMEOUT, retry_in = ?failed_ttl, "looking up a sender's display name timed out; using their email");
            Looked {
                name: None,
                until: now + failed_ttl,
            }
        }
    }
}
