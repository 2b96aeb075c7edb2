//! Per-channel cursors: opaque strings a channel uses to remember where it got to (e.g. the
//! polling position of each room).

use super::StoreError;

/// One stored cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The channel owning the cursor.
    pub channel: String,
    /// The cursor's key within the channel (e.g. a room id).
    pub key: String,
    /// The cursor value.
    pub value: String,
    /// When it was last set (unix ms, from the store's clock).
    pub updated_at: i64,
}

/// Per-channel cursors; get it with [`Store::cursors`](super::Store::cursors).
#[async_trait::async_trait]
pub trait CursorRepo: Send + Sync {
    /// The cursor `key` of `channel`, if set.
    async fn get(&self, channel: &str, key: &str) -> Result<Option<String>, StoreError>;

    /// Sets the cursor `key` of `channel` to `value`, stamped with the store's clock.
    async fn set(&self, channel: &str, key: &str, value: &str) -> Result<(), StoreError>;

    /// All cursors of `channel`, ordered by key.
    async fn list(&self, channel: &str) -> Result<Vec<Cursor>, StoreError>;
}
