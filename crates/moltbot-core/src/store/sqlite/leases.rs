//! [`LeaseRepo`] on SQLite.

use rusqlite::{params, Connection, OptionalExtension};

use super::SqliteBackend;
use crate::store::{Lease, LeaseRepo, StoreError};

fn current(conn: &Connection, name: &str) -> Result<Option<Lease>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT name, owner, token, lease_until FROM leases WHERE name = ?1",
            params![name],
            |r| {
                Ok(Lease {
                    name: r.get(0)?,
                    owner: r.get(1)?,
                    token: r.get(2)?,
                    until: r.get(3)?,
                })
            },
        )
        .optional()?)
}

#[async_trait::async_trait]
impl LeaseRepo for SqliteBackend {
    async fn acquire(
        &self,
        name: &str,
        owner: &str,
        ttl_ms: i64,
    ) -> Result<Option<Lease>, StoreError> {
        let now = self.now_ms();
        let until = now.saturating_add(ttl_ms);
        let [name, owner] = [name, owner].map(str::to_owned);
        self.write(move |conn| {
            match current(conn, &name)? {
                Some(held) if held.owner != owner && held.until > now => Ok(None),
                Some(held) => {
                    // Renewal keeps the token; a new holder gets the next one.
                    let token = if held.owner == owner && held.until > now {
                        held.token
                    } else {
                        held.token + 1
                    };
                    conn.execute(
                        "UPDATE leases SET owner = ?2, token = ?3, lease_until = ?4
                         WHERE name = ?1",
                        params![name, owner, token, until],
                    )?;
                    Ok(Some(Lease {
                        name,
                        owner,
                        token,
                        until,
                    }))
                }
                None => {
                    conn.execute(
                        "INSERT INTO leases (name, owner, token, lease_until)
                         VALUES (?1, ?2, 1, ?3)",
                        params![name, owner, until],
                    )?;
                    Ok(Some(Lease {
                        name,
                        owner,
                        token: 1,
                        until,
                    }))
                }
            }
        })
        .await
    }

    async fn release(&self, name: &str, owner: &str) -> Result<bool, StoreError> {
        let [name, owner] = [name, owner].map(str::to_owned);
        // The row stays (with an expired time) so the next holder's token keeps growing.
        self.write(move |conn| {
            Ok(conn.execute(
                "UPDATE leases SET lease_until = 0 WHERE name = ?1 AND owner = ?2",
                params![name, owner],
            )? > 0)
        })
        .await
    }

    async fn holder(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let now = self.now_ms();
        let name = name.to_owned();
        self.read(move |conn| Ok(current(conn, &name)?.filter(|l| l.until > now)))
            .await
    }
}
