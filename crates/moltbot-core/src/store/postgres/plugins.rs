//! [`PluginRepo`] on PostgreSQL.

use tokio_postgres::Row;

use super::{execute, query, query_opt, PostgresBackend};
use crate::store::{PluginInstall, PluginRepo, StoreError};

const SELECT: &str = "SELECT id, name, version, source, installed_at FROM plugin_installs";

fn install(r: &Row) -> Result<PluginInstall, StoreError> {
    Ok(PluginInstall {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        version: r.try_get(2)?,
        source: r.try_get(3)?,
        installed_at: r.try_get(4)?,
    })
}

#[async_trait::async_trait]
impl PluginRepo for PostgresBackend {
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
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO plugin_installs (id, name, version, source, installed_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                 version = excluded.version, source = excluded.source,
                 installed_at = excluded.installed_at",
            &[
                &record.id,
                &record.name,
                &record.version,
                &record.source,
                &record.installed_at,
            ],
        )
        .await?;
        Ok(record)
    }

    async fn list(&self) -> Result<Vec<PluginInstall>, StoreError> {
        let c = self.client().await?;
        query(&c, &format!("{SELECT} ORDER BY id"), &[])
            .await?
            .iter()
            .map(install)
            .collect()
    }

    async fn get(&self, id: &str) -> Result<Option<PluginInstall>, StoreError> {
        let c = self.client().await?;
        query_opt(&c, &format!("{SELECT} WHERE id = $1"), &[&id])
            .await?
            .as_ref()
            .map(install)
            .transpose()
    }

    async fn remove(&self, id: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        Ok(execute(&c, "DELETE FROM plugin_installs WHERE id = $1", &[&id]).await? > 0)
    }
}
