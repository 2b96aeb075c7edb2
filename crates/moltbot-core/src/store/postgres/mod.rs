//! The shared backend: a PostgreSQL database (`store.url` / `MOLTBOT_DATABASE_URL`).
//!
//! Each repository trait is implemented in its own module here, with the same semantics as the
//! SQLite backend (the conformance suite in `tests/store_conformance` runs against both).
//! Statements go through a `deadpool-postgres` pool of [`POOL_SIZE`] connections with
//! per-connection prepared-statement caches; TLS is rustls with Mozilla's roots (see
//! [`StoreLocation`](super::StoreLocation)). [`migrations`] keeps the schema.
//!
//! Where SQLite's single writer makes a multi-statement step atomic for free, this backend:
//! - uses one statement where it can (`INSERT ... ON CONFLICT`, `UPDATE ... RETURNING`), whose
//!   row locks make concurrent claims, takes and lease acquisitions agree under PostgreSQL's
//!   default `READ COMMITTED` isolation;
//! - otherwise runs the step in a transaction that first takes a transaction-scoped advisory
//!   lock on what it is about (a pairing channel, a session, the replies of one message) or
//!   locks the row it decides on (`SELECT ... FOR UPDATE`), so concurrent steps on the same
//!   thing run one after the other, in any number of processes.
//!
//! Times come from the store's [`Clock`] as in SQLite (never the database's `now()`), so rows
//! mean the same whichever backend holds them. tokio-postgres types stay inside this module.

mod copy;
mod cursors;
mod kv;
mod leases;
mod ledger;
pub(crate) mod migrations;
mod outbox;
mod pairing;
mod plugins;
mod polls;
mod sessions;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::location::PostgresUrl;
pub(crate) use super::text_enum::parse_text;
use super::{Backend, BackendError, BackendErrorKind, BackendInfo, Clock, StoreError};

/// Connections the pool keeps at most (per process).
pub const POOL_SIZE: usize = 16;

/// How long a statement waits for a free pooled connection (or a new one) before failing with
/// [`BackendErrorKind::Unavailable`].
const POOL_WAIT: Duration = Duration::from_secs(10);

/// The first key of every advisory lock this backend takes (`molt`), so they cannot collide
/// with another application's two-key advisory locks in the same database.
const LOCK_CLASS: i32 = 0x6d6f_6c74;

/// Statement parameters.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The PostgreSQL backend.
pub(crate) struct PostgresBackend {
    pool: Pool,
    clock: Arc<dyn Clock>,
    location: String,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl PostgresBackend {
    /// Connects to the database `url` names and brings its schema up to date (see
    /// [`migrations::apply`]); with `migrate` false the schema is only read.
    pub(crate) async fn connect(
        url: &PostgresUrl,
        clock: Arc<dyn Clock>,
        migrate: bool,
    ) -> Result<Self, StoreError> {
        let tls = tls::connector(url)?;
        let manager = Manager::from_config(
            url.config.clone(),
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| unavailable(format!("cannot set up the connection pool: {e}")))?;
        let backend = Self {
            pool,
            clock,
            location: url.location().to_owned(),
        };
        let mut client = backend.client().await?;
        if migrate {
            migrations::apply(&mut client).await?;
        }
        Ok(backend)
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => pg_error(e),
            deadpool_postgres::PoolError::Timeout(_) => unavailable(format!(
                "no database connection within {}s (the database is unreachable or every one \
                 of the {POOL_SIZE} pooled connections is busy)",
                POOL_WAIT.as_secs()
            )),
            deadpool_postgres::PoolError::Closed => StoreError::Closed,
            other => unavailable(other.to_string()),
        })
    }
}

#[async_trait::async_trait]
impl Backend for PostgresBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "postgres",
            location: self.location.clone(),
        }
    }

    async fn schema_version(&self) -> Result<u32, StoreError> {
        migrations::schema_version(&self.client().await?).await
    }

    async fn close(&self) {
        self.pool.close();
    }
}

pub(crate) fn unavailable(message: String) -> StoreError {
    StoreError::Backend(BackendError {
        backend: "postgres",
        kind: BackendErrorKind::Unavailable,
        message,
    })
}

/// Describes a tokio-postgres error without its types (and without credentials: the driver's
/// messages never hold the password).
pub(crate) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    use tokio_postgres::error::SqlState as S;
    let kind = match e.code() {
        Some(code) => {
            let class = &code.code()[..2.min(code.code().len())];
            if [
                S::UNIQUE_VIOLATION,
                S::FOREIGN_KEY_VIOLATION,
                S::CHECK_VIOLATION,
                S::NOT_NULL_VIOLATION,
                S::EXCLUSION_VIOLATION,
            ]
            .contains(code)
            {
                BackendErrorKind::Constraint
            } else if [
                S::T_R_SERIALIZATION_FAILURE,
                S::T_R_DEADLOCK_DETECTED,
                S::LOCK_NOT_AVAILABLE,
                S::QUERY_CANCELED,
            ]
            .contains(code)
            {
                BackendErrorKind::Busy
            } else if class == "08"
                || class == "53"
                || class == "57"
                || class == "28"
                || *code == S::READ_ONLY_SQL_TRANSACTION
                || *code == S::INSUFFICIENT_PRIVILEGE
            {
                BackendErrorKind::Unavailable
            } else if class == "XX" || *code == S::DATA_CORRUPTED {
                BackendErrorKind::Corrupt
            } else {
                BackendErrorKind::Other
            }
        }
        None if e.is_closed() => BackendErrorKind::Unavailable,
        None => match std::error::Error::source(&e) {
            Some(source) if source.is::<std::io::Error>() => BackendErrorKind::Unavailable,
            _ => BackendErrorKind::Other,
        },
    };
    let message = match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{} ({}): {}", db.severity(), db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; {detail}"));
            }
            text
        }
        None => crate::error::chain(&e).to_string(),
    };
    StoreError::Backend(BackendError {
        backend: "postgres",
        kind,
        message,
    })
}

#[doc(hidden)]
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        pg_error(e)
    }
}

/// Every row `sql` returns (prepared once per connection).
pub(crate) async fn query(
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query(&stmt, params).await?)
}

/// The row `sql` returns, if any (prepared once per connection).
pub(crate) async fn query_opt(
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&stmt, params).await?)
}

/// The one row `sql` returns (prepared once per connection).
pub(crate) async fn query_one(
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Row, StoreError> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query_one(&stmt, params).await?)
}

/// Runs `sql`; returns how many rows it changed (prepared once per connection).
pub(crate) async fn execute(
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, StoreError> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.execute(&stmt, params).await?)
}

/// Takes the transaction-scoped advisory lock named `name` within this schema: concurrent
/// transactions taking the same name (in any process) wait for each other's commit.
pub(crate) async fn lock(c: &impl GenericClient, name: &str) -> Result<(), StoreError> {
    query(
        c,
        "SELECT pg_advisory_xact_lock($1, hashtext(current_schema() || ':' || $2::text))",
        &[&LOCK_CLASS, &name],
    )
    .await?;
    Ok(())
}

/// A count from a `BIGINT` column.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A stored `BIGINT` that must fit a `u32` (attempts, positions).
pub(crate) fn small(what: &'static str, n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Decode {
        what,
        detail: format!("{n} is out of range"),
    })
}

/// A count of changed rows as a `usize`.
pub(crate) fn changed(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// `usize` as a `LIMIT` parameter.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
