//! [`Ledger`]: the gateway's own record of its work, read from its store (the SQLite file, or
//! the PostgreSQL database of `store.url`, as the `moltbot` CLI reads it while the gateway
//! runs). Tests only read it.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use moltbot_core::store::{
    ApprovedIdentity, InboundState, LedgerEntry, OutboxEntry, Store, StoreError, StoreLocation,
};

use crate::wait;

/// The channel the ledger is read for.
pub const CHANNEL: &str = "webex";

/// Read access to a gateway's store.
#[derive(Debug, Clone)]
pub struct Ledger {
    store: Store,
}

/// Work the gateway has recorded and not finished.
#[derive(Debug, Clone, Default)]
pub struct Pending {
    /// Inbound messages `received` or `processing`.
    pub inbound: Vec<LedgerEntry>,
    /// Reply chunks stored and not sent.
    pub outbound: Vec<OutboxEntry>,
    /// Approvals whose DM has not gone out yet.
    pub notices: Vec<ApprovedIdentity>,
}

impl Pending {
    /// Nothing pending.
    pub fn is_empty(&self) -> bool {
        self.inbound.is_empty() && self.outbound.is_empty() && self.notices.is_empty()
    }
}

impl fmt::Display for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for m in &self.inbound {
            parts.push(format!("message {} {}", m.message_id, m.state));
        }
        for c in &self.outbound {
            parts.push(format!(
                "reply chunk {} of {} pending",
                c.part_index,
                c.inbound_message_id
                    .as_deref()
                    .unwrap_or("a proactive send")
            ));
        }
        for n in &self.notices {
            parts.push(format!("approval notice for {} unsent", n.label()));
        }
        if parts.is_empty() {
            f.write_str("nothing pending")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

impl Ledger {
    /// Opens the store at `path` (as the gateway and the CLI do; it must be a moltbot store).
    pub fn open(path: &Path) -> Result<Ledger, StoreError> {
        Ok(Ledger {
            store: Store::open(path)?,
        })
    }

    /// Connects to the store at `location` (as the gateway and the CLI do).
    pub async fn connect(location: &StoreLocation) -> Result<Ledger, StoreError> {
        Ok(Ledger {
            store: Store::connect(location).await?,
        })
    }

    /// The store, for reads the ledger does not cover.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The state of inbound message `message_id`, `None` if the gateway never recorded it.
    pub async fn state_of(&self, message_id: &str) -> Result<Option<InboundState>, StoreError> {
        self.store.ledger().state_of(CHANNEL, message_id).await
    }

    /// The ledger row of inbound message `message_id`, `None` if the gateway never recorded it.
    pub async fn entry(&self, message_id: &str) -> Result<Option<LedgerEntry>, StoreError> {
        self.store.ledger().get(CHANNEL, message_id).await
    }

    /// Waits until the gateway has set message `message_id` aside (it could not be read) and
    /// returns its row. Panics after `timeout`.
    pub async fn wait_set_aside(&self, message_id: &str, timeout: Duration) -> LedgerEntry {
        let done = wait::until_async(timeout, || async move {
            match self.entry(message_id).await {
                Ok(entry) => entry.filter(|e| e.deferred && e.state.is_pending()),
                Err(err) => panic!("cannot read the ledger: {err}"),
            }
        })
        .await;
        match done {
            Ok(entry) => entry,
            Err(err) => {
                let last = self.entry(message_id).await.ok().flatten();
                panic!("message {message_id} never set aside (row {last:?}): {err}")
            }
        }
    }

    /// Everything recorded and not finished: inbound messages, reply chunks, approval notices.
    pub async fn pending(&self) -> Result<Pending, StoreError> {
        Ok(Pending {
            inbound: self.store.ledger().pending(CHANNEL, i64::MIN).await?,
            outbound: self.store.outbox().pending(CHANNEL).await?,
            notices: self.store.pairing().pending_notifications(CHANNEL).await?,
        })
    }

    /// Waits until message `message_id` is recorded and finished (`replied`, `skipped` or
    /// `failed`), for at most `timeout`; returns that state. Panics on a store error or when
    /// time runs out, with the last state seen.
    pub async fn finished(&self, message_id: &str, timeout: Duration) -> InboundState {
        self.wait_for(message_id, timeout, "finished", |s| !s.is_pending())
            .await
    }

    /// Waits until message `message_id` is recorded in a state for which `reached` holds, for
    /// at most `timeout`; returns that state. Panics naming `what` on a store error or when
    /// time runs out, with the last state seen.
    pub async fn wait_for(
        &self,
        message_id: &str,
        timeout: Duration,
        what: &str,
        reached: impl Fn(InboundState) -> bool,
    ) -> InboundState {
        let reached = &reached;
        let done = wait::until_async(timeout, || async move {
            match self.state_of(message_id).await {
                Ok(state) => state.filter(|s| reached(*s)),
                Err(err) => panic!("cannot read the ledger: {err}"),
            }
        })
        .await;
        match done {
            Ok(state) => state,
            Err(err) => {
                let last = self.state_of(message_id).await.ok().flatten();
                panic!("message {message_id} not {what} (state {last:?}): {err}")
            }
        }
    }
}
