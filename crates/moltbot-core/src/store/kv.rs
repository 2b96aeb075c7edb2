//! Key/value settings grouped by namespace (e.g. `("webhook", "secret")`).

use rusqlite::{params, OptionalExtension};

use super::{write_transaction, Store, StoreError};

/// Access to the `kv` table; get it with [`Store::kv`].
#[derive(Debug, Clone, Copy)]
pub struct Kv<'a> {
    pub(super) store: &'a Store,
}

impl Kv<'_> {
    /// The value stored under `namespace`/`key`, if any.
    pub fn get_blocking(&self, namespace: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.store.call_blocking(|conn| {
            Ok(conn
                .query_row(
                    "SELECT value FROM kv WHERE namespace = ?1 AND key = ?2",
                    params![namespace, key],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    /// Stores `value` under `namespace`/`key`, replacing any previous value.
    pub fn set_blocking(&self, namespace: &str, key: &str, value: &str) -> Result<(), StoreError> {
        let now = self.store.now_ms();
        self.store.call_blocking(|conn| {
            conn.execute(
                "INSERT INTO kv (namespace, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (namespace, key) DO UPDATE
                 SET value = excluded.value, updated_at = excluded.updated_at",
                params![namespace, key, value, now],
            )?;
            Ok(())
        })
    }

    /// Returns the value stored under `namespace`/`key`, storing `candidate` first if there is
    /// none. Atomic across processes: when two race, both get the same stored value (use it for
    /// values generated once, such as a webhook secret).
    pub fn get_or_insert_blocking(
        &self,
        namespace: &str,
        key: &str,
        candidate: &str,
    ) -> Result<String, StoreError> {
        let now = self.store.now_ms();
        self.store.call_blocking(|conn| {
            write_transaction(conn, |tx| {
                tx.execute(
                    "INSERT INTO kv (namespace, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (namespace, key) DO NOTHING",
                    params![namespace, key, candidate, now],
                )?;
                Ok(tx.query_row(
                    "SELECT value FROM kv WHERE namespace = ?1 AND key = ?2",
                    params![namespace, key],
                    |r| r.get(0),
                )?)
            })
        })
    }

    /// Deletes `namespace`/`key`; returns whether it existed.
    pub fn delete_blocking(&self, namespace: &str, key: &str) -> Result<bool, StoreError> {
        self.store.call_blocking(|conn| {
            let n = conn.execute(
                "DELETE FROM kv WHERE namespace = ?1 AND key = ?2",
                params![namespace, key],
            )?;
            Ok(n > 0)
        })
    }

    /// Async form of [`Kv::get_blocking`].
    pub async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, StoreError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.store
            .run(move |s| s.kv().get_blocking(&namespace, &key))
            .await
    }

    /// Async form of [`Kv::set_blocking`].
    pub async fn set(&self, namespace: &str, key: &str, value: &str) -> Result<(), StoreError> {
        let (namespace, key, value) = (namespace.to_owned(), key.to_owned(), value.to_owned());
        self.store
            .run(move |s| s.kv().set_blocking(&namespace, &key, &value))
            .await
    }

    /// Async form of [`Kv::get_or_insert_blocking`].
    pub async fn get_or_insert(
        &self,
        namespace: &str,
        key: &str,
        candidate: &str,
    ) -> Result<String, StoreError> {
        let (namespace, key, candidate) =
            (namespace.to_owned(), key.to_owned(), candidate.to_owned());
        self.store
            .run(move |s| s.kv().get_or_insert_blocking(&namespace, &key, &candidate))
            .await
    }

    /// Async form of [`Kv::delete_blocking`].
    pub async fn delete(&self, namespace: &str, key: &str) -> Result<bool, StoreError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.store
            .run(move |s| s.kv().delete_blocking(&namespace, &key))
            .await
    }
}
