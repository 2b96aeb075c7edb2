//! The text of PDFs, for providers that do not read PDFs (`models.providers.<name>.input`
//! without `"pdf"`).
//!
//! The parser (`pdf_extract`, pure Rust on `lopdf`) is a binary of its own, [`PROGRAM`]
//! (`src/bin/moltbot-pdf.rs`), run as a child process per PDF: the PDF on its stdin, the text as
//! UTF-8 on its stdout (the protocol is `crate::pdf_protocol`). Keeping the parser and its font
//! tables out of `moltbot` keeps the gateway's binary, and so its idle resident memory, small. A
//! PDF is untrusted input; whatever it does to the parser (a panic, an endless loop, a memory
//! blow-up, a crash) ends that child, never the gateway. The child is bounded on every side:
//!
//! - input: at most [`MAX_INPUT_BYTES`] (larger PDFs are not read);
//! - output: at most [`MAX_PDF_TEXT_BYTES`] (the text is cut there and the child killed);
//! - time: [`TIMEOUT`] wall-clock, then it is killed (and 15 s of CPU, from its own
//!   `RLIMIT_CPU`, should the gateway die first);
//! - memory: 1 GiB of address space (`RLIMIT_AS`, set by the child on itself before it reads
//!   anything).
//!
//! [`installed`] is the gateway's side: the [`DocumentText`] the `moltbot gateway` command
//! installs in `GatewayOptions::document_text`, a [`SubprocessPdfText`] running [`PROGRAM`] found
//! beside the path the binary was invoked as or beside the binary itself (symlinks resolved),
//! else on `PATH`, or a [`MissingPdfReader`] when it is nowhere (or not executable): then every
//! PDF is named as could not be read, and the gateway still answers.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use moltbot_core::agent::attachments::{
    human_size, DocumentText, PdfText, PdfTextFuture, MAX_PDF_TEXT_BYTES,
};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Command;

use crate::pdf_protocol::{EXIT_UNREADABLE, MAX_INPUT_BYTES};

/// The PDF reader's binary, installed next to `moltbot`: `moltbot-pdf < file.pdf`. Exit 0 with
/// the text on stdout; [`EXIT_UNREADABLE`] with the parser's error on stderr.
pub const PROGRAM: &str = "moltbot-pdf";

/// Why every PDF is unreadable when [`PROGRAM`] is not found ([`MissingPdfReader`]).
pub const MISSING_REASON: &str = "the PDF reader moltbot-pdf is not installed next to moltbot";

/// Why every PDF is unreadable when [`PROGRAM`] is there but cannot be run (not a regular file
/// with an execute bit).
pub const NOT_EXECUTABLE_REASON: &str = "the PDF reader moltbot-pdf is not executable";

/// Longest time reading one PDF may take, start of the child to its exit.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Most bytes of the child's stderr kept for the log.
const MAX_STDERR_BYTES: usize = 2048;

/// The gateway's PDF reader: [`PROGRAM`] beside the path `moltbot` was invoked as (argv\[0\],
/// a symlink left as it is), else beside the running binary (symlinks resolved), else on
/// `PATH`, run with [`TIMEOUT`]. When it is in none of them (or not executable), returns a
/// [`MissingPdfReader`], which names every PDF as could not be read, and logs one warning now
/// when `agent_wants_pdf_text` (the configured agent has PDFs read as text,
/// `Agent::wants_pdf_text`); otherwise the reader would never run and it is only a debug line.
pub fn installed(agent_wants_pdf_text: bool) -> Arc<dyn DocumentText> {
    let invoked = std::env::args_os()
        .next()
        .and_then(|arg0| invoked_dir(&arg0));
    let resolved = std::env::current_exe()
        .ok()
        .map(|exe| std::fs::canonicalize(&exe).unwrap_or(exe))
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let mut beside: Vec<PathBuf> = invoked.into_iter().collect();
    if let Some(dir) = resolved.filter(|dir| !beside.contains(dir)) {
        beside.push(dir);
    }
    let rejected = match locate(&beside, std::env::var_os("PATH").as_deref()) {
        Ok(program) => return Arc::new(SubprocessPdfText::new(program, Vec::new(), TIMEOUT)),
        Err(rejected) => rejected,
    };
    let looked_in = if beside.is_empty() {
        "PATH (the running binary's folder is unknown)".to_string()
    } else {
        let dirs: Vec<String> = beside.iter().map(|d| d.display().to_string()).collect();
        format!("{} and PATH", dirs.join(", "))
    };
    let reader = MissingPdfReader::new(&looked_in, &rejected);
    if !agent_wants_pdf_text {
        tracing::debug!(reader = PROGRAM, looked_in = %looked_in, reason = %reader.reason, "the PDF reader moltbot-pdf is not available; the agent reads PDFs itself, so it is not needed");
    } else if rejected.is_empty() {
        tracing::warn!(reader = PROGRAM, looked_in = %looked_in, "the PDF reader moltbot-pdf was not found next to moltbot nor on PATH; PDFs for providers without \"pdf\" in their input are named to the agent as could not be read (ship moltbot-pdf next to moltbot)");
    } else {
        tracing::warn!(reader = PROGRAM, looked_in = %looked_in, rejected = %rejected.join("; "), "the PDF reader moltbot-pdf was found but cannot be run; PDFs for providers without \"pdf\" in their input are named to the agent as could not be read (make it an executable file: chmod +x)");
    }
    Arc::new(reader)
}

/// The folder of the path the binary was invoked as (`arg0`), when it names one (contains a
/// `/`); symlinks are not resolved, a relative path is taken from the current directory.
fn invoked_dir(arg0: &OsStr) -> Option<PathBuf> {
    let invoked = Path::new(arg0);
    if !arg0.as_encoded_bytes().contains(&b'/') {
        return None;
    }
    let dir = invoked.parent()?;
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::path::absolute(dir).ok()
}

/// Where [`PROGRAM`] is: in the folders of `beside` in order first, else in the first folder of
/// `path` (a `PATH` value) that holds it; relative `PATH` entries are skipped (they would name a
/// folder relative to wherever the gateway was started). A candidate that is there but is not
/// a regular file with an execute bit is passed over (a folder met twice is looked in once);
/// `Err` lists those (`"<path>: <why>"`), empty when there was none at all.
fn locate(beside: &[PathBuf], path: Option<&OsStr>) -> Result<PathBuf, Vec<String>> {
    let name = format!("{PROGRAM}{}", std::env::consts::EXE_SUFFIX);
    let on_path = path.into_iter().flat_map(std::env::split_paths);
    let mut rejected = Vec::new();
    let mut seen = Vec::new();
    let dirs = beside
        .iter()
        .cloned()
        .chain(on_path.filter(|dir| dir.is_absolute()));
    for dir in dirs {
        if seen.contains(&dir) {
            continue;
        }
        let candidate = dir.join(&name);
        seen.push(dir);
        match runnable(&candidate) {
            Some(Ok(())) => return Ok(candidate),
            Some(Err(why)) => rejected.push(format!("{}: {why}", candidate.display())),
            None => {}
        }
    }
    Err(rejected)
}

/// Whether `candidate` can be run as the reader: `None` when nothing is there, `Some(Err)` with
/// why not when something is (a folder, a file without an execute bit).
fn runnable(candidate: &Path) -> Option<Result<(), &'static str>> {
    let meta = std::fs::metadata(candidate).ok()?;
    if !meta.is_file() {
        return Some(Err("not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o111 == 0 {
            return Some(Err("not executable"));
        }
    }
    Some(Ok(()))
}

/// The reader installed when [`PROGRAM`] is not found, or not executable: every PDF is
/// [`PdfText::Unreadable`] with [`MISSING_REASON`] (or [`NOT_EXECUTABLE_REASON`]).
#[derive(Debug, Clone)]
pub struct MissingPdfReader {
    reason: &'static str,
    detail: String,
}

impl MissingPdfReader {
    /// The reader for a lookup in `looked_in` that found nothing runnable; `rejected` are the
    /// candidates there that could not be run (`"<path>: <why>"`).
    fn new(looked_in: &str, rejected: &[String]) -> Self {
        let (reason, detail) = if rejected.is_empty() {
            (MISSING_REASON, format!("looked in {looked_in}"))
        } else {
            let why = rejected.join("; ");
            (
                NOT_EXECUTABLE_REASON,
                format!("{why}; looked in {looked_in}"),
            )
        };
        Self { reason, detail }
    }
}

impl DocumentText for MissingPdfReader {
    fn pdf_text<'a>(&'a self, _pdf: &'a [u8]) -> PdfTextFuture<'a> {
        let text = PdfText::unreadable(self.reason, self.detail.clone());
        Box::pin(std::future::ready(text))
    }
}

/// Reads PDFs by running a child process per PDF ([`PROGRAM`] when made by [`installed`]),
/// bounded as the module says.
#[derive(Debug, Clone)]
pub struct SubprocessPdfText {
    program: PathBuf,
    args: Vec<String>,
    timeout: Duration,
}

impl SubprocessPdfText {
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
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Killed when the read is cut short, also when the gateway exits at once (a second
        // signal: `children::kill_all`).
        let spawned = moltbot_core::children::spawn(&mut command);
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
            (child.take_stdin(), child.take_stdout(), child.take_stderr())
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
                child.kill();
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
            child.kill();
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

    /// Writes an empty file at `path` with the unix mode `mode`.
    fn file(path: &Path, mode: u32) {
        std::fs::write(path, "").expect("a file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let perms = std::fs::Permissions::from_mode(mode);
            std::fs::set_permissions(path, perms).expect("its mode");
        }
        #[cfg(not(unix))]
        let _ = mode;
    }

    #[test]
    fn the_reader_is_found_beside_the_binary_first_then_on_path() {
        let dirs = tempfile::tempdir().expect("a temp dir");
        let (invoked, beside, on_path, empty) = (
            dirs.path().join("invoked"),
            dirs.path().join("bin"),
            dirs.path().join("path"),
            dirs.path().join("empty"),
        );
        for dir in [&invoked, &beside, &on_path, &empty] {
            std::fs::create_dir(dir).expect("a folder");
        }
        let name = format!("{PROGRAM}{}", std::env::consts::EXE_SUFFIX);
        file(&invoked.join(&name), 0o755);
        file(&beside.join(&name), 0o755);
        file(&on_path.join(&name), 0o755);
        let path = std::env::join_paths([&empty, &on_path]).expect("a PATH");

        let both = [invoked.clone(), beside.clone()];
        assert_eq!(locate(&both, Some(&path)), Ok(invoked.join(&name)));
        let resolved_only = [empty.clone(), beside.clone()];
        assert_eq!(locate(&resolved_only, Some(&path)), Ok(beside.join(&name)));
        assert_eq!(
            locate(std::slice::from_ref(&empty), Some(&path)),
            Ok(on_path.join(&name))
        );
        assert_eq!(locate(&[], Some(&path)), Ok(on_path.join(&name)));
        let nowhere = std::env::join_paths([&empty]).expect("a PATH");
        assert_eq!(
            locate(std::slice::from_ref(&empty), Some(&nowhere)),
            Err(vec![])
        );
        assert_eq!(locate(std::slice::from_ref(&empty), None), Err(vec![]));
        // A folder of that name is not the reader.
        std::fs::create_dir(empty.join(&name)).expect("a folder");
        let folder = format!("{}: not a regular file", empty.join(&name).display());
        assert_eq!(
            locate(std::slice::from_ref(&empty), Some(&nowhere)),
            Err(vec![folder])
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_reader_without_an_execute_bit_is_passed_over_and_named() {
        let dirs = tempfile::tempdir().expect("a temp dir");
        let (beside, on_path) = (dirs.path().join("bin"), dirs.path().join("path"));
        for dir in [&beside, &on_path] {
            std::fs::create_dir(dir).expect("a folder");
        }
        let name = format!("{PROGRAM}{}", std::env::consts::EXE_SUFFIX);
        file(&beside.join(&name), 0o644);
        let not_executable = format!("{}: not executable", beside.join(&name).display());
        let path = std::env::join_paths([&on_path]).expect("a PATH");
        let beside_only = std::slice::from_ref(&beside);
        assert_eq!(
            locate(beside_only, Some(&path)),
            Err(vec![not_executable.clone()])
        );
        file(&on_path.join(&name), 0o700);
        assert_eq!(locate(beside_only, Some(&path)), Ok(on_path.join(&name)));

        let reader = MissingPdfReader::new(
            "/opt/moltbot and PATH",
            std::slice::from_ref(&not_executable),
        );
        let PdfText::Unreadable { reason, detail } = reader.pdf_text(b"%PDF-1.4").await else {
            panic!("not unreadable")
        };
        assert_eq!(reason, NOT_EXECUTABLE_REASON);
        assert_eq!(
            detail,
            format!("{not_executable}; looked in /opt/moltbot and PATH")
        );
    }

    #[test]
    fn the_invoked_folder_is_the_one_argv0_names_unresolved() {
        assert_eq!(invoked_dir(OsStr::new("moltbot")), None);
        assert_eq!(
            invoked_dir(OsStr::new("/usr/local/bin/moltbot")),
            Some(PathBuf::from("/usr/local/bin"))
        );
        let here = std::env::current_dir().expect("the current dir");
        assert_eq!(invoked_dir(OsStr::new("./moltbot")), Some(here.clone()));
        assert_eq!(
            invoked_dir(OsStr::new("bin/moltbot")),
            Some(here.join("bin"))
        );
    }

    #[tokio::test]
    async fn without_the_reader_every_pdf_is_unreadable_and_says_why() {
        let missing = MissingPdfReader::new("/opt/moltbot and PATH", &[]);
        assert_eq!(
            missing.pdf_text(b"%PDF-1.4").await,
            PdfText::unreadable(MISSING_REASON, "looked in /opt/moltbot and PATH")
        );
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
