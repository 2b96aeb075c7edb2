//! Install records of plugins (`moltbot plugins install|list`).

use rusqlite::{params, OptionalExtension, Row};

use super::{Store, StoreError};

/// Access to the `plugin_installs` table; get it with [`Store::plugins`].
#[derive(Debug, Clone, Copy)]
pub struct PluginInstalls<'a> {
    pub(super) store: &'a Store,
}

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
    /// When it was (last) installed, unix ms.
    pub installed_at: i64,
}

impl PluginInstall {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get("id")?,
            name: r.get("name")?,
            version: r.get("version")?,
            source: r.get("source")?,
            installed_at: r.get("installed_at")?,
        })
    }
}

const COLUMNS: &str = "id, name, version, source, installed_at";

impl PluginInstalls<'_> {
    /// Records an install of plugin `id`, replacing an earlier record (re-install or upgrade).
    pub fn record_install_blocking(
        &self,
        id: &str,
        name: &str,
        version: &str,
        source: &str,
    ) -> Result<PluginInstall, StoreError> {
        let record = PluginInstall {
            id: id.to_owned(),
            name: name.to_owned(),
            version: version.to_owned(),
            source: source.to_owned(),
            installed_at: self.store.now_ms(),
        };
        self.store.call_blocking(|conn| {
            conn.execute(
                "INSERT INTO plugin_installs (id, name, version, source, installed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                     version = excluded.version, source = excluded.source,
                     installed_at = excluded.installed_at",
                params![
                    record.id,
                    record.name,
                    record.version,
                    record.source,
                    record.installed_at
                ],
            )?;
            Ok(())
        })?;
        Ok(record)
    }

    /// All install records, ordered by id.
    pub fn list_blocking(&self) -> Result<Vec<PluginInstall>, StoreError> {
        self.store.call_blocking(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM plugin_installs ORDER BY id"
            ))?;
            let rows = stmt.query_map([], PluginInstall::from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The install record of plugin `id`, if installed.
    pub fn get_blocking(&self, id: &str) -> Result<Option<PluginInstall>, StoreError> {
        self.store.call_blocking(|conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM plugin_installs WHERE id = ?1"),
                    params![id],
                    PluginInstall::from_row,
                )
                .optional()?)
        })
    }

    /// Removes the install record of plugin `id`; returns whether there was one.
    pub fn remove_blocking(&self, id: &str) -> Result<bool, StoreError> {
        self.store.call_blocking(|conn| {
            Ok(conn.execute("DELETE FROM plugin_installs WHERE id = ?1", params![id])? > 0)
        })
    }

    /// Async form of [`PluginInstalls::record_install_blocking`].
    pub async fn record_install(
        &self,
        id: &str,
        name: &str,
        version: &str,
        source: &str,
    ) -> Result<PluginInstall, StoreError> {
        let args = [id, name, version, source].map(str::to_owned);
        self.store
            .run(move |s| {
                let [id, name, version, source] = &args;
                s.plugins()
                    .record_install_blocking(id, name, version, source)
            })
            .await
    }

    /// Async form of [`PluginInstalls::list_blocking`].
    pub async fn list(&self) -> Result<Vec<PluginInstall>, StoreError> {
        self.store.run(|s| s.plugins().list_blocking()).await
    }

    /// Async form of [`PluginInstalls::get_blocking`].
    pub async fn get(&self, id: &str) -> Result<Option<PluginInstall>, StoreError> {
        let id = id.to_owned();
        self.store.run(move |s| s.plugins().get_blocking(&id)).await
    }

    /// Async form of [`PluginInstalls::remove_blocking`].
    pub async fn remove(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.store
            .run(move |s| s.plugins().remove_blocking(&id))
            .await
    }
}
