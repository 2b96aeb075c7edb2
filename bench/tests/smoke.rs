//! A smoke run of every scenario at tiny sizes: each must produce figures (counts > 0, nothing
//! lost). Timings are not asserted. Uses `target/debug/moltbot` (built by `cargo test
//! --workspace`), `$MOLTBOT_BIN`, or builds `moltbot-cli` first.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use moltbot_bench::{scenarios, workspace_root, Sizes};
use serde_json::Value;

fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("MOLTBOT_BIN") {
            return PathBuf::from(p);
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"));
        let debug = target.join("debug").join("moltbot");
        if !debug.is_file() {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args(["build", "-p", "moltbot-cli"])
                .current_dir(workspace_root())
                .status()
                .expect("run cargo build -p moltbot-cli");
            assert!(status.success(), "cargo build -p moltbot-cli failed");
        }
        debug
    })
    .clone()
}

fn num(v: &Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("{path:?} missing in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_smoke() {
    let s = scenarios::latency::run(&binary(), &Sizes::smoke())
        .await
        .unwrap();
    assert_eq!(num(&s.json, &["ours", "count"]), 10.0, "{}", s.json);
    assert_eq!(num(&s.json, &["floor", "count"]), 10.0, "{}", s.json);
    assert!(num(&s.json, &["ours", "p50_ms"]) > 0.0);
    assert_eq!(num(&s.json, &["lost"]), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_smoke() {
    let s = scenarios::polling::run(&binary(), &Sizes::smoke())
        .await
        .unwrap();
    let lat = &s.json["latency"][0];
    assert_eq!(num(lat, &["ours", "count"]), 3.0, "{}", s.json);
    assert_eq!(num(lat, &["naive", "count"]), 3.0, "{}", s.json);
    assert_eq!(num(lat, &["lost", "ours"]), 0.0);
    assert!(num(lat, &["requests_per_answered", "ours"]) > 0.0);
    let idle = &s.json["idle_requests_per_interval"][0];
    // The naive poller lists the rooms and then each of the 5 rooms: at least 6 per pass.
    assert!(num(idle, &["naive"]) >= 6.0, "{}", s.json);
    assert!(num(idle, &["ours"]) > 0.0, "{}", s.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_smoke() {
    let s = scenarios::throughput::run(&binary(), &Sizes::smoke())
        .await
        .unwrap();
    assert_eq!(num(&s.json, &["unlimited", "answered"]), 20.0, "{}", s.json);
    assert!(num(&s.json, &["unlimited", "answered_per_s"]) > 0.0);
    assert_eq!(
        num(&s.json, &["limited_120_per_min", "answered"]),
        3.0,
        "{}",
        s.json
    );
    assert_eq!(
        num(&s.json, &["limited_120_per_min", "got_429"]),
        0.0,
        "{}",
        s.json
    );
    assert!(num(&s.json, &["limited_120_per_min", "requests"]) > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_smoke() {
    let sizes = Sizes::smoke();
    let s = scenarios::burst::run(&binary(), &sizes).await.unwrap();
    // Every side's figures cover every round.
    let rounds = sizes.burst_rounds;
    assert!(rounds >= 2, "the smoke run checks the rounds add up");
    assert_eq!(num(&s.json, &["rounds"]), rounds as f64);
    let n = (sizes.burst_messages * rounds) as f64;
    for side in [
        "ours",
        "floor_webhook",
        "floor_webhook_in_process",
        "floor_direct",
    ] {
        assert_eq!(num(&s.json, &[side, "answered"]), n, "{side}: {}", s.json);
        assert_eq!(num(&s.json, &[side, "missing"]), 0.0, "{side}: {}", s.json);
        assert_eq!(num(&s.json, &[side, "latency", "count"]), n, "{}", s.json);
        assert!(num(&s.json, &[side, "drained_ms"]) > 0.0, "{}", s.json);
        let by_round = s.json[side]["drained_ms_by_round"].as_array().unwrap();
        assert_eq!(by_round.len(), rounds, "{side}: {}", s.json);
    }
    // The gateway answers each room in order; the floor is not asked to.
    assert_eq!(num(&s.json, &["ours", "out_of_order"]), 0.0, "{}", s.json);
    assert_eq!(num(&s.json, &["rooms"]), sizes.burst_rooms as f64);
    assert_eq!(
        num(&s.json, &["messages"]),
        sizes.burst_messages as f64,
        "messages per burst: {}",
        s.json
    );
    // Each webhook floor (its own process, the bench's) got every user's message and its own
    // replies through its webhook, and skipped its own without a GET.
    for side in ["floor_webhook", "floor_webhook_in_process"] {
        let deliveries = |k: &str| num(&s.json, &[side, "deliveries", k]);
        assert_eq!(deliveries("received"), 2.0 * n, "{side}: {}", s.json);
        assert_eq!(deliveries("own_skipped"), n, "{side}: {}", s.json);
    }
    // The emulator timed every delivery of the burst to the gateway and to the webhook floor:
    // each user's message and each reply coming back, once (not the warm-up's).
    for side in ["ours", "floor_webhook", "floor_webhook_in_process"] {
        for kind in ["others", "own"] {
            let times = [side, "delivery_answer_times", kind];
            let count = [&times[..], &["count"]].concat();
            assert_eq!(num(&s.json, &count), n, "{side} {kind}: {}", s.json);
            let sum = [&times[..], &["sum_ms"]].concat();
            assert!(num(&s.json, &sum) > 0.0, "{side} {kind}: {}", s.json);
        }
    }
    for ratio in ["ratio", "ratio_in_process", "ratio_direct"] {
        for figure in ["drained", "p50", "p99"] {
            assert!(num(&s.json, &[ratio, figure]) > 0.0, "{ratio}: {}", s.json);
        }
        let by_round = s.json[ratio]["drained_by_round"].as_array().unwrap();
        assert_eq!(by_round.len(), rounds, "{ratio}: {}", s.json);
    }
    // The process floor's CPU was read from its /proc entry (the key exists and is a number; in
    // ticks of 10 ms, a smoke burst may well read 0).
    assert!(
        num(&s.json, &["floor_webhook", "cpu_ms"]) >= 0.0,
        "{}",
        s.json
    );
    // Answering writes to the store: the kernel saw the gateway's writes, and its CPU moved.
    assert!(
        num(&s.json, &["store_bytes", "proc_io_write_bytes_delta"]) > 0.0,
        "{}",
        s.json
    );
    assert!(num(&s.json, &["cpu", "total_ms"]) > 0.0, "{}", s.json);
    // The store counter does not exist yet: reported as absent, not as 0.
    assert!(
        s.json["store_bytes"]["metric_per_answered"].is_null()
            || num(&s.json, &["store_bytes", "metric_per_answered"]) > 0.0,
        "{}",
        s.json
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_smoke() {
    let s = scenarios::memory::run(&binary(), &Sizes::smoke())
        .await
        .unwrap();
    assert!(num(&s.json, &["rss", "idle_rss_mib"]) > 0.0, "{}", s.json);
    assert!(num(&s.json, &["rss", "burst_hwm_mib"]) > 0.0, "{}", s.json);
    assert!(num(&s.json, &["ready_ms"]) > 0.0);
    assert!(num(&s.json, &["binary_bytes"]) > 0.0);
    assert_eq!(num(&s.json, &["burst_lost"]), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_smoke() {
    let sizes = Sizes::smoke();
    for case in scenarios::faults::CASES {
        let r = scenarios::faults::run_case(&binary(), &sizes, case)
            .await
            .unwrap();
        assert_eq!(r.outcome.sent, sizes.fault_n, "{case}: {}", r.json);
        assert_eq!(r.outcome.lost, 0, "{case}: {}", r.json);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_smoke() {
    let sizes = Sizes::smoke();
    let s = scenarios::websocket::run(&binary(), &sizes, &[])
        .await
        .unwrap();
    let loads = std::iter::once(&s.json["latency_load"])
        .chain(s.json["polling_loads"].as_array().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(loads.len(), 1 + sizes.polling.len(), "{}", s.json);
    for fig in loads {
        assert_eq!(fig["mode"], "websocket", "{fig}");
        let n = num(fig, &["messages"]);
        assert!(n > 0.0, "{fig}");
        assert_eq!(num(fig, &["ours", "count"]), n, "{fig}");
        assert_eq!(num(fig, &["floor", "count"]), n, "{fig}");
        assert_eq!(num(fig, &["lost"]), 0.0, "{fig}");
        assert!(num(fig, &["ratio", "p50"]) > 0.0, "{fig}");
        // Every answered message cost at least the lookup of its event, its GET and the reply.
        let requests = &fig["requests_per_answered"]["requests"];
        for kind in ["lookup", "get_message", "post_message"] {
            assert!(num(requests, &[kind]) >= n, "{kind}: {fig}");
        }
        // The floor does exactly its two calls per message.
        assert_eq!(
            num(
                fig,
                &["floor_requests_per_answered", "per_answered", "total"]
            ),
            2.0,
            "{fig}"
        );
    }
    for case in scenarios::faults::WEBSOCKET_CASES {
        let r = &s.json[*case];
        assert_eq!(r["mode"], "websocket", "{case}: {r}");
        assert_eq!(num(r, &["sent"]), sizes.fault_n as f64, "{case}: {r}");
        assert_eq!(num(r, &["answered"]), sizes.fault_n as f64, "{case}: {r}");
        assert_eq!(num(r, &["lost"]), 0.0, "{case}: {r}");
        assert_eq!(
            num(r, &["extra_replies_outside_window"]),
            0.0,
            "{case}: {r}"
        );
        // Every reply was seen (before the final restart) and timed.
        assert_eq!(
            num(r, &["latency", "count"]),
            sizes.fault_n as f64,
            "{case}: {r}"
        );
    }
    assert!(
        num(&s.json, &["websocket_drops", "socket_drops"]) >= 1.0,
        "{}",
        s.json
    );
    assert!(
        num(&s.json, &["websocket_sigkill", "kills"]) >= 1.0,
        "{}",
        s.json
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ha_smoke() {
    let Ok(url) = std::env::var("MOLTBOT_TEST_DATABASE_URL") else {
        eprintln!("skipped: MOLTBOT_TEST_DATABASE_URL is not set (no PostgreSQL to test on)");
        return;
    };
    let sizes = Sizes::smoke();
    let s = scenarios::ha::run(&binary(), &sizes, Some(&url))
        .await
        .unwrap();
    let failover = &s.json["failover"];
    assert_eq!(
        num(failover, &["messages"]),
        sizes.ha_messages as f64,
        "{}",
        s.json
    );
    assert_eq!(num(failover, &["lost"]), 0.0, "{}", s.json);
    assert_eq!(num(failover, &["out_of_order"]), 0.0, "{}", s.json);
    assert!(num(failover, &["latency", "count"]) > 0.0);
    assert!(num(&s.json, &["room_order_check", "first_ahead_us"]) > 0.0);
    for store in ["sqlite", "postgres"] {
        assert_eq!(
            num(&s.json, &["webhook_latency", store, "lost"]),
            0.0,
            "{}",
            s.json
        );
    }
}

/// Runs the `moltbot-bench` binary with `args` (against the gateway under test), stdout and
/// stderr into `stdout` and `stderr`; returns its exit code.
fn run_bench(args: &[&str], stdout: std::fs::File, stderr: std::fs::File) -> Option<i32> {
    std::process::Command::new(env!("CARGO_BIN_EXE_moltbot-bench"))
        .args(args)
        .arg("--moltbot")
        .arg(binary())
        .stdout(stdout)
        .stderr(stderr)
        .status()
        .unwrap()
        .code()
}

const TABLE_HEADER: &str = "| scenario | figure | value |";

#[test]
fn a_mistyped_scenario_or_an_empty_latency_run_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    for (args, named) in [
        (vec!["--smoke", "--only", "memroy"], "memroy"),
        (vec!["--smoke", "--latency-n", "0"], "--latency-n"),
    ] {
        let log = dir.path().join("log");
        let file = std::fs::File::create(&log).unwrap();
        let mut all = args.clone();
        all.extend(["--out", out.to_str().unwrap()]);
        let code = run_bench(&all, file.try_clone().unwrap(), file);
        let said = std::fs::read_to_string(&log).unwrap();
        assert_eq!(code, Some(2), "{args:?}: {said}");
        assert!(
            said.contains(named),
            "{args:?} does not name {named}: {said}"
        );
        assert!(!out.exists(), "{args:?} wrote results");
    }
}

#[test]
fn the_table_is_printed_once_into_one_log_and_the_label_names_a_changed_latency_size() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let log = dir.path().join("log");
    let file = std::fs::File::create(&log).unwrap();
    // `> log 2>&1`: stdout shows what stderr showed.
    let args = [
        "--smoke",
        "--only",
        "latency",
        "--latency-n",
        "3",
        "--out",
        out.to_str().unwrap(),
    ];
    assert_eq!(run_bench(&args, file.try_clone().unwrap(), file), Some(0));
    let said = std::fs::read_to_string(&log).unwrap();
    assert_eq!(said.matches(TABLE_HEADER).count(), 1, "{said}");
    assert!(
        said.contains("running latency (smoke, latency 3 messages)"),
        "{said}"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["sizes"], "smoke, latency 3 messages");
    assert_eq!(num(&doc, &["results", "webhook_latency", "messages"]), 3.0);

    // Apart: the rows on stderr as the scenario finished, the whole table on stdout; a size
    // given for a scenario that did not run leaves the label alone.
    let (stdout, stderr) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let args = [
        "--smoke",
        "--only",
        "memory",
        "--latency-n",
        "3",
        "--out",
        out.to_str().unwrap(),
    ];
    let code = run_bench(
        &args,
        std::fs::File::create(&stdout).unwrap(),
        std::fs::File::create(&stderr).unwrap(),
    );
    assert_eq!(code, Some(0));
    let (stdout, stderr) = (
        std::fs::read_to_string(&stdout).unwrap(),
        std::fs::read_to_string(&stderr).unwrap(),
    );
    for text in [&stdout, &stderr] {
        assert_eq!(text.matches(TABLE_HEADER).count(), 1, "{text}");
        assert!(text.contains("| memory_start | RSS idle"), "{text}");
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["sizes"], "smoke");
}
