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
    /// Write units run (each caller's `write`).
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
            self.queued.fetch_add(1, Ordering::AcqRel);
            if jobs.send(job).is_err() {
                self.queued.fetch_sub(1, Ordering::AcqRel);
                return Err(StoreError::Closed);
            }
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
        if self.queued.load(Ordering::Acquire) > 0 {
            return Err(f);
        }
        let Ok(mut guard) = self.writer.try_lock() else {
            return Err(f);
        };
        let Some(writer) = guard.as_mut() else {
            return Err(f);
        };
        if !writer.begin_without_waiting() {
            return Err(f);
        }
        let outcome = f(&writer.conn);
        let finished = match outcome {
            Ok(value) => writer.commit(1).map(|()| value),
            Err(err) => {
                let _ = writer.conn.execute_batch("ROLLBACK");
                Err(err)
            }
        };
        Ok(finished)
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
            if let Ok(mut guard) = self.writer.try_lock() {
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
        let completions: Vec<Completion> =
            group.into_iter().map(|job| job.run(&writer.conn)).collect();
        let error = writer.commit(completions.len() as u64).err();
        drop(guard);
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

    #[tokio::test]
    async fn a_write_waits_for_another_process_on_the_writer_thread_not_its_callers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let engine = Arc::new(Engine::open(&path).unwrap());
        let other = connect(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let write = tokio::spawn({
            let engine = Arc::clone(&engine);
            async move {
                engine
                    .write(|c| {
                        c.execute(
                            "INSERT INTO kv (namespace, key, value, updated_at) VALUES ('n', 'k', 'v', 0)",
                            [],
                        )
                        .map_err(db_error)?;
                        thread_name(c)
                    })
                    .await
            }
        });
        // The caller's thread (this test's only one) is not held: the write waits queued
        // (run here, it would have waited out the busy timeout and failed before yielding).
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!write.is_finished());
        other.execute_batch("COMMIT").unwrap();
        assert_eq!(
            write.await.unwrap().unwrap(),
            Some("moltbot-store-writer".to_owned())
        );
        let rows = engine
            .read_now(|c| {
                c.query_row("SELECT COUNT(*) FROM kv", [], |r| r.get::<_, i64>(0))
                    .map_err(db_error)
            })
            .unwrap();
        assert_eq!(rows, 1);
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
