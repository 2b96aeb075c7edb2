//! The `/metrics` text: names, types, help, labels and values, pinned; and no lost updates
//! when channels record from several threads.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::time::Duration;

use moltbot_core::access::DropReason;
use moltbot_core::gateway::{Dropped, Metrics};

/// The rendered text with each counter's samples sorted (a family's series come in no
/// particular order; histogram buckets keep theirs).
fn sorted(text: &str) -> String {
    let mut out = Vec::new();
    for metric in text
        .split_inclusive('\n')
        .collect::<Vec<_>>()
        .chunk_by(|_, next| !next.starts_with("# HELP "))
    {
        let (comments, samples) = metric.split_at(2);
        let mut samples = samples.to_vec();
        if comments[1].ends_with(" counter\n") {
            samples.sort_unstable();
        }
        out.extend(comments);
        out.extend(samples);
    }
    out.concat()
}

#[test]
fn rendered_text_keeps_names_types_and_labels() {
    let metrics = Metrics::default();
    let webex = metrics.channel("webex");
    let other = metrics.channel("other");
    webex.received();
    webex.received();
    webex.duplicate();
    webex.answered(Duration::from_micros(31_250));
    webex.answered(Duration::from_secs(2));
    webex.failed();
    webex.dropped(Dropped::Access(DropReason::DmNotAllowed));
    webex.dropped(Dropped::PairingRequested);
    webex.dropped(Dropped::Skipped("own message"));
    webex.dropped(Dropped::Skipped("own message"));
    webex.dropped(Dropped::Skipped(" older than catchUp.maxAgeMinutes."));
    webex.api_call("POST", "/messages", 200);
    webex.api_call("GET", "/messages", 200);
    webex.api_call("GET", "/messages/{id}", 429);
    webex.api_call("GET", "/messages/{id}", 0);
    other.received();
    // A second handle on the same channel counts into the same series.
    metrics.channel("webex").received();
    metrics.set_queue_depth(3);

    insta::assert_snapshot!(sorted(&metrics.render().unwrap()));
}

#[test]
fn two_threads_lose_no_update() {
    const PER_THREAD: usize = 10_000;
    let metrics = Metrics::default();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let channel = metrics.channel("webex");
            scope.spawn(move || {
                for _ in 0..PER_THREAD {
                    channel.received();
                    channel.answered(Duration::from_millis(1));
                    channel.dropped(Dropped::Skipped("own message"));
                    channel.api_call("POST", "/messages", 200);
                }
            });
        }
    });
    let text = metrics.render().unwrap();
    let total = 2 * PER_THREAD;
    for series in [
        "moltbot_messages_received_total{channel=\"webex\"}",
        "moltbot_messages_answered_total{channel=\"webex\"}",
        "moltbot_reply_latency_seconds_count",
        "moltbot_messages_dropped_total{channel=\"webex\",reason=\"own_message\"}",
        "moltbot_api_requests_total{channel=\"webex\",method=\"POST\",endpoint=\"/messages\",status=\"200\"}",
    ] {
        assert!(
            text.contains(&format!("\n{series} {total}\n")),
            "{series} {total} not in:\n{text}"
        );
    }
}
