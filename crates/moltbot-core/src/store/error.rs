//! The error type of the state store, the same for every backend.

use std::path::PathBuf;

/// What kind of failure a backend reported, so callers can react without knowing the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendErrorKind {
    /// Another writer held the database longer than the busy timeout; retrying later may work.
    Busy,
    /// A constraint (unique key, check) refused the write.
    Constraint,
    /// The database file or schema is damaged or not a moltbot store.
    Corrupt,
    /// The database cannot be reached (closed, disk full, permissions, connection lost).
    Unavailable,
    /// Anything else.
    Other,
}

/// A failure inside a store backend, described without the backend's own types.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{backend}: {message}")]
pub struct BackendError {
    /// The backend's name (`sqlite`, `postgres`).
    pub backend: &'static str,
    /// What kind of failure it was.
    pub kind: BackendErrorKind,
    /// The backend's own message.
    pub message: String,
}

/// Everything that can go wrong while opening or using the [`Store`](super::Store).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend reported an error (including a busy database after the busy timeout).
    #[error("state store")]
    Backend(#[source] BackendError),
    /// A file system operation on the store file or its folder failed.
    #[error("state store: {action} {path}: {source}")]
    Io {
        /// What was being done (e.g. "create folder").
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The store was written by a newer moltbot with a schema this build does not know.
    #[error(
        "state store schema version {found} is newer than this moltbot supports ({supported}); \
         upgrade moltbot, or point it at another store (MOLTBOT_STATE_DIR, or store.url / \
         MOLTBOT_DATABASE_URL for PostgreSQL)"
    )]
    TooNew {
        /// The schema version found in the store.
        found: u32,
        /// The newest schema version this build knows.
        supported: u32,
    },
    /// The store needs a schema upgrade, but a gateway (of an older moltbot) is running on it.
    #[error(
        "the state store is at schema version {found} and this moltbot needs {supported}, but a \
         gateway is running on it (its heartbeat is fresh): stop that gateway, back up {backup}, \
         start the gateway of this moltbot (it upgrades the store), then run this command again"
    )]
    UpgradeWhileRunning {
        /// The schema version found in the store.
        found: u32,
        /// The schema version this build needs.
        supported: u32,
        /// What to back up and how, for the backend (the SQLite file, or the PostgreSQL
        /// database with `pg_dump`).
        backup: &'static str,
    },
    /// A stored value could not be read back (a row written by something else).
    #[error("state store: unreadable {what}: {detail}")]
    Decode {
        /// What was being read (e.g. "ledger state").
        what: &'static str,
        /// Why it could not be read.
        detail: String,
    },
    /// The store's worker stopped (the store is shutting down) or a blocking task failed.
    #[error("state store is closed")]
    Closed,
}

impl StoreError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// The backend failure kind, if this is a backend error.
    pub fn backend_kind(&self) -> Option<BackendErrorKind> {
        match self {
            Self::Backend(e) => Some(e.kind),
            _ => None,
        }
    }
}

impl From<tokio::task::JoinError> for StoreError {
    fn from(_: tokio::task::JoinError) -> Self {
        Self::Closed
    }
}
