//! The client-wide request budget: one governor (GCRA) limiter behind a two-queue priority gate,
//! plus the global pause that a 429 sets.
//!
//! Why a gate in front of governor: governor answers "may one request go now?"; it has no notion
//! of who asked first or of priorities. The gate keeps two FIFO queues (sends, reads); only the
//! head of the highest non-empty queue may ask governor, so a reply queued behind 50 poll reads
//! goes out next, and reads keep their order. All waiting uses tokio time, so tests run in paused
//! virtual time.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Which queue a request waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Sends (POST/PUT/DELETE on messages): served before any queued read.
    Send,
    /// Everything else.
    Read,
}

/// A governor clock on tokio's (pausable) time.
#[derive(Debug, Clone)]
struct TokioClock {
    start: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

type Gcra = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

#[derive(Debug, Default)]
struct Queues {
    next_ticket: u64,
    sends: VecDeque<u64>,
    reads: VecDeque<u64>,
    paused_until: Option<Instant>,
}

impl Queues {
    fn is_head(&self, ticket: u64) -> bool {
        match self.sends.front() {
            Some(head) => *head == ticket,
            None => self.reads.front() == Some(&ticket),
        }
    }

    fn remove(&mut self, ticket: u64, priority: Priority) {
        let queue = match priority {
            Priority::Send => &mut self.sends,
            Priority::Read => &mut self.reads,
        };
        queue.retain(|t| *t != ticket);
    }
}

/// The shared limiter. One per [`crate::WebexClient`] (clones share it).
pub(crate) struct Limiter {
    gcra: Gcra,
    clock: TokioClock,
    queues: Mutex<Queues>,
    notify: Notify,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").finish_non_exhaustive()
    }
}

enum Next {
    Granted,
    WaitTurn,
    WaitUntil(Instant),
}

impl Limiter {
    /// A limiter allowing `requests_per_minute` in any 60 s window, `burst` of them back to back.
    pub(crate) fn new(requests_per_minute: NonZeroU32, burst: u32) -> Self {
        let rpm = requests_per_minute.get();
        let burst = burst.clamp(1, (rpm / 2).max(1));
        // In any window of 60 s, GCRA admits at most `burst + floor(60 s / period)` cells; pick
        // the period so that this never exceeds `rpm`.
        let steady = rpm - burst;
        let period = if steady == 0 {
            Duration::from_secs(60) + Duration::from_millis(1)
        } else {
            Duration::from_secs(60) / steady
        };
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_minute(requests_per_minute))
            .allow_burst(burst);
        let clock = TokioClock {
            start: Instant::now(),
        };
        Self {
            gcra: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
            queues: Mutex::new(Queues::default()),
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        // A poisoned lock only means another thread panicked mid-update of plain queues; the data
        // is still consistent enough to continue.
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a permit to send one request. Cancel-safe: dropping the future leaves the queue.
    pub(crate) async fn acquire(&self, priority: Priority) {
        let ticket = {
            let mut queues = self.lock();
            let ticket = queues.next_ticket;
            queues.next_ticket += 1;
            match priority {
                Priority::Send => queues.sends.push_back(ticket),
                Priority::Read => queues.reads.push_back(ticket),
            }
            ticket
        };
        let mut guard = TicketGuard {
            limiter: self,
            ticket,
            priority,
            armed: true,
        };
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_take(ticket, priority) {
                Next::Granted => {
                    guard.armed = false;
                    self.notify.notify_waiters();
                    return;
                }
                Next::WaitTurn => notified.await,
                Next::WaitUntil(deadline) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => {}
                        _ = notified => {}
                    }
                }
            }
        }
    }

    fn try_take(&self, ticket: u64, priority: Priority) -> Next {
        let mut queues = self.lock();
        if !queues.is_head(ticket) {
            return Next::WaitTurn;
        }
        let now = Instant::now();
        if let Some(until) = queues.paused_until {
            if until > now {
                return Next::WaitUntil(until);
            }
            queues.paused_until = None;
        }
        match self.gcra.check() {
            Ok(()) => {
                queues.remove(ticket, priority);
                Next::Granted
            }
            Err(not_until) => Next::WaitUntil(now + not_until.wait_time_from(self.clock.now())),
        }
    }

    /// Pauses every caller for `wait` (a 429 answer). Never shortens an existing pause.
    pub(crate) fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        {
            let mut queues = self.lock();
            if queues.paused_until.is_none_or(|current| current < until) {
                queues.paused_until = Some(until);
            }
        }
        self.notify.notify_waiters();
    }

    /// The end of the current global pause, if one is active.
    pub(crate) fn paused_until(&self) -> Option<Instant> {
        self.lock()
            .paused_until
            .filter(|until| *until > Instant::now())
    }
}

struct TicketGuard<'a> {
    limiter: &'a Limiter,
    ticket: u64,
    priority: Priority,
    armed: bool,
}

impl Drop for TicketGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.limiter.lock().remove(self.ticket, self.priority);
            self.limiter.notify.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn limiter(rpm: u32, burst: u32) -> Arc<Limiter> {
        Arc::new(Limiter::new(NonZeroU32::new(rpm).unwrap(), burst))
    }

    fn max_in_window(times: &[Duration], window: Duration) -> usize {
        let mut best = 0;
        for (i, start) in times.iter().enumerate() {
            let count = times[i..]
                .iter()
                .take_while(|t| **t <= *start + window)
                .count();
            best = best.max(count);
        }
        best
    }

    #[tokio::test(start_paused = true)]
    async fn budget_is_never_exceeded_over_a_simulated_minute() {
        let limiter = limiter(120, 4);
        let start = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..300 {
            let limiter = limiter.clone();
            let priority = if i % 7 == 0 {
                Priority::Send
            } else {
                Priority::Read
            };
            tasks.push(tokio::spawn(async move {
                limiter.acquire(priority).await;
                start.elapsed()
            }));
        }
        let mut times = Vec::new();
        for task in tasks {
            times.push(task.await.unwrap());
        }
        times.sort();
        assert_eq!(times.len(), 300);
        // Any 60 s window (inclusive at both ends) holds at most the budget.
        assert!(max_in_window(&times, Duration::from_secs(60)) <= 120);
        // ... and the budget is actually used: 300 permits take about 2.5 minutes, not more.
        let total = *times.last().unwrap();
        assert!(total < Duration::from_secs(160), "{total:?}");
        // The burst goes out at once.
        assert_eq!(times.iter().filter(|t| t.is_zero()).count(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn sends_overtake_queued_reads() {
        let limiter = limiter(60, 1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (limiter, order) = (limiter.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                limiter.acquire(Priority::Read).await;
                order.lock().unwrap().push(format!("read{i}"));
            }));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Let the first read through and the others queue up.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let send = {
            let (limiter, order) = (limiter.clone(), order.clone());
            tokio::spawn(async move {
                limiter.acquire(Priority::Send).await;
                order.lock().unwrap().push("send".to_string());
            })
        };
        send.await.unwrap();
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order, ["read0", "send", "read1", "read2", "read3", "read4"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_global_pause_holds_every_caller() {
        let limiter = limiter(6000, 50);
        limiter.acquire(Priority::Read).await;
        let start = Instant::now();
        limiter.pause_for(Duration::from_secs(15));
        assert!(limiter.paused_until().is_some());
        let mut tasks = Vec::new();
        for i in 0..6 {
            let limiter = limiter.clone();
            let priority = if i % 2 == 0 {
                Priority::Send
            } else {
                Priority::Read
            };
            tasks.push(tokio::spawn(async move {
                limiter.acquire(priority).await;
                start.elapsed()
            }));
        }
        // A shorter pause never shortens the current one.
        limiter.pause_for(Duration::from_secs(1));
        for task in tasks {
            let waited = task.await.unwrap();
            assert!(waited >= Duration::from_secs(15), "{waited:?}");
            assert!(waited < Duration::from_secs(16), "{waited:?}");
        }
        assert!(limiter.paused_until().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_does_not_block_the_queue() {
        let limiter = limiter(60, 1);
        limiter.acquire(Priority::Read).await;
        let blocked = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire(Priority::Read).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        blocked.abort();
        let _ = blocked.await;
        let start = Instant::now();
        limiter.acquire(Priority::Read).await;
        assert!(start.elapsed() <= Duration::from_secs(2));
    }
}
