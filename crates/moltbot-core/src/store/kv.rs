//! Key/value settings grouped by namespace (e.g. `("webhook", "secret")`).

use super::StoreError;

/// Key/value settings; get it with [`Store::kv`](super::Store::kv).
#[async_trait::async_trait]
pub trait KvRepo: Send + Sync {
    /// The value stored under `namespace`/`key`, if any.
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, StoreError>;

    /// Stores `value` under `namespace`/`key`, replacing any previous value.
    async fn set(&self, namespace: &str, key: &str, value: &str) -> Result<(), StoreError>;

    /// Returns the value stored under `namespace`/`key`, storing `candidate` first if there is
    /// none. Atomic across processes: when two race, both get the same stored value (use it for
    /// values generated once, such as a webhook secret).
    async fn get_or_insert(
        &self,
        namespace: &str,
        key: &str,
        candidate: &str,
    ) -> Result<String, StoreError>;

    /// Every `(key, value)` of `namespace`, ordered by key.
    async fn list(&self, namespace: &str) -> Result<Vec<(String, String)>, StoreError>;

    /// Deletes `namespace`/`key`; returns whether it existed.
    async fn delete(&self, namespace: &str, key: &str) -> Result<bool, StoreError>;
}
