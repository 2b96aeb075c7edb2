//! The poller's persisted positions, kept in the store's `cursors` table (channel `webex`).
//!
//! - [`GLOBAL_KEY`]: the `lastActivity` high-water mark of `GET /rooms?sortBy=lastactivity`
//!   (server time, RFC 3339 text; unix milliseconds are accepted too). Every message created at
//!   or before it has been processed (or was older than `catchUp.maxAgeMinutes`).
//! - [`room_key`]: per room, the newest message the poller claimed (`created` and id), as JSON.

use moltbot_core::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::shared::CHANNEL;

/// Cursor key of the global `rooms.lastActivity` high-water mark.
pub const GLOBAL_KEY: &str = "rooms.lastActivity";

/// Cursor key of a room's newest claimed message.
pub fn room_key(room_id: &str) -> String {
    format!("room:{room_id}")
}

/// Unix milliseconds of a timestamp (saturating).
pub fn to_ms(time: OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// RFC 3339 text of unix milliseconds (as Webex writes it); the raw number if out of range.
pub fn format_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Parses RFC 3339 text or unix milliseconds.
pub fn parse_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    OffsetDateTime::parse(text, &Rfc3339).ok().map(to_ms)
}

/// The newest message the poller claimed in one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomCursor {
    /// The message's `created` (unix ms).
    pub created_ms: i64,
    /// The message id.
    pub id: String,
}

#[derive(Serialize, Deserialize)]
struct RoomCursorJson {
    created: String,
    id: String,
}

impl RoomCursor {
    /// The stored form: `{"created":"<RFC 3339>","id":"<message id>"}`.
    pub fn encode(&self) -> String {
        let json = RoomCursorJson {
            created: format_ms(self.created_ms),
            id: self.id.clone(),
        };
        serde_json::to_string(&json).unwrap_or_default()
    }

    /// Parses [`RoomCursor::encode`]'s form; `None` if it is not one.
    pub fn decode(text: &str) -> Option<Self> {
        let json: RoomCursorJson = serde_json::from_str(text).ok()?;
        Some(Self {
            created_ms: parse_ms(&json.created)?,
            id: json.id,
        })
    }
}

/// Loads the global high-water mark; `None` on the very first start. An unreadable value is
/// treated as absent (history is then skipped rather than replayed).
pub async fn load_global(store: &Store) -> Result<Option<i64>, StoreError> {
    let raw = store.cursors().get(CHANNEL, GLOBAL_KEY).await?;
    Ok(raw.and_then(|raw| {
        let parsed = parse_ms(&raw);
        if parsed.is_none() {
            tracing::warn!(channel = CHANNEL, value = %raw, "unreadable polling cursor; starting from now");
        }
        parsed
    }))
}

/// Stores the global high-water mark.
pub async fn save_global(store: &Store, ms: i64) -> Result<(), StoreError> {
    store
        .cursors()
        .set(CHANNEL, GLOBAL_KEY, &format_ms(ms))
        .await
}

/// Loads a room's cursor (`None` for a room never read, or an unreadable value).
pub async fn load_room(store: &Store, room_id: &str) -> Result<Option<RoomCursor>, StoreError> {
    let raw = store.cursors().get(CHANNEL, &room_key(room_id)).await?;
    Ok(raw.as_deref().and_then(RoomCursor::decode))
}

/// Stores a room's cursor.
pub async fn save_room(
    store: &Store,
    room_id: &str,
    cursor: &RoomCursor,
) -> Result<(), StoreError> {
    store
        .cursors()
        .set(CHANNEL, &room_key(room_id), &cursor.encode())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_trip_through_rfc3339() {
        let ms = 1_461_265_968_920;
        let text = format_ms(ms);
        assert_eq!(text, "2016-04-21T19:12:48.92Z");
        assert_eq!(parse_ms(&text), Some(ms));
        assert_eq!(parse_ms("2016-04-21T19:12:48.920Z"), Some(ms));
    }

    #[test]
    fn unix_milliseconds_are_accepted() {
        assert_eq!(parse_ms(" 1461265968920 "), Some(1_461_265_968_920));
        assert_eq!(parse_ms("yesterday"), None);
    }

    #[test]
    fn room_cursor_round_trips() {
        let cursor = RoomCursor {
            created_ms: 1_700_000_000_123,
            id: "Y2lzY29zcGFyazovL3VzL01FU1NBR0UvMQ".into(),
        };
        let text = cursor.encode();
        assert!(
            text.contains("\"created\":\"2023-11-14T22:13:20.123Z\""),
            "{text}"
        );
        assert_eq!(RoomCursor::decode(&text), Some(cursor));
        assert_eq!(RoomCursor::decode("not json"), None);
        assert_eq!(RoomCursor::decode(r#"{"created":"soon","id":"x"}"#), None);
    }

    #[tokio::test]
    async fn cursors_persist_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.sqlite")).unwrap();
        assert_eq!(load_global(&store).await.unwrap(), None);
        save_global(&store, 42_000).await.unwrap();
        assert_eq!(load_global(&store).await.unwrap(), Some(42_000));
        let cursor = RoomCursor {
            created_ms: 7,
            id: "m".into(),
        };
        save_room(&store, "r1", &cursor).await.unwrap();
        assert_eq!(load_room(&store, "r1").await.unwrap(), Some(cursor));
        assert_eq!(load_room(&store, "r2").await.unwrap(), None);
        store
            .cursors()
            .set(CHANNEL, GLOBAL_KEY, "garbage")
            .await
            .unwrap();
        assert_eq!(load_global(&store).await.unwrap(), None);
    }
}
