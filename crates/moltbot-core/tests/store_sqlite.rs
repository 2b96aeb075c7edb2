//! The store conformance suite against the embedded SQLite backend.

#![allow(clippy::unwrap_used)] // tests may unwrap

#[macro_use]
mod store_conformance;

use std::sync::Arc;

use moltbot_core::store::{ManualClock, Store};
use store_conformance::{Fixture, START_MS};

async fn sqlite() -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let clock = ManualClock::new(START_MS);
    let store = Store::open_with_clock(&path, Arc::new(clock.clone())).unwrap();
    Some(Fixture {
        store,
        clock,
        reopen: Some(Box::new(move |clock| {
            let path = path.clone();
            Box::pin(async move { Store::open_with_clock(&path, Arc::new(clock)).unwrap() })
        })),
        guard: Box::new(dir),
    })
}

conformance!(sqlite);
