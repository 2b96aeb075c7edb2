//! Looks at the gateway process and its store from outside: CPU time and bytes written
//! (`/proc/<pid>/stat`, `/proc/<pid>/io`), the store files' sizes, and the store counter of
//! its `/metrics` when it has one. Linux only; every probe answers `None` where it cannot read.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

/// The counter a future store exports: bytes it wrote, labelled `file="wal"` or `file="db"`.
pub const STORE_WRITTEN_METRIC: &str = "moltbot_store_written_bytes_total";

/// Clock ticks per second of `/proc/<pid>/stat` times, and where the figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockTicks {
    /// Ticks per second.
    pub per_second: u64,
    /// `"getconf CLK_TCK"`, or `"assumed"` (100) when `getconf` could not be run.
    pub source: &'static str,
}

/// `getconf CLK_TCK`, asked once; 100 (the value of every common Linux build) when it fails.
pub fn clock_ticks() -> ClockTicks {
    static TICKS: OnceLock<ClockTicks> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .filter(|&t| t > 0)
            .map_or(
                ClockTicks {
                    per_second: 100,
                    source: "assumed",
                },
                |per_second| ClockTicks {
                    per_second,
                    source: "getconf CLK_TCK",
                },
            )
    })
}

/// `utime + stime` of the process (all its threads), in clock ticks, from the text of
/// `/proc/<pid>/stat`. The command name (field 2) may hold spaces and parentheses, so the
/// fields are counted from the last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state (3), ppid (4), ... utime (14), stime (15).
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// CPU time used so far by process `pid` (user + system, all threads), in milliseconds; the
/// resolution is one clock tick (10 ms at 100 ticks per second).
pub fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_cpu_ticks(&stat)?;
    Some(ticks as f64 * 1000.0 / clock_ticks().per_second as f64)
}

/// `write_bytes` of `/proc/<pid>/io`: bytes the process caused to be sent to the storage layer
/// (whole pages, counted when they are dirtied; a page rewritten before writeback counts again).
pub fn io_write_bytes(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Sum of the sizes of `files` in bytes; a missing file counts 0 (SQLite deletes the WAL when
/// the last connection closes).
pub fn files_bytes(files: &[&Path]) -> u64 {
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// The samples of one counter in a Prometheus text exposition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counter {
    /// Sum over every sample.
    pub total: f64,
    /// Per value of the `file` label (`""` for a sample without it).
    pub by_file: BTreeMap<String, f64>,
}

/// The samples of `name` in the Prometheus text `text`, or `None` when it has none (the
/// gateway does not export that counter, or a labelled counter was never incremented).
pub fn parse_counter(text: &str, name: &str) -> Option<Counter> {
    let mut out: Option<Counter> = None;
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, value) = if let Some(inner) = rest.strip_prefix('{') {
            let Some(end) = inner.rfind('}') else {
                continue;
            };
            (&inner[..end], &inner[end + 1..])
        } else if rest.starts_with(' ') {
            ("", rest)
        } else {
            // Another metric whose name starts with `name`.
            continue;
        };
        let Some(value) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        let file = labels
            .split(',')
            .find_map(|kv| kv.trim().strip_prefix("file="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default();
        let c = out.get_or_insert_with(Counter::default);
        c.total += value;
        *c.by_file.entry(file).or_insert(0.0) += value;
    }
    out
}

/// The gateway's [`STORE_WRITTEN_METRIC`] from `GET {http}/metrics`; `None` when the request
/// fails or the counter is absent.
pub async fn store_written_metric(http: &str) -> Option<Counter> {
    counter(http, STORE_WRITTEN_METRIC).await
}

/// The samples of counter `name` (summed over its labels) in `GET {http}/metrics`; `None` when
/// the request fails or the counter is absent.
pub async fn counter(http: &str, name: &str) -> Option<Counter> {
    parse_counter(&metrics_text(http).await?, name)
}

/// The text of `GET {http}/metrics`; `None` when the request fails.
pub async fn metrics_text(http: &str) -> Option<String> {
    reqwest::get(format!("{http}/metrics"))
        .await
        .ok()?
        .error_for_status()
        .ok()?
        .text()
        .await
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_counted_after_the_command_name() {
        // A name with a space and a parenthesis; utime 1234, stime 56.
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 56 0 0 20 0 9 0";
        assert_eq!(parse_cpu_ticks(stat), Some(1290));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1"), None);
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn counter_summed_over_labels_and_absent_when_missing() {
        let text = "# HELP moltbot_store_written_bytes Bytes written.\n\
                    # TYPE moltbot_store_written_bytes counter\n\
                    moltbot_store_written_bytes_total{file=\"wal\"} 4096\n\
                    moltbot_store_written_bytes_total{file=\"db\"} 1024.5\n\
                    moltbot_store_written_bytes_total_other 7\n\
                    moltbot_messages_dropped_total{reason=\"x\"} 3\n\
                    # EOF\n";
        let c = parse_counter(text, STORE_WRITTEN_METRIC).unwrap();
        assert_eq!(c.total, 5120.5);
        assert_eq!(c.by_file.get("wal"), Some(&4096.0));
        assert_eq!(c.by_file.get("db"), Some(&1024.5));
        let unlabelled = parse_counter(
            "moltbot_store_written_bytes_total 8\n",
            STORE_WRITTEN_METRIC,
        );
        assert_eq!(unlabelled.map(|c| c.total), Some(8.0));
        assert_eq!(
            parse_counter("moltbot_messages_dropped_total 3\n", STORE_WRITTEN_METRIC),
            None
        );
    }

    #[test]
    fn this_process_has_cpu_time_and_clock_ticks() {
        let ticks = clock_ticks();
        assert!(ticks.per_second > 0);
        // Only the read is checked: at 10 ms resolution a test may not have used a tick yet.
        assert!(cpu_ms(std::process::id()).is_some_and(|ms| ms >= 0.0));
        assert!(io_write_bytes(std::process::id()).is_some());
    }
}
