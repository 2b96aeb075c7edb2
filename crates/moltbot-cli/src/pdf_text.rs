//! The text of PDFs, for providers that do not read PDFs (`models.providers.<name>.input`
//! without `"pdf"`).
//!
//! The parser ([`pdf_extract`], pure Rust on `lopdf`) runs in a child process of this same
//! binary, `moltbot __extract-pdf`: the PDF on its stdin, the text as UTF-8 on its stdout. A
//! PDF is untrusted input; whatever it does to the parser (a panic, an endless loop, a memory
//! blow-up, a crash) ends that child, never the gateway. The child is bounded on every side:
//!
//! - input: at most [`MAX_INPUT_BYTES`] (larger PDFs are not read);
//! - output: at most [`MAX_PDF_TEXT_BYTES`] (the text is cut there and the child killed);
//! - time: [`TIMEOUT`] wall-clock, then it is killed (and [`MAX_CPU_SECONDS`] of CPU, from its
//!   own `RLIMIT_CPU`, should the gateway die first);
//! - memory: [`MAX_ADDRESS_SPACE`] bytes of address space (`RLIMIT_AS`, set by the child on
//!   itself before it reads anything).
//!
//! [`SubprocessPdfText`] is the gateway's side: the [`DocumentText`] the `moltbot gateway`
//! command installs in `GatewayOptions::document_text`.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use moltbot_core::agent::attachments::{
    human_size, DocumentText, PdfText, PdfTextFuture, MAX_PDF_TEXT_BYTES,
};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Command;

/// The hidden subcommand that reads one PDF: `moltbot __extract-pdf < file.pdf`. Exit 0 with the
/// text on stdout; [`EXIT_UNREADABLE`] with the parser's error on stderr.
pub const SUBCOMMAND: &str = "__extract-pdf";

/// Longest time reading one PDF may take, start of the child to its exit.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Largest PDF read for its text: 32 MiB, the PDF limit of OpenAI's and Anthropic's APIs.
pub const MAX_INPUT_BYTES: usize = 32 * 1024 * 1024;

/// The child's address-space limit (`RLIMIT_AS`): 1 GiB.
pub const MAX_ADDRESS_SPACE: u64 = 1024 * 1024 * 1024;

/// The child's CPU-time limit (`RLIMIT_CPU`), in seconds: a backstop to [`TIMEOUT`].
pub const MAX_CPU_SECONDS: u64 = 15;

/// The child's exit code for a PDF the parser refused (malformed, encrypted, too large).
pub const EXIT_UNREADABLE: u8 = 3;

/// Most bytes of the child's stderr kept for the log.
const MAX_STDERR_BYTES: usize = 2048;

/// `moltbot __extract-pdf`: reads a PDF on stdin, writes its text on stdout (cut at
/// [`MAX_PDF_TEXT_BYTES`], on a character boundary). Runs before logging or anything else is
/// set up; sets its own resource limits first.
pub fn child_main() -> ExitCode {
    limit_resources();
    let mut pdf = Vec::new();
    let limit = u64::try_from(MAX_INPUT_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    if let Err(err) = std::io::stdin().lock().take(limit).read_to_end(&mut pdf) {
        eprintln!("cannot read the PDF from stdin: {err}");
        return ExitCode::from(EXIT_UNREADABLE);
    }
    if pdf.len() > MAX_INPUT_BYTES {
        eprintln!("the PDF is larger than {MAX_INPUT_BYTES} bytes");
        return ExitCode::from(EXIT_UNREADABLE);
    }
    let text = match pdf_extract::extract_text_from_mem(&pdf) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(EXIT_UNREADABLE);
        }
    };
    let mut end = text.len().min(MAX_PDF_TEXT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(&text.as_bytes()[..end])
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cannot write the text: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Caps the child's memory and CPU; a limit the system refuses is left as it was (the parent's
/// timeout and output cap still hold).
fn limit_resources() {
    #[cfg(unix)]
    {
        use rlimit::Resource;
        if let Err(err) = Resource::AS.set(MAX_ADDRESS_SPACE, MAX_ADDRESS_SPACE) {
            eprintln!("warning: cannot limit the address space: {err}");
        }
        if let Err(err) = Resource::CPU.set(MAX_CPU_SECONDS, MAX_CPU_SECONDS) {
            eprintln!("warning: cannot limit the CPU time: {err}");
        }
    }
}

/// Reads PDFs by running a child process per PDF (by default this binary's
/// [`SUBCOMMAND`]), bounded as the module says.
#[derive(Debug, Clone)]
pub struct SubprocessPdfText {
    program: PathBuf,
    args: Vec<String>,
    timeout: Duration,
}

impl SubprocessPdfText {
    /// `moltbot __extract-pdf`, this very binary, with [`TIMEOUT`].
    ///
    /// # Errors
    /// When the path of the running binary cannot be found.
    pub fn this_binary() -> std::io::Result<Self> {
        Ok(Self::new(
            std::env::current_exe()?,
            vec![SUBCOMMAND.to_string()],
            TIMEOUT,
        ))
    }

    /// Runs `program args...` per PDF, killed after `timeout`.
    pub fn new(program: impl Into<PathBuf>, args: Vec<String>, timeout: Duration) -> Self {
        Self {
            program: program.into(),
            args,
            timeout,
        }
    }

    async fn read(&self, pdf: &[u8]) -> PdfText {
        if pdf.len() > MAX_INPUT_BYTES {
            return PdfText::unreadable(
                format!(
                    "larger than {}, the most read for text",
                    human_size(MAX_INPUT_BYTES)
                ),
                format!("{} bytes", pdf.len()),
            );
        }
        let spawned = Command::new(&self.program)
            .args(&self.args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) => {
                return PdfText::unreadable(
                    "the PDF reader could not start",
                    format!("{}: {err}", self.program.display()),
                )
            }
        };
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return PdfText::unreadable("the PDF reader could not start", "no pipes");
        };
        // Drained in full (a child blocked on a full stderr pipe would never finish), kept short.
        let mut stderr = tokio::spawn(read_head(stderr, MAX_STDERR_BYTES));
        let run = async {
            let mut stdout = stdout;
            let feed = async {
                // The child may stop reading early (it refused the PDF): not our error.
                let _ = stdin.write_all(pdf).await;
                drop(stdin);
            };
            let cap = u64::try_from(MAX_PDF_TEXT_BYTES).unwrap_or(u64::MAX);
            let mut out = Vec::new();
            let mut limited = (&mut stdout).take(cap + 1);
            let read = limited.read_to_end(&mut out);
            let ((), read) = tokio::join!(feed, read);
            drop(stdout);
            let cut = out.len() > MAX_PDF_TEXT_BYTES;
            if cut {
                // Enough text: the rest is not wanted, nor what it would say on stderr.
                let _ = child.start_kill();
                stderr.abort();
                out.truncate(MAX_PDF_TEXT_BYTES);
            }
            let status = child.wait().await;
            let head = if cut {
                Vec::new()
            } else {
                (&mut stderr).await.unwrap_or_default()
            };
            (read, cut, out, status, head)
        };
        let outcome = tokio::time::timeout(self.timeout, run).await;
        let Ok((read, cut, out, status, head)) = outcome else {
            let _ = child.start_kill();
            let _ = child.wait().await;
            stderr.abort();
            return PdfText::unreadable(
                format!("reading it took longer than {:?}", self.timeout),
                "the PDF reader was killed",
            );
        };
        let detail = String::from_utf8_lossy(&head).trim().replace('\n', " | ");
        if let Err(err) = read {
            return PdfText::unreadable("the PDF reader failed", format!("stdout: {err}"));
        }
        let text = || PdfText::from_text(&String::from_utf8_lossy(&out));
        match status {
            _ if cut => text(),
            Ok(status) if status.success() => text(),
            Ok(status) if status.code() == Some(i32::from(EXIT_UNREADABLE)) => {
                PdfText::unreadable("malformed, encrypted or not a PDF", detail)
            }
            Ok(status) => {
                PdfText::unreadable("the PDF reader failed on it", format!("{status}: {detail}"))
            }
            Err(err) => PdfText::unreadable("the PDF reader failed", format!("wait: {err}")),
        }
    }
}

impl DocumentText for SubprocessPdfText {
    fn pdf_text<'a>(&'a self, pdf: &'a [u8]) -> PdfTextFuture<'a> {
        Box::pin(self.read(pdf))
    }
}

/// Reads `reader` to its end, keeping the first `keep` bytes.
async fn read_head(mut reader: impl AsyncRead + Unpin, keep: usize) -> Vec<u8> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = reader.read(&mut buf).await {
        let room = keep.saturating_sub(head.len());
        head.extend_from_slice(&buf[..n.min(room)]);
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration) -> SubprocessPdfText {
        SubprocessPdfText::new("/bin/sh", vec!["-c".into(), script.into()], timeout)
    }

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn the_childs_stdout_is_the_text_and_blank_output_is_no_text() {
        let reader = sh("cat >/dev/null; printf 'Quarterly revenue'", LONG);
        assert_eq!(
            reader.pdf_text(b"%PDF-1.4").await,
            PdfText::Text("Quarterly revenue".into())
        );
        let blank = sh("cat >/dev/null; printf '\\n \\n'", LONG);
        assert_eq!(blank.pdf_text(b"%PDF-1.4").await, PdfText::Empty);
    }

    #[tokio::test]
    async fn a_child_that_runs_too_long_is_killed() {
        let reader = sh("sleep 30", Duration::from_millis(300));
        let PdfText::Unreadable { reason, .. } = reader.pdf_text(b"%PDF-1.4").await else {
            panic!("not unreadable")
        };
        assert_eq!(reason, "reading it took longer than 300ms");
    }

    #[tokio::test]
    async fn endless_output_is_cut_at_the_cap_and_the_child_killed() {
        let reader = sh("exec yes 'all work and no play'", LONG);
        let PdfText::Text(text) = reader.pdf_text(b"%PDF-1.4").await else {
            panic!("no text")
        };
        // Cut at the cap (less the white space trimmed off its end).
        assert!((MAX_PDF_TEXT_BYTES - 21..=MAX_PDF_TEXT_BYTES).contains(&text.len()));
        assert!(text.starts_with("all work and no play\nall"));
    }

    #[tokio::test]
    async fn refusals_crashes_and_missing_readers_are_unreadable_with_their_detail() {
        let refused = sh("cat >/dev/null; echo 'invalid xref' >&2; exit 3", LONG);
        assert_eq!(
            refused.pdf_text(b"%PDF-").await,
            PdfText::unreadable("malformed, encrypted or not a PDF", "invalid xref")
        );
        let crashed = sh("kill -9 $$", LONG);
        let PdfText::Unreadable { reason, detail } = crashed.pdf_text(b"%PDF-").await else {
            panic!("not unreadable")
        };
        assert_eq!(reason, "the PDF reader failed on it");
        assert!(detail.contains("signal"), "{detail}");
        let missing = SubprocessPdfText::new("/nonexistent/reader", Vec::new(), LONG);
        assert!(matches!(
            missing.pdf_text(b"%PDF-").await,
            PdfText::Unreadable { reason, .. } if reason == "the PDF reader could not start"
        ));
    }

    #[tokio::test]
    async fn a_pdf_over_the_input_cap_is_not_sent_to_the_reader() {
        let reader = sh("exit 0", LONG);
        let big = vec![b'x'; MAX_INPUT_BYTES + 1];
        let PdfText::Unreadable { reason, .. } = reader.pdf_text(&big).await else {
            panic!("not unreadable")
        };
        assert_eq!(reason, "larger than 32.0 MB, the most read for text");
    }
}
