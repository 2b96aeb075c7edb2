//! The store conformance suite against the PostgreSQL backend, each case in a schema of its own
//! in the database `MOLTBOT_TEST_DATABASE_URL` names (skipped when it is unset).

#![allow(clippy::unwrap_used)] // tests may unwrap

#[macro_use]
mod store_conformance;

use std::sync::Arc;

use moltbot_core::store::scratch::ScratchSchema;
use moltbot_core::store::{
    BackendErrorKind, ManualClock, Store, StoreError, StoreLocation, SCHEMA_VERSION,
};
use store_conformance::{Fixture, START_MS};

async fn postgres() -> Option<Fixture> {
    let schema = ScratchSchema::from_env("conformance")?;
    let location = schema.location().unwrap();
    let clock = ManualClock::new(START_MS);
    let store = Store::connect_with_clock(&location, Arc::new(clock.clone()))
        .await
        .unwrap();
    assert_eq!(store.backend_info().name, "postgres");
    Some(Fixture {
        store,
        clock,
        reopen: Some(Box::new(move |clock| {
            let location = location.clone();
            Box::pin(async move {
                Store::connect_with_clock(&location, Arc::new(clock))
                    .await
                    .unwrap()
            })
        })),
        guard: Box::new(schema),
    })
}

conformance!(postgres);

/// A plain connection to the scratch schema, to look at what the backend wrote.
async fn raw(schema: &ScratchSchema) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(schema.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once() {
    let Some(schema) = ScratchSchema::from_env("migrate") else {
        return;
    };
    let location = schema.location().unwrap();
    assert_eq!(Store::schema_version_at(&location).await.unwrap(), Some(0));
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let location = location.clone();
            tokio::spawn(async move { Store::connect(&location).await })
        })
        .collect();
    for start in starts {
        let store = start.await.unwrap().unwrap();
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
        let info = store.backend_info();
        assert_eq!(info.name, "postgres");
        assert_eq!(info.location, location.location());
        assert!(
            !info.location.contains('@') && !info.location.contains('?'),
            "{info:?}"
        );
    }
    let rows = raw(&schema)
        .await
        .query("SELECT version FROM moltbot_schema", &[])
        .await
        .unwrap();
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    // The PostgreSQL backend starts at version 3; each later version is applied once.
    let expected: Vec<i32> = (3..=i32::try_from(SCHEMA_VERSION).unwrap()).collect();
    assert_eq!(versions, expected);
    assert_eq!(
        Store::schema_version_at(&location).await.unwrap(),
        Some(SCHEMA_VERSION)
    );
}

#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused() {
    let Some(schema) = ScratchSchema::from_env("too_new") else {
        return;
    };
    let location = schema.location().unwrap();
    drop(Store::connect(&location).await.unwrap());
    raw(&schema)
        .await
        .execute(
            "INSERT INTO moltbot_schema (version, applied_at, moltbot) VALUES (99, 0, '9.9.9')",
            &[],
        )
        .await
        .unwrap();
    let err = Store::connect(&location).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found: 99, supported } if supported == SCHEMA_VERSION),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_and_names_no_password() {
    // A port nothing listens on (bound, then closed) on this machine.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://bot:hunter2@127.0.0.1:{port}/nowhere?connect_timeout=2");
    let location = StoreLocation::parse(&url).unwrap();
    assert_eq!(
        location.to_string(),
        format!("postgres 127.0.0.1:{port}/nowhere")
    );
    let err = Store::connect(&location).await.unwrap_err();
    assert_eq!(
        err.backend_kind(),
        Some(BackendErrorKind::Unavailable),
        "{err:?}"
    );
    let text = format!("{err:?} {}", moltbot_core::error::chain(&err));
    assert!(!text.contains("hunter2"), "{text}");
}
