//! Observability hook: the client reports every HTTP attempt so the gateway can export metrics.

use std::time::Duration;

/// One finished HTTP attempt (built by the client only; it may gain fields).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestEvent<'a> {
    /// HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// Endpoint template, e.g. `/messages/{id}` (never contains ids or query strings): one of
    /// a fixed set, so observers can use it as a label without copying it.
    pub endpoint: &'static str,
    /// Response status, or `None` when no response arrived (network error, timeout).
    pub status: Option<u16>,
    /// Time from sending to response headers (or failure).
    pub elapsed: Duration,
    /// 1 for the first attempt of a call, 2 for its first retry, ...
    pub attempt: u32,
}

/// Receives [`RequestEvent`]s; implementations must be cheap and must not block.
pub trait RequestObserver: Send + Sync + 'static {
    /// Called after each HTTP attempt.
    fn on_request(&self, event: &RequestEvent<'_>);

    /// Called when a 429 sets the client-wide pause to `wait`.
    fn on_rate_limited(&self, endpoint: &str, wait: Duration) {
        let _ = (endpoint, wait);
    }
}

impl<F> RequestObserver for F
where
    F: Fn(&RequestEvent<'_>) + Send + Sync + 'static,
{
    fn on_request(&self, event: &RequestEvent<'_>) {
        self(event)
    }
}
