//! A [`MakeWriter`] wrapper that redacts every log line before it reaches its destination.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

use super::redact::redact;

/// Wraps a [`MakeWriter`] so everything written through it passes through
/// [`redact`](super::redact()) first.
///
/// Each writer it makes buffers what the formatter writes for one event and, when dropped,
/// writes the redacted text to the inner writer in one call. A secret split across several
/// `write` calls is therefore still found.
#[derive(Debug, Clone)]
pub struct RedactingMakeWriter<M> {
    inner: M,
}

impl<M> RedactingMakeWriter<M> {
    /// Wraps `inner`.
    pub fn new(inner: M) -> Self {
        Self { inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            buf: Vec::new(),
            inner: self.inner.make_writer(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        RedactingWriter {
            buf: Vec::new(),
            inner: self.inner.make_writer_for(meta),
        }
    }
}

/// The writer made by [`RedactingMakeWriter`]: buffers, then redacts and writes on flush or drop.
#[derive(Debug)]
pub struct RedactingWriter<W: Write> {
    buf: Vec<u8>,
    inner: W,
}

impl<W: Write> RedactingWriter<W> {
    fn write_out(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = redact(&String::from_utf8_lossy(&self.buf));
        self.buf.clear();
        self.inner.write_all(text.as_bytes())?;
        self.inner.flush()
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Only whole lines are written out early, so a secret is never cut in two.
        match self.buf.iter().rposition(|&b| b == b'\n') {
            Some(last_newline) => {
                let rest = self.buf.split_off(last_newline + 1);
                let result = self.write_out();
                self.buf = rest;
                result
            }
            None => Ok(()),
        }
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        // A logger has nowhere to report its own write errors.
        let _ = self.write_out();
    }
}
