//! The embedded backend: one SQLite file (`<state>/state/moltbot.sqlite`).
//!
//! Each repository trait is implemented in its own module here; [`engine`] runs the statements
//! (writer thread with group commit, reader pool, background checkpointer) and
//! [`migrations`] keeps the schema. rusqlite types stay inside this module.

mod copy;
mod cursors;
pub(crate) mod engine;
mod kv;
mod leases;
mod ledger;
pub mod migrations;
mod outbox;
mod pairing;
mod plugins;
mod polls;
mod sessions;

use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;

use super::{
    Backend, BackendError, BackendErrorKind, BackendInfo, Clock, StoreError, WrittenBytes,
};
use engine::Engine;

/// The SQLite backend.
pub(crate) struct SqliteBackend {
    engine: Engine,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.engine.path())
            .finish_non_exhaustive()
    }
}

impl SqliteBackend {
    /// Opens the store file at `path` (see [`Engine::open`]).
    pub(crate) fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        Ok(Self {
            engine: Engine::open(path)?,
            clock,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        self.engine.path()
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.engine.read(f).await
    }

    /// A point read on the calling thread ([`Engine::read_now`]).
    fn read_now<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.engine.read_now(f)
    }

    async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.engine.write(f).await
    }

    /// A write unit that shares its commit with the others made in the same pass of the
    /// runtime ([`Engine::write_grouped`]).
    async fn write_grouped<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.engine.write_grouped(f).await
    }
}

#[async_trait::async_trait]
impl Backend for SqliteBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "sqlite",
            location: self.engine.path().display().to_string(),
        }
    }

    async fn schema_version(&self) -> Result<u32, StoreError> {
        self.read(migrations::schema_version).await
    }

    async fn close(&self) {
        self.engine.close().await;
    }

    fn written_bytes(&self) -> Option<WrittenBytes> {
        let written = self.engine.written();
        Some(WrittenBytes {
            wal: written.wal.load(std::sync::atomic::Ordering::Relaxed),
            db: written.db.load(std::sync::atomic::Ordering::Relaxed),
            writes: written.writes.load(std::sync::atomic::Ordering::Relaxed),
            commits: written.commits.load(std::sync::atomic::Ordering::Relaxed),
        })
    }
}

/// Reads a text column into one of the store's text enums.
pub(crate) fn text_col<T>(row: &rusqlite::Row<'_>, column: &str) -> rusqlite::Result<T>
where
    T: std::str::FromStr<Err = String>,
{
    let text: String = row.get(column)?;
    text.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

/// Describes a rusqlite error without rusqlite's types.
pub(crate) fn db_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    let kind = match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => BackendErrorKind::Busy,
        Some(C::ConstraintViolation) => BackendErrorKind::Constraint,
        Some(C::DatabaseCorrupt | C::NotADatabase) => BackendErrorKind::Corrupt,
        Some(
            C::CannotOpen | C::ReadOnly | C::DiskFull | C::PermissionDenied | C::SystemIoFailure,
        ) => BackendErrorKind::Unavailable,
        _ => BackendErrorKind::Other,
    };
    StoreError::Backend(BackendError {
        backend: "sqlite",
        kind,
        message: e.to_string(),
    })
}

#[doc(hidden)]
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        db_error(e)
    }
}
