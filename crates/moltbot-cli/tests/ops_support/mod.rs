//! Helpers for the operations-command tests (`ops_*.rs`): configs, running the binary from
//! async tests, local sockets that fail in known ways, and scrubbing volatile output.

#![allow(dead_code)]

use std::process::Output;

use crate::common::TestHome;

/// A config with the plugin installed and `channels.webex` for `api` and `token` (`None`: no
/// `botToken`, so `WEBEX_BOT_TOKEN` applies); `extra` is spliced into the section.
pub fn config(mode: &str, api: &str, token: Option<&str>, extra: &str) -> String {
    moltbot_testkit::webex_config(
        mode,
        api,
        token,
        &format!(
            "webhook: {{ port: 0, url: \"http://127.0.0.1:9/webex/webhook\" }},\n      {extra}"
        ),
    )
}

/// Runs `moltbot args...` for `home` with `env`, off the async runtime (the emulator keeps
/// serving meanwhile).
pub async fn moltbot(home: &TestHome, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = home.moltbot();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("run moltbot"))
        .await
        .expect("join")
}

/// stdout and stderr as text.
pub fn texts(out: &Output) -> (String, String) {
    crate::common::output_text(out)
}

/// A local port where nothing listens (bound, then closed).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

/// A local server that accepts connections and never answers; dropped with the runtime.
pub async fn silent_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    port
}

/// `(trackingId X)` -> `(trackingId [TRACKING_ID])`: Webex (and the emulator) give each request
/// its own.
pub fn scrub_tracking(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("(trackingId ") {
        let (head, tail) = rest.split_at(at + "(trackingId ".len());
        out.push_str(head);
        out.push_str("[TRACKING_ID]");
        rest = tail.find(')').map_or("", |end| &tail[end..]);
    }
    out.push_str(rest);
    out
}

/// Replaces each `needle` (longest first) by its label, then every `<digits> ms` by `[N] ms`.
pub fn scrub(text: &str, replacements: &[(&str, &str)]) -> String {
    let mut pairs: Vec<&(&str, &str)> =
        replacements.iter().filter(|(n, _)| !n.is_empty()).collect();
    pairs.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let mut out = text.to_string();
    for (needle, label) in pairs {
        out = out.replace(needle, label);
    }
    scrub_millis(&scrub_tracking(&out))
}

/// `123 ms` -> `[N] ms`.
fn scrub_millis(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            if !digits.is_empty() {
                let ms_follows = rest.starts_with(" ms");
                out.push_str(if ms_follows { "[N]" } else { &digits });
                digits.clear();
            }
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out.push_str(&digits);
    out
}
