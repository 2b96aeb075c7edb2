//! The state store: everything the gateway and the CLI keep between runs.
//!
//! The store is a set of async repository traits, one per area of state ([`KvRepo`],
//! [`CursorRepo`], [`PluginRepo`], [`PairingRepo`], [`SessionRepo`], [`LedgerRepo`],
//! [`OutboxRepo`], [`LeaseRepo`]), implemented together by a [`Backend`]. [`Store`] is the cheap,
//! cloneable handle everybody holds; its accessors ([`Store::kv`], [`Store::ledger`], ...) give
//! each area's trait object. Rules (pairing limits and expiry, how much history to keep, when a
//! message is retried) are decided in core and passed to the backend as parameters; a backend
//! only stores and reads atomically. Errors are backend-neutral ([`StoreError`]); no backend type
//! appears in this module's public API.
//!
//! The embedded backend is SQLite ([`Store::open`], `<state>/state/moltbot.sqlite`): one file
//! shared by the gateway process and the CLI, 0600 in a 0700 folder, WAL mode, one writer thread
//! with group commit, readers that never wait for it, and checkpoints off the message path (see
//! `sqlite::engine`). The conformance suite in `tests/store_conformance` is what any backend must
//! pass.
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
mod outbound;
mod pairing;
mod plugins;
mod sessions;
pub(crate) mod sqlite;

use std::path::Path;
use std::sync::Arc;

pub use clock::{Clock, ManualClock, SystemClock};
pub use cursors::{Cursor, CursorRepo};
pub use error::{BackendError, BackendErrorKind, StoreError};
pub use inbound::{Inbound, InboundMessage, InboundState, RecordOutcome};
pub use kv::KvRepo;
pub use outbound::{Outbound, OutboundChunk, OutboundReply, OutboundState};
pub use pairing::{
    Approval, ApprovalSource, ApprovedIdentity, CodeApproval, IdentityKey, NewApproval,
    NewPairingRequest, Pairing, PairingError, PairingOutcome, PairingRepo, PairingRequest,
    PairingStatus, RequestInsert, DEFAULT_MAX_PENDING,
};
pub use plugins::{PluginInstall, PluginRepo};
pub use sessions::Sessions;
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
    /// Copied into the database file by checkpoints (an upper bound).
    pub db: u64,
}

/// A store backend: every repository, plus what the store as a whole needs.
#[async_trait::async_trait]
pub trait Backend:
    KvRepo + CursorRepo + PluginRepo + PairingRepo + Send + Sync + std::fmt::Debug
{
    /// Which backend this is and where it keeps its data.
    fn info(&self) -> BackendInfo;

    /// The schema version the backend's data is at.
    async fn schema_version(&self) -> Result<u32, StoreError>;

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
    // Transitional: the areas not yet behind a repository trait use the SQLite connection.
    legacy: Arc<sqlite::SqliteBackend>,
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
                backend: Arc::clone(&backend) as Arc<dyn Backend>,
                clock,
                legacy: backend,
            }),
        })
    }

    /// Which backend holds the state, and where.
    pub fn backend_info(&self) -> BackendInfo {
        self.inner.backend.info()
    }

    /// Bytes the backend has written since it was opened, when it can tell.
    pub fn written_bytes(&self) -> Option<WrittenBytes> {
        self.inner.backend.written_bytes()
    }

    /// The SQLite store file.
    pub fn path(&self) -> &Path {
        self.inner.legacy.path()
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

    /// Transitional: runs `f` with the SQLite connection on the calling thread.
    pub(crate) fn call_blocking<R>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.inner.legacy.call_blocking(f)
    }

    /// Transitional: runs a blocking store operation on tokio's blocking thread pool.
    async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store)).await?
    }

    /// Installed plugins.
    pub fn plugins(&self) -> &dyn PluginRepo {
        &*self.inner.backend
    }

    /// Inbound messages: the dedupe record and processing state of every message received.
    pub fn inbound(&self) -> Inbound<'_> {
        Inbound { store: self }
    }

    /// Per-channel cursors (e.g. polling positions).
    pub fn cursors(&self) -> &dyn CursorRepo {
        &*self.inner.backend
    }

    /// Outbound message chunks, recorded before they are sent.
    pub fn outbound(&self) -> Outbound<'_> {
        Outbound { store: self }
    }

    /// Pairing requests and approved identities (who may DM the bot), with the pairing rules.
    pub fn pairing(&self) -> Pairing<'_> {
        Pairing {
            backend: &*self.inner.backend,
            clock: &*self.inner.clock,
        }
    }

    /// Agent session history.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { store: self }
    }
}

/// Transitional: runs `f` in a `BEGIN IMMEDIATE` transaction and commits it if `f` succeeds.
pub(crate) fn write_transaction<R>(
    conn: &mut rusqlite::Connection,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let result = f(&tx)?;
    tx.commit()?;
    Ok(result)
}
