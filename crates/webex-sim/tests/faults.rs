//! Fault injection: rate limits, scripted failures, latency, webhook chaos.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};
use webex_sim::Faults;

#[tokio::test]
async fn per_token_rate_limit_answers_429_with_retry_after() {
    let w = world().await;
    w.sim.set_faults(Faults {
        rate_limit_per_minute: Some(3),
        retry_after_seconds: Some(7),
        ..Faults::default()
    });
    for _ in 0..3 {
        assert_eq!(get(&w.sim, &w.alice, "/people/me").await.status, 200);
    }
    let limited = get(&w.sim, &w.alice, "/people/me").await;
    assert_eq!(
        assert_webex_error(&limited, 429),
        webex_sim::error::MSG_TOO_MANY_REQUESTS
    );
    assert_eq!(limited.header("retry-after").as_deref(), Some("7"));
    // Another token has its own budget.
    assert_eq!(get(&w.sim, &w.bot, "/people/me").await.status, 200);
    let statuses: Vec<u16> = w.sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 200, 200, 429, 200]);
}

#[tokio::test]
async fn retry_after_can_be_raw_or_missing() {
    let w = world().await;
    let date = "Wed, 21 Oct 2015 07:28:00 GMT";
    w.sim.set_faults(Faults {
        rate_limit_per_minute: Some(0),
        retry_after_raw: Some(date.into()),
        ..Faults::default()
    });
    let a = get(&w.sim, &w.alice, "/people/me").await;
    assert_eq!(a.status, 429);
    assert_eq!(a.header("retry-after").as_deref(), Some(date));
    w.sim.set_faults(Faults {
        rate_limit_per_minute: Some(0),
        retry_after_raw: Some(String::new()),
        ..Faults::default()
    });
    let b = get(&w.sim, &w.alice, "/people/me").await;
    assert_eq!(b.status, 429);
    assert!(b.header("retry-after").is_none());
    w.sim.set_faults(Faults::default());
    assert_eq!(get(&w.sim, &w.alice, "/people/me").await.status, 200);
}

#[tokio::test]
async fn fail_next_fails_exactly_n_matching_calls() {
    let w = world().await;
    w.sim.fail_next("POST", "/v1/messages", 503, 2);
    assert_eq!(get(&w.sim, &w.alice, "/rooms").await.status, 200);
    let body = json!({"toPersonEmail": "bob@example.com", "text": "x"});
    let first = post(&w.sim, &w.alice, "/messages", body.clone()).await;
    assert_eq!(assert_webex_error(&first, 503), "Service Unavailable");
    assert_eq!(
        post(&w.sim, &w.alice, "/messages", body.clone())
            .await
            .status,
        503
    );
    assert_eq!(post(&w.sim, &w.alice, "/messages", body).await.status, 200);
    // Nothing was stored by the failed calls.
    let room = w.sim.direct_room(&w.alice, &w.bob).unwrap();
    assert_eq!(w.sim.messages_in(&room).len(), 1);
    // 429 injected this way carries Retry-After.
    w.sim.fail_next("GET", "/people", 429, 1);
    let limited = get(&w.sim, &w.alice, "/people/me").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after").as_deref(), Some("60"));
}

#[tokio::test]
async fn latency_delays_answers() {
    let w = world().await;
    w.sim.set_faults(Faults {
        latency_ms: 150,
        ..Faults::default()
    });
    let start = Instant::now();
    assert_eq!(get(&w.sim, &w.alice, "/people/me").await.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn webhook_drop_and_duplicate_ratios() {
    let w = world().await;
    let mut rx = receiver().await;
    register(&w.sim, &w.alice, &rx.url, "messages", None, None).await;
    w.sim.set_faults(Faults {
        webhook_drop_ratio: 1.0,
        ..Faults::default()
    });
    w.sim
        .dm(&w.alice, "bob@example.com", "dropped")
        .await
        .unwrap();
    rx.none_within(150).await;
    w.sim.set_faults(Faults {
        webhook_duplicate_ratio: 1.0,
        ..Faults::default()
    });
    let m = w
        .sim
        .dm(&w.alice, "bob@example.com", "twice")
        .await
        .unwrap();
    assert_eq!(rx.next().await.body["data"]["id"], m["id"]);
    assert_eq!(rx.next().await.body["data"]["id"], m["id"]);
    rx.none_within(100).await;
}

#[tokio::test]
async fn webhook_delay_and_reorder() {
    let w = world().await;
    let mut rx = receiver().await;
    register(&w.sim, &w.alice, &rx.url, "messages", None, None).await;
    w.sim.set_faults(Faults {
        webhook_delay_ms: 100,
        ..Faults::default()
    });
    let start = Instant::now();
    w.sim.dm(&w.alice, "bob@example.com", "slow").await.unwrap();
    rx.next().await;
    assert!(start.elapsed() >= Duration::from_millis(100));
    // A held-back delivery is overtaken by a later one.
    w.sim.set_faults(Faults {
        webhook_reorder_ratio: 1.0,
        ..Faults::default()
    });
    let first = w
        .sim
        .dm(&w.alice, "bob@example.com", "first")
        .await
        .unwrap();
    w.sim.set_faults(Faults::default());
    let second = w
        .sim
        .dm(&w.alice, "bob@example.com", "second")
        .await
        .unwrap();
    assert_eq!(rx.next().await.body["data"]["id"], second["id"]);
    assert_eq!(rx.next().await.body["data"]["id"], first["id"]);
}
