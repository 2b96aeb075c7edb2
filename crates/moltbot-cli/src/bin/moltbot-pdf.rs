//! `moltbot-pdf`: the gateway's PDF reader, a binary of its own so that the parser
//! ([`pdf_extract`], pure Rust on `lopdf`, and its font tables) is not part of `moltbot` (an
//! idle gateway's resident memory follows the size of its binary).
//!
//! `moltbot-pdf < file.pdf`: the PDF on stdin, its text as UTF-8 on stdout (cut at
//! `MAX_PDF_TEXT_BYTES`, on a character boundary), exit 0; a PDF the parser refuses exits with
//! [`EXIT_UNREADABLE`] and the parser's words on stderr. It sets its own limits before it reads
//! anything: [`MAX_ADDRESS_SPACE`] of address space and [`MAX_CPU_SECONDS`] of CPU. The gateway
//! (`moltbot`'s `SubprocessPdfText`) runs one per PDF and also bounds its wall time and output.
//!
//! It takes no arguments but `--help`/`-h` and `--version`/`-V` (both exit 0); any other
//! argument, or stdin a terminal (nothing piped in), prints the usage on stderr and exits 2.

// Print through `outln!`/`out!` (a `println!` panics on a closed stdout).
#![deny(clippy::print_stdout)]

#[macro_use]
#[path = "../output.rs"]
mod output;

#[path = "../pdf_protocol.rs"]
mod pdf_protocol;

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::process::ExitCode;

use moltbot_core::agent::attachments::MAX_PDF_TEXT_BYTES;

use crate::pdf_protocol::{EXIT_UNREADABLE, MAX_INPUT_BYTES};

/// The reader's address-space limit (`RLIMIT_AS`): 1 GiB.
const MAX_ADDRESS_SPACE: u64 = 1024 * 1024 * 1024;

/// The reader's CPU-time limit (`RLIMIT_CPU`), in seconds: a backstop to the gateway's 10 s
/// wall-clock timeout, should the gateway die first.
const MAX_CPU_SECONDS: u64 = 15;

/// Exit code for a wrong invocation: an argument other than `--help`/`--version`, or no PDF
/// piped in (stdin a terminal).
const EXIT_USAGE: u8 = 2;

/// What `--help` prints (and, on a wrong invocation, stderr).
const USAGE: &str = "\
moltbot-pdf: the PDF reader of the moltbot gateway.

Usage: moltbot-pdf < file.pdf

Reads a PDF on stdin, writes its text on stdout (UTF-8).
Exit codes: 0 text written; 3 error (the PDF is malformed, encrypted or too large; the reason on stderr); 2 wrong usage.
You do not need to run it yourself: the gateway (`moltbot gateway`) runs it, once per PDF, from the folder of `moltbot` or from PATH.

Options:
  -h, --help     print this help
  -V, --version  print the version
";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    match (args.next(), args.next()) {
        (None, _) => {}
        (Some(arg), None) if arg == "--help" || arg == "-h" => {
            out!("{USAGE}");
            return printed();
        }
        (Some(arg), None) if arg == "--version" || arg == "-V" => {
            // The package version and the commit it was built from (build.rs).
            outln!("moltbot-pdf {}", env!("MOLTBOT_VERSION"));
            return printed();
        }
        (Some(arg), _) => {
            eprintln!(
                "moltbot-pdf: unexpected argument {:?} (it takes none)\n\n{USAGE}",
                arg.to_string_lossy()
            );
            return ExitCode::from(EXIT_USAGE);
        }
    }
    if std::io::stdin().is_terminal() {
        eprintln!("moltbot-pdf: no PDF on stdin (pipe one in: moltbot-pdf < file.pdf)\n\n{USAGE}");
        return ExitCode::from(EXIT_USAGE);
    }
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
        eprintln!("PDF error: the PDF is larger than {MAX_INPUT_BYTES} bytes");
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

/// Exit 0 once `--help` or `--version` is printed (or dropped by a closed stdout), 1 when the
/// output was lost otherwise.
fn printed() -> ExitCode {
    match output::finish() {
        Some(err) => {
            eprintln!("moltbot-pdf: cannot write the output: {err}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}

/// Caps the reader's memory and CPU; a limit the system refuses is left as it was (the
/// gateway's timeout and output cap still hold).
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
