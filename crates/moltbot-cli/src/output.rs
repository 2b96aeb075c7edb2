//! What the commands print on stdout, written so that a closed stdout is not a crash.
//!
//! `println!` panics when it cannot write, and a pipe whose reader has gone
//! (`moltbot pairing list | head -1`, a pager quit early) is such a case: the command died with
//! `failed printing to stdout: Broken pipe` and exit code 101. Every command prints through
//! `outln!` and `out!` instead, defined here for the whole crate (`#[macro_use]`), and
//! `clippy::print_stdout` is denied in the binaries so that a `println!` cannot come back. On a closed stdout (`EPIPE`) the rest
//! of the output is dropped without a word and the command goes on to its end: a command that
//! changes something (`pairing approve`, `message send`, `store migrate`) is not stopped
//! halfway because nobody reads what it says, the gateway keeps running, and the exit code is
//! the command's own (0 on success). Any other write error (a full disk) is kept and reported by
//! [`finish`] as one `error:` line and exit code 1, since the output the user asked for is lost.

use std::fmt;
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// Set once stdout could not be written: later output is dropped.
static DROPPING: AtomicBool = AtomicBool::new(false);

/// The first write error other than a closed pipe.
static FAILED: Mutex<Option<io::Error>> = Mutex::new(None);

/// Writes `args` to stdout and flushes it; see the module docs for what happens when it cannot.
pub fn write(args: fmt::Arguments<'_>) {
    if DROPPING.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = io::stdout().lock();
    let Err(err) = stdout.write_fmt(args).and_then(|()| stdout.flush()) else {
        return;
    };
    DROPPING.store(true, Ordering::Relaxed);
    if err.kind() != io::ErrorKind::BrokenPipe {
        FAILED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(err);
    }
}

/// The write error that lost output (other than a closed pipe), if any; `main` turns it into an
/// error line and exit code 1.
pub fn finish() -> Option<io::Error> {
    FAILED.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// `println!` for commands: a closed stdout drops the output instead of panicking (see the
/// module docs).
macro_rules! outln {
    () => {
        $crate::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for commands: a closed stdout drops the output instead of panicking (see the
/// module docs).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*))
    };
}
