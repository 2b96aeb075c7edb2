//! Waiting on state, never on time: a condition is polled every [`POLL`] until it holds or a
//! deadline passes. A test that waits for something to happen waits for the state that shows
//! it (a reply in the emulator, a ledger row), and one that proves nothing else happened waits
//! for the quiet signal ([`crate::RunningGateway::settled`]), not for a fixed time.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How often a condition is looked at again.
pub const POLL: Duration = Duration::from_millis(20);

/// How long a test waits for something that should happen, by default.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// A condition did not hold in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("still not true after {waited:?}")]
pub struct TimedOut {
    /// How long it was polled.
    pub waited: Duration,
}

/// Polls `probe` every [`POLL`] until it returns `Some` (then returns that value), for at most
/// `timeout`. The probe runs at least once, also with a zero timeout.
pub async fn until<T>(timeout: Duration, probe: impl FnMut() -> Option<T>) -> Result<T, TimedOut> {
    until_every(POLL, timeout, probe).await
}

/// [`until`] with an async probe (e.g. a store read).
pub async fn until_async<T, F>(timeout: Duration, probe: impl FnMut() -> F) -> Result<T, TimedOut>
where
    F: Future<Output = Option<T>>,
{
    until_async_every(POLL, timeout, probe).await
}

/// [`until`] polling every `every` instead of [`POLL`], for measurements that need a finer
/// resolution (the bench's time to ready).
pub async fn until_every<T>(
    every: Duration,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Result<T, TimedOut> {
    until_async_every(every, timeout, || std::future::ready(probe())).await
}

/// [`until_async`] polling every `every` instead of [`POLL`].
pub async fn until_async_every<T, F>(
    every: Duration,
    timeout: Duration,
    mut probe: impl FnMut() -> F,
) -> Result<T, TimedOut>
where
    F: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(TimedOut { waited });
        }
        tokio::time::sleep(every.min(timeout - waited)).await;
    }
}

/// Waits until `cond` holds, for at most [`TIMEOUT`]; panics naming `what` otherwise. For tests.
pub async fn eventually(what: impl fmt::Display, mut cond: impl FnMut() -> bool) {
    if let Err(err) = until(TIMEOUT, || cond().then_some(())).await {
        panic!("{what}: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn until_returns_the_first_value_the_probe_gives() {
        let mut calls = 0;
        let got = until(Duration::from_secs(1), || {
            calls += 1;
            (calls == 3).then_some(calls)
        })
        .await;
        assert_eq!(got, Ok(3));
    }

    #[tokio::test(start_paused = true)]
    async fn until_gives_up_after_the_timeout_having_tried_at_least_once() {
        let mut calls = 0;
        let got: Result<(), _> = until(Duration::ZERO, || {
            calls += 1;
            None
        })
        .await;
        assert_eq!(calls, 1);
        assert!(got.is_err());
        let got: Result<(), _> = until(Duration::from_millis(100), || None).await;
        assert!(matches!(got, Err(TimedOut { waited }) if waited >= Duration::from_millis(100)));
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "the moon turns blue: still not true after")]
    async fn eventually_panics_naming_what_it_waited_for() {
        eventually("the moon turns blue", || false).await;
    }
}
