//! [`CursorRepo`] on PostgreSQL.

use super::{execute, query, query_opt, PostgresBackend};
use crate::store::{Cursor, CursorRepo, StoreError};

#[async_trait::async_trait]
impl CursorRepo for PostgresBackend {
    async fn get(&self, channel: &str, key: &str) -> Result<Option<String>, StoreError> {
        let c = self.client().await?;
        Ok(query_opt(
            &c,
            "SELECT value FROM cursors WHERE channel = $1 AND key = $2",
            &[&channel, &key],
        )
        .await?
        .map(|r| r.try_get(0))
        .transpose()?)
    }

    async fn set(&self, channel: &str, key: &str, value: &str) -> Result<(), StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO cursors (channel, key, value, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (channel, key) DO UPDATE
             SET value = excluded.value, updated_at = excluded.updated_at",
            &[&channel, &key, &value, &now],
        )
        .await?;
        Ok(())
    }

    async fn list(&self, channel: &str) -> Result<Vec<Cursor>, StoreError> {
        let c = self.client().await?;
        query(
            &c,
            "SELECT channel, key, value, updated_at FROM cursors WHERE channel = $1 ORDER BY key",
            &[&channel],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Cursor {
                channel: r.try_get(0)?,
                key: r.try_get(1)?,
                value: r.try_get(2)?,
                updated_at: r.try_get(3)?,
            })
        })
        .collect()
    }
}
