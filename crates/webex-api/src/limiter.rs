//! The client-wide request budget: a governor (GCRA) limiter behind a two-queue priority gate,
//! the global pause that a 429 sets, and a budget that adapts to 429s.
//!
//! Why a gate in front of governor: governor answers "may one request go now?"; it has no notion
//! of who asked first or of priorities. The gate keeps two FIFO queues (sends, reads); only the
//! head of the highest non-empty queue may ask governor, so a reply queued behind 50 poll reads
//! goes out next, and reads keep their order. All waiting uses tokio time, so tests run in paused
//! virtual time.
//!
//! The budget is a token bucket of `burst` requests that refills so that no 60 s window ever holds
//! more than `requests_per_minute` requests: a quiet client sends `burst` requests at once, a busy
//! one `requests_per_minute - burst` a minute. Webex documents "around 300 requests per minute
//! for most APIs", with a higher, dynamically adjusted quota for `/people` and `/messages`, and
//! less restrictive limits for bots (<https://developer.webex.com/blog/rate-limiting-and-the-webex-api>,
//! <https://developer.webex.com/docs/basics>), hence the defaults of 300 and 50
//! ([`crate::config::DEFAULT_REQUESTS_PER_MINUTE`], [`crate::config::DEFAULT_BURST`]).
//!
//! Adaptation, since the real limits are "too complex to document exactly" (same sources):
//! - A 429 pauses every caller for its `Retry-After` (the server always wins) and halves the
//!   effective budget, never below a tenth of the configured one (at least 1 a minute). The 429s
//!   of one episode (answered while that pause runs, or within [`MIN_CUT_SPACING`] of the cut)
//!   halve it once.
//! - Every full minute without a 429, counted from the end of the last pause, gives back a tenth
//!   of the configured budget, up to the configured budget.
//! - The bucket scales with the budget (`burst × effective ÷ configured`), and a changed budget
//!   starts with an empty bucket when calls resume (after the pause), so a cut is never followed
//!   by a burst, and a window straddling a recovery step still holds at most the new budget.
//!
//! Sharing, when several processes run as one bot (Webex's limit is per token, so their
//! budgets must add up to one):
//! - [`Limiter::set_share`] divides the configured budget and bucket by the number of processes
//!   (each at least 1); the adaptive budget keeps its proportion of the new share.
//! - A pause another process saw is applied with [`Limiter::pause_for`] like a 429 of this
//!   client's own: it pauses every caller and cuts the budget once per episode, so the whole
//!   bot slows down, not only the process that was told.
//!
//! Governor's quotas are fixed per limiter, so a change of budget swaps in a new one.

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

/// How long a calm stretch must last for the budget to step back up.
pub(crate) const RECOVERY_PERIOD: Duration = Duration::from_secs(60);

/// 429s closer than this to the last cut belong to the same episode (even with `Retry-After: 0`).
pub(crate) const MIN_CUT_SPACING: Duration = Duration::from_secs(1);

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

/// A GCRA limiter admitting at most `rpm` requests in any 60 s window, `burst` of them (at most
/// half the budget) back to back. Returns the limiter and the burst it uses.
fn gcra(rpm: u32, burst: u32, clock: &TokioClock) -> (Gcra, NonZeroU32) {
    let rpm = rpm.max(1);
    let burst = burst.clamp(1, (rpm / 2).max(1));
    // In any window of 60 s, GCRA admits at most `burst + floor(60 s / period)` cells; pick
    // the period so that this never exceeds `rpm`.
    let steady = rpm - burst;
    let period = if steady == 0 {
        RECOVERY_PERIOD + Duration::from_millis(1)
    } else {
        Duration::from_secs(60) / steady
    };
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_minute(NonZeroU32::new(rpm).unwrap_or(NonZeroU32::MIN)))
        .allow_burst(burst);
    (RateLimiter::direct_with_clock(quota, clock.clone()), burst)
}

/// The adaptive budget: the configured figures and the effective rate (pure bookkeeping).
#[derive(Debug)]
struct Budget {
    /// The whole bot's budget and bucket, as configured.
    full_rpm: u32,
    full_burst: u32,
    /// How many processes share them (at least 1).
    share: u32,
    /// This process's part: `full_rpm / share` and `full_burst / share`, each at least 1.
    configured_rpm: u32,
    configured_burst: u32,
    /// Effective requests per minute.
    rpm: u32,
    /// Start of the current stretch without 429s (the end of the last pause).
    calm_since: Instant,
    /// Before this, a 429 belongs to the episode that already cut the budget.
    next_cut: Instant,
}

impl Budget {
    fn new(rpm: u32, burst: u32, now: Instant) -> Self {
        Self {
            full_rpm: rpm,
            full_burst: burst,
            share: 1,
            configured_rpm: rpm,
            configured_burst: burst,
            rpm,
            calm_since: now,
            next_cut: now,
        }
    }

    /// Shares the configured budget among `share` processes (at least 1). The effective
    /// budget keeps its proportion of the configured one (a cut stays a cut). Returns whether
    /// anything changed.
    fn set_share(&mut self, share: u32) -> bool {
        let share = share.max(1);
        if share == self.share {
            return false;
        }
        let old = self.configured_rpm.max(1);
        self.share = share;
        self.configured_rpm = (self.full_rpm / share).max(1);
        self.configured_burst = (self.full_burst / share).max(1);
        let scaled = u64::from(self.rpm) * u64::from(self.configured_rpm) / u64::from(old);
        self.rpm = u32::try_from(scaled)
            .unwrap_or(u32::MAX)
            .clamp(self.tenth(), self.configured_rpm);
        true
    }

    /// A tenth of the configured budget, at least 1: the lowest effective budget, and what a
    /// calm minute gives back.
    fn tenth(&self) -> u32 {
        (self.configured_rpm / 10).max(1)
    }

    /// The bucket for the effective budget: `burst × rpm ÷ configured`, at least 1.
    fn burst(&self) -> u32 {
        let scaled = u64::from(self.configured_burst) * u64::from(self.rpm)
            / u64::from(self.configured_rpm.max(1));
        u32::try_from(scaled).unwrap_or(u32::MAX).max(1)
    }

    /// A 429 at `now` whose pause ends at `pause_end`. Returns the new budget when it was cut.
    fn on_rate_limited(&mut self, now: Instant, pause_end: Instant) -> Option<u32> {
        self.calm_since = self.calm_since.max(pause_end);
        if now < self.next_cut {
            return None;
        }
        self.next_cut = pause_end.max(now + MIN_CUT_SPACING);
        let cut = (self.rpm / 2).max(self.tenth());
        (cut < self.rpm).then(|| {
            self.rpm = cut;
            cut
        })
    }

    /// Steps back up for every full calm minute up to `now`. Returns the new budget if it rose.
    fn recover(&mut self, now: Instant) -> Option<u32> {
        if self.rpm >= self.configured_rpm || now < self.calm_since + RECOVERY_PERIOD {
            return None;
        }
        let calm = now.duration_since(self.calm_since);
        let periods = u32::try_from(calm.as_secs() / RECOVERY_PERIOD.as_secs()).unwrap_or(u32::MAX);
        self.calm_since = self
            .calm_since
            .checked_add(RECOVERY_PERIOD.saturating_mul(periods))
            .map_or(now, |next| next.min(now));
        self.rpm = self
            .rpm
            .saturating_add(self.tenth().saturating_mul(periods))
            .min(self.configured_rpm);
        Some(self.rpm)
    }
}

#[derive(Debug, Default)]
struct Queues {
    next_ticket: u64,
    sends: VecDeque<u64>,
    reads: VecDeque<u64>,
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

/// Everything behind the limiter's lock.
struct State {
    queues: Queues,
    paused_until: Option<Instant>,
    budget: Budget,
    gcra: Gcra,
    /// The budget and bucket `gcra` was built for.
    gcra_rpm: u32,
    gcra_burst: u32,
}

impl State {
    /// Applies the recovery steps due at `now` and, when the effective budget changed, swaps in
    /// a limiter for it. Called only outside a pause, so the new bucket starts empty when calls
    /// resume (a bucket drained when the 429 came would have refilled during the pause).
    fn sync(&mut self, now: Instant, clock: &TokioClock) {
        if let Some(rpm) = self.budget.recover(now) {
            tracing::info!(
                requests_per_minute = rpm,
                configured = self.budget.configured_rpm,
                "no 429 for a while: raising the webex client's request budget"
            );
        }
        if self.gcra_rpm == self.budget.rpm && self.gcra_burst == self.budget.burst() {
            return;
        }
        let (gcra, burst) = gcra(self.budget.rpm, self.budget.burst(), clock);
        // Drain the fresh bucket: a new budget never starts with a burst. A bucket of `burst`
        // always holds `burst` cells, so this cannot fail for lack of capacity.
        let _ = gcra.check_n(burst);
        self.gcra = gcra;
        self.gcra_rpm = self.budget.rpm;
        self.gcra_burst = self.budget.burst();
    }
}

/// The shared limiter. One per [`crate::WebexClient`] (clones share it).
pub(crate) struct Limiter {
    clock: TokioClock,
    state: Mutex<State>,
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
    /// A limiter allowing `requests_per_minute` in any 60 s window, `burst` of them back to back
    /// (at most half the budget), adapting to 429s as the module documents.
    pub(crate) fn new(requests_per_minute: NonZeroU32, burst: u32) -> Self {
        let rpm = requests_per_minute.get();
        let clock = TokioClock {
            start: Instant::now(),
        };
        let (gcra, _) = gcra(rpm, burst, &clock);
        let budget = Budget::new(rpm, burst, Instant::now());
        let gcra_burst = budget.burst();
        Self {
            state: Mutex::new(State {
                queues: Queues::default(),
                paused_until: None,
                budget,
                gcra,
                gcra_rpm: rpm,
                gcra_burst,
            }),
            clock,
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of plain queues; the data
        // is still consistent enough to continue.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a permit to send one request. Cancel-safe: dropping the future leaves the queue.
    pub(crate) async fn acquire(&self, priority: Priority) {
        let ticket = {
            let mut state = self.lock();
            let queues = &mut state.queues;
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
        let mut state = self.lock();
        if !state.queues.is_head(ticket) {
            return Next::WaitTurn;
        }
        let now = Instant::now();
        if let Some(until) = state.paused_until {
            if until > now {
                return Next::WaitUntil(until);
            }
            state.paused_until = None;
        }
        state.sync(now, &self.clock);
        match state.gcra.check() {
            Ok(()) => {
                state.queues.remove(ticket, priority);
                Next::Granted
            }
            Err(not_until) => Next::WaitUntil(now + not_until.wait_time_from(self.clock.now())),
        }
    }

    /// A 429 answer: pauses every caller for `wait` (its `Retry-After`; never shortens an
    /// existing pause) and, once per episode, halves the effective budget.
    pub(crate) fn pause_for(&self, wait: Duration) {
        let now = Instant::now();
        let until = now + wait;
        {
            let mut state = self.lock();
            let until = match state.paused_until {
                Some(current) if current >= until => current,
                _ => {
                    state.paused_until = Some(until);
                    until
                }
            };
            if let Some(rpm) = state.budget.on_rate_limited(now, until) {
                tracing::warn!(
                    requests_per_minute = rpm,
                    configured = state.budget.configured_rpm,
                    "webex answered 429: lowering the client's request budget"
                );
            }
        }
        self.notify.notify_waiters();
    }

    /// Shares the configured budget among `share` processes (see the module documentation).
    /// The new quota applies from the next permit, starting with an empty bucket. Returns the
    /// configured requests per minute of this process's part.
    pub(crate) fn set_share(&self, share: u32) -> u32 {
        let configured = {
            let mut state = self.lock();
            if state.budget.set_share(share) {
                tracing::info!(
                    share = state.budget.share,
                    requests_per_minute = state.budget.configured_rpm,
                    burst = state.budget.configured_burst,
                    "sharing the webex request budget"
                );
            }
            state.budget.configured_rpm
        };
        self.notify.notify_waiters();
        configured
    }

    /// The end of the current global pause, if one is active.
    pub(crate) fn paused_until(&self) -> Option<Instant> {
        self.lock()
            .paused_until
            .filter(|until| *until > Instant::now())
    }

    /// The effective budget now, in requests per minute (recovery steps applied).
    #[cfg(test)]
    fn requests_per_minute(&self) -> u32 {
        let mut state = self.lock();
        let _ = state.budget.recover(Instant::now());
        state.budget.rpm
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
            self.limiter
                .lock()
                .queues
                .remove(self.ticket, self.priority);
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

    /// Spawns `n` callers (every 7th a send) at once; returns when each got its permit, sorted.
    async fn permit_times(limiter: &Arc<Limiter>, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..n {
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
        times
    }

    #[tokio::test(start_paused = true)]
    async fn budget_is_never_exceeded_over_a_simulated_minute() {
        let limiter = limiter(120, 4);
        let times = permit_times(&limiter, 300).await;
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
    async fn the_default_budget_sends_fifty_at_once_and_never_300_in_a_minute() {
        let limiter = limiter(
            crate::config::DEFAULT_REQUESTS_PER_MINUTE,
            crate::config::DEFAULT_BURST,
        );
        let times = permit_times(&limiter, 600).await;
        assert_eq!(times.iter().filter(|t| t.is_zero()).count(), 50);
        assert_eq!(max_in_window(&times, Duration::from_secs(60)), 300);
        // After the bucket, 250 a minute: 600 permits in about 2 min 20 s.
        let total = *times.last().unwrap();
        assert!(total <= Duration::from_secs(133), "{total:?}");
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
    async fn a_429_halves_the_budget_once_per_episode_down_to_a_tenth() {
        let limiter = limiter(300, 50);
        assert_eq!(limiter.requests_per_minute(), 300);
        limiter.pause_for(Duration::from_secs(2));
        assert_eq!(limiter.requests_per_minute(), 150);
        // More 429s of the same episode (requests that were already in flight) cut nothing more.
        limiter.pause_for(Duration::from_secs(2));
        tokio::time::advance(Duration::from_millis(1500)).await;
        limiter.pause_for(Duration::from_secs(1));
        assert_eq!(limiter.requests_per_minute(), 150);
        // Each later episode halves again, down to a tenth of the configured budget.
        let mut seen = Vec::new();
        for _ in 0..5 {
            tokio::time::advance(Duration::from_secs(3)).await;
            limiter.pause_for(Duration::ZERO);
            seen.push(limiter.requests_per_minute());
        }
        assert_eq!(seen, [75, 37, 30, 30, 30]);
        // Even `Retry-After: 0` storms are one episode per second.
        limiter.pause_for(Duration::ZERO);
        assert_eq!(limiter.requests_per_minute(), 30);
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_recovers_a_tenth_per_calm_minute_after_the_pause() {
        let limiter = limiter(300, 50);
        for _ in 0..4 {
            limiter.pause_for(Duration::ZERO);
            tokio::time::advance(MIN_CUT_SPACING).await;
        }
        assert_eq!(limiter.requests_per_minute(), 30);
        // The calm minute starts when the pause ends, not at the 429; three quiet minutes at
        // once (an idle client) count as three steps.
        limiter.pause_for(Duration::from_secs(30));
        expect_budgets(&limiter, &[(0, 30), (89, 30), (1, 60), (180, 150)]).await;
        // A 429 restarts the calm minute and cuts again; never above the configured budget.
        limiter.pause_for(Duration::from_secs(1));
        expect_budgets(&limiter, &[(0, 75), (60, 75), (1, 105), (3600, 300)]).await;
    }

    /// Advances paused time by each step's seconds and checks the effective budget after it.
    async fn expect_budgets(limiter: &Limiter, steps: &[(u64, u32)]) {
        for (i, (seconds, rpm)) in steps.iter().enumerate() {
            tokio::time::advance(Duration::from_secs(*seconds)).await;
            assert_eq!(
                limiter.requests_per_minute(),
                *rpm,
                "step {i}: +{seconds} s"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_429_the_lowered_budget_paces_the_callers_without_a_burst() {
        let limiter = limiter(300, 50);
        // The bucket is spent, then Webex says 429 with Retry-After 5.
        for _ in 0..50 {
            limiter.acquire(Priority::Read).await;
        }
        let start = Instant::now();
        limiter.pause_for(Duration::from_secs(5));
        let times = permit_times(&limiter, 150).await;
        // The server's wait wins: nothing before it ends.
        assert!(times[0] >= Duration::from_secs(5), "{:?}", times[0]);
        // No burst after the pause: a lowered budget starts with an empty bucket ...
        let at_once = times
            .iter()
            .filter(|t| **t <= times[0] + MIN_CUT_SPACING)
            .count();
        assert!(at_once <= 3, "{at_once} permits in the first second");
        // ... and no 60 s window holds more than the halved budget (150).
        assert!(max_in_window(&times, Duration::from_secs(60)) <= 150);
        // The lowered budget is used: 150 a minute, bucket 25, so 125 a minute when saturated.
        assert!(
            start.elapsed() < Duration::from_secs(5 + 75),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_shared_by_three_is_a_third_each() {
        let limiter = limiter(300, 50);
        assert_eq!(limiter.set_share(3), 100);
        let times = permit_times(&limiter, 200).await;
        // A third of the bucket (16) at once, and no 60 s window above a third of the budget.
        let at_once = times.iter().filter(|t| t.is_zero()).count();
        assert!(at_once <= 16, "{at_once} at once");
        assert!(max_in_window(&times, Duration::from_secs(60)) <= 100);
        // A cut keeps its proportion when the share changes: half of 100, then of 300.
        limiter.pause_for(Duration::ZERO);
        assert_eq!(limiter.requests_per_minute(), 50);
        assert_eq!(limiter.set_share(1), 300);
        assert_eq!(limiter.requests_per_minute(), 150);
        // A share of 0 counts as 1; a tiny budget keeps at least 1 a minute.
        assert_eq!(limiter.set_share(0), 300);
        let tiny = super::Limiter::new(NonZeroU32::new(2).unwrap(), 1);
        assert_eq!(tiny.set_share(5), 1);
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
