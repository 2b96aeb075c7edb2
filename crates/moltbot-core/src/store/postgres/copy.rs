//! Row counts, reading rows in key order, and importing rows, for `moltbot store status` and
//! `moltbot store copy` (see [`tables`](crate::store::tables)).

use deadpool_postgres::GenericClient;
use value_sql::ValueSql;

use super::{count, query_one, PostgresBackend};
use crate::store::tables::{ColumnType, Import, Row, Table, TableRepo, Value, TABLES};
use crate::store::StoreError;

/// Rows per `INSERT` statement of an import (well under the 65 535 parameters a statement may
/// carry, for tables of up to 16 columns).
const ROWS_PER_INSERT: usize = 500;

fn sql_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Int => "bigint",
        ColumnType::Text => "text",
        ColumnType::Bool => "boolean",
    }
}

#[async_trait::async_trait]
impl TableRepo for PostgresBackend {
    async fn count_rows(&self, table: &'static Table) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let n: i64 = query_one(&c, &format!("SELECT COUNT(*) FROM {}", table.name), &[])
            .await?
            .try_get(0)?;
        Ok(count(n))
    }

    async fn read_rows(
        &self,
        table: &'static Table,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Vec<Row>, StoreError> {
        let c = self.client().await?;
        let key = table.key_list();
        let mut params: Vec<ValueSql<'_>> = Vec::new();
        let filter = match after {
            Some(values) => {
                let placeholders: Vec<String> = table
                    .key()
                    .iter()
                    .enumerate()
                    .map(|(i, col)| format!("${}::{}", i + 1, sql_type(col.ty)))
                    .collect();
                params.extend(values.iter().map(ValueSql));
                format!("WHERE ({key}) > ({})", placeholders.join(", "))
            }
            None => String::new(),
        };
        let sql = format!(
            "SELECT {} FROM {} {filter} ORDER BY {key} LIMIT {}",
            table.column_list(),
            table.name,
            super::limit(limit)
        );
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            params.iter().map(|p| p as _).collect();
        let rows = c.query(&sql, &refs).await?;
        rows.iter()
            .map(|r| {
                table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, col)| {
                        Ok(match col.ty {
                            ColumnType::Int => r.try_get::<_, Option<i64>>(i)?.map(Value::Int),
                            ColumnType::Text => r.try_get::<_, Option<String>>(i)?.map(Value::Text),
                            ColumnType::Bool => r.try_get::<_, Option<bool>>(i)?.map(Value::Bool),
                        }
                        .unwrap_or(Value::Null))
                    })
                    .collect()
            })
            .collect()
    }

    async fn begin_import(&self, replace: bool) -> Result<Box<dyn Import>, StoreError> {
        let client = self.client().await?;
        client.batch_execute("BEGIN").await?;
        if replace {
            let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
            client
                .batch_execute(&format!("TRUNCATE {} RESTART IDENTITY", names.join(", ")))
                .await?;
        }
        Ok(Box::new(PgImport {
            client: Some(client),
        }))
    }
}

/// An import: one pooled connection holding one open transaction.
struct PgImport {
    /// `None` once committed.
    client: Option<deadpool_postgres::Object>,
}

#[async_trait::async_trait]
impl Import for PgImport {
    async fn write(&mut self, table: &'static Table, rows: &[Row]) -> Result<(), StoreError> {
        let width = table.columns.len();
        for batch in rows.chunks(ROWS_PER_INSERT) {
            let mut values = Vec::with_capacity(batch.len());
            let mut params: Vec<ValueSql<'_>> = Vec::with_capacity(batch.len() * width);
            for row in batch {
                if row.len() != width {
                    return Err(StoreError::Decode {
                        what: "copied row",
                        detail: format!(
                            "{} values for the {width} columns of {}",
                            row.len(),
                            table.name
                        ),
                    });
                }
                let start = params.len();
                let slots: Vec<String> = table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, col)| format!("${}::{}", start + i + 1, sql_type(col.ty)))
                    .collect();
                values.push(format!("({})", slots.join(", ")));
                params.extend(row.iter().map(ValueSql));
            }
            let sql = format!(
                "INSERT INTO {} ({}) VALUES {}",
                table.name,
                table.column_list(),
                values.join(", ")
            );
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                params.iter().map(|p| p as _).collect();
            self.client()?.execute(&sql, &refs).await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let client = self.client()?;
        // New ids continue after the copied ones.
        for table in TABLES.iter().filter(|t| t.generated_id) {
            client
                .batch_execute(&format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', 'id'),
                                   COALESCE((SELECT MAX(id) FROM {0}), 0) + 1, false)",
                    table.name
                ))
                .await?;
        }
        client.batch_execute("COMMIT").await?;
        // Committed: the connection goes back to the pool.
        self.client = None;
        Ok(())
    }
}

impl PgImport {
    fn client(&self) -> Result<&deadpool_postgres::Object, StoreError> {
        self.client.as_ref().ok_or(StoreError::Closed)
    }
}

impl Drop for PgImport {
    fn drop(&mut self) {
        // Not committed: the connection must not go back to the pool inside the transaction.
        // Taking it out of the pool closes it, which rolls the transaction back.
        if let Some(client) = self.client.take() {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

mod value_sql {
    //! [`Value`] as a statement parameter.

    use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

    use crate::store::tables::Value;

    /// A borrowed [`Value`] that tokio-postgres can bind.
    #[derive(Debug)]
    pub(super) struct ValueSql<'a>(pub(super) &'a Value);

    impl ToSql for ValueSql<'_> {
        fn to_sql(
            &self,
            ty: &Type,
            out: &mut bytes::BytesMut,
        ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
            match self.0 {
                Value::Null => Ok(IsNull::Yes),
                Value::Int(v) => v.to_sql(ty, out),
                Value::Text(v) => v.to_sql(ty, out),
                Value::Bool(v) => v.to_sql(ty, out),
            }
        }

        fn accepts(ty: &Type) -> bool {
            <i64 as ToSql>::accepts(ty)
                || <String as ToSql>::accepts(ty)
                || <bool as ToSql>::accepts(ty)
        }

        to_sql_checked!();
    }
}
