//! Cost per metrics event: 1,000,000 events recorded from 2 threads, printed as ns/event
//! (median and best of 7 runs per kind).
//!
//! A measurement, not a check (no timing asserts). Run it in release:
//! `cargo test --release -p moltbot-core --test metrics_cost -- --ignored --nocapture`.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use moltbot_core::access::DropReason;
use moltbot_core::gateway::{Dropped, Metrics};

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
    let webex = metrics.channel("webex");
    let latency = Duration::from_millis(30);
    let denied = Dropped::Access(DropReason::DmNotAllowed);
    let kinds: [(&str, &(dyn Fn(usize) + Sync)); 6] = [
        ("received (counter)", &|_| webex.received()),
        ("answered (counter + histogram)", &|_| {
            webex.answered(latency)
        }),
        ("dropped (closed reason)", &|_| webex.dropped(denied)),
        ("dropped (channel's reason)", &|_| {
            webex.dropped(Dropped::Skipped("own message"))
        }),
        ("api_call (4 labels)", &|_| {
            webex.api_call("POST", "/messages", 200)
        }),
        ("mix of received/answered/dropped/api", &|i| match i % 4 {
            0 => webex.received(),
            1 => webex.answered(latency),
            2 => webex.dropped(denied),
            _ => webex.api_call("POST", "/messages", 200),
        }),
    ];
    println!("{EVENTS} events from {THREADS} threads (wall clock / events):");
    for (name, record) in kinds {
        let mut runs: Vec<u128> = (0..RUNS).map(|_| per_event(record).as_nanos()).collect();
        runs.sort_unstable();
        println!(
            "  {name:<36} median {:>4} ns/event, best {:>4}",
            runs[RUNS / 2],
            runs[0]
        );
    }
    let started = Instant::now();
    let text = metrics.render().unwrap_or_default();
    println!(
        "  render: {} bytes in {} µs",
        text.len(),
        started.elapsed().as_micros()
    );
}
