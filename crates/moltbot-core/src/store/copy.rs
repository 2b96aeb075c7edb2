//! Copying every row of a store into another (`moltbot store copy`): the way from the SQLite
//! file to PostgreSQL (or back), checked by counting every table on both sides afterwards.

use super::tables::{Row, TABLES};
use super::{Store, StoreError};

/// Rows read from the source per page (and written per batch).
const PAGE: usize = 1000;

/// What a copy moved, table by table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Each table and how many rows it has in both stores now.
    pub tables: Vec<(&'static str, u64)>,
}

impl CopyReport {
    /// Rows copied in all.
    pub fn total(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Why a copy did not happen (or did not check out).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// Source and target are the same store.
    #[error("the source and the target are the same store ({0})")]
    SameStore(String),
    /// A gateway is writing to the source: rows written after the copy would be lost.
    #[error(
        "a gateway is running on the source store (its heartbeat is fresh): stop it first, so \
         that no row is written after the copy"
    )]
    GatewayRunning,
    /// The two stores are at different schema versions.
    #[error(
        "the source store is at schema version {source_version} and the target at \
         {target_version}: open both with the same moltbot (it brings both to its version)"
    )]
    VersionMismatch {
        /// The source's schema version.
        source_version: u32,
        /// The target's schema version.
        target_version: u32,
    },
    /// The target already holds rows and replacing them was not asked for.
    #[error("the target store is not empty ({rows} rows in {table})")]
    TargetNotEmpty {
        /// The first non-empty table found.
        table: &'static str,
        /// Its rows.
        rows: u64,
    },
    /// After the copy, a table's rows differ between the stores.
    #[error(
        "after the copy, table {table} has {target} rows in the target but {source_rows} in the \
         source ({copied} copied)"
    )]
    CountMismatch {
        /// The table.
        table: &'static str,
        /// Its rows in the source.
        source_rows: u64,
        /// Its rows in the target.
        target: u64,
        /// Rows the copy wrote.
        copied: u64,
    },
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Copies every row of every table of this store into `target`, in one transaction of the
    /// target, then counts both sides. The target must be empty unless `replace` (then its rows
    /// are deleted in the same transaction). Refused while a gateway runs on this store.
    pub async fn copy_to(&self, target: &Store, replace: bool) -> Result<CopyReport, CopyError> {
        let (from, to) = (self.backend_info(), target.backend_info());
        if from == to {
            return Err(CopyError::SameStore(format!(
                "{} {}",
                from.name, from.location
            )));
        }
        let beat = crate::gateway::heartbeat::last_beat(self).await?;
        if crate::gateway::heartbeat::is_fresh(beat, self.now_ms()) {
            return Err(CopyError::GatewayRunning);
        }
        let (source_version, target_version) =
            (self.schema_version().await?, target.schema_version().await?);
        if source_version != target_version {
            return Err(CopyError::VersionMismatch {
                source_version,
                target_version,
            });
        }
        if !replace {
            for table in TABLES {
                let rows = target.inner.backend.count_rows(table).await?;
                if rows > 0 {
                    return Err(CopyError::TargetNotEmpty {
                        table: table.name,
                        rows,
                    });
                }
            }
        }
        let source = &self.inner.backend;
        tracing::info!(from = %format!("{} {}", from.name, from.location),
            to = %format!("{} {}", to.name, to.location), replace, "copying the state store");
        let mut import = target.inner.backend.begin_import(replace).await?;
        let mut copied = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let mut after: Option<Row> = None;
            let mut n = 0u64;
            loop {
                let rows = source.read_rows(table, after.as_deref(), PAGE).await?;
                let Some(last) = rows.last() else { break };
                after = Some(last[..table.key_len].to_vec());
                import.write(table, &rows).await?;
                n += rows.len() as u64;
                if rows.len() < PAGE {
                    break;
                }
            }
            copied.push(n);
        }
        import.commit().await?;
        let mut report = CopyReport::default();
        for (table, copied) in TABLES.iter().zip(copied) {
            let source_rows = source.count_rows(table).await?;
            let target_rows = target.inner.backend.count_rows(table).await?;
            if source_rows != target_rows || target_rows != copied {
                return Err(CopyError::CountMismatch {
                    table: table.name,
                    source_rows,
                    target: target_rows,
                    copied,
                });
            }
            report.tables.push((table.name, target_rows));
        }
        Ok(report)
    }

    /// Up to `limit` rows of `table` in key order, after the row whose key values are `after`
    /// (from the first row when `None`): every column as stored, for copies and checks.
    pub async fn read_rows(
        &self,
        table: &'static super::tables::Table,
        after: Option<&[super::tables::Value]>,
        limit: usize,
    ) -> Result<Vec<Row>, StoreError> {
        self.inner.backend.read_rows(table, after, limit).await
    }

    /// Rows in each table, for `moltbot store status`.
    pub async fn row_counts(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        let mut counts = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            counts.push((table.name, self.inner.backend.count_rows(table).await?));
        }
        Ok(counts)
    }
}
