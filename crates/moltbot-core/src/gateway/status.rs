//! Liveness, readiness and replica role of the gateway, for `/healthz`, `/readyz` and
//! `/metrics`.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// What this replica is among the gateways sharing one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaRole {
    /// No leader election (SQLite: one gateway per store); this process runs everything.
    Single,
    /// It holds the leader lease: it runs the singletons (receivers, catch-up, webhook watch).
    Leader,
    /// Another replica leads; this one serves the webhook route and processes what it claims.
    Follower,
}

impl ReplicaRole {
    /// `single`, `leader` or `follower`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaRole::Single => "single",
            ReplicaRole::Leader => "leader",
            ReplicaRole::Follower => "follower",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => ReplicaRole::Leader,
            2 => ReplicaRole::Follower,
            _ => ReplicaRole::Single,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            ReplicaRole::Single => 0,
            ReplicaRole::Leader => 1,
            ReplicaRole::Follower => 2,
        }
    }
}

/// Shared gateway state the HTTP server reports.
#[derive(Debug, Default)]
pub struct GatewayStatus {
    ready: AtomicBool,
    stopping: AtomicBool,
    role: AtomicU8,
}

impl GatewayStatus {
    /// True once every channel connected (token verified) and receivers run (or, on a
    /// follower, wait for the lead while the webhook route is served); false again while
    /// shutting down.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !self.is_stopping()
    }

    /// Sets readiness.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// True from the shutdown signal on, while in-flight work drains: the HTTP server still
    /// answers `/healthz` (200) and `/readyz` (503), and refuses the channels' routes (503).
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Marks the gateway as stopping, and so not ready whatever [`Self::set_ready`] says from
    /// now on; there is no way back.
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// This replica's role now.
    pub fn role(&self) -> ReplicaRole {
        ReplicaRole::from_u8(self.role.load(Ordering::Acquire))
    }

    /// Sets the replica's role.
    pub fn set_role(&self, role: ReplicaRole) {
        self.role.store(role.to_u8(), Ordering::Release);
    }
}
