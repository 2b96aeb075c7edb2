//! Shared helper of the tests that read log lines: the subscriber `moltbot_core::logging`
//! installs, writing its "stderr" into memory.

use std::io::Write;
use std::sync::{Arc, Mutex};

use moltbot_core::logging::{build_subscriber, LogOptions};

/// A stand-in for stderr that keeps what was written.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The gateway's log subscriber at `level` (stderr only, no colour), writing into the returned
/// [`Captured`]. Install it with `tracing::subscriber::set_default` / `with_default`.
pub fn capture(level: &str) -> (Captured, impl tracing::Subscriber + Send + Sync) {
    let captured = Captured::default();
    let writer = captured.clone();
    let opts = LogOptions {
        level_env: Some(level.to_owned()),
        log_file: None,
        stderr: true,
    };
    let (subscriber, guard) = build_subscriber(&opts, move || writer.clone(), false).unwrap();
    assert_eq!(guard.log_file(), None);
    (captured, subscriber)
}
