//! Throwaway PostgreSQL schemas for tests and benchmarks: each gets a schema of its own in the
//! database `MOLTBOT_TEST_DATABASE_URL` names, so they run in parallel on one database, and the
//! schema is dropped (with everything in it) when the [`ScratchSchema`] is.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{StoreError, StoreLocation, SystemClock};

/// The environment variable naming the test database (e.g.
/// `postgres://postgres@127.0.0.1:5432/test`). Tests that need PostgreSQL skip when it is unset.
pub const TEST_DATABASE_URL_ENV: &str = "MOLTBOT_TEST_DATABASE_URL";

/// A schema of its own in the test database, dropped on drop.
#[derive(Debug)]
pub struct ScratchSchema {
    base: String,
    name: String,
    url: String,
}

impl ScratchSchema {
    /// A new, unique schema name in the database of [`TEST_DATABASE_URL_ENV`]; `None` (after
    /// printing that the caller is skipped) when the variable is unset. Nothing is created yet:
    /// the store creates the schema when it first connects.
    pub fn from_env(tag: &str) -> Option<Self> {
        let Some(base) = std::env::var(TEST_DATABASE_URL_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
        else {
            eprintln!("skipped: {TEST_DATABASE_URL_ENV} is not set (no PostgreSQL to test on)");
            return None;
        };
        Some(Self::new(&base, tag))
    }

    /// A new, unique schema name in the database `base` names.
    pub fn new(base: &str, tag: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tag: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(24)
            .collect();
        let name = format!(
            "moltbot_t_{tag}_{}_{}_{:04x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand::random::<u16>()
        );
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-csearch_path%3D{name}");
        Self {
            base: base.to_owned(),
            name,
            url,
        }
    }

    /// The URL of the schema (the base URL with its `search_path`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL with a password in it, and that password: the base URL's own, else
    /// `pw-scratch-secret` (a server that trusts local connections ignores it). For tests that a
    /// password is never printed.
    pub fn url_with_password(&self) -> (String, String) {
        let Ok(mut url) = url::Url::parse(&self.url) else {
            return (self.url.clone(), String::new());
        };
        if let Some(own) = url.password() {
            let own = url::form_urlencoded::parse(format!("p={own}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            return (self.url.clone(), own);
        }
        const PASSWORD: &str = "pw-scratch-secret";
        if url.username().is_empty() && url.set_username("postgres").is_err() {
            return (self.url.clone(), String::new());
        }
        if url.set_password(Some(PASSWORD)).is_err() {
            return (self.url.clone(), String::new());
        }
        (url.to_string(), PASSWORD.to_owned())
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store location of the schema.
    pub fn location(&self) -> Result<StoreLocation, StoreError> {
        parse(&self.url)
    }

    async fn drop_schema(base: &str, name: &str) -> Result<(), StoreError> {
        let StoreLocation::Postgres(url) = parse(base)? else {
            return Ok(());
        };
        let backend =
            super::postgres::PostgresBackend::connect(&url, Arc::new(SystemClock), false).await?;
        let client = backend.client().await?;
        // A connection left inside a transaction on the schema (a test that panicked) would
        // hold the drop forever: give up after a while, leaving the schema behind.
        client
            .batch_execute(&format!(
                "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
            ))
            .await?;
        Ok(())
    }
}

fn parse(url: &str) -> Result<StoreLocation, StoreError> {
    StoreLocation::parse(url).map_err(|e| StoreError::Decode {
        what: TEST_DATABASE_URL_ENV,
        detail: e.to_string(),
    })
}

impl Drop for ScratchSchema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Its own thread and runtime: drop may run inside (or outside) any runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(Self::drop_schema(&base, &name))
                .map_err(|e| crate::error::chain(&e).to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("cannot drop test schema {}: {e}", self.name),
            Err(_) => eprintln!(
                "cannot drop test schema {}: the dropping thread panicked",
                self.name
            ),
        }
    }
}
