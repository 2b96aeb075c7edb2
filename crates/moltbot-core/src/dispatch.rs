//! Ordered per conversation, parallel across conversations.
//!
//! Every work item carries a key (a room id). Items with the same key run one after another in
//! arrival order; items with different keys run concurrently, up to a global limit. Each key has a
//! bounded queue, so a flood in one room pushes back on its producer instead of growing memory,
//! and a slow room never blocks the others. Workers exist only while their key has work.
//!
//! Shutdown: [`Dispatcher::close`] stops intake; [`Dispatcher::drain`] waits for queued work to
//! finish until a deadline and reports what was left (the store still holds it as received, so
//! a restart picks it up).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

/// How long a key's worker waits for more work before it retires.
const IDLE_RETIRE: Duration = Duration::from_secs(30);

/// The async function that handles one item.
pub type Handler<T> = Arc<dyn Fn(T) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Limits of a [`Dispatcher`].
#[derive(Debug, Clone, Copy)]
pub struct DispatchLimits {
    /// Items waiting per key before `dispatch` waits for room.
    pub queue_per_key: usize,
    /// Keys processed at the same time.
    pub max_concurrent_keys: usize,
}

impl Default for DispatchLimits {
    fn default() -> Self {
        Self {
            queue_per_key: 64,
            max_concurrent_keys: 64,
        }
    }
}

/// Why an item was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DispatchError {
    /// The dispatcher is shutting down.
    #[error("the dispatcher is closed")]
    Closed,
}

struct Inner<K, T> {
    /// Each key's queue, tagged with the generation of the worker that drains it.
    queues: HashMap<K, (u64, mpsc::Sender<(T, Waiting)>)>,
    next_generation: u64,
    closed: bool,
}

/// Runs a handler over keyed items: in order per key, concurrently across keys.
pub struct Dispatcher<K, T> {
    inner: Arc<Mutex<Inner<K, T>>>,
    handler: Handler<T>,
    limits: DispatchLimits,
    permits: Arc<Semaphore>,
    workers: Mutex<JoinSet<()>>,
    /// Items waiting in the keys' queues (accepted, not taken by a worker yet), over all keys.
    waiting: Arc<AtomicUsize>,
}

impl<K, T> Dispatcher<K, T>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: Send + 'static,
{
    /// Creates a dispatcher calling `handler` for every item.
    pub fn new(limits: DispatchLimits, handler: Handler<T>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                queues: HashMap::new(),
                next_generation: 0,
                closed: false,
            })),
            handler,
            permits: Arc::new(Semaphore::new(limits.max_concurrent_keys.max(1))),
            limits,
            workers: Mutex::new(JoinSet::new()),
            waiting: Arc::default(),
        }
    }

    /// Queues `item` under `key`, waiting while that key's queue is full.
    pub async fn dispatch(&self, key: K, item: T) -> Result<(), DispatchError> {
        let mut item = item;
        loop {
            let sender = {
                let mut inner = lock(&self.inner);
                if inner.closed {
                    return Err(DispatchError::Closed);
                }
                match inner.queues.get(&key) {
                    Some((_, tx)) if !tx.is_closed() => tx.clone(),
                    _ => {
                        let (tx, rx) = mpsc::channel(self.limits.queue_per_key.max(1));
                        let generation = inner.next_generation;
                        inner.next_generation += 1;
                        inner.queues.insert(key.clone(), (generation, tx.clone()));
                        self.spawn_worker(key.clone(), generation, rx);
                        tx
                    }
                }
            };
            // Counted off however the item leaves: taken by a worker, dropped with a queue, or
            // with this future when the caller gives up while the queue is full.
            match sender.send((item, Waiting::new(&self.waiting))).await {
                Ok(()) => return Ok(()),
                // The worker retired between lookup and send: start a fresh one.
                Err(mpsc::error::SendError((back, _))) => item = back,
            }
        }
    }

    /// Whether some item waits in a key's queue (behind its key's running item, or for a
    /// worker): a burst is being worked through. Items being handled do not count (one waiting
    /// on a slow agent is not work that is ready). One atomic read, for a hot path.
    pub fn has_waiting(&self) -> bool {
        self.waiting.load(Ordering::Acquire) > 0
    }

    /// Items queued or running, over all keys (for metrics).
    pub fn depth(&self) -> usize {
        let inner = lock(&self.inner);
        inner
            .queues
            .values()
            .map(|(_, tx)| tx.max_capacity() - tx.capacity())
            .sum()
    }

    /// Stops intake: later `dispatch` calls fail with [`DispatchError::Closed`].
    pub fn close(&self) {
        let mut inner = lock(&self.inner);
        inner.closed = true;
        // Dropping the senders lets each worker finish its queue and exit.
        inner.queues.clear();
    }

    /// Closes intake and waits up to `deadline` for queued work; returns true when all finished.
    pub async fn drain(&self, deadline: Duration) -> bool {
        self.close();
        let mut workers = std::mem::take(&mut *lock(&self.workers));
        let finished = tokio::time::timeout(deadline, async {
            while workers.join_next().await.is_some() {}
        })
        .await
        .is_ok();
        if !finished {
            workers.abort_all();
        }
        finished
    }

    fn spawn_worker(&self, key: K, generation: u64, mut rx: mpsc::Receiver<(T, Waiting)>) {
        let handler = Arc::clone(&self.handler);
        let permits = Arc::clone(&self.permits);
        let inner = Arc::clone(&self.inner);
        let mut workers = lock(&self.workers);
        // Reap finished workers so the set does not grow with every key ever seen.
        while workers.try_join_next().is_some() {}
        workers.spawn(async move {
            loop {
                let next = match tokio::time::timeout(IDLE_RETIRE, rx.recv()).await {
                    Ok(next) => next,
                    Err(_idle) => {
                        // Idle: retire unless an item raced in.
                        let mut guard = lock(&inner);
                        match rx.try_recv() {
                            Ok(item) => {
                                drop(guard);
                                Some(item)
                            }
                            Err(_) => {
                                if guard
                                    .queues
                                    .get(&key)
                                    .is_some_and(|(g, _)| *g == generation)
                                {
                                    guard.queues.remove(&key);
                                }
                                rx.close();
                                None
                            }
                        }
                    }
                };
                let Some((item, waiting)) = next else { break };
                let Ok(_permit) = permits.acquire().await else {
                    break;
                };
                drop(waiting);
                handler(item).await;
            }
            // Anything still queued after close() is finished before exiting.
            while let Ok((item, waiting)) = rx.try_recv() {
                drop(waiting);
                handler(item).await;
            }
        });
    }
}

/// Counts an item in [`Dispatcher::has_waiting`] while it lives: it travels with the item
/// through the key's queue, and is dropped when a worker takes the item, or with the item
/// when it never gets there (a cancelled or refused send, a queue dropped after a panic or an
/// abort), so the count cannot drift.
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(count))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn lock<X>(m: &Mutex<X>) -> std::sync::MutexGuard<'_, X> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Log = Arc<Mutex<Vec<(u32, u32)>>>;

    fn recording(log: Log, delay: Duration) -> Handler<(u32, u32)> {
        Arc::new(move |item: (u32, u32)| {
            let log = Arc::clone(&log);
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                lock(&log).push(item);
            })
        })
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_order_within_a_key_and_runs_keys_in_parallel() {
        let log: Log = Arc::default();
        let d = Dispatcher::new(
            DispatchLimits::default(),
            recording(Arc::clone(&log), Duration::from_millis(100)),
        );
        let start = tokio::time::Instant::now();
        for i in 0..5 {
            for room in 0..10 {
                d.dispatch(room, (room, i)).await.unwrap();
            }
        }
        assert!(d.drain(Duration::from_secs(60)).await);
        let log = lock(&log).clone();
        assert_eq!(log.len(), 50);
        for room in 0..10 {
            let seen: Vec<u32> = log
                .iter()
                .filter(|(r, _)| *r == room)
                .map(|(_, i)| *i)
                .collect();
            assert_eq!(seen, vec![0, 1, 2, 3, 4], "room {room} out of order");
        }
        // 10 rooms x 5 items x 100 ms: in parallel this is 500 ms of virtual time, not 5 s.
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_pushes_back_on_the_producer() {
        let log: Log = Arc::default();
        let d = Arc::new(Dispatcher::new(
            DispatchLimits {
                queue_per_key: 2,
                max_concurrent_keys: 4,
            },
            recording(Arc::clone(&log), Duration::from_secs(10)),
        ));
        for i in 0..3 {
            d.dispatch(1, (1, i)).await.unwrap();
        }
        // One item is running and two are queued: the fourth must wait.
        let blocked = tokio::time::timeout(Duration::from_secs(1), d.dispatch(1, (1, 3))).await;
        assert!(
            blocked.is_err(),
            "dispatch should wait while the queue is full"
        );
        // Another key is unaffected.
        tokio::time::timeout(Duration::from_millis(1), d.dispatch(2, (2, 0)))
            .await
            .expect("other keys do not wait")
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn close_refuses_new_work_and_drain_finishes_queued_work() {
        let count = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&count);
        let d = Dispatcher::new(
            DispatchLimits::default(),
            Arc::new(move |_: u32| {
                let c = Arc::clone(&c);
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    c.fetch_add(1, Ordering::SeqCst);
                })
            }),
        );
        for i in 0..20 {
            d.dispatch(i % 3, i).await.unwrap();
        }
        assert!(d.drain(Duration::from_secs(5)).await);
        assert_eq!(count.load(Ordering::SeqCst), 20);
        assert_eq!(d.dispatch(0, 99).await, Err(DispatchError::Closed));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_at_the_deadline() {
        let d = Dispatcher::new(
            DispatchLimits::default(),
            Arc::new(|_: u32| Box::pin(tokio::time::sleep(Duration::from_secs(3600)))),
        );
        d.dispatch(1, 1).await.unwrap();
        assert!(!d.drain(Duration::from_secs(2)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn it_counts_the_items_waiting_in_queues_however_they_leave() {
        let gate = Arc::new(Semaphore::new(0));
        let g = Arc::clone(&gate);
        let d = Arc::new(Dispatcher::new(
            DispatchLimits {
                queue_per_key: 1,
                max_concurrent_keys: 64,
            },
            Arc::new(move |item: u32| {
                let g = Arc::clone(&g);
                Box::pin(async move {
                    if item == 0 {
                        panic!("a handler that panics drops its key's queue");
                    }
                    if let Ok(permit) = g.acquire().await {
                        permit.forget();
                    }
                }) as Pin<Box<dyn Future<Output = ()> + Send>>
            }),
        ));
        let tick = || tokio::time::sleep(Duration::from_millis(10));
        assert!(!d.has_waiting());
        d.dispatch(1, 1).await.unwrap();
        tick().await;
        assert!(!d.has_waiting(), "an item being handled is not waiting");
        d.dispatch(1, 2).await.unwrap();
        assert!(d.has_waiting(), "the second waits behind it");
        // A third finds the queue full; its caller gives up.
        let gave_up = tokio::time::timeout(Duration::from_millis(5), d.dispatch(1, 3)).await;
        assert!(gave_up.is_err());
        gate.add_permits(1);
        tick().await;
        assert!(
            !d.has_waiting(),
            "the second runs; the abandoned third never counted on"
        );
        gate.add_permits(1);
        tick().await;
        // A handler that panics takes its key's queue down with the items in it.
        d.dispatch(2, 0).await.unwrap();
        d.dispatch(2, 5).await.unwrap();
        tick().await;
        assert!(
            !d.has_waiting(),
            "the item queued behind the panic is not waiting"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_workers_retire_and_new_work_restarts_them() {
        let log: Log = Arc::default();
        let d = Dispatcher::new(
            DispatchLimits::default(),
            recording(Arc::clone(&log), Duration::ZERO),
        );
        d.dispatch(7, (7, 0)).await.unwrap();
        tokio::time::sleep(IDLE_RETIRE * 2).await;
        assert!(
            lock(&d.inner).queues.is_empty(),
            "idle worker should retire"
        );
        d.dispatch(7, (7, 1)).await.unwrap();
        assert!(d.drain(Duration::from_secs(5)).await);
        assert_eq!(lock(&log).clone(), vec![(7, 0), (7, 1)]);
    }
}
