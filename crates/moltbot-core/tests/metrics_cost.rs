//! Cost per metrics event: 1,000,000 events recorded from 2 threads, printed as ns/event
//! (median and best of 7 runs per kind).
//!
//! A measurement, not a check (no timing asserts). Run it in release:
//! `cargo test --release -p moltbot-core --test metrics_cost -- --ignored --nocapture`.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use moltbot_core::gateway::Metrics;

const EVENTS: usize = 1_000_000;
const THREADS: usize = 2;
const RUNS: usize = 7;

/// Runs `record(i)` EVENTS times split over THREADS threads started together; returns the
/// wall-clock time per event.
fn per_event(record: &(dyn Fn(usize) + Sync)) -> Duration {
    let barrier = Barrier::new(THREADS + 1);
    let per_thread = EVENTS / THREADS;
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                barrier.wait();
                for i in 0..per_thread {
                    record(i);
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let started = Instant::now();
        barrier.wait();
        started.elapsed() / u32::try_from(EVENTS).unwrap_or(u32::MAX)
    })
}

#[test]
#[ignore = "micro-benchmark: run with --release -- --ignored --nocapture"]
fn cost_per_event() {
    let metrics = Metrics::default();
    let latency = Duration::from_millis(30);
    let kinds: [(&str, &(dyn Fn(usize) + Sync)); 5] = [
        ("received (counter)", &|_| metrics.received("webex")),
        ("answered (counter + histogram)", &|_| {
            metrics.answered("webex", latency)
        }),
        ("dropped (counter, reason label)", &|_| {
            metrics.dropped("webex", "dm_not_allowed")
        }),
        ("api_call (4 labels)", &|_| {
            metrics.api_call("webex", "/messages", 200)
        }),
        ("mix of the four", &|i| match i % 4 {
            0 => metrics.received("webex"),
            1 => metrics.answered("webex", latency),
            2 => metrics.dropped("webex", "dm_not_allowed"),
            _ => metrics.api_call("webex", "/messages", 200),
        }),
    ];
    println!("{EVENTS} events from {THREADS} threads (wall clock / events):");
    for (name, record) in kinds {
        let mut runs: Vec<u128> = (0..RUNS).map(|_| per_event(record).as_nanos()).collect();
        runs.sort_unstable();
        println!(
            "  {name:<34} median {:>4} ns/event, best {:>4}",
            runs[RUNS / 2],
            runs[0]
        );
    }
    let started = Instant::now();
    let text = metrics.render();
    println!(
        "  render: {} bytes in {} µs",
        text.len(),
        started.elapsed().as_micros()
    );
}
