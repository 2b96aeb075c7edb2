//! What the store's units of work cost (run by hand: `cargo test --release -p moltbot-core
//! --test store_cost -- --ignored --nocapture`). Prints the times; asserts only the counts (each
//! awaited claim commits alone; claims in flight together share commits), never a time.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::time::Instant;

use moltbot_core::store::{Claim, Store};

fn claim(i: usize) -> Claim {
    Claim {
        channel: "webex".into(),
        message_id: format!(
            "Y2lzY29zcGFyazovL3VzL01FU1NBR0UvZmFrZS1tZXNzYWdlLWlkLW51bWJlci0{i:08}"
        ),
        room_id: format!("Y2lzY29zcGFyazovL3VzL1JPT00vcm9vbS{}", i % 10),
        created_at: 0,
        owner: "node-0123456789abcdef/0123456789abcdef".into(),
        lease_ms: 15_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn claim_latency_one_at_a_time_and_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("s.sqlite")).unwrap();
    let n = 2000;
    let mut took = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        store.ledger().claim(&claim(i)).await.unwrap();
        took.push(started.elapsed().as_micros());
    }
    took.sort_unstable();
    let pct = |p: usize| took[(took.len() - 1) * p / 100];
    println!(
        "claim one at a time: p50 {} us, p99 {} us, max {} us",
        pct(50),
        pct(99),
        took[took.len() - 1]
    );
    let written = store.written_bytes().unwrap();
    assert_eq!(written.writes, n as u64);
    assert_eq!(
        written.commits, n as u64,
        "a claim awaited alone commits alone"
    );
    println!(
        "  {} writes in {} commits, {} WAL bytes per claim",
        written.writes,
        written.commits,
        written.wal / written.writes.max(1)
    );

    let started = Instant::now();
    let tasks: Vec<_> = (n..2 * n)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.ledger().claim(&claim(i)).await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let after = store.written_bytes().unwrap();
    assert_eq!(after.writes - written.writes, n as u64);
    assert!(after.commits > written.commits && after.commits - written.commits <= n as u64);
    println!(
        "claim {n} at once: {:.1} us each on average; {} commits for {} writes",
        started.elapsed().as_micros() as f64 / n as f64,
        after.commits - written.commits,
        after.writes - written.writes
    );
}
