//! Gateway counters, rendered in the Prometheus text exposition format.
//!
//! Deliberately small: a handful of labelled counters, one gauge and one histogram, kept in
//! memory and rendered on demand. Channels report API calls through [`Metrics::api_call`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the reply latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct State {
    received: BTreeMap<String, u64>,
    duplicates: BTreeMap<String, u64>,
    answered: BTreeMap<String, u64>,
    dropped: BTreeMap<(String, String), u64>,
    failed: BTreeMap<String, u64>,
    api_calls: BTreeMap<(String, String, u16), u64>,
    rate_limited: u64,
    latency: Histogram,
}

/// The gateway's metrics.
#[derive(Default)]
pub struct Metrics {
    state: Mutex<State>,
    queue_depth: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn bump<K: Ord>(map: &mut BTreeMap<K, u64>, key: K) {
    *map.entry(key).or_default() += 1;
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state)
    }

    /// A new message was handed over for processing (first sighting, not the bot's own).
    pub fn received(&self, channel: &str) {
        self.with(|s| bump(&mut s.received, channel.to_string()));
    }

    /// A message was seen again and ignored.
    pub fn duplicate(&self, channel: &str) {
        self.with(|s| bump(&mut s.duplicates, channel.to_string()));
    }

    /// A message was answered, `latency` after it was received.
    pub fn answered(&self, channel: &str, latency: Duration) {
        self.with(|s| {
            bump(&mut s.answered, channel.to_string());
            let secs = latency.as_secs_f64();
            for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    s.latency.buckets[i] += 1;
                }
            }
            s.latency.count += 1;
            s.latency.sum += secs;
        });
    }

    /// A message was not answered on purpose (`reason` is a short stable label).
    pub fn dropped(&self, channel: &str, reason: &str) {
        self.with(|s| bump(&mut s.dropped, (channel.to_string(), reason.to_string())));
    }

    /// A message could not be answered.
    pub fn failed(&self, channel: &str) {
        self.with(|s| bump(&mut s.failed, channel.to_string()));
    }

    /// A chat network API call finished with `status` (0 for no response).
    pub fn api_call(&self, channel: &str, endpoint: &str, status: u16) {
        self.with(|s| {
            bump(
                &mut s.api_calls,
                (channel.to_string(), endpoint.to_string(), status),
            );
            if status == 429 {
                s.rate_limited += 1;
            }
        });
    }

    /// Sets the number of messages queued or in progress.
    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth
            .store(depth, std::sync::atomic::Ordering::Relaxed);
    }

    /// Renders every metric in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let depth = self.queue_depth.load(std::sync::atomic::Ordering::Relaxed);
        self.with(|s| {
            let mut out = String::new();
            let mut counter = |name: &str, help: &str, rows: Vec<(String, u64)>| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                for (labels, value) in rows {
                    let _ = writeln!(out, "{name}{labels} {value}");
                }
            };
            let by_channel = |m: &BTreeMap<String, u64>| {
                m.iter()
                    .map(|(c, v)| (format!("{{channel=\"{}\"}}", escape(c)), *v))
                    .collect()
            };
            counter(
                "moltbot_messages_received_total",
                "Messages received for processing (first sighting; the bot's own messages are not counted).",
                by_channel(&s.received),
            );
            counter(
                "moltbot_messages_duplicate_total",
                "Message sightings ignored because the id was already recorded.",
                by_channel(&s.duplicates),
            );
            counter(
                "moltbot_messages_answered_total",
                "Messages answered.",
                by_channel(&s.answered),
            );
            counter(
                "moltbot_messages_failed_total",
                "Messages whose reply could not be sent.",
                by_channel(&s.failed),
            );
            counter(
                "moltbot_messages_dropped_total",
                "Messages not answered on purpose, by reason.",
                s.dropped
                    .iter()
                    .map(|((c, r), v)| {
                        (
                            format!("{{channel=\"{}\",reason=\"{}\"}}", escape(c), escape(r)),
                            *v,
                        )
                    })
                    .collect(),
            );
            counter(
                "moltbot_api_requests_total",
                "Chat network API calls by endpoint and HTTP status (0: no response).",
                s.api_calls
                    .iter()
                    .map(|((c, e, st), v)| {
                        (
                            format!(
                                "{{channel=\"{}\",endpoint=\"{}\",status=\"{st}\"}}",
                                escape(c),
                                escape(e)
                            ),
                            *v,
                        )
                    })
                    .collect(),
            );
            counter(
                "moltbot_api_rate_limited_total",
                "API responses with status 429.",
                vec![(String::new(), s.rate_limited)],
            );
            let _ = writeln!(
                out,
                "# HELP moltbot_queue_depth Messages queued or in progress.\n\
# TYPE moltbot_queue_depth gauge\nmoltbot_queue_depth {depth}"
            );
            let _ = writeln!(
                out,
                "# HELP moltbot_reply_latency_seconds Time from receiving a message to its reply being sent.\n\
# TYPE moltbot_reply_latency_seconds histogram"
            );
            for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "moltbot_reply_latency_seconds_bucket{{le=\"{bound}\"}} {}",
                    s.latency.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "moltbot_reply_latency_seconds_bucket{{le=\"+Inf\"}} {}\n\
moltbot_reply_latency_seconds_sum {}\nmoltbot_reply_latency_seconds_count {}",
                s.latency.count, s.latency.sum, s.latency.count
            );
            out
        })
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.received("webex");
        m.answered("webex", Duration::from_millis(30));
        m.dropped("webex", "dm not allowed");
        m.api_call("webex", "/messages", 429);
        let text = m.render();
        assert!(text.contains("moltbot_messages_received_total{channel=\"webex\"} 1"));
        assert!(text.contains(
            "moltbot_messages_dropped_total{channel=\"webex\",reason=\"dm not allowed\"} 1"
        ));
        assert!(text.contains("moltbot_api_rate_limited_total 1"));
        assert!(text.contains("moltbot_reply_latency_seconds_bucket{le=\"0.05\"} 1"));
        assert!(text.contains("moltbot_reply_latency_seconds_bucket{le=\"0.025\"} 0"));
        assert!(text.contains("moltbot_reply_latency_seconds_count 1"));
        assert!(text.contains("moltbot_messages_answered_total{channel=\"webex\"} 1"));
    }
}
