//! [`KvRepo`] on SQLite.

use rusqlite::{params, OptionalExtension};

use super::SqliteBackend;
use crate::store::{KvRepo, StoreError};

#[async_trait::async_trait]
impl KvRepo for SqliteBackend {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, StoreError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.read_now(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT value FROM kv WHERE namespace = ?1 AND key = ?2",
                    params![namespace, key],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    async fn set(&self, namespace: &str, key: &str, value: &str) -> Result<(), StoreError> {
        let now = self.now_ms();
        let (namespace, key, value) = (namespace.to_owned(), key.to_owned(), value.to_owned());
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO kv (namespace, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (namespace, key) DO UPDATE
                 SET value = excluded.value, updated_at = excluded.updated_at",
                params![namespace, key, value, now],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_or_insert(
        &self,
        namespace: &str,
        key: &str,
        candidate: &str,
    ) -> Result<String, StoreError> {
        let now = self.now_ms();
        let (namespace, key, candidate) =
            (namespace.to_owned(), key.to_owned(), candidate.to_owned());
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO kv (namespace, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (namespace, key) DO NOTHING",
                params![namespace, key, candidate, now],
            )?;
            Ok(conn.query_row(
                "SELECT value FROM kv WHERE namespace = ?1 AND key = ?2",
                params![namespace, key],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn list(&self, namespace: &str) -> Result<Vec<(String, String)>, StoreError> {
        let namespace = namespace.to_owned();
        self.read(move |conn| {
            let mut stmt =
                conn.prepare("SELECT key, value FROM kv WHERE namespace = ?1 ORDER BY key")?;
            let rows = stmt.query_map(params![namespace], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool, StoreError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.write(move |conn| {
            Ok(conn.execute(
                "DELETE FROM kv WHERE namespace = ?1 AND key = ?2",
                params![namespace, key],
            )? > 0)
        })
        .await
    }
}
