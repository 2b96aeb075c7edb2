//! Named leases for work only one process may do at a time (a polling receiver, webhook
//! registration, timers), with fencing tokens: each new holder gets a larger token, so a holder
//! that lost its lease can be told apart from the current one.

use super::StoreError;

/// A lease held (see [`LeaseRepo::acquire`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The lease's name.
    pub name: String,
    /// Its holder.
    pub owner: String,
    /// The fencing token: larger for every new holder.
    pub token: i64,
    /// Until when it holds (unix ms).
    pub until: i64,
}

/// Named leases; get it with [`Store::leases`](super::Store::leases).
#[async_trait::async_trait]
pub trait LeaseRepo: Send + Sync {
    /// Takes lease `name` for `owner` for `ttl_ms` if it is free, expired, or already held by
    /// `owner` (then it is renewed with the same token). `None` when another holder has it.
    async fn acquire(
        &self,
        name: &str,
        owner: &str,
        ttl_ms: i64,
    ) -> Result<Option<Lease>, StoreError>;

    /// Releases lease `name` if `owner` holds it; returns whether it did.
    async fn release(&self, name: &str, owner: &str) -> Result<bool, StoreError>;

    /// The current holder of lease `name`, if it is held and not expired.
    async fn holder(&self, name: &str) -> Result<Option<Lease>, StoreError>;
}
