//! The state store: everything the gateway and the CLI keep between runs.
//!
//! The store is a set of async repository traits, one per area of state ([`KvRepo`],
//! [`CursorRepo`], [`PluginRepo`], [`PairingRepo`], [`SessionRepo`], [`LedgerRepo`],
//! [`OutboxRepo`], [`LeaseRepo`], [`PollRepo`]), implemented together by a [`Backend`]. [`Store`] is the cheap,
//! cloneable handle everybody holds; its accessors ([`Store::kv`], [`Store::ledger`], ...) give
//! each area's trait object. Rules (pairing limits and expiry, how much history to keep, when a
//! message is retried) are decided in core and passed to the backend as parameters; a backend
//! only stores and reads atomically. Errors are backend-neutral ([`StoreError`]); no backend type
//! appears in this module's public API.
//!
//! The embedded backend is SQLite ([`Store::open`], `<state>/state/moltbot.sqlite`): one file
//! shared by the gateway process and the CLI, 0600 in a 0700 folder, WAL mode, one writer thread
//! with group commit, readers that never wait for it, and checkpoints off the message path (see
//! `sqlite::engine`). The shared backend is PostgreSQL ([`Store::connect`] with a
//! [`StoreLocation::Postgres`]): a pool of connections, the same tables and schema versions, and
//! advisory locks or row locks where SQLite's single writer made a step atomic (see
//! `postgres`). [`StoreLocation::choose`] picks one from `store.url` / `MOLTBOT_DATABASE_URL`.
//! The conformance suite in `tests/store_conformance` is what any backend must pass.
//!
//! Times are `i64` unix milliseconds, taken from the store's [`Clock`] (injectable for tests).

#[macro_use]
pub(crate) mod text_enum;

mod clock;
mod copy;
mod cursors;
mod error;
pub mod fs;
mod kv;
mod leases;
mod ledger;
mod location;
mod outbox;
mod pairing;
mod plugins;
pub(crate) mod polls;
pub(crate) mod postgres;
pub mod scratch;
mod sessions;
pub(crate) mod sqlite;
pub mod tables;

use std::path::Path;
use std::sync::Arc;

pub use clock::{Clock, ManualClock, SystemClock};
pub use copy::{CopyError, CopyReport};
pub use cursors::{Cursor, CursorRepo};
pub use error::{BackendError, BackendErrorKind, StoreError};
pub use kv::KvRepo;
pub use leases::{Lease, LeaseRepo};
pub use ledger::{
    renew_below_ms, AnswerRecord, Claim, ClaimOutcome, InboundState, LedgerEntry, LedgerRepo,
};
pub use location::{PostgresUrl, StoreLocation, StoreUrlError, DATABASE_URL_ENV};
pub use outbox::{
    OutboxEntry, OutboxOpKind, OutboxPart, OutboxPartKind, OutboxReply, OutboxRepo, OutboxState,
    SentRecord,
};
pub use pairing::{
    Approval, ApprovalSource, ApprovedIdentity, CodeApproval, IdentityKey, NewApproval,
    NewPairingRequest, Pairing, PairingError, PairingOutcome, PairingRepo, PairingRequest,
    PairingStatus, RequestInsert, DEFAULT_MAX_PENDING,
};
pub use plugins::{PluginInstall, PluginRepo};
pub use polls::{NewPoll, Poll, PollRepo, PollVote, VoteOutcome};
pub use postgres::POOL_SIZE as POSTGRES_POOL_SIZE;
pub use sessions::{SessionAppend, SessionRepo};
pub use sqlite::engine::BUSY_TIMEOUT;
pub use sqlite::migrations::SCHEMA_VERSION;

/// What a backend is, for status output and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// The backend's name: `sqlite` or `postgres`.
    pub name: &'static str,
    /// Where it keeps its data, without credentials (a file path, or `host:port/database`).
    pub location: String,
}

/// Bytes a backend has written to its files since it was opened, for `/metrics` and the bench.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WrittenBytes {
    /// Appended to the write-ahead log.
    pub wal: u64,
    /// Written into the database file by checkpoints (measured on Linux; elsewhere an upper
    /// bound, see the SQLite engine's `WrittenBytes::db`).
    pub db: u64,
    /// Units of work written (each one atomic: a claim, "the agent answered", ...).
    pub writes: u64,
    /// Commits (a unit of work alone, or several grouped when they arrive together).
    pub commits: u64,
}

/// A store backend: every repository, plus what the store as a whole needs.
#[async_trait::async_trait]
pub trait Backend:
    KvRepo
    + CursorRepo
    + PluginRepo
    + PairingRepo
    + LedgerRepo
    + OutboxRepo
    + SessionRepo
    + LeaseRepo
    + PollRepo
    + tables::TableRepo
    + Send
    + Sync
    + std::fmt::Debug
{
    /// Which backend this is and where it keeps its data.
    fn info(&self) -> BackendInfo;

    /// The schema version the backend's data is at.
    async fn schema_version(&self) -> Result<u32, StoreError>;

    /// Closes the backend cleanly: waits for queued writes, then closes every connection
    /// (SQLite: checkpoints the WAL into the database file and removes the `-wal`/`-shm` files;
    /// PostgreSQL: closes the pool). Later calls fail with [`StoreError::Closed`]. Idempotent.
    async fn close(&self) {}

    /// Bytes written so far, when the backend can tell.
    fn written_bytes(&self) -> Option<WrittenBytes> {
        None
    }
}

/// A handle to the state store. Cheap to clone: clones share one backend.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    clock: Arc<dyn Clock>,
    /// The SQLite file, for the embedded backend.
    path: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend.info())
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite store at `path` and brings its schema up to date.
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
        let backend = Arc::new(sqlite::SqliteBackend::open(
            path.as_ref(),
            Arc::clone(&clock),
        )?);
        Ok(Self {
            inner: Arc::new(Inner {
                path: Some(backend.path().to_path_buf()),
                backend: backend as Arc<dyn Backend>,
                clock,
            }),
        })
    }

    /// Connects to the store at `location` and brings its schema up to date: the SQLite file
    /// as [`Store::open`] does, or the PostgreSQL database (migrated under an advisory lock, so
    /// processes starting together migrate it once). Fails with [`StoreError::TooNew`] if the
    /// store was written by a newer moltbot, and with a
    /// [`BackendErrorKind::Unavailable`] backend error when the database cannot be reached.
    pub async fn connect(location: &StoreLocation) -> Result<Self, StoreError> {
        Self::connect_with_clock(location, Arc::new(SystemClock)).await
    }

    /// Like [`Store::connect`], stamping rows with `clock` instead of the system clock.
    pub async fn connect_with_clock(
        location: &StoreLocation,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        match location {
            StoreLocation::Sqlite(path) => Self::open_with_clock(path, clock),
            StoreLocation::Postgres(url) => {
                let backend =
                    postgres::PostgresBackend::connect(url, Arc::clone(&clock), true).await?;
                Ok(Self {
                    inner: Arc::new(Inner {
                        backend: Arc::new(backend),
                        clock,
                        path: None,
                    }),
                })
            }
        }
    }

    /// The schema version of the store at `location` without changing anything (no file is
    /// created, no migration runs): `None` when there is no SQLite file yet, `Some(0)` for a
    /// database moltbot never wrote to.
    pub async fn schema_version_at(location: &StoreLocation) -> Result<Option<u32>, StoreError> {
        match location {
            StoreLocation::Sqlite(path) => {
                if !path.exists() {
                    return Ok(None);
                }
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open_with_flags(
                        &path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )?;
                    sqlite::migrations::schema_version(&conn).map(Some)
                })
                .await?
            }
            StoreLocation::Postgres(url) => {
                let backend =
                    postgres::PostgresBackend::connect(url, Arc::new(SystemClock), false).await?;
                backend.schema_version().await.map(Some)
            }
        }
    }

    /// Which backend holds the state, and where.
    pub fn backend_info(&self) -> BackendInfo {
        self.inner.backend.info()
    }

    /// Closes the store for every handle: queued writes finish, then every connection closes.
    /// A SQLite store is then one self-contained file (the WAL checkpointed into it, no
    /// `-wal`/`-shm` left unless another process still has it open); a PostgreSQL pool closes
    /// its connections. Later reads and writes fail with [`StoreError::Closed`]. Calling it
    /// again does nothing.
    pub async fn close(&self) {
        self.inner.backend.close().await;
    }

    /// Bytes the backend has written since it was opened, when it can tell.
    pub fn written_bytes(&self) -> Option<WrittenBytes> {
        self.inner.backend.written_bytes()
    }

    /// The store file, when the backend is the embedded SQLite one.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The current time of the store's clock, in unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// The schema version of the store.
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        self.inner.backend.schema_version().await
    }

    /// Key/value settings (e.g. a generated webhook secret).
    pub fn kv(&self) -> &dyn KvRepo {
        &*self.inner.backend
    }

    /// Installed plugins.
    pub fn plugins(&self) -> &dyn PluginRepo {
        &*self.inner.backend
    }

    /// The ledger: the record and processing state of every message received.
    pub fn ledger(&self) -> &dyn LedgerRepo {
        &*self.inner.backend
    }

    /// The outbox: reply operations, recorded before they are carried out.
    pub fn outbox(&self) -> &dyn OutboxRepo {
        &*self.inner.backend
    }

    /// Named leases for work one process does at a time.
    pub fn leases(&self) -> &dyn LeaseRepo {
        &*self.inner.backend
    }

    /// Per-channel cursors (e.g. polling positions).
    pub fn cursors(&self) -> &dyn CursorRepo {
        &*self.inner.backend
    }

    /// Polls and their votes.
    pub fn polls(&self) -> &dyn PollRepo {
        &*self.inner.backend
    }

    /// Pairing requests and approved identities (who may DM the bot), with the pairing rules.
    pub fn pairing(&self) -> Pairing<'_> {
        Pairing {
            backend: &*self.inner.backend,
            clock: &*self.inner.clock,
        }
    }

    /// Agent session history.
    pub fn sessions(&self) -> &dyn SessionRepo {
        &*self.inner.backend
    }
}
