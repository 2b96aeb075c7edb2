//! `moltbot-bench`: runs the scenarios, prints the table and writes `bench/results/latest.json`.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use moltbot_bench::floor::FloorKind;
use moltbot_bench::report::{self, Section};
use moltbot_bench::{find_binary, scenarios, workspace_root, Sizes};

/// The scenarios, in the order they run.
const SCENARIOS: [&str; 8] = [
    "latency",
    "polling",
    "throughput",
    "burst",
    "memory",
    "faults",
    "websocket",
    "ha",
];

/// Benchmarks and the fault suite: the real `moltbot` binary against webex-sim over loopback.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// A smaller run (about two minutes) instead of the full one.
    #[arg(long)]
    quick: bool,
    /// The tiny sizes of the smoke test.
    #[arg(long, conflicts_with = "quick")]
    smoke: bool,
    /// Only these scenarios (latency, polling, throughput, burst, memory, faults, websocket,
    /// ha); default all.
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(SCENARIOS))]
    only: Vec<String>,
    /// Path of the `moltbot` binary (default: $MOLTBOT_BIN, else target/release/moltbot, else
    /// target/debug/moltbot).
    #[arg(long, env = "MOLTBOT_BIN")]
    moltbot: Option<PathBuf>,
    /// Where to write the JSON results (default bench/results/latest.json of the workspace the
    /// bench was built in).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only these fault cases (faults: sigkill, 429_storm, 5xx_bursts, webhook_chaos_both,
    /// webhook_chaos_webhook; websocket: websocket_drops, websocket_duplicates,
    /// websocket_sigkill); default all of each scenario.
    #[arg(long, value_delimiter = ',')]
    fault_cases: Vec<String>,
    /// The PostgreSQL database of the `ha` scenario (schemas of its own are created and
    /// dropped in it); without one `ha` is skipped.
    #[arg(long, env = "MOLTBOT_TEST_DATABASE_URL")]
    database_url: Option<String>,
    /// Override the number of messages of the latency run (and of the websocket scenario's
    /// run at the latency's load); at least 1.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    latency_n: Option<usize>,
    /// Where the steady runs' webhook floor runs: `process` (its own, the default) or
    /// `in-process` (the bench's, as before the tenth session; to compare with older results).
    /// The burst scenario runs both.
    #[arg(long, value_enum, default_value = "process")]
    webhook_floor: FloorKind,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let binary = find_binary(args.moltbot.as_deref()).context(
        "no moltbot binary: run `cargo build --release -p moltbot-cli` or pass --moltbot PATH",
    )?;
    let (mut sizes, mut label) = if args.smoke {
        (Sizes::smoke(), String::from("smoke"))
    } else if args.quick {
        (Sizes::quick(), String::from("quick"))
    } else {
        (Sizes::full(), String::from("full"))
    };
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    // The label says what ran: `full, latency 400 messages` is not a full run's latency (the
    // websocket scenario's steady run takes the same size).
    if let Some(n) = args.latency_n {
        if n != sizes.latency_n && (wanted("latency") || wanted("websocket")) {
            let messages = if n == 1 { "message" } else { "messages" };
            label = format!("{label}, latency {n} {messages}");
        }
        sizes.latency_n = n;
    }
    sizes.webhook_floor = args.webhook_floor;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let sections = runtime.block_on(async {
        let mut sections: Vec<Section> = Vec::new();
        for name in SCENARIOS {
            if !wanted(name) {
                continue;
            }
            eprintln!("running {name} ({label}) with {}", binary.display());
            let started = std::time::Instant::now();
            let section = match name {
                "latency" => scenarios::latency::run(&binary, &sizes).await,
                "polling" => scenarios::polling::run(&binary, &sizes).await,
                "throughput" => scenarios::throughput::run(&binary, &sizes).await,
                "burst" => scenarios::burst::run(&binary, &sizes).await,
                "memory" => scenarios::memory::run(&binary, &sizes).await,
                "faults" => scenarios::faults::run(&binary, &sizes, &args.fault_cases).await,
                "ha" => scenarios::ha::run(&binary, &sizes, args.database_url.as_deref()).await,
                _ => scenarios::websocket::run(&binary, &sizes, &args.fault_cases).await,
            }
            .with_context(|| format!("scenario {name}"))?;
            eprintln!("{name} done in {:.1} s", started.elapsed().as_secs_f64());
            eprint!("{}", report::table(std::slice::from_ref(&section)));
            sections.push(section);
        }
        anyhow::Ok(sections)
    })?;
    let doc = report::document(&sections, report::machine(), &label);
    let out = args
        .out
        .unwrap_or_else(|| workspace_root().join("bench/results/latest.json"));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("write {}", out.display()))?;
    eprintln!("results written to {}", out.display());
    // Each scenario's rows went to stderr as it finished; the whole table goes to stdout for a
    // file or a pipe, unless stdout shows what stderr showed (both on a terminal, or both into
    // one file). After the JSON is written, so a closed stdout costs no results.
    if !stdout_shows_stderr() {
        let printed = writeln!(std::io::stdout().lock(), "{}", report::table(&sections));
        if let Err(err) = printed {
            eprintln!("the table was not printed on stdout ({err}); the results are in the file");
        }
    }
    Ok(())
}

/// Whether stdout and stderr end up in the same place: both terminals, or the same file or
/// pipe (`> log 2>&1`).
fn stdout_shows_stderr() -> bool {
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    if stdout.is_terminal() && stderr.is_terminal() {
        return true;
    }
    same_file(&stdout, &stderr).unwrap_or(false)
}

/// Whether `a` and `b` are the same file, pipe or device (the same device and inode).
#[cfg(unix)]
fn same_file(a: &impl std::os::fd::AsFd, b: &impl std::os::fd::AsFd) -> Option<bool> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = |fd: &dyn std::os::fd::AsFd| {
        std::fs::File::from(fd.as_fd().try_clone_to_owned().ok()?)
            .metadata()
            .ok()
    };
    let (a, b) = (meta(a)?, meta(b)?);
    Some(a.dev() == b.dev() && a.ino() == b.ino())
}

/// Unknown off Unix: the table is printed.
#[cfg(not(unix))]
fn same_file<A, B>(_a: &A, _b: &B) -> Option<bool> {
    None
}
