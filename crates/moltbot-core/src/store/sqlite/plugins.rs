//! [`PluginRepo`] on SQLite.

use rusqlite::{params, OptionalExtension, Row};

use super::SqliteBackend;
use crate::store::{PluginInstall, PluginRepo, StoreError};

const COLUMNS: &str = "id, name, version, source, installed_at";

fn install_from_row(r: &Row<'_>) -> rusqlite::Result<PluginInstall> {
    Ok(PluginInstall {
        id: r.get("id")?,
        name: r.get("name")?,
        version: r.get("version")?,
        source: r.get("source")?,
        installed_at: r.get("installed_at")?,
    })
}

#[async_trait::async_trait]
impl PluginRepo for SqliteBackend {
    async fn record_install(
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
            installed_at: self.now_ms(),
        };
        self.write(move |conn| {
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
            Ok(record)
        })
        .await
    }

    async fn list(&self) -> Result<Vec<PluginInstall>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM plugin_installs ORDER BY id"
            ))?;
            let rows = stmt.query_map([], install_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn get(&self, id: &str) -> Result<Option<PluginInstall>, StoreError> {
        let id = id.to_owned();
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM plugin_installs WHERE id = ?1"),
                    params![id],
                    install_from_row,
                )
                .optional()?)
        })
        .await
    }

    async fn remove(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |conn| {
            Ok(conn.execute("DELETE FROM plugin_installs WHERE id = ?1", params![id])? > 0)
        })
        .await
    }
}
