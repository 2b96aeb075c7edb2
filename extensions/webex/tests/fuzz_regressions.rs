//! Inputs from the fuzz targets in `fuzz/` (webhook input, config loader, chunker), replayed
//! with the same invariants the targets check. The fuzzers found no failing input in their runs
//! (see `bench/README.md`, "Fuzzing"); these are the seeds plus the corner cases the fuzzers'
//! corpora kept returning to.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use moltbot_core::config::{parse, parse_lenient, render_issues};
use moltbot_webex::chunk::{chunk_markdown, is_fence_only, is_marker_only, MAX_MESSAGE_BYTES};
use moltbot_webex::webhook::envelope::Envelope;
use moltbot_webex::webhook::signature;

const SECRET: &str = "fuzz-webhook-secret";

/// The chunker target's invariants (as in `fuzz/fuzz_targets/chunker.rs`).
fn check_chunks(text: &str, limit: usize) -> Vec<String> {
    let chunks = chunk_markdown(text, limit);
    // What must survive: the non-whitespace characters outside fence lines (an empty code
    // block is never sent, so its fence lines may go), except Markdown markers (a chunk of
    // markers only is never sent: at tiny limits a `>` or `#` may go).
    let content: Vec<char> = text
        .lines()
        .filter(|line| !is_fence_line(line))
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace() && !">-+*_~`#=|".contains(*c))
        .collect();
    if text.trim().is_empty() {
        assert!(chunks.is_empty(), "limit {limit}");
    }
    if !content.is_empty() {
        assert!(!chunks.is_empty(), "limit {limit}");
    }
    for c in &chunks {
        assert!(!c.is_empty(), "empty chunk at limit {limit}");
        assert!(!is_fence_only(c), "fence-only chunk {c:?} at limit {limit}");
        assert!(
            !is_marker_only(c),
            "marker-only chunk {c:?} at limit {limit}"
        );
        assert!(c.len() <= MAX_MESSAGE_BYTES, "{} bytes", c.len());
        assert!(c.chars().count() <= limit.max(1), "{c:?} over {limit}");
    }
    let mut out = chunks
        .iter()
        .flat_map(|c| c.chars())
        .filter(|c| !c.is_whitespace());
    for ch in content {
        assert!(
            out.by_ref().any(|o| o == ch),
            "lost {ch:?} at limit {limit}"
        );
    }
    chunks
}

/// Whether `line` looks like a fence line (starts, after spaces, with ``` or ~~~).
fn is_fence_line(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("```") || line.starts_with("~~~")
}

const MARKDOWN: &str = "# Title\n\nSome text with words.\n\n```rust\nfn main() {\n    println!(\"hi\");\n}\n```\n\n- item one\n- item two\n\n~~~\ntilde fence\n~~~\n\ne\u{301} \u{1F44D}\u{1F3FD} \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\n";

#[test]
fn chunker_seed_at_every_small_limit() {
    for limit in 0..=80 {
        check_chunks(MARKDOWN, limit);
    }
}

#[test]
fn chunker_byte_limit_with_four_byte_characters() {
    // 3000 emoji = 12000 bytes: the byte limit binds before the 7000-character limit.
    let text = "\u{1F600}".repeat(3000);
    let chunks = check_chunks(&text, 7000);
    assert!(chunks.len() >= 2);
}

#[test]
fn chunker_long_fence_lines_and_open_fences() {
    let long_info = format!("```{}\ncode\n```\n", "x".repeat(50));
    for limit in [1, 2, 3, 4, 5, 8, 13, 20, 60] {
        check_chunks(&long_info, limit);
        check_chunks("```\nnever closed\nstill code\n", limit);
        check_chunks("  ```\n\t\n```\n\u{0}\n", limit);
        check_chunks("\r\n\r\nword\r\n\r\n````\r\n```\r\n````\r\n", limit);
        check_chunks("> ```\n> quoted\n- ```\n  item\n", limit);
    }
}

#[test]
fn chunker_combining_marks_and_joiners_at_the_cut() {
    let text = "a\u{301}\u{301}\u{301}\u{1F469}\u{200D}\u{1F4BB}b\u{FE0F}".repeat(40);
    for limit in [1, 2, 3, 7, 50] {
        check_chunks(&text, limit);
    }
    check_chunks(&" ".repeat(100), 3);
    check_chunks("\u{A0}\u{2028}\u{3000}", 1);
}

#[test]
fn webhook_input_signature_and_envelope() {
    let body = br#"{"id":"W","resource":"messages","event":"created","data":{"id":"M","roomId":"R","created":"2024-01-01T00:00:00.000Z","mentionedPeople":["me"]}}"#;
    let good = signature::sign(SECRET, body);
    assert!(signature::verify(SECRET, body, Some(good.as_bytes())).is_ok());
    assert!(signature::verify(SECRET, body, Some(good.to_uppercase().as_bytes())).is_ok());
    assert!(signature::verify(SECRET, body, Some(format!(" {good}\t").as_bytes())).is_ok());
    for bad in [&b""[..], b"zz", b"\xff\xfe", &good.as_bytes()[..38], b"0"] {
        assert!(
            signature::verify(SECRET, body, Some(bad)).is_err(),
            "{bad:?}"
        );
    }
    assert!(signature::verify(SECRET, body, None).is_err());
    let env: Envelope = serde_json::from_slice(body).unwrap();
    assert_eq!(env.kind(), "messages:created");
    assert_eq!(env.data_id(), Some("M"));
    assert!(env.data_created_ms().is_some());
}

#[test]
fn webhook_input_odd_envelopes_do_not_panic() {
    let odd: [&[u8]; 6] = [
        br#"{"resource":"messages","event":"created","data":{"created":"garbage"}}"#,
        br#"{"resource":"messages","event":"created","data":{"created":"+275760-09-13T00:00:00Z"}}"#,
        br#"{"resource":"messages","event":"created","data":{"created":"-9999-01-01T00:00:00Z"}}"#,
        br#"{"resource":"","event":"","data":null}"#,
        br#"{"resource":"attachmentActions","event":"created","data":{"id":"X","messageId":"M"}}"#,
        b"\xef\xbb\xbf{}",
    ];
    for body in odd {
        if let Ok(env) = serde_json::from_slice::<Envelope>(body) {
            let _ = (env.kind(), env.data_id(), env.data_created_ms());
        }
    }
}

fn env(name: &str) -> Option<String> {
    match name {
        "WEBEX_BOT_TOKEN" => Some("fuzz-token-0123456789abcdef".to_string()),
        "SET" => Some("/tmp/x".to_string()),
        _ => None,
    }
}

/// The config target: parse, validate, render the issues; returns the rendered issues.
fn check_config(text: &str) -> String {
    let path = Path::new("fuzz.json5");
    let _ = parse(path, text, &env);
    match parse_lenient(path, true, text.to_string(), &env) {
        Ok((cfg, mut issues)) => {
            if let Err(more) = moltbot_webex::config::validate(&cfg, &env) {
                issues.extend(more);
            }
            render_issues(&issues)
        }
        Err(err) => err.to_string(),
    }
}

#[test]
fn config_loader_odd_inputs_do_not_panic() {
    let inputs = [
        "",
        "\u{FEFF}",
        "// only a comment",
        "{ channels: { webex: { mode: \"both\", botToken: \"${SET}\", webhook: { port: 0, url: \"http://127.0.0.1:0/x\", path: \"/h/{a}\" }, polling: { intervalSeconds: 1.5 }, rateLimit: { requestsPerMinute: 1 }, textChunkLimit: 1, allowFrom: [\"*\", \"webex:a@b.c\"], dmPolicy: \"open\" } } }",
        "{ channels: { webex: { botToken: \"${UNSET\" } } }",
        "{ channels: { webex: { botToken: \"${}\", polling: { intervalSeconds: 1e400 }, textChunkLimit: -1 } } }",
        "{ channels: { webex: { webhook: { port: 99999999999999999999, url: \"https://[::1\" } } } }",
        "{ channels: { webex: { 'mode': 'websocket', \"\u{1F600}\": 1, webhook: { path: \":x/*y\" } } } }",
        "{ channels: { webex: [] } }",
        "{ channels: null, plugins: { entries: { webex: { enabled: \"yes\" } } } }",
        "[1, 2, 3]",
        "{ a: \n\n\n",
    ];
    for text in inputs {
        let _ = check_config(text);
    }
    // Issues are reported, with the offending key named.
    let rendered = check_config("{ channels: { webex: { mode: \"sometimes\" } } }");
    assert!(rendered.contains("mode"), "{rendered}");
}
