//! `moltbot-pdf`: the gateway's PDF reader, a binary of its own so that the parser
//! ([`pdf_extract`], pure Rust on `lopdf`, and its font tables) is not part of `moltbot` (an
//! idle gateway's resident memory follows the size of its binary).
//!
//! `moltbot-pdf < file.pdf`: the PDF on stdin, its text as UTF-8 on stdout (cut at
//! `MAX_PDF_TEXT_BYTES`, on a character boundary), exit 0; a PDF the parser refuses exits with
//! [`EXIT_UNREADABLE`] and the parser's words on stderr. It sets its own limits before it reads
//! anything: [`MAX_ADDRESS_SPACE`] of address space and [`MAX_CPU_SECONDS`] of CPU. The gateway
//! (`moltbot`'s `SubprocessPdfText`) runs one per PDF and also bounds its wall time and output.

#[path = "../pdf_protocol.rs"]
mod pdf_protocol;

use std::io::{Read as _, Write as _};
use std::process::ExitCode;

use moltbot_core::agent::attachments::MAX_PDF_TEXT_BYTES;

use crate::pdf_protocol::{EXIT_UNREADABLE, MAX_INPUT_BYTES};

/// The reader's address-space limit (`RLIMIT_AS`): 1 GiB.
const MAX_ADDRESS_SPACE: u64 = 1024 * 1024 * 1024;

/// The reader's CPU-time limit (`RLIMIT_CPU`), in seconds: a backstop to the gateway's 10 s
/// wall-clock timeout, should the gateway die first.
const MAX_CPU_SECONDS: u64 = 15;

fn main() -> ExitCode {
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
