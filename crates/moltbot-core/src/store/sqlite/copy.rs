//! Row counts, reading rows in key order, and importing rows, for `moltbot store status` and
//! `moltbot store copy` (see [`tables`](crate::store::tables)).
//!
//! An import runs on a connection of its own in one `BEGIN IMMEDIATE` transaction (the
//! engine's writer thread groups short units of work; an import is one long one), on tokio's
//! blocking pool.

use rusqlite::types::Value as Sql;
use rusqlite::Connection;

use super::engine::{self, retry_busy};
use super::{db_error, SqliteBackend};
use crate::store::tables::{ColumnType, Import, Row, Table, TableRepo, Value, TABLES};
use crate::store::StoreError;

fn to_sql(value: &Value) -> Sql {
    match value {
        Value::Null => Sql::Null,
        Value::Int(v) => Sql::Integer(*v),
        Value::Text(v) => Sql::Text(v.clone()),
        Value::Bool(v) => Sql::Integer(i64::from(*v)),
    }
}

#[async_trait::async_trait]
impl TableRepo for SqliteBackend {
    async fn count_rows(&self, table: &'static Table) -> Result<u64, StoreError> {
        self.read(move |conn| {
            let n: i64 =
                conn.query_row(&format!("SELECT COUNT(*) FROM {}", table.name), [], |r| {
                    r.get(0)
                })?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn read_rows(
        &self,
        table: &'static Table,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Vec<Row>, StoreError> {
        let after: Option<Vec<Sql>> = after.map(|values| values.iter().map(to_sql).collect());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let key = table.key_list();
            let filter = match &after {
                Some(values) => {
                    let slots: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
                    format!("WHERE ({key}) > ({})", slots.join(", "))
                }
                None => String::new(),
            };
            let mut stmt = conn.prepare(&format!(
                "SELECT {} FROM {} {filter} ORDER BY {key} LIMIT {limit}",
                table.column_list(),
                table.name
            ))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(after.iter().flatten()), |r| {
                table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, col)| {
                        Ok(match col.ty {
                            ColumnType::Int => r.get::<_, Option<i64>>(i)?.map(Value::Int),
                            ColumnType::Text => r.get::<_, Option<String>>(i)?.map(Value::Text),
                            ColumnType::Bool => r.get::<_, Option<bool>>(i)?.map(Value::Bool),
                        }
                        .unwrap_or(Value::Null))
                    })
                    .collect::<rusqlite::Result<Row>>()
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn begin_import(&self, replace: bool) -> Result<Box<dyn Import>, StoreError> {
        let path = self.path().to_path_buf();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, StoreError> {
            let conn = engine::connect(&path)?;
            retry_busy(|| conn.execute_batch("BEGIN IMMEDIATE").map_err(db_error))?;
            if replace {
                for table in TABLES {
                    conn.execute(&format!("DELETE FROM {}", table.name), [])?;
                }
            }
            Ok(conn)
        })
        .await??;
        Ok(Box::new(SqliteImport { conn: Some(conn) }))
    }
}

/// An import: a connection of its own holding one open transaction (rolled back when dropped
/// uncommitted, as the connection closes).
struct SqliteImport {
    conn: Option<Connection>,
}

impl SqliteImport {
    /// Runs `f` with the connection on tokio's blocking pool.
    async fn with_conn<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let conn = self.conn.take().ok_or(StoreError::Closed)?;
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = f(&conn);
            (conn, result)
        })
        .await?;
        self.conn = Some(conn);
        result
    }
}

#[async_trait::async_trait]
impl Import for SqliteImport {
    async fn write(&mut self, table: &'static Table, rows: &[Row]) -> Result<(), StoreError> {
        let rows: Vec<Vec<Sql>> = rows
            .iter()
            .map(|row| row.iter().map(to_sql).collect())
            .collect();
        self.with_conn(move |conn| {
            let slots: Vec<String> = (1..=table.columns.len()).map(|i| format!("?{i}")).collect();
            let mut insert = conn.prepare(&format!(
                "INSERT INTO {} ({}) VALUES ({})",
                table.name,
                table.column_list(),
                slots.join(", ")
            ))?;
            for row in &rows {
                insert.execute(rusqlite::params_from_iter(row))?;
            }
            Ok(())
        })
        .await
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.with_conn(|conn| Ok(conn.execute_batch("COMMIT")?))
            .await
    }
}
