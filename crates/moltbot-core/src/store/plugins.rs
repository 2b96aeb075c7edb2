//! Install records of plugins (`moltbot plugins install|list`).

use super::StoreError;

/// One installed plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInstall {
    /// Plugin id (e.g. the key under `plugins.entries`).
    pub id: String,
    /// Package name.
    pub name: String,
    /// Installed version.
    pub version: String,
    /// Where it was installed from (package name or path, as the user gave it).
    pub source: String,
    /// When it was (last) installed, unix ms (from the store's clock).
    pub installed_at: i64,
}

/// Install records of plugins; get it with [`Store::plugins`](super::Store::plugins).
#[async_trait::async_trait]
pub trait PluginRepo: Send + Sync {
    /// Records an install of plugin `id` now, replacing an earlier record (re-install or
    /// upgrade); returns the record as stored.
    async fn record_install(
        &self,
        id: &str,
        name: &str,
        version: &str,
        source: &str,
    ) -> Result<PluginInstall, StoreError>;

    /// All install records, ordered by id.
    async fn list(&self) -> Result<Vec<PluginInstall>, StoreError>;

    /// The install record of plugin `id`, if installed.
    async fn get(&self, id: &str) -> Result<Option<PluginInstall>, StoreError>;

    /// Removes the install record of plugin `id`; returns whether there was one.
    async fn remove(&self, id: &str) -> Result<bool, StoreError>;
}
