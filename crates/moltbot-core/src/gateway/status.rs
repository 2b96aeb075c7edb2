//! Liveness and readiness of the gateway, for `/healthz` and `/readyz`.

use std::sync::atomic::{AtomicBool, Ordering};

/// Shared gateway state the HTTP server reports.
#[derive(Debug, Default)]
pub struct GatewayStatus {
    ready: AtomicBool,
}

impl GatewayStatus {
    /// True once every channel connected (token verified) and receivers run; false again
    /// while shutting down.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Sets readiness.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}
