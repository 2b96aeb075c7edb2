//! Per-channel cursors: opaque strings a channel uses to remember where it got to (e.g. the
//! polling position of each room).

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};

/// Access to the `cursors` table; get it with [`Store::cursors`].
#[derive(Debug, Clone, Copy)]
pub struct Cursors<'a> {
    pub(super) store: &'a Store,
}

/// One stored cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The channel owning the cursor.
    pub channel: String,
    /// The cursor's key within the channel (e.g. a room id).
    pub key: String,
    /// The cursor value.
    pub value: String,
    /// When it was last set (unix ms).
    pub updated_at: i64,
}

impl Cursors<'_> {
    /// The cursor `key` of `channel`, if set.
    pub fn get_blocking(&self, channel: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.store.call_blocking(|conn| {
            Ok(conn
                .query_row(
                    "SELECT value FROM cursors WHERE channel = ?1 AND key = ?2",
                    params![channel, key],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    /// Sets the cursor `key` of `channel` to `value`.
    pub fn set_blocking(&self, channel: &str, key: &str, value: &str) -> Result<(), StoreError> {
        let now = self.store.now_ms();
        self.store.call_blocking(|conn| {
            conn.execute(
                "INSERT INTO cursors (channel, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (channel, key) DO UPDATE
                 SET value = excluded.value, updated_at = excluded.updated_at",
                params![channel, key, value, now],
            )?;
            Ok(())
        })
    }

    /// All cursors of `channel`, ordered by key.
    pub fn list_blocking(&self, channel: &str) -> Result<Vec<Cursor>, StoreError> {
        self.store.call_blocking(|conn| {
            let mut stmt = conn.prepare(
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
    }

    /// Async form of [`Cursors::get_blocking`].
    pub async fn get(&self, channel: &str, key: &str) -> Result<Option<String>, StoreError> {
        let (channel, key) = (channel.to_owned(), key.to_owned());
        self.store
            .run(move |s| s.cursors().get_blocking(&channel, &key))
            .await
    }

    /// Async form of [`Cursors::set_blocking`].
    pub async fn set(&self, channel: &str, key: &str, value: &str) -> Result<(), StoreError> {
        let (channel, key, value) = (channel.to_owned(), key.to_owned(), value.to_owned());
        self.store
            .run(move |s| s.cursors().set_blocking(&channel, &key, &value))
            .await
    }

    /// Async form of [`Cursors::list_blocking`].
    pub async fn list(&self, channel: &str) -> Result<Vec<Cursor>, StoreError> {
        let channel = channel.to_owned();
        self.store
            .run(move |s| s.cursors().list_blocking(&channel))
            .await
    }
}
