//! The error type of the state store.

use std::path::PathBuf;

/// Everything that can go wrong while opening or using the [`Store`](super::Store).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite reported an error (including a busy database after the busy timeout).
    #[error("state store: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
         upgrade moltbot, or point MOLTBOT_STATE_DIR at another folder"
    )]
    TooNew {
        /// The schema version found in the file (`PRAGMA user_version`).
        found: u32,
        /// The newest schema version this build knows.
        supported: u32,
    },
    /// The blocking task running a store operation panicked or was cancelled.
    #[error("state store task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
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
}
