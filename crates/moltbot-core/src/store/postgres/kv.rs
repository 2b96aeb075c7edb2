//! [`KvRepo`] on PostgreSQL.

use super::{execute, query_opt, PostgresBackend};
use crate::store::{KvRepo, StoreError};

const GET: &str = "SELECT value FROM kv WHERE namespace = $1 AND key = $2";

#[async_trait::async_trait]
impl KvRepo for PostgresBackend {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, StoreError> {
        let c = self.client().await?;
        Ok(query_opt(&c, GET, &[&namespace, &key])
            .await?
            .map(|r| r.try_get(0))
            .transpose()?)
    }

    async fn set(&self, namespace: &str, key: &str, value: &str) -> Result<(), StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO kv (namespace, key, value, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (namespace, key) DO UPDATE
             SET value = excluded.value, updated_at = excluded.updated_at",
            &[&namespace, &key, &value, &now],
        )
        .await?;
        Ok(())
    }

    async fn get_or_insert(
        &self,
        namespace: &str,
        key: &str,
        candidate: &str,
    ) -> Result<String, StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        // Two statements on purpose: a conflicting insert waits for the other writer's commit,
        // and the read that follows (a new snapshot) then sees its value.
        execute(
            &c,
            "INSERT INTO kv (namespace, key, value, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (namespace, key) DO NOTHING",
            &[&namespace, &key, &candidate, &now],
        )
        .await?;
        Ok(super::query_one(&c, GET, &[&namespace, &key])
            .await?
            .try_get(0)?)
    }

    async fn list(&self, namespace: &str) -> Result<Vec<(String, String)>, StoreError> {
        let c = self.client().await?;
        super::query(
            &c,
            "SELECT key, value FROM kv WHERE namespace = $1 ORDER BY key",
            &[&namespace],
        )
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM kv WHERE namespace = $1 AND key = $2",
            &[&namespace, &key],
        )
        .await?
            > 0)
    }
}
