//! [`LeaseRepo`] on PostgreSQL: one `INSERT ... ON CONFLICT DO UPDATE ... WHERE` per
//! acquisition, so concurrent acquirers (in any process) agree on one holder.

use tokio_postgres::Row;

use super::{execute, query_opt, PostgresBackend};
use crate::store::{Lease, LeaseRepo, StoreError};

fn lease(r: &Row) -> Result<Lease, StoreError> {
    Ok(Lease {
        name: r.try_get(0)?,
        owner: r.try_get(1)?,
        token: r.try_get(2)?,
        until: r.try_get(3)?,
    })
}

#[async_trait::async_trait]
impl LeaseRepo for PostgresBackend {
    async fn acquire(
        &self,
        name: &str,
        owner: &str,
        ttl_ms: i64,
    ) -> Result<Option<Lease>, StoreError> {
        let now = self.now_ms();
        let until = now.saturating_add(ttl_ms);
        let c = self.client().await?;
        // Renewal (same owner, still held) keeps the token; a new holder gets the next one.
        query_opt(
            &c,
            "INSERT INTO leases AS l (name, owner, token, lease_until) VALUES ($1, $2, 1, $3)
             ON CONFLICT (name) DO UPDATE
             SET owner = excluded.owner,
                 token = CASE WHEN l.owner = excluded.owner AND l.lease_until > $4
                              THEN l.token ELSE l.token + 1 END,
                 lease_until = excluded.lease_until
             WHERE l.owner = excluded.owner OR l.lease_until <= $4
             RETURNING name, owner, token, lease_until",
            &[&name, &owner, &until, &now],
        )
        .await?
        .as_ref()
        .map(lease)
        .transpose()
    }

    async fn release(&self, name: &str, owner: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        // The row stays (with an expired time) so the next holder's token keeps growing.
        Ok(execute(
            &c,
            "UPDATE leases SET lease_until = 0 WHERE name = $1 AND owner = $2",
            &[&name, &owner],
        )
        .await?
            > 0)
    }

    async fn holder(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        query_opt(
            &c,
            "SELECT name, owner, token, lease_until FROM leases
             WHERE name = $1 AND lease_until > $2",
            &[&name, &now],
        )
        .await?
        .as_ref()
        .map(lease)
        .transpose()
    }
}
