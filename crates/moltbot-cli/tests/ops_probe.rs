//! `moltbot channels probe webex` against webex-sim and against sockets that fail in known
//! ways: each failure names its precise cause and exits non-zero.

#![allow(clippy::unwrap_used)]

mod common;
mod ops_support;

use common::TestHome;
use moltbot_testkit::World;
use ops_support::{closed_port, config, moltbot, scrub, silent_server, texts};

const PROBE: &[&str] = &["channels", "probe", "webex"];

/// Runs the probe for a config pointing at `api` with `token`.
async fn probe(api: &str, token: &str, env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let home = TestHome::new();
    home.write_config(&config("polling", api, Some(token), ""));
    let out = moltbot(&home, PROBE, env).await;
    let (stdout, stderr) = texts(&out);
    (out.status.code(), stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_probe_names_the_bot_and_the_latency() {
    let world = World::new().await;
    let (code, stdout, stderr) = probe(&world.sim.api_base(), &world.bot.token, &[]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains(&world.bot.id), "{stdout}");
    let port = world.sim.addr().port().to_string();
    insta::assert_snapshot!(scrub(
        &stdout,
        &[(&world.bot.id, "[BOT_ID]"), (&port, "[PORT]")]
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_is_reported_as_such_without_the_token() {
    let world = World::new().await;
    let token = "not-a-real-token-0123456789abcdef";
    let (code, stdout, stderr) = probe(&world.sim.api_base(), token, &[]).await;
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty(), "{stdout}");
    assert!(!stderr.contains(token), "token leaked: {stderr}");
    let port = world.sim.addr().port().to_string();
    insta::assert_snapshot!(scrub(&stderr, &[(&port, "[PORT]")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_named() {
    let port = closed_port();
    let api = format!("http://127.0.0.1:{port}/v1");
    let (code, _, stderr) = probe(&api, "some-token-0123456789abcdef", &[]).await;
    assert_eq!(code, Some(1));
    insta::assert_snapshot!(scrub(&stderr, &[(&port.to_string(), "[PORT]")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_refuses_is_named_not_webex() {
    // Webex (here a server that accepts and stays silent) is up; the proxy in HTTP_PROXY is not.
    let api_port = silent_server().await;
    let proxy_port = closed_port();
    let api = format!("http://127.0.0.1:{api_port}/v1");
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    let env = [("HTTP_PROXY", proxy.as_str()), ("NO_PROXY", "")];
    let (code, _, stderr) = probe(&api, "some-token-0123456789abcdef", &env).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!(
            "connection refused by the proxy 127.0.0.1:{proxy_port} on the way to {api}"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("NO_PROXY"),
        "the fix names NO_PROXY: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_is_a_timeout() {
    let port = silent_server().await;
    let api = format!("http://127.0.0.1:{port}/v1");
    let env = [("MOLTBOT_PROBE_TIMEOUT_MS", "300")];
    let started = std::time::Instant::now();
    let (code, _, stderr) = probe(&api, "some-token-0123456789abcdef", &env).await;
    assert_eq!(code, Some(1));
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    insta::assert_snapshot!(scrub(&stderr, &[(&port.to_string(), "[PORT]")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_is_a_dns_failure() {
    // `.invalid` never resolves (RFC 6761).
    let (code, _, stderr) = probe(
        "https://nonexistent.invalid/v1",
        "some-token-0123456789abcdef",
        &[("MOLTBOT_PROBE_TIMEOUT_MS", "5000")],
    )
    .await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with(
            "webex probe failed (DNS failure): cannot resolve the host name nonexistent.invalid"
        ),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_a_plain_http_server_is_a_tls_error() {
    let world = World::new().await;
    let port = world.sim.addr().port();
    let api = format!("https://127.0.0.1:{port}/v1");
    let (code, _, stderr) = probe(&api, &world.bot.token, &[]).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with(&format!(
            "webex probe failed (TLS error): TLS handshake with 127.0.0.1:{port} failed"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("Fix: "), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_token_and_unknown_channel_fail_clearly() {
    let home = TestHome::new();
    home.write_config(
        r#"{ plugins: { entries: { webex: { enabled: true } } }, channels: { webex: { mode: "polling" } } }"#,
    );
    let out = moltbot(&home, PROBE, &[]).await;
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("(not configured)"), "{stderr}");
    assert!(stderr.contains("No credentials configured"), "{stderr}");

    let out = moltbot(&home, &["channels", "probe", "telegram"], &[]).await;
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("unknown channel `telegram`"), "{stderr}");
}
