//! PDFs people send reach every provider: Anthropic as a `document` block, providers that do not
//! read PDFs (OpenAI-compatible ones by default) as the text the gateway extracted from them in
//! its `moltbot-pdf` child process (the binary next to `moltbot`). A malformed PDF becomes a note
//! to the agent and a warning in the log; the gateway keeps answering, also when `moltbot-pdf` is
//! not installed at all.

#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use moltbot_testkit::{
    anthropic_answer, moltbot_binary, openai_answer, FakeModel, Scenario, TestHome, World, OPEN,
};
use serde_json::{json, Value};
use webex_sim::SimFile;

/// The content of the last message of the model's `n`-th request (as JSON).
fn last_content(model: &FakeModel, n: usize) -> Value {
    let requests = model.requests();
    let messages = requests[n]["messages"].as_array().unwrap().clone();
    messages.last().unwrap()["content"].clone()
}

/// The text of the file part (the second part, after the message's own text) of request `n`.
fn file_part(model: &FakeModel, n: usize) -> String {
    let content = last_content(model, n);
    content[1]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("request {n} has no file text part: {content}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdfs_text_reaches_an_openai_compatible_provider_and_a_scanned_one_is_named() {
    let model = FakeModel::start(vec![openai_answer("Got it.", json!({}))]).await;
    let s = Scenario::start_with_model("webhook", OPEN, "openai-completions", &model, "").await;
    let report = s
        .alice()
        .sends_file_to_bot(
            SimFile::pdf("q3-report.pdf", "Quarterly revenue rose (by 12%) in Oslo"),
            "Summarise this",
        )
        .await;
    assert_eq!(s.wait_replies(&report, 1).await, ["Got it."]);
    let scan = s
        .alice()
        .sends_file_to_bot(SimFile::pdf_without_text("scan.pdf"), "And this?")
        .await;
    s.wait_replies(&scan, 2).await;
    s.settled().await;

    let content = last_content(&model, 0);
    assert_eq!(
        content[0],
        json!({"type": "text", "text": "Summarise this"})
    );
    let text = file_part(&model, 0);
    assert!(
        text.starts_with("[file: q3-report.pdf, application/pdf, text extracted]\n```\n"),
        "{text}"
    );
    assert!(
        text.contains("Quarterly revenue rose (by 12%) in Oslo"),
        "{text}"
    );
    assert!(
        !content.to_string().contains("\"file\""),
        "no PDF part: {content}"
    );
    let note = file_part(&model, 1);
    assert!(
        note.starts_with("[file: scan.pdf, application/pdf: ")
            && note
                .ends_with("no text could be extracted from it (scanned pages or images only?)]"),
        "{note}"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_pdfs_are_named_as_unreadable_and_the_gateway_keeps_answering() {
    let model = FakeModel::numbered().await;
    let s = Scenario::start_with_model("webhook", OPEN, "openai-completions", &model, "").await;
    // Random bytes behind a PDF header, then a real PDF cut in half.
    let mut garbage = b"%PDF-1.7\n".to_vec();
    garbage.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let whole = SimFile::pdf("contract.pdf", "Signed by both parties").bytes;
    let truncated = whole[..whole.len() / 2].to_vec();

    let broken = [("garbage.pdf", garbage), ("contract.pdf", truncated)];
    for (n, (name, bytes)) in broken.into_iter().enumerate() {
        let file = SimFile::new(name, "application/pdf", bytes);
        let sent = s.alice().sends_file_to_bot(file, "Read this").await;
        let replies = s.wait_replies(&sent, n + 1).await;
        assert_eq!(replies[n], format!("answer {}", n + 1));
    }
    let third = s.alice().dm_bot("Still there?").await;
    assert_eq!(s.wait_replies(&third, 3).await[2], "answer 3");
    s.settled().await;

    for (n, name) in [(0, "garbage.pdf"), (1, "contract.pdf")] {
        let note = file_part(&model, n);
        assert!(
            note.starts_with(&format!("[file: {name}, application/pdf: "))
                && note.contains(", could not be read ("),
            "{note}"
        );
    }
    assert_eq!(last_content(&model, 2), json!("Still there?"));
    let log = s.log();
    assert_eq!(
        log.matches("a PDF could not be read; the agent is told so")
            .count(),
        2,
        "{log}"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_reaches_anthropic_as_a_document_block_as_it_came() {
    let model = FakeModel::start(vec![anthropic_answer(
        json!([{"type": "text", "text": "Got it."}]),
    )])
    .await;
    let s = Scenario::start_with_model("webhook", OPEN, "anthropic-messages", &model, "").await;
    let file = SimFile::pdf("q3-report.pdf", "Quarterly revenue");
    let bytes = file.bytes.clone();
    let report = s.alice().sends_file_to_bot(file, "Summarise this").await;
    assert_eq!(s.wait_replies(&report, 1).await, ["Got it."]);
    s.settled().await;
    // https://docs.anthropic.com/en/docs/build-with-claude/pdf-support: a base64 document.
    let content = last_content(&model, 0);
    assert_eq!(
        content[1],
        json!({
            "type": "document",
            "source": {
                "type": "base64",
                "media_type": "application/pdf",
                "data": STANDARD.encode(&bytes),
            },
        }),
        "{content}"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_moltbot_pdf_beside_it_pdfs_are_named_unreadable_with_one_warning() {
    // `moltbot` alone in a folder, and a PATH without `moltbot-pdf`.
    let (_alone, binary) = moltbot_alone();
    let model = FakeModel::numbered().await;
    let s = gateway_as(&binary, "openai-completions", &model).await;

    for n in 0..2 {
        let file = SimFile::pdf(&format!("report-{n}.pdf"), "Quarterly revenue");
        let sent = s.alice().sends_file_to_bot(file, "Read this").await;
        let replies = s.wait_replies(&sent, n + 1).await;
        assert_eq!(replies[n], format!("answer {}", n + 1));
    }
    s.settled().await;

    for n in 0..2 {
        let note = file_part(&model, n);
        assert!(
            note.starts_with(&format!("[file: report-{n}.pdf, application/pdf: "))
                && note.ends_with(
                    ", could not be read (the PDF reader moltbot-pdf is not installed next to moltbot)]"
                ),
            "{note}"
        );
    }
    let log = s.log();
    assert_eq!(
        log.matches("the PDF reader moltbot-pdf was not found next to moltbot nor on PATH")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("a PDF could not be read; the agent is told so")
            .count(),
        2,
        "{log}"
    );
    s.finish().await;
}

/// `moltbot` copied alone into a fresh folder (no `moltbot-pdf` beside it); the folder is kept
/// alive by the returned guard.
fn moltbot_alone() -> (tempfile::TempDir, std::path::PathBuf) {
    let alone = tempfile::tempdir().unwrap();
    let binary = alone.path().join(moltbot_binary().file_name().unwrap());
    std::fs::copy(moltbot_binary(), &binary).unwrap();
    (alone, binary)
}

/// A gateway run as `binary` (with `PATH=/usr/bin:/bin`, so no `moltbot-pdf` on it) for a model
/// behind `api`.
async fn gateway_as(binary: &std::path::Path, api: &str, model: &FakeModel) -> Scenario {
    let world = World::new().await;
    let home = TestHome::with_binary(binary);
    home.write_config(&world.config_with_model("webhook", OPEN, api, model, ""));
    let mut s = Scenario::prepare(world, home);
    s.start_gateway_with(&[("PATH", "/usr/bin:/bin")]).await;
    s
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moltbot_pdf_is_found_beside_the_symlink_moltbot_was_invoked_as() {
    // /opt/moltbot/bin/moltbot alone; /usr/local/bin/moltbot -> it, moltbot-pdf beside the link.
    let (_real, binary) = moltbot_alone();
    let links = tempfile::tempdir().unwrap();
    let link = links.path().join("moltbot");
    std::os::unix::fs::symlink(&binary, &link).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_moltbot-pdf"),
        links.path().join("moltbot-pdf"),
    )
    .unwrap();
    let model = FakeModel::start(vec![openai_answer("Got it.", json!({}))]).await;
    let s = gateway_as(&link, "openai-completions", &model).await;
    let file = SimFile::pdf("q3-report.pdf", "Quarterly revenue rose in Oslo");
    let sent = s.alice().sends_file_to_bot(file, "Summarise this").await;
    assert_eq!(s.wait_replies(&sent, 1).await, ["Got it."]);
    s.settled().await;

    let text = file_part(&model, 0);
    assert!(text.contains("Quarterly revenue rose in Oslo"), "{text}");
    let log = s.log();
    assert!(
        !log.contains("the PDF reader moltbot-pdf was not found"),
        "{log}"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_moltbot_pdf_an_agent_reading_pdfs_itself_gets_no_warning() {
    let (_alone, binary) = moltbot_alone();
    let model = FakeModel::start(vec![anthropic_answer(
        json!([{"type": "text", "text": "Got it."}]),
    )])
    .await;
    let s = gateway_as(&binary, "anthropic-messages", &model).await;
    let file = SimFile::pdf("q3-report.pdf", "Quarterly revenue");
    let sent = s.alice().sends_file_to_bot(file, "Summarise this").await;
    assert_eq!(s.wait_replies(&sent, 1).await, ["Got it."]);
    s.settled().await;

    assert_eq!(last_content(&model, 0)[1]["type"], "document");
    let log = s.log();
    assert!(!log.contains("the PDF reader moltbot-pdf was"), "{log}");
    assert!(!log.contains("a PDF could not be read"), "{log}");
    s.finish().await;
}

/// Runs `moltbot-pdf args...` with `stdin` piped in (fed from a thread; the reader may stop
/// reading early).
fn moltbot_pdf(args: &[&str], stdin: Vec<u8>) -> std::process::Output {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_moltbot-pdf"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let feed = std::thread::spawn(move || {
        let _ = pipe.write_all(&stdin);
    });
    let output = child.wait_with_output().unwrap();
    feed.join().unwrap();
    output
}

#[test]
fn moltbot_pdf_answers_help_and_version_and_refuses_other_arguments() {
    for help in ["--help", "-h"] {
        let out = moltbot_pdf(&[help], Vec::new());
        assert_eq!(out.status.code(), Some(0), "{help}");
        let usage = String::from_utf8(out.stdout).unwrap();
        assert!(
            usage.contains("Reads a PDF on stdin, writes its text on stdout")
                && usage.contains("moltbot gateway")
                && usage.contains("3 error"),
            "{usage}"
        );
    }
    for version in ["--version", "-V"] {
        let out = moltbot_pdf(&[version], Vec::new());
        assert_eq!(out.status.code(), Some(0), "{version}");
        // `moltbot-pdf 0.1.0 (<commit>)` in a git checkout (see help.rs), one line.
        let printed = String::from_utf8(out.stdout).unwrap();
        assert!(
            printed.starts_with(&format!("moltbot-pdf {}", env!("CARGO_PKG_VERSION")))
                && printed.ends_with('\n')
                && printed.lines().count() == 1,
            "{printed:?}"
        );
    }
    for wrong in [&["report.pdf"][..], &["--help", "extra"], &["-x"]] {
        let out = moltbot_pdf(wrong, b"%PDF-1.4".to_vec());
        assert_eq!(out.status.code(), Some(2), "{wrong:?}");
        assert!(out.stdout.is_empty(), "{wrong:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("Usage: moltbot-pdf < file.pdf"), "{err}");
    }
}

#[test]
fn moltbot_pdf_refuses_a_pdf_over_32_mib_with_a_pdf_error() {
    let out = moltbot_pdf(&[], vec![b'x'; 32 * 1024 * 1024 + 1]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("PDF error: the PDF is larger than"),
        "{err}"
    );
    let garbage = moltbot_pdf(&[], b"not a PDF".to_vec());
    assert_eq!(garbage.status.code(), Some(3));
    let err = String::from_utf8(garbage.stderr).unwrap();
    assert!(err.starts_with("PDF error:"), "{err}");
}
