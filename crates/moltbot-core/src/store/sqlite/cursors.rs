//! [`CursorRepo`] on SQLite.

use rusqlite::{params, OptionalExtension};

use super::SqliteBackend;
use crate::store::{Cursor, CursorRepo, StoreError};

#[async_trait::async_trait]
impl CursorRepo for SqliteBackend {
    async fn get(&self, channel: &str, key: &str) -> Result<Option<String>, StoreError> {
        let (channel, key) = (channel.to_owned(), key.to_owned());
        self.read_now(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT value FROM cursors WHERE channel = ?1 AND key = ?2",
                    params![channel, key],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    async fn set(&self, channel: &str, key: &str, value: &str) -> Result<(), StoreError> {
        let now = self.now_ms();
        let (channel, key, value) = (channel.to_owned(), key.to_owned(), value.to_owned());
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO cursors (channel, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (channel, key) DO UPDATE
                 SET value = excluded.value, updated_at = excluded.updated_at",
                params![channel, key, value, now],
            )?;
            Ok(())
        })
        .await
    }

    async fn list(&self, channel: &str) -> Result<Vec<Cursor>, StoreError> {
        let channel = channel.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT channel, key, value, updated_at FROM cursors
                 WHERE channel = ?1 ORDER BY key",
            )?;
            let rows = stmt.query_map(params![channel], |r| {
                Ok(Cursor {
                    channel: r.get(0)?,
                    key: r.get(1)?,
                    value: r.get(2)?,
                    updated_at: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}
