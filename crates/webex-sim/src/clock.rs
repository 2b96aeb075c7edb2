//! Timestamps as Webex renders them (`2016-04-21T19:12:48.920Z`), strictly increasing so that
//! ordering by time and ordering by creation agree even within one millisecond.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A monotonic wall clock in milliseconds since the Unix epoch.
#[derive(Debug, Default)]
pub struct Clock {
    last_ms: i64,
}

impl Clock {
    /// Returns the next timestamp: now, or one millisecond after the previous one.
    pub fn tick(&mut self) -> i64 {
        let now = now_ms();
        self.last_ms = if now > self.last_ms {
            now
        } else {
            self.last_ms + 1
        };
        self.last_ms
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let now = OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_ms(ms: i64) -> String {
    let dt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.millisecond()
    )
}

/// Parses an RFC 3339 timestamp (as used by `before=`) into epoch milliseconds.
pub fn parse_ms(text: &str) -> Option<i64> {
    let dt = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    Some((dt.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn format_and_parse_roundtrip() {
        let text = format_ms(1_461_265_968_920);
        assert_eq!(text, "2016-04-21T19:12:48.920Z");
        assert_eq!(parse_ms(&text), Some(1_461_265_968_920));
    }

    #[test]
    fn ticks_strictly_increase() {
        let mut c = Clock::default();
        let a = c.tick();
        let b = c.tick();
        assert!(b > a);
    }
}
