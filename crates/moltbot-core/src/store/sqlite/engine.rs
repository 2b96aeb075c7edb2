//! How the SQLite backend runs statements: one writer thread with group commit, a small pool of
//! reader connections, and a background checkpointer.
//!
//! - **Writes** share one write connection. When it is free and nothing is queued for it, a
//!   write runs at once on the caller's thread (its own short transaction: a few rows, tens of
//!   microseconds), which spares the two thread wake-ups of a hand-over on the message path.
//!   Otherwise it is queued for the writer thread, which takes the first queued job, opens a
//!   `BEGIN IMMEDIATE` transaction, runs that job and every job queued behind it (up to
//!   [`MAX_GROUP`]) each in its own savepoint (a failing job is rolled back alone), commits once,
//!   and only then answers each caller. A burst of messages thus shares commits (and WAL pages),
//!   while a lone write still commits at once: nothing waits for a timer. A write on the
//!   caller's thread never waits for another process's lock: when the file is locked it is
//!   queued too, and the writer thread waits (within [`BUSY_TIMEOUT`]).
//! - **Grouped writes** ([`Engine::write_grouped`], the message path's units after the claim)
//!   wait for one pass of the caller's runtime through its ready tasks, then the units made
//!   meanwhile commit together on the thread that runs the runtime's tasks (the gateway has
//!   one): the gateway's room workers, ready together in a burst, share commits there that the
//!   writer thread could not give them (a caller's-thread write never waits, so it never meets
//!   another). When the connection is taken, units are queued or another process holds the
//!   lock, the group goes to the writer thread. The claim stays an ordinary write: a webhook's
//!   answer waits for it.
//! - **Reads** run on tokio's blocking pool with a reader connection; in WAL mode they never wait
//!   for the writer.
//! - **Checkpoints** never run inside a commit: the write connection has `wal_autocheckpoint = 0`
//!   and a checkpointer thread with its own connection copies the WAL into the database in the
//!   background (`PASSIVE`, which waits for nobody), about once a second while there are writes.
//!   `journal_size_limit` truncates the WAL file when it is restarted after such a checkpoint;
//!   past 16 MiB (sustained load keeps the WAL from restarting) the pass uses `TRUNCATE`.
//!
//! Durability (`synchronous = NORMAL` in WAL mode, see <https://sqlite.org/pragma.html#pragma_synchronous>):
//! a commit is written to the WAL file but not fsynced; the checkpointer fsyncs the WAL before it
//! copies pages, and the database file after. A crash of the process loses nothing that was
//! acknowledged (the WAL is in the OS page cache); a power loss or kernel crash can lose the
//! commits since the last checkpoint (about a second), which the channel's catch-up pass finds
//! again at the next start.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::Connection;

use super::{db_error, migrations};
use crate::store::{fs, StoreError};

/// How long a connection waits for another writer (possibly in another process) before giving
/// up with `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The most jobs one commit carries.
const MAX_GROUP: usize = 256;

/// Reader connections kept open for reuse.
const MAX_IDLE_READERS: usize = 4;

/// How often the checkpointer looks for WAL frames to copy.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// A WAL file larger than this (bytes) is checkpointed with `TRUNCATE` rather than `PASSIVE`.
const WAL_TRUNCATE_AT: u64 = 16 * 1024 * 1024;

/// The WAL file is truncated to this size when it restarts (bytes).
const JOURNAL_SIZE_LIMIT: i64 = 4 * 1024 * 1024;

/// Prepared statements each connection keeps (rusqlite's default is 16; the store has about
/// 60 distinct statements, reads included, since the write connection also serves point
/// reads; an evicted one is parsed again on its next use).
const STATEMENT_CACHE: usize = 128;

/// The page size of a new store file (bytes).
const PAGE_SIZE: i64 = 1024;

/// Page cache of the reader and checkpointer connections (pages; the writer keeps SQLite's
/// default of about 2 MB). The hot rows of a gateway fit easily.
const SMALL_CACHE_PAGES: i64 = 128;

/// A WAL frame's header (bytes), written before each page.
const WAL_FRAME_HEADER: u64 = 24;

/// What a job leaves to do once its group's commit is known: answer its caller.
type Completion = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// A write waiting for the writer thread.
trait WriteJob: Send {
    /// Runs the statements (inside the group's transaction, in a savepoint of its own).
    fn run(self: Box<Self>, conn: &Connection) -> Completion;
    /// Answers the caller with `error` without running (the transaction could not start).
    fn fail(self: Box<Self>, error: &StoreError);
}

type Job = Box<dyn WriteJob>;

struct TypedJob<F, R> {
    f: F,
    done: tokio::sync::oneshot::Sender<Result<R, StoreError>>,
}

impl<F, R> WriteJob for TypedJob<F, R>
where
    F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    R: Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Completion {
        let TypedJob { f, done } = *self;
        let outcome = in_savepoint(conn, f);
        Box::new(move |commit_error: Option<&StoreError>| {
            let outcome = match (outcome, commit_error) {
                (Ok(_), Some(e)) => Err(copy_error(e)),
                (outcome, _) => outcome,
            };
            let _ = done.send(outcome);
        })
    }

    fn fail(self: Box<Self>, error: &StoreError) {
        let _ = self.done.send(Err(copy_error(error)));
    }
}

/// A copy of a commit error for each caller of the group.
fn copy_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::Backend(e) => StoreError::Backend(e.clone()),
        _ => StoreError::Closed,
    }
}

/// Bytes written to the store's files by this process (for `/metrics` and the bench).
#[derive(Debug, Default)]
pub struct WrittenBytes {
    /// Bytes appended to the WAL by commits (frames x (page size + frame header)).
    pub wal: AtomicU64,
    /// Bytes written into the database file by this process's checkpoints: what the
    /// checkpointer thread handed to `write` calls during each checkpoint (`wchar` of
    /// `/proc/thread-self/io`, Linux). Where that file cannot be read, an upper bound: frames
    /// backfilled x page size (a checkpoint writes each page once, its latest frame, however
    /// many frames the WAL holds for it).
    pub db: AtomicU64,
    /// Write units run (each caller's `write` or `write_grouped`).
    pub writes: AtomicU64,
    /// Transactions committed (a group of write units each).
    pub commits: AtomicU64,
    /// How many times the writer saw the WAL restart from its first frame (after a checkpoint
    /// copied all of it), so the checkpointer knows its frame counts start over.
    pub wal_restarts: AtomicU64,
}

/// The running engine of one store file.
pub(crate) struct Engine {
    path: PathBuf,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    /// The write connection, shared by the writer thread and writes run on their caller's
    /// thread; `None` once the writer thread has closed it.
    writer: Arc<Mutex<Option<Writer>>>,
    /// Jobs queued for the writer thread and not yet taken: while there are any, a new write
    /// queues behind them instead of running on its caller's thread.
    queued: Arc<AtomicU64>,
    /// Units of [`write_grouped`](Self::write_grouped) waiting for their group's commit.
    grouped: Arc<Mutex<Vec<Job>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    written: Arc<WrittenBytes>,
    stop_checkpointer: Mutex<Option<mpsc::Sender<()>>>,
    /// The writer and checkpointer threads, joined by [`Engine::close`].
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Set by [`Engine::close`]: readers open no new connection.
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens (creating if needed) the store file at `path`, brings its schema up to date and
    /// starts the writer and checkpointer threads.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            fs::create_private_dir_all(parent)
                .map_err(|e| StoreError::io("create folder", parent, e))?;
        }
        // Create the file ourselves so it never exists with a wider mode.
        fs::open_private_append(path).map_err(|e| StoreError::io("create", path, e))?;

        let mut writer = connect(path)?;
        // A new (empty) file gets small pages: every commit writes whole pages to the WAL, and
        // the rows a message touches are small, so 1 KiB pages write a quarter of the bytes of
        // SQLite's default 4 KiB. An existing file keeps its page size (it cannot change in WAL
        // mode); this is a no-op for it.
        writer
            .pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(db_error)?;
        // Switching to WAL (first open) and WAL recovery can report "busy" at once, without
        // waiting on the busy timeout, when another process opens the file at the same moment.
        let mode: String = retry_busy(|| {
            writer
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(db_error)
        })?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "state store could not switch to WAL");
        }
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(db_error)?;
        writer
            .pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)
            .map_err(db_error)?;
        retry_busy(|| migrations::apply(&mut writer, migrations::MIGRATIONS))?;

        for suffix in ["-wal", "-shm"] {
            let companion = companion(path, suffix);
            fs::tighten_if_exists(&companion)
                .map_err(|e| StoreError::io("set permissions", &companion, e))?;
        }

        let page_size: i64 = writer
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(db_error)?;
        let page_size = u64::try_from(page_size).unwrap_or(4096);
        let written = Arc::new(WrittenBytes::default());
        writer.wal_hook(Some(count_wal_frames));

        let (jobs, queue) = mpsc::channel::<Job>();
        let shared_writer = Arc::new(Mutex::new(Some(Writer {
            conn: writer,
            frames_before: 0,
            page_size,
            written: Arc::clone(&written),
        })));
        let queued = Arc::new(AtomicU64::new(0));
        let thread_writer = Arc::clone(&shared_writer);
        let thread_queued = Arc::clone(&queued);
        let writer_thread = std::thread::Builder::new()
            .name("moltbot-store-writer".into())
            .spawn(move || run_writer(&thread_writer, &queue, &thread_queued))
            .map_err(|e| StoreError::io("start the writer thread for", path, e))?;

        let (stop, stopped) = mpsc::channel::<()>();
        let checkpointer = connect_small(path)?;
        let checkpoint_written = Arc::clone(&written);
        let checkpoint_path = path.to_path_buf();
        let checkpoint_thread = std::thread::Builder::new()
            .name("moltbot-store-checkpoint".into())
            .spawn(move || {
                run_checkpointer(
                    &checkpointer,
                    &checkpoint_path,
                    &stopped,
                    &checkpoint_written,
                    page_size,
                )
            })
            .map_err(|e| StoreError::io("start the checkpoint thread for", path, e))?;

        Ok(Self {
            path: path.to_path_buf(),
            jobs: Mutex::new(Some(jobs)),
            writer: shared_writer,
            queued,
            grouped: Arc::default(),
            readers: Arc::new(Mutex::new(Vec::new())),
            written,
            stop_checkpointer: Mutex::new(Some(stop)),
            threads: Mutex::new(vec![writer_thread, checkpoint_thread]),
            closed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        })
    }

    /// Closes the store cleanly, waiting (on tokio's blocking pool) until it is done: the
    /// checkpointer stops, idle readers close, the writer finishes the queued jobs,
    /// checkpoints the WAL and closes last, which makes SQLite copy the whole WAL into the
    /// database file and delete the `-wal` and `-shm` files (when no other process has the file
    /// open). Later writes fail with [`StoreError::Closed`]; reads still running finish first.
    pub(crate) async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.stop_checkpointer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        let readers = Arc::clone(&self.readers);
        let jobs = self
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let join = move || {
            // The checkpointer first, then the idle readers: the writer's connection must be
            // the last one open for SQLite to remove the WAL.
            let mut threads = threads.into_iter();
            let writer = threads.next();
            for thread in threads {
                let _ = thread.join();
            }
            readers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            drop(jobs);
            if let Some(writer) = writer {
                let _ = writer.join();
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(_) => {
                let _ = tokio::task::spawn_blocking(join).await;
            }
            Err(_) => join(),
        }
    }

    /// The store file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written to the files so far by this process.
    pub(crate) fn written(&self) -> &WrittenBytes {
        &self.written
    }

    /// Runs `f` in a transaction of the write connection and returns its result once it has
    /// committed: on the caller's thread when the connection is free and nothing is queued
    /// for it, else on the writer thread inside the current group's transaction (in a
    /// savepoint of its own).
    pub(crate) async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let f = match self.write_now(f) {
            Ok(result) => return result,
            Err(f) => f,
        };
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(TypedJob { f, done });
        {
            let jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(jobs) = jobs.as_ref() else {
                return Err(StoreError::Closed);
            };
            if queue_for_writer(jobs, &self.queued, job).is_err() {
                return Err(StoreError::Closed);
            }
        }
        result.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` like [`write`](Self::write), in a transaction shared with the other units
    /// written this way before the caller's runtime gets back to this one: the first unit
    /// starts a task that yields once (so the tasks ready behind it, and those woken by the
    /// network meanwhile, run up to their own units first), then runs the group on the thread
    /// that runs that task (the gateway's one thread), one savepoint per unit (a failing unit
    /// is rolled back alone), commits once and answers every caller. At most
    /// [`MAX_INLINE_GROUP`] units a pass, so the thread is not held long; the writer thread
    /// takes the group instead when the connection is taken, units are queued for it, or
    /// another process holds the file's write lock. For the message path's units after the
    /// claim ("the agent answered", "sent and replied"): in a burst the rooms' workers are
    /// ready together on the gateway's one thread, and their units share a commit, which
    /// writes each page they touch (a table's last leaf, an index page) and takes the file's
    /// locks once per group instead of once per message. A lone unit commits after one pass
    /// through the ready tasks (microseconds). Errors: as [`write`](Self::write), and
    /// [`StoreError::Closed`] when the runtime shut down before the group was committed.
    /// Outside a tokio runtime, the same as [`write`](Self::write).
    pub(crate) async fn write_grouped<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self.write(f).await;
        };
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(TypedJob { f, done });
        let first = {
            let mut group = self.grouped.lock().unwrap_or_else(PoisonError::into_inner);
            group.push(job);
            group.len() == 1
        };
        if first {
            let mut flusher = GroupFlusher {
                grouped: Arc::clone(&self.grouped),
                finished: false,
            };
            let writer = Arc::clone(&self.writer);
            let queued = Arc::clone(&self.queued);
            let jobs = self
                .jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            // A task of its own, so the group is committed even when the caller who started
            // it stops waiting.
            runtime.spawn(async move {
                loop {
                    tokio::task::yield_now().await;
                    let (group, more) = flusher.take();
                    if !more {
                        // Units written from now on are the next flusher's, even if this
                        // commit panics.
                        flusher.finish();
                    }
                    commit_group_here(&writer, &queued, group, jobs.as_ref());
                    if !more {
                        break;
                    }
                }
            });
        }
        result.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on the calling thread when the write connection is free, nothing is queued
    /// for the writer thread and no other process holds the file's write lock; gives `f` back
    /// otherwise (before running it).
    fn write_now<F, R>(&self, f: F) -> Result<Result<R, StoreError>, F>
    where
        F: FnOnce(&Connection) -> Result<R, StoreError>,
    {
        run_here(&self.writer, &self.queued, f, |writer, f| {
            let outcome = {
                let unwinding = RollbackOnUnwind::new(&writer.conn);
                let outcome = f(&writer.conn);
                unwinding.disarm();
                outcome
            };
            match outcome {
                Ok(value) => writer.commit(1).map(|()| value),
                Err(err) => {
                    let _ = writer.conn.execute_batch("ROLLBACK");
                    Err(err)
                }
            }
        })
    }

    /// Runs `f` with a reader connection on tokio's blocking pool.
    pub(crate) async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let readers = Arc::clone(&self.readers);
        let path = self.path.clone();
        let closed = Arc::clone(&self.closed);
        let run = move || with_reader(&readers, &path, &closed, f);
        // Outside a tokio runtime (a synchronous caller blocking on the future), read inline.
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::spawn_blocking(run).await?,
            Err(_) => run(),
        }
    }

    /// Runs `f` on the calling thread: with the write connection when it is free and nothing
    /// is queued for it (its page cache stays valid, since it made every change, where a
    /// reader connection drops its cache whenever the file changed and reads the pages
    /// again), else with a reader connection. For the point reads of the message path (a
    /// lookup by key through an index, a few rows: tens of microseconds), where a round trip
    /// through the blocking pool (two thread wake-ups) costs more than the read and adds its
    /// latency to every message. A WAL reader does not wait for the writer nor the
    /// checkpointer (<https://sqlite.org/wal.html#concurrency>); only the rare WAL-index
    /// recovery after another process crashed can make it wait, within [`BUSY_TIMEOUT`].
    pub(crate) fn read_now<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        if self.queued.load(Ordering::Acquire) == 0 {
            if let Some(mut guard) = try_lock_free(&self.writer) {
                if let Some(writer) = guard.as_mut() {
                    if self.closed.load(Ordering::SeqCst) {
                        return Err(StoreError::Closed);
                    }
                    return f(&writer.conn);
                }
            }
        }
        with_reader(&self.readers, &self.path, &self.closed, f)
    }
}

/// Runs `f` with an idle reader connection (a new one when none is idle), then keeps it for
/// the next read unless enough are idle or the store is closing.
fn with_reader<R>(
    readers: &Mutex<Vec<Connection>>,
    path: &Path,
    closed: &std::sync::atomic::AtomicBool,
    f: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    if closed.load(Ordering::SeqCst) {
        return Err(StoreError::Closed);
    }
    let idle = readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
    let conn = match idle {
        Some(conn) => conn,
        None => connect_small(path)?,
    };
    let result = f(&conn);
    let mut idle = readers.lock().unwrap_or_else(PoisonError::into_inner);
    if idle.len() < MAX_IDLE_READERS && !closed.load(Ordering::SeqCst) {
        idle.push(conn);
    }
    result
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish what is queued and exit; its connection then
        // closes, which checkpoints and removes the WAL when it is the last one.
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.stop_checkpointer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut companion = path.as_os_str().to_owned();
    companion.push(suffix);
    PathBuf::from(companion)
}

/// Opens a connection with the store's settings.
pub(crate) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db_error)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The query planner stability guarantee: a cached statement keeps its plan whatever values
    // are bound. Without it, SQLite (3.4x) re-prepares a statement every time a new value is
    // bound to a parameter the planner looked at (`LIMIT ?` of the session history read, run
    // for every message), which costs more than the query itself. Our plans do not depend on
    // bound values (no LIKE, no ANALYZE statistics).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(db_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_error)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(db_error)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(db_error)?;
    Ok(conn)
}

/// A connection for reading or checkpointing: the store's settings with a small page cache,
/// which keeps the idle footprint down (the hot rows fit easily).
fn connect_small(path: &Path) -> Result<Connection, StoreError> {
    let conn = connect(path)?;
    conn.pragma_update(None, "cache_size", SMALL_CACHE_PAGES)
        .map_err(db_error)?;
    Ok(conn)
}

/// Runs a statement without parameters or rows through the connection's statement cache, so
/// the transaction control statements every write unit runs are parsed once per connection.
fn run_cached(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(|_| ())
        .map_err(db_error)
}

/// Rolls the write connection's open transaction back when dropped armed: a write unit that
/// panicked leaves no transaction open (every later `BEGIN` would fail) and nothing of its
/// group is committed. [`disarm`](Self::disarm) it once the units have run.
struct RollbackOnUnwind<'a> {
    conn: &'a Connection,
    armed: bool,
}

impl<'a> RollbackOnUnwind<'a> {
    fn new(conn: &'a Connection) -> Self {
        Self { conn, armed: true }
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for RollbackOnUnwind<'_> {
    fn drop(&mut self) {
        if self.armed && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// The write connection's lock when nobody holds it (also when a panic poisoned it: the
/// connection was left without an open transaction, see [`RollbackOnUnwind`]).
fn try_lock_free<T>(lock: &Mutex<T>) -> Option<std::sync::MutexGuard<'_, T>> {
    match lock.try_lock() {
        Ok(guard) => Some(guard),
        Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// The error of every unit of a group whose transaction SQLite rolled back.
fn transaction_lost() -> StoreError {
    StoreError::Backend(crate::store::BackendError {
        backend: "sqlite",
        kind: crate::store::BackendErrorKind::Unavailable,
        message: "SQLite rolled the transaction back (a full disk, an I/O error or no memory); \
                  nothing of this group of writes was stored"
            .to_owned(),
    })
}

fn in_savepoint<R>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    run_cached(conn, "SAVEPOINT job")?;
    match f(conn) {
        Ok(value) => {
            run_cached(conn, "RELEASE job")?;
            Ok(value)
        }
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            Err(err)
        }
    }
}

thread_local! {
    /// Frames in the WAL after the last commit on this thread (set by the WAL hook).
    static WAL_FRAMES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count_wal_frames(_db: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|cell| cell.set(u64::try_from(frames).unwrap_or(0)));
    Ok(())
}

/// The write connection and what its commits are counted with.
struct Writer {
    conn: Connection,
    /// Frames in the WAL after the previous commit.
    frames_before: u64,
    page_size: u64,
    written: Arc<WrittenBytes>,
}

impl Writer {
    /// `BEGIN IMMEDIATE`, failing at once (false) instead of waiting when another process
    /// holds the write lock.
    fn begin_without_waiting(&mut self) -> bool {
        if self.conn.busy_timeout(Duration::ZERO).is_err() {
            return false;
        }
        let begun = run_cached(&self.conn, "BEGIN IMMEDIATE").is_ok();
        let _ = self.conn.busy_timeout(BUSY_TIMEOUT);
        begun
    }

    /// Runs `group` in the open transaction, each unit in a savepoint of its own, and commits;
    /// returns what answers each unit's caller and the group's error, if any. When SQLite
    /// rolled the whole transaction back under a unit (it may on a full disk, an I/O error or
    /// out of memory: <https://sqlite.org/lang_transaction.html>, "Response To Errors Within
    /// A Transaction"), the units after it are not run (each would start and commit a
    /// transaction of its own) and every unit of the group fails.
    fn run_group(&mut self, group: Vec<Job>) -> (Vec<Completion>, Option<StoreError>) {
        let mut completions = Vec::with_capacity(group.len());
        let mut lost = None;
        let unwinding = RollbackOnUnwind::new(&self.conn);
        for job in group {
            if let Some(error) = &lost {
                job.fail(error);
                continue;
            }
            completions.push(job.run(&self.conn));
            if self.conn.is_autocommit() {
                lost = Some(transaction_lost());
            }
        }
        unwinding.disarm();
        if lost.is_some() {
            return (completions, lost);
        }
        let error = self.commit(completions.len() as u64).err();
        (completions, error)
    }

    /// Commits the open transaction of `units` write units and counts its WAL frames; rolls
    /// back when the commit fails.
    fn commit(&mut self, units: u64) -> Result<(), StoreError> {
        // The WAL hook sets this thread's count during the commit; a commit that writes no
        // frame does not call it, so start from the last count (commits run on any thread).
        WAL_FRAMES.with(|cell| cell.set(self.frames_before));
        let committed = run_cached(&self.conn, "COMMIT");
        if committed.is_err() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        // Set by the WAL hook on this thread during the commit.
        let frames_after = WAL_FRAMES.with(std::cell::Cell::get);
        let written = &self.written;
        // The WAL restarts from frame 0 after a complete checkpoint.
        let appended = if frames_after >= self.frames_before {
            frames_after - self.frames_before
        } else {
            written.wal_restarts.fetch_add(1, Ordering::Relaxed);
            frames_after
        };
        self.frames_before = frames_after;
        written.wal.fetch_add(
            appended * (self.page_size + WAL_FRAME_HEADER),
            Ordering::Relaxed,
        );
        written.writes.fetch_add(units, Ordering::Relaxed);
        if committed.is_ok() {
            written.commits.fetch_add(1, Ordering::Relaxed);
        }
        committed
    }
}

/// The most units a group committed on a runtime's thread takes at once
/// ([`Engine::write_grouped`]); more wait for the next pass, so the thread is held about a
/// millisecond at most (a unit of the message path takes 20-50 µs).
const MAX_INLINE_GROUP: usize = 32;

/// The task that commits the grouped units ([`Engine::write_grouped`]): there is one while
/// units wait (the unit that finds none waiting starts it), so when it is dropped before it
/// finished (its runtime shut down), the units left are its own, and their callers are told
/// the store is closed instead of waiting forever.
struct GroupFlusher {
    grouped: Arc<Mutex<Vec<Job>>>,
    finished: bool,
}

impl GroupFlusher {
    /// The next units to commit (at most [`MAX_INLINE_GROUP`]), and whether more are waiting.
    fn take(&self) -> (Vec<Job>, bool) {
        let mut waiting = self.grouped.lock().unwrap_or_else(PoisonError::into_inner);
        let n = waiting.len().min(MAX_INLINE_GROUP);
        let group: Vec<Job> = waiting.drain(..n).collect();
        (group, !waiting.is_empty())
    }

    /// Nothing is left to commit: units written from now on start a flusher of their own.
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for GroupFlusher {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let left =
            std::mem::take(&mut *self.grouped.lock().unwrap_or_else(PoisonError::into_inner));
        for job in left {
            job.fail(&StoreError::Closed);
        }
    }
}

/// Runs `run` with `arg` and the write connection, in a transaction begun on the calling thread,
/// when the connection is free, nothing is queued for the writer thread and no other process
/// holds the file's write lock; gives `arg` back otherwise (before running anything), also
/// when the store is closed. The connection's lock is released before this returns.
fn run_here<A, R>(
    writer: &Mutex<Option<Writer>>,
    queued: &AtomicU64,
    arg: A,
    run: impl FnOnce(&mut Writer, A) -> R,
) -> Result<R, A> {
    if queued.load(Ordering::Acquire) > 0 {
        return Err(arg);
    }
    let Some(mut guard) = try_lock_free(writer) else {
        return Err(arg);
    };
    let Some(open) = guard.as_mut() else {
        return Err(arg);
    };
    if !open.begin_without_waiting() {
        return Err(arg);
    }
    Ok(run(open, arg))
}

/// Queues `job` for the writer thread, counted in `queued`; gives it back when the thread is
/// gone (the store closed).
fn queue_for_writer(jobs: &mpsc::Sender<Job>, queued: &AtomicU64, job: Job) -> Result<(), Job> {
    queued.fetch_add(1, Ordering::AcqRel);
    jobs.send(job).map_err(|mpsc::SendError(job)| {
        queued.fetch_sub(1, Ordering::AcqRel);
        job
    })
}

/// Commits `group` ([`Engine::write_grouped`]) on the calling thread when [`run_here`] can;
/// otherwise queues its units for the writer thread (behind what is queued there, so units keep
/// their order), or fails them when the store is closed.
fn commit_group_here(
    writer: &Mutex<Option<Writer>>,
    queued: &AtomicU64,
    group: Vec<Job>,
    jobs: Option<&mpsc::Sender<Job>>,
) {
    match run_here(writer, queued, group, Writer::run_group) {
        Ok((completions, error)) => {
            for completion in completions {
                completion(error.as_ref());
            }
        }
        Err(group) => {
            for job in group {
                let queued_job = match jobs {
                    Some(jobs) => queue_for_writer(jobs, queued, job),
                    None => Err(job),
                };
                if let Err(job) = queued_job {
                    job.fail(&StoreError::Closed);
                }
            }
        }
    }
}

fn run_writer(writer: &Mutex<Option<Writer>>, queue: &mpsc::Receiver<Job>, queued: &AtomicU64) {
    while let Ok(first) = queue.recv() {
        let mut guard = writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // Taken: writes arriving from now on may run on their callers' threads again (they
        // wait for this group's commit on the connection's lock).
        queued.fetch_sub(group.len() as u64, Ordering::AcqRel);
        let Some(writer) = guard.as_mut() else {
            for job in group {
                job.fail(&StoreError::Closed);
            }
            continue;
        };
        let begun = retry_busy(|| run_cached(&writer.conn, "BEGIN IMMEDIATE"));
        if let Err(err) = begun {
            for job in group {
                job.fail(&err);
            }
            continue;
        }
        // A unit that panics fails its group (its callers hear the store is closed; the
        // transaction was rolled back) but not the thread: later writes still have a writer.
        let ran =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| writer.run_group(group)));
        drop(guard);
        let Ok((completions, error)) = ran else {
            tracing::error!("a state store write panicked; its group of writes was rolled back");
            continue;
        };
        for completion in completions {
            completion(error.as_ref());
        }
    }
    // Queue closed: make the WAL's content part of the database before the connection closes.
    let closing = writer.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(writer) = closing {
        let _ = writer.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
        drop(writer.conn.close());
    }
}

fn run_checkpointer(
    conn: &Connection,
    path: &Path,
    stop: &mpsc::Receiver<()>,
    written: &WrittenBytes,
    page_size: u64,
) {
    let mut copied_before = 0u64;
    let mut restarts_before = 0u64;
    let mut wal_before = 0u64;
    loop {
        match stop.recv_timeout(CHECKPOINT_EVERY) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        // Nothing new since the last pass: skip (an idle gateway does no I/O).
        let wal_now = written.wal.load(Ordering::Relaxed);
        if wal_now == wal_before {
            continue;
        }
        wal_before = wal_now;
        let restarts = written.wal_restarts.load(Ordering::Relaxed);
        // PASSIVE waits for nobody, but under sustained load readers and writers keep the WAL
        // from restarting; past a bound, TRUNCATE waits (briefly: readers are short) until the
        // WAL can start over, so it stays bounded.
        let wal_file = std::fs::metadata(companion(path, "-wal")).map_or(0, |m| m.len());
        let mode = if wal_file > WAL_TRUNCATE_AT {
            "TRUNCATE"
        } else {
            "PASSIVE"
        };
        let wrote_before = thread_wchar();
        let result = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        let wrote = thread_wchar()
            .zip(wrote_before)
            .map(|(after, before)| after.saturating_sub(before));
        match result {
            // Another connection was checkpointing (-1, -1): count its work at the next pass.
            Ok((log, _)) if log < 0 => {}
            Ok((_log, copied)) => {
                let copied = u64::try_from(copied).unwrap_or(0);
                // `copied` counts the frames of the current WAL copied so far. The WAL restarts
                // only after everything in it was copied (and counted by an earlier pass), so
                // after a restart the whole count is new.
                let new = if restarts != restarts_before {
                    copied
                } else {
                    copied.saturating_sub(copied_before)
                };
                restarts_before = restarts;
                copied_before = copied;
                let bytes = wrote.unwrap_or(new * page_size);
                written.db.fetch_add(bytes, Ordering::Relaxed);
            }
            Err(err) => tracing::debug!(error = %err, "state store checkpoint skipped"),
        }
    }
}

/// Bytes the calling thread has handed to `write`-family calls so far (`wchar` in
/// `/proc/thread-self/io`, Linux: <https://docs.kernel.org/filesystems/proc.html>), `None` where
/// that file cannot be read. A checkpoint on this thread writes only the database file.
fn thread_wchar() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Retries `f` while SQLite reports the database busy or locked, for up to [`BUSY_TIMEOUT`].
pub(crate) fn retry_busy<R>(mut f: impl FnMut() -> Result<R, StoreError>) -> Result<R, StoreError> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match f() {
            Err(StoreError::Backend(e))
                if e.kind == crate::store::BackendErrorKind::Busy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings of a connection that can only be read on that connection.
    fn settings(conn: &Connection) -> Result<(String, i64, i64, i64, bool), StoreError> {
        let read = |pragma: &str| -> Result<i64, StoreError> {
            conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
                .map_err(db_error)
        };
        let journal: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(db_error)?;
        Ok((
            journal,
            read("synchronous")?,
            read("foreign_keys")?,
            read("busy_timeout")?,
            conn.db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG)
                .map_err(db_error)?,
        ))
    }

    /// How often the cached `LIMIT ?` statement was prepared again after running it with
    /// `limits` bound in turn.
    fn reprepares(conn: &Connection, limits: &[i64]) -> Result<i32, StoreError> {
        let sql = "SELECT key FROM kv WHERE key > ?1 ORDER BY key LIMIT ?2";
        for limit in limits {
            let mut stmt = conn.prepare_cached(sql)?;
            let _rows: Vec<String> = stmt
                .query_map(rusqlite::params!["", limit], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
        }
        let stmt = conn.prepare_cached(sql)?;
        Ok(stmt.get_status(rusqlite::StatementStatus::RePrepare))
    }

    /// A checkpoint writes each page once, its latest version, however many commits rewrote it:
    /// the database's count is what was written, not the WAL frames copied (Linux; elsewhere
    /// the count is the upper bound and this test says nothing).
    #[tokio::test]
    async fn a_checkpoint_counts_the_pages_it_wrote_not_the_frames_it_copied() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(&dir.path().join("s.sqlite")).unwrap();
        let put = |i: i64| {
            engine.write(move |c| {
                c.execute(
                    "INSERT OR REPLACE INTO kv (namespace, key, value, updated_at)
                     VALUES ('test', 'k', ?1, ?1)",
                    rusqlite::params![i],
                )?;
                Ok(())
            })
        };
        let written = engine.written();
        let db = || written.db.load(Ordering::Relaxed);
        // The first checkpoint (the checkpointer looks about once a second) also copies the
        // schema the store was created with.
        put(0).await.unwrap();
        assert!(wait_for(|| db() > 0).await, "no first checkpoint");
        let (db_before, wal_before) = (db(), written.wal.load(Ordering::Relaxed));
        for i in 1..=300 {
            put(i).await.unwrap();
        }
        let wal = written.wal.load(Ordering::Relaxed) - wal_before;
        assert!(wait_for(|| db() > db_before).await, "no second checkpoint");
        let copied = db() - db_before;
        if thread_wchar().is_some() {
            // 300 commits of the same row: hundreds of frames in the WAL, a page or two
            // written into the database.
            assert!(
                copied * 20 < wal,
                "db {copied} bytes against a WAL of {wal}"
            );
        } else {
            assert!(copied > 0);
        }
    }

    /// Polls `done` every 10 ms for up to 10 s; whether it became true.
    async fn wait_for(done: impl Fn() -> bool) -> bool {
        for _ in 0..1000 {
            if done() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn cached_statements_are_not_prepared_again_for_new_values() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(&dir.path().join("s.sqlite")).unwrap();
        let limits = [1, 2, 3, 20];
        assert_eq!(
            engine.write(move |c| reprepares(c, &limits)).await.unwrap(),
            0
        );
        assert_eq!(
            engine.read(move |c| reprepares(c, &limits)).await.unwrap(),
            0
        );
    }

    #[tokio::test]
    async fn close_leaves_one_whole_file_and_refuses_later_work() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let engine = Engine::open(&path).unwrap();
        engine
            .write(|c| {
                c.execute(
                    "INSERT INTO kv (namespace, key, value, updated_at) VALUES ('n', 'k', 'v', 0)",
                    [],
                )
                .map_err(db_error)
            })
            .await
            .unwrap();
        engine
            .read(|c| {
                c.query_row("SELECT COUNT(*) FROM kv", [], |r| r.get::<_, i64>(0))
                    .map_err(db_error)
            })
            .await
            .unwrap();
        engine.close().await;
        engine.close().await; // twice is harmless
        assert!(!companion(&path, "-wal").exists());
        assert!(!companion(&path, "-shm").exists());
        assert!(matches!(
            engine.write(|_| Ok(())).await,
            Err(StoreError::Closed)
        ));
        assert!(matches!(
            engine.read(|_| Ok(())).await,
            Err(StoreError::Closed)
        ));
        // The file alone holds the row.
        let conn = Connection::open(&path).unwrap();
        let value: String = conn
            .query_row("SELECT value FROM kv WHERE key = 'k'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(value, "v");
    }

    /// The name of the thread a write unit ran on.
    fn thread_name(_: &Connection) -> Result<Option<String>, StoreError> {
        Ok(std::thread::current().name().map(str::to_owned))
    }

    // The test holds the write connection's lock across awaits on purpose: on this
    // single-threaded runtime nothing else takes it but the writer thread, which must wait.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test]
    async fn an_idle_write_runs_on_its_callers_thread_and_a_contended_one_on_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(&dir.path().join("s.sqlite")).unwrap());
        let here = std::thread::current().name().map(str::to_owned);
        assert_eq!(engine.write(thread_name).await.unwrap(), here);

        // While the connection is taken, a write is queued for the writer thread, and so is
        // one arriving while that one is queued.
        let taken = engine.writer.lock().unwrap();
        let first = tokio::spawn({
            let engine = Arc::clone(&engine);
            async move { engine.write(thread_name).await }
        });
        while engine.queued.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        drop(taken);
        let second = engine.write(thread_name).await.unwrap();
        let writer = Some("moltbot-store-writer".to_owned());
        assert_eq!(first.await.unwrap().unwrap(), writer);
        // The second either queued behind the first or ran here once the queue was empty.
        assert!(second == writer || second == here, "{second:?}");
        assert_eq!(engine.queued.load(Ordering::Acquire), 0);
        assert_eq!(engine.write(thread_name).await.unwrap(), here);
    }

    /// A write unit that puts `key` into `kv` (and fails after writing when `fail`), and says
    /// which thread it ran on.
    fn insert(
        key: &str,
        fail: bool,
    ) -> impl FnOnce(&Connection) -> Result<Option<String>, StoreError> + Send + 'static {
        let key = key.to_owned();
        move |c| {
            c.execute(
                "INSERT INTO kv (namespace, key, value, updated_at) VALUES ('n', ?1, 'v', 0)",
                [&key],
            )
            .map_err(db_error)?;
            if fail {
                return Err(unit_failed());
            }
            thread_name(c)
        }
    }

    /// `unit` written grouped, in a task of its own.
    fn spawn_grouped<R: Send + 'static>(
        engine: &Arc<Engine>,
        unit: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> tokio::task::JoinHandle<Result<R, StoreError>> {
        let engine = Arc::clone(engine);
        tokio::spawn(async move { engine.write_grouped(unit).await })
    }

    /// [`insert`] as a grouped unit, in a task of its own.
    fn put_grouped(
        engine: &Arc<Engine>,
        key: &str,
        fail: bool,
    ) -> tokio::task::JoinHandle<Result<Option<String>, StoreError>> {
        spawn_grouped(engine, insert(key, fail))
    }

    /// The error of a unit that fails on purpose.
    fn unit_failed() -> StoreError {
        StoreError::Decode {
            what: "test unit",
            detail: "failed on purpose".into(),
        }
    }

    fn keys(engine: &Engine) -> Vec<String> {
        engine
            .read_now(|c| {
                let mut stmt = c.prepare("SELECT key FROM kv ORDER BY key")?;
                let keys = stmt
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(keys)
            })
            .unwrap()
    }

    /// The rooms' workers of a burst, ready together on the gateway's one thread: their units
    /// share one commit, made on that thread, and a unit that fails is rolled back alone.
    #[tokio::test]
    async fn units_written_grouped_in_one_pass_share_a_commit_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(&dir.path().join("s.sqlite")).unwrap());
        let written = engine.written();
        let commits_before = written.commits.load(Ordering::Relaxed);
        let writes_before = written.writes.load(Ordering::Relaxed);

        let units: Vec<_> = ["a", "b", "c", "d"]
            .iter()
            .map(|key| put_grouped(&engine, key, *key == "c"))
            .collect();
        let mut outcomes = Vec::new();
        for unit in units {
            outcomes.push(unit.await.unwrap());
        }

        let here = std::thread::current().name().map(str::to_owned);
        assert_eq!(outcomes[0].as_ref().unwrap(), &here);
        assert!(
            matches!(outcomes[2], Err(StoreError::Decode { .. })),
            "{outcomes:?}"
        );
        assert!(outcomes[3].is_ok(), "{outcomes:?}");
        assert_eq!(keys(&engine), ["a", "b", "d"]);
        assert_eq!(written.commits.load(Ordering::Relaxed) - commits_before, 1);
        assert_eq!(written.writes.load(Ordering::Relaxed) - writes_before, 4);

        // A lone unit later commits on its own.
        put_grouped(&engine, "e", false).await.unwrap().unwrap();
        assert_eq!(written.commits.load(Ordering::Relaxed) - commits_before, 2);
    }

    /// A unit made by a task that was ready behind the task committing the group (a room
    /// worker whose fetch came back in the same pass) still joins it: the group waits for one
    /// pass through the ready tasks before it commits.
    #[tokio::test]
    async fn a_unit_ready_behind_the_committing_task_joins_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(&dir.path().join("s.sqlite")).unwrap());
        let commits = || engine.written().commits.load(Ordering::Relaxed);
        let before = commits();
        let both = tokio::spawn({
            let engine = Arc::clone(&engine);
            async move {
                // The first unit waits in the group and starts the committing task...
                let mut first = Box::pin(engine.write_grouped(insert("a", false)));
                assert!(futures::poll!(first.as_mut()).is_pending());
                // ...and a task made ready after it writes the second.
                let second = put_grouped(&engine, "b", false);
                (first.await, second.await)
            }
        });
        let (first, second) = both.await.unwrap();
        first.unwrap();
        second.unwrap().unwrap();
        assert_eq!(keys(&engine), ["a", "b"]);
        assert_eq!(commits() - before, 1);
    }

    /// More units than one inline group takes are committed over several passes, none lost.
    #[tokio::test]
    async fn a_large_group_is_committed_in_passes_of_bounded_size() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(&dir.path().join("s.sqlite")).unwrap());
        let commits = || engine.written().commits.load(Ordering::Relaxed);
        let before = commits();
        let n = MAX_INLINE_GROUP * 2 + 1;
        let units: Vec<_> = (0..n)
            .map(|i| put_grouped(&engine, &format!("k{i:03}"), false))
            .collect();
        for unit in units {
            unit.await.unwrap().unwrap();
        }
        assert_eq!(keys(&engine).len(), n);
        assert_eq!(commits() - before, 3);
    }

    /// When SQLite rolls the whole transaction back under a unit (as it may on a full disk),
    /// the units after it are not run on their own and every unit of the group fails.
    #[tokio::test]
    async fn a_group_whose_transaction_was_rolled_back_fails_whole() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(&dir.path().join("s.sqlite")).unwrap());
        let before = put_grouped(&engine, "a", false);
        let rolled_back = spawn_grouped(&engine, |c| {
            c.execute_batch("ROLLBACK").map_err(db_error)?;
            Err::<(), _>(unit_failed())
        });
        let after = put_grouped(&engine, "c", false);
        assert!(before.await.unwrap().is_err());
        assert!(rolled_back.await.unwrap().is_err());
        assert!(after.await.unwrap().is_err());
        assert!(keys(&engine).is_empty());
        // The connection is usable again.
        put_grouped(&engine, "d", false).await.unwrap().unwrap();
        assert_eq!(keys(&engine), ["d"]);
    }

    /// A unit that panics fails its group (its callers hear the store is closed), leaves no
    /// transaction open, and later writes work.
    #[tokio::test]
    async fn a_panicking_unit_fails_its_group_and_the_store_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(&dir.path().join("s.sqlite")).unwrap());
        let other = put_grouped(&engine, "a", false);
        let panicking = spawn_grouped(&engine, |_| -> Result<(), StoreError> {
            panic!("a unit panicked")
        });
        assert!(matches!(other.await.unwrap(), Err(StoreError::Closed)));
        assert!(matches!(panicking.await.unwrap(), Err(StoreError::Closed)));
        assert!(keys(&engine).is_empty());
        put_grouped(&engine, "b", false).await.unwrap().unwrap();
        engine.write(thread_name).await.unwrap();
        assert_eq!(keys(&engine), ["b"]);
    }

    /// A unit that panics on the writer thread fails its group but not the thread.
    // Holds the write connection's lock across an await on purpose, as the test above.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test]
    async fn a_panicking_unit_on_the_writer_thread_leaves_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(&dir.path().join("s.sqlite")).unwrap());
        let taken = engine.writer.lock().unwrap();
        let panicking = tokio::spawn({
            let engine = Arc::clone(&engine);
            async move {
                engine
                    .write(|_| -> Result<(), StoreError> { panic!("a unit panicked") })
                    .await
            }
        });
        while engine.queued.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        drop(taken);
        assert!(matches!(panicking.await.unwrap(), Err(StoreError::Closed)));
        // Queued again for the writer thread, which still runs.
        let taken = engine.writer.lock().unwrap();
        let later = put_grouped(&engine, "k", false);
        while engine.queued.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        drop(taken);
        assert_eq!(
            later.await.unwrap().unwrap(),
            Some("moltbot-store-writer".to_owned())
        );
        assert_eq!(keys(&engine), ["k"]);
    }

    /// Units still waiting for their group when the store closes are committed before it
    /// closes.
    #[tokio::test]
    async fn units_waiting_when_the_store_closes_are_committed_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let engine = Arc::new(Engine::open(&path).unwrap());
        let units: Vec<_> = ["a", "b"]
            .iter()
            .map(|key| put_grouped(&engine, key, false))
            .collect();
        engine.close().await;
        for unit in units {
            unit.await.unwrap().unwrap();
        }
        drop(engine);
        let reopened = Engine::open(&path).unwrap();
        assert_eq!(keys(&reopened), ["a", "b"]);
    }

    /// Without a tokio runtime (a synchronous caller blocking on the future) a grouped unit
    /// is an ordinary write.
    #[test]
    fn a_grouped_unit_outside_a_runtime_is_written_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(&dir.path().join("s.sqlite")).unwrap());
        let name = futures::executor::block_on(engine.write_grouped(thread_name)).unwrap();
        assert_eq!(name, std::thread::current().name().map(str::to_owned));
    }

    /// A write (or a group of grouped units) that cannot commit on its caller's thread,
    /// because another process holds the file's write lock, waits on the writer thread, and
    /// the caller's thread goes on meanwhile.
    #[tokio::test]
    async fn a_write_waits_for_another_process_on_the_writer_thread_not_its_callers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let engine = Arc::new(Engine::open(&path).unwrap());
        let other = connect(&path).unwrap();
        for (key, grouped) in [("k1", false), ("k2", true)] {
            other.execute_batch("BEGIN IMMEDIATE").unwrap();
            let write = if grouped {
                put_grouped(&engine, key, false)
            } else {
                let (engine, unit) = (Arc::clone(&engine), insert(key, false));
                tokio::spawn(async move { engine.write(unit).await })
            };
            // The caller's thread (this test's only one) is not held: the write waits queued
            // (run here, it would have waited out the busy timeout and failed before yielding).
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            assert!(!write.is_finished(), "{key}");
            other.execute_batch("COMMIT").unwrap();
            assert_eq!(
                write.await.unwrap().unwrap(),
                Some("moltbot-store-writer".to_owned()),
                "{key}"
            );
        }
        assert_eq!(keys(&engine), ["k1", "k2"]);
    }

    #[tokio::test]
    async fn the_writer_and_the_readers_have_the_store_settings() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(&dir.path().join("s.sqlite")).unwrap();
        let busy_ms = i64::try_from(BUSY_TIMEOUT.as_millis()).unwrap();
        // WAL, synchronous = NORMAL (1), foreign keys on, the busy timeout, stable plans.
        let expected = ("wal".to_owned(), 1, 1, busy_ms, true);
        assert_eq!(engine.write(settings).await.unwrap(), expected);
        assert_eq!(engine.read(settings).await.unwrap(), expected);
        // Only the checkpointer checkpoints, and a restarted WAL is cut back to the limit.
        let (autocheckpoint, size_limit) = engine
            .write(|conn| {
                let autocheckpoint: i64 = conn
                    .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
                    .map_err(db_error)?;
                let size_limit: i64 = conn
                    .query_row("PRAGMA journal_size_limit", [], |r| r.get(0))
                    .map_err(db_error)?;
                Ok((autocheckpoint, size_limit))
            })
            .await
            .unwrap();
        assert_eq!((autocheckpoint, size_limit), (0, JOURNAL_SIZE_LIMIT));
    }
}
