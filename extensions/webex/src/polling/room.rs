//! Reading one moved room: list its messages newest first, page by page, back to what was
//! already processed.

use futures::TryStreamExt;
use webex_api::models::{Message, RoomType};
use webex_api::ListMessages;

use super::cursor::RoomCursor;
use crate::inbound::created_ms;
use crate::shared::WebexShared;

/// Page size of `GET /messages`. Webex caps it at 100 with `mentionedPeople` (OpenAPI,
/// `GET /messages`, `max`).
pub const MESSAGE_PAGE: u32 = 50;

/// A room to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The room id.
    pub id: String,
    /// Whether it is a 1:1 room (else a space, or a type Webex added later).
    pub direct: bool,
    /// Its `lastActivity` as listed (unix ms).
    pub last_activity_ms: Option<i64>,
}

impl Target {
    /// From a listed room.
    pub fn from_room(room: &webex_api::Room) -> Self {
        Self {
            id: room.id.clone(),
            direct: room.room_type == Some(RoomType::Direct),
            last_activity_ms: room.last_activity.map(super::cursor::to_ms),
        }
    }
}

/// Where reading a room stops: what the poller already holds.
#[derive(Debug, Clone, Copy)]
pub struct Bounds<'a> {
    /// The global high-water mark before this pass: everything at or before it is processed.
    pub global_ms: i64,
    /// The room's own cursor, when the room was read before.
    pub room: Option<&'a RoomCursor>,
    /// Messages created before this (now − `catchUp.maxAgeMinutes`) are only skipped, so
    /// pages older than it are not fetched.
    pub age_cutoff_ms: i64,
}

impl Bounds<'_> {
    /// Whether `message` (and so everything listed after it) was already processed.
    pub fn reached(&self, message: &Message) -> bool {
        let created = created_ms(message);
        if created <= self.global_ms {
            return true;
        }
        self.room
            .is_some_and(|c| message.id == c.id || created < c.created_ms)
    }
}

/// What reading a room found.
#[derive(Debug, Default)]
pub struct Listing {
    /// New messages, OLDEST FIRST.
    pub fresh: Vec<Message>,
    /// `GET /messages` calls made.
    pub requests: u32,
    /// `created` of the newest message listed (new or not).
    pub newest_listed_ms: Option<i64>,
}

/// Lists `target`'s messages newest first until `bounds` is reached. In spaces only messages
/// mentioning the bot are listed: "Bots must include this parameter `mentionedPeople` to list
/// messages in group rooms (spaces)" (OpenAPI, `GET /messages`; Webex answers 403 otherwise,
/// developer.webex.com/docs/bots).
pub async fn list_new(
    shared: &WebexShared,
    target: &Target,
    bounds: Bounds<'_>,
) -> Result<Listing, webex_api::Error> {
    let mut filter = ListMessages::in_room(target.id.clone()).with_max(MESSAGE_PAGE);
    if !target.direct {
        filter = filter.mentioning_me();
    }
    let mut pages = shared.client.list_messages(&filter);
    let mut listing = Listing::default();
    while let Some(page) = pages.try_next().await? {
        listing.requests += 1;
        let has_next = page.next.is_some();
        let mut reached = false;
        for message in page.items {
            listing
                .newest_listed_ms
                .get_or_insert_with(|| created_ms(&message));
            if bounds.reached(&message) {
                reached = true;
                break;
            }
            listing.fresh.push(message);
        }
        // Older pages would only hold messages past the catch-up age: they are not answered,
        // so they are not worth a request.
        let past_age = listing
            .fresh
            .last()
            .is_some_and(|m| created_ms(m) < bounds.age_cutoff_ms);
        if reached || !has_next || past_age {
            break;
        }
    }
    listing.fresh.reverse();
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn message(id: &str, ms: i64) -> Message {
        Message {
            id: id.into(),
            created: OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok(),
            ..Message::default()
        }
    }

    #[test]
    fn the_global_cursor_bounds_rooms_never_read() {
        let bounds = Bounds {
            global_ms: 1_000,
            room: None,
            age_cutoff_ms: 0,
        };
        assert!(bounds.reached(&message("a", 1_000)));
        assert!(bounds.reached(&message("a", 999)));
        assert!(!bounds.reached(&message("a", 1_001)));
    }

    #[test]
    fn the_room_cursor_stops_at_its_message_or_older() {
        let cursor = RoomCursor {
            created_ms: 2_000,
            id: "seen".into(),
        };
        let bounds = Bounds {
            global_ms: 1_000,
            room: Some(&cursor),
            age_cutoff_ms: 0,
        };
        assert!(bounds.reached(&message("seen", 2_000)));
        assert!(bounds.reached(&message("older", 1_999)));
        // Same millisecond, other id: listed again (the claim dedupes it if known).
        assert!(!bounds.reached(&message("twin", 2_000)));
        assert!(!bounds.reached(&message("new", 2_001)));
    }
}
