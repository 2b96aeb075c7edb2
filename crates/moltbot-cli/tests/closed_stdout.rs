//! A reader that goes away (`moltbot pairing list | head -0`, a pager quit early) is not an
//! error: the command drops the rest of its output, does its work and exits with its own exit
//! code, without a panic. The gateway keeps running.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Output, Stdio};
use std::time::Duration;

use common::{output_text, TestHome};
use moltbot_testkit::{wait, webex_config, World, OPEN};
use tokio::io::{AsyncBufReadExt as _, BufReader};

/// A stdout whose reader is gone before the child writes anything: the write end of a pipe
/// whose read end is already closed, so every write fails with `EPIPE`.
fn closed_stdout() -> Stdio {
    let (writer, reader) = tokio::net::unix::pipe::pipe().unwrap();
    drop(reader);
    Stdio::from(writer.into_blocking_fd().unwrap())
}

/// Runs `moltbot args...` in `home` with `stdout`; returns its exit status and stderr.
async fn run_with_stdout(home: &TestHome, args: &[&str], stdout: Stdio) -> Output {
    // Spawned, not `output()`: that would pipe stdout whatever was set.
    tokio::process::Command::from(home.command())
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .await
        .unwrap()
}

/// A home with the Webex plugin installed and a config that validates.
fn home_with_a_config() -> TestHome {
    let home = TestHome::new();
    home.write_config(&webex_config(
        "polling",
        "http://127.0.0.1:9/v1",
        Some("a-bot-token-long-enough-to-look-real-0123456789"),
        OPEN,
    ));
    home.moltbot()
        .args(["plugins", "install", "@moltbot/webex"])
        .assert()
        .success();
    home
}

#[tokio::test]
async fn commands_whose_reader_went_away_finish_quietly_with_their_own_exit_code() {
    let home = home_with_a_config();
    for args in [
        &["--help"][..],
        &["--version"],
        &["pairing", "--help"],
        &["plugins", "list"],
        &["plugins", "list", "--json"],
        &["config", "validate"],
        &["pairing", "list", "webex", "--json"],
        &["store", "status"],
        &["store", "status", "--json"],
    ] {
        // What the command prints and how it ends when someone reads it.
        let read = home.moltbot().args(args).output().unwrap();
        let (stdout, _) = output_text(&read);
        assert!(!stdout.is_empty(), "{args:?} prints something");

        let closed = run_with_stdout(&home, args, closed_stdout()).await;
        let (_, stderr) = output_text(&closed);
        assert_eq!(
            closed.status.code(),
            read.status.code(),
            "{args:?} with stdout closed; stderr:\n{stderr}"
        );
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?} with stdout closed; stderr:\n{stderr}"
        );
    }
}

#[tokio::test]
async fn output_lost_otherwise_is_an_error() {
    let home = home_with_a_config();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    // A command's output, and what clap prints itself (help, version).
    for args in [
        &["plugins", "list"][..],
        &["--version"],
        &["--help"],
        &["pairing", "--help"],
    ] {
        let full = full.try_clone().unwrap();
        let out = run_with_stdout(&home, args, Stdio::from(full)).await;
        let (_, stderr) = output_text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("error: cannot write the output: No space left on device")),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_usage_error_goes_to_stderr_with_exit_code_2() {
    let home = TestHome::new();
    let out = home
        .moltbot()
        .args(["pairing", "--no-such-flag"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_keeps_running_with_its_stdout_closed() {
    let world = World::new().await;
    let home = TestHome::new();
    home.write_config(&world.config("webhook", OPEN));
    let mut gateway = tokio::process::Command::from(home.command())
        .env("MOLTBOT_LOG_LEVEL", "info")
        .arg("gateway")
        .stdin(Stdio::null())
        .stdout(closed_stdout())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Its address, from the log (stdout, where it prints it, is closed).
    let mut log = BufReader::new(gateway.stderr.take().unwrap()).lines();
    let address = tokio::time::timeout(wait::TIMEOUT, async {
        let mut seen = String::new();
        while let Ok(Some(line)) = log.next_line().await {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("HTTP server listening") {
                let addr = line
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix("addr="));
                return Ok(addr.unwrap().replace("0.0.0.0", "127.0.0.1"));
            }
        }
        Err(seen)
    })
    .await
    .unwrap_or_else(|_| Err("no address within the timeout".to_string()))
    .unwrap_or_else(|log| panic!("the gateway printed no address; log:\n{log}"));
    let log = tokio::spawn(async move {
        let mut rest = String::new();
        while let Ok(Some(line)) = log.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    });

    let readyz = format!("http://{address}/readyz");
    let ready = wait::until_async(wait::TIMEOUT, || {
        let readyz = readyz.clone();
        async move {
            let resp = reqwest::get(&readyz).await.ok()?;
            (resp.status().as_u16() == 200).then_some(())
        }
    })
    .await;
    let exited = gateway.try_wait().unwrap();
    if ready.is_err() || exited.is_some() {
        let _ = gateway.kill().await;
        panic!(
            "the gateway is not ready (exit: {exited:?}); log:\n{}",
            log.await.unwrap()
        );
    }

    let pid = gateway.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let code = tokio::time::timeout(Duration::from_secs(30), gateway.wait())
        .await
        .unwrap()
        .unwrap()
        .code();
    let log = log.await.unwrap();
    assert_eq!(code, Some(0), "graceful stop; log:\n{log}");
    assert!(!log.contains("panicked"), "{log}");
}
