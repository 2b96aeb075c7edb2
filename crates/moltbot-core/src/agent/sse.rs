//! Server-sent events, as the streaming model APIs send them.
//!
//! A small line parser after the WHATWG rules
//! (<https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation>):
//! lines end in `\n` (a `\r` before it is dropped); a line starting with `:` is a comment; a
//! `field: value` line sets `event` or appends to `data` (one space after the colon is
//! dropped; several `data` lines are joined with `\n`); a blank line dispatches the event when
//! it has data. Input comes in byte chunks cut anywhere (inside a line, inside a UTF-8
//! character): only complete lines are read. At the end of the stream an event not closed by a
//! blank line is still dispatched (lenient: some servers close right after the last `data`).
//! Lines longer than [`MAX_LINE_BYTES`] are an error (a stream that never sends a newline
//! would otherwise grow without bound).

use super::{AgentError, AgentReply, TextDeltas};

/// A provider's answer read from its event stream, one event's `data` at a time
/// ([`OpenAiStream`](super::OpenAiStream), [`AnthropicStream`](super::AnthropicStream)).
pub trait StreamedAnswer: Send {
    /// Reads one event's `data`, sending new answer text to `deltas`: `Ok(true)` at the end of
    /// the answer.
    ///
    /// # Errors
    /// The provider reported an error in the stream (the turn fails).
    fn event(&mut self, data: &str, deltas: &TextDeltas) -> Result<bool, AgentError>;

    /// The whole reply, read as the provider's complete (non-streamed) answer is read.
    ///
    /// # Errors
    /// Nothing usable was received.
    fn reply(&self) -> Result<AgentReply, AgentError>;

    /// Whether the answer is complete although the stream ended without its end event.
    /// Default: no.
    fn complete(&self) -> bool {
        false
    }
}

/// Longest line accepted (1 MiB).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event` field (empty when the event had none: the default `message`).
    pub event: String,
    /// The `data` lines, joined with `\n`.
    pub data: String,
}

/// A line exceeded [`MAX_LINE_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an event-stream line is longer than {MAX_LINE_BYTES} bytes")]
pub struct LineTooLong;

/// Parses an event stream fed in chunks (see the [module](self) docs).
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line not complete yet.
    line: Vec<u8>,
    event: String,
    data: Option<String>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the next chunk; returns the events it completed.
    ///
    /// # Errors
    /// [`LineTooLong`] when a line grows past [`MAX_LINE_BYTES`].
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, LineTooLong> {
        let mut events = Vec::new();
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&rest[..end]);
            rest = &rest[end + 1..];
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() > MAX_LINE_BYTES {
                return Err(LineTooLong);
            }
            if let Some(event) = self.line_done(&String::from_utf8_lossy(&line)) {
                events.push(event);
            }
        }
        self.line.extend_from_slice(rest);
        if self.line.len() > MAX_LINE_BYTES {
            return Err(LineTooLong);
        }
        Ok(events)
    }

    /// The end of the stream: the last event, if one was not closed by a blank line.
    pub fn finish(mut self) -> Option<SseEvent> {
        let line = std::mem::take(&mut self.line);
        let text = String::from_utf8_lossy(&line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        if let Some(event) = self.line_done(text) {
            return Some(event);
        }
        self.dispatch()
    }

    fn line_done(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            // `id` and `retry` matter to reconnecting browsers only; unknown fields are ignored.
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        self.data.take().map(|data| SseEvent { event, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        for chunk in chunks {
            events.extend(parser.push(chunk).unwrap());
        }
        events.extend(parser.finish());
        events
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn events_fields_comments_and_crlf() {
        let stream =
            b": keep-alive\r\nevent: ping\r\ndata: {}\r\n\r\ndata: a\ndata:b\n\nretry: 5\n\n";
        assert_eq!(all(&[stream]), vec![ev("ping", "{}"), ev("", "a\nb")]);
    }

    #[test]
    fn any_split_gives_the_same_events() {
        let stream = "event: x\r\ndata: h\u{e9}llo \u{1f600}\r\n\r\ndata: [DONE]\n\n".as_bytes();
        let whole = all(&[stream]);
        assert_eq!(
            whole,
            vec![ev("x", "h\u{e9}llo \u{1f600}"), ev("", "[DONE]")]
        );
        for cut in 0..stream.len() {
            assert_eq!(
                all(&[&stream[..cut], &stream[cut..]]),
                whole,
                "cut at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(all(&bytes), whole);
    }

    #[test]
    fn an_unterminated_last_event_is_dispatched_at_the_end() {
        assert_eq!(all(&[b"data: last"]), vec![ev("", "last")]);
        assert_eq!(all(&[b"data: last\n"]), vec![ev("", "last")]);
        assert!(all(&[b"event: only-a-name\n"]).is_empty());
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut parser = SseParser::new();
        let big = vec![b'a'; MAX_LINE_BYTES + 1];
        assert_eq!(parser.push(&big), Err(LineTooLong));
    }
}
