//! The SQLite state store (`<state>/state/moltbot.sqlite`).
//!
//! One file shared by the gateway process and the CLI process. It is opened in WAL mode with a
//! busy timeout, so readers never block the writer and two processes writing at once wait for
//! each other instead of failing; read-modify-write operations run in `BEGIN IMMEDIATE`
//! transactions (see [`write_transaction`]) so they take the write lock up front and never hit
//! SQLite's "cannot upgrade a read transaction" busy error. The file is 0600 in a 0700 folder.
//!
//! Each area of state has its own handle, borrowed from the [`Store`]:
//! [`Store::kv`], [`Store::plugins`], [`Store::inbound`], [`Store::cursors`],
//! [`Store::outbound`], [`Store::pairing`], [`Store::sessions`]. Every operation comes in two
//! forms: `name_blocking(..)` for synchronous callers (the CLI) and `async fn name(..)` for the
//! gateway, which runs the blocking form on [`tokio::task::spawn_blocking`]. [`Store::call`] /
//! [`Store::call_blocking`] give direct access to the connection for anything the handles do not
//! cover.
//!
//! Times are `i64` unix milliseconds, taken from the store's [`Clock`] (injectable for tests).

#[macro_use]
mod text_enum;

mod clock;
mod cursors;
mod error;
pub mod fs;
mod inbound;
mod kv;
pub mod migrations;
mod outbound;
mod pairing;
mod plugins;
mod sessions;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

pub use clock::{Clock, ManualClock, SystemClock};
pub use cursors::{Cursor, Cursors};
pub use error::StoreError;
pub use inbound::{Inbound, InboundMessage, InboundState, RecordOutcome};
pub use kv::Kv;
pub use migrations::SCHEMA_VERSION;
pub use outbound::{Outbound, OutboundChunk, OutboundReply, OutboundState};
pub use pairing::{
    Approval, ApprovalSource, ApprovedIdentity, Pairing, PairingError, PairingOutcome,
    PairingRequest, PairingStatus, DEFAULT_MAX_PENDING,
};
pub use plugins::{PluginInstall, PluginInstalls};
pub use sessions::Sessions;

/// How long a connection waits for another writer (possibly in another process) before giving
/// up with `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle to the state store. Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    clock: Arc<dyn Clock>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    ///
    /// Creates missing parent folders 0700 and the file 0600 (an existing file, and its `-wal`
    /// and `-shm` companions, are tightened to 0600). Fails with [`StoreError::TooNew`] if the
    /// file was written by a newer moltbot.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_clock(path, Arc::new(SystemClock))
    }

    /// Like [`Store::open`], stamping rows with `clock` instead of the system clock.
    pub fn open_with_clock(
        path: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if let Some(parent) = path.parent() {
            fs::create_private_dir_all(parent)
                .map_err(|e| StoreError::io("create folder", parent, e))?;
        }
        // Create the file ourselves so it never exists with a wider mode.
        fs::open_private_append(path).map_err(|e| StoreError::io("create", path, e))?;

        let mut conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Switching to WAL (first open) and WAL recovery can report "busy" at once, without
        // waiting on the busy timeout, when another process opens the file at the same moment.
        let mode: String =
            retry_busy(|| Ok(conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "state store could not switch to WAL");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        retry_busy(|| migrations::apply(&mut conn, migrations::MIGRATIONS))?;

        for suffix in ["-wal", "-shm"] {
            let mut companion = path.as_os_str().to_owned();
            companion.push(suffix);
            let companion = PathBuf::from(companion);
            fs::tighten_if_exists(&companion)
                .map_err(|e| StoreError::io("set permissions", &companion, e))?;
        }

        Ok(Self {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                clock,
                path: path.to_path_buf(),
            }),
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The current time of the store's clock, in unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// The schema version of the file (`PRAGMA user_version`).
    pub fn schema_version_blocking(&self) -> Result<u32, StoreError> {
        self.call_blocking(|conn| migrations::schema_version(conn))
    }

    /// Runs `f` with the connection on the calling thread.
    ///
    /// Do not call this from async code (use [`Store::call`]), and do not use this store's other
    /// methods inside `f`: the connection is locked while `f` runs.
    pub fn call_blocking<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        // A panic while the lock was held cannot leave a transaction open (rusqlite rolls back
        // on drop), so the connection is still usable.
        let mut conn = self
            .inner
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut conn)
    }

    /// Runs `f` with the connection on tokio's blocking thread pool.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.run(move |store| store.call_blocking(f)).await
    }

    /// Runs a blocking store operation on tokio's blocking thread pool.
    async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store)).await?
    }

    /// Key/value settings (e.g. a generated webhook secret).
    pub fn kv(&self) -> Kv<'_> {
        Kv { store: self }
    }

    /// Installed plugins.
    pub fn plugins(&self) -> PluginInstalls<'_> {
        PluginInstalls { store: self }
    }

    /// Inbound messages: the dedupe record and processing state of every message received.
    pub fn inbound(&self) -> Inbound<'_> {
        Inbound { store: self }
    }

    /// Per-channel cursors (e.g. polling positions).
    pub fn cursors(&self) -> Cursors<'_> {
        Cursors { store: self }
    }

    /// Outbound message chunks, recorded before they are sent.
    pub fn outbound(&self) -> Outbound<'_> {
        Outbound { store: self }
    }

    /// Pairing requests and approved identities (who may DM the bot).
    pub fn pairing(&self) -> Pairing<'_> {
        Pairing { store: self }
    }

    /// Agent session history.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { store: self }
    }
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction (the write lock is taken up front, waiting up to
/// [`BUSY_TIMEOUT`] for another writer) and commits it if `f` succeeds; rolls back otherwise.
/// Use it for every read-modify-write.
pub fn write_transaction<R>(
    conn: &mut Connection,
    f: impl FnOnce(&Transaction<'_>) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let result = f(&tx)?;
    tx.commit()?;
    Ok(result)
}

/// Retries `f` while SQLite reports the database busy or locked, for up to [`BUSY_TIMEOUT`].
fn retry_busy<R>(mut f: impl FnMut() -> Result<R, StoreError>) -> Result<R, StoreError> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match f() {
            Err(StoreError::Sqlite(e)) if is_busy(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
