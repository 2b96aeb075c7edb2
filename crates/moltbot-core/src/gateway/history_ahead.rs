//! The session's history read while the message's fetch is still in flight.
//!
//! A room's worker takes a message by id and awaits its fetch (a `GET` to the network, started
//! when the message was claimed) before it knows the message's session, then reads that
//! session's history for the agent. The read does not depend on the message: a room's session
//! never changes (a direct room is always with the same person, a group room is its own
//! session), so once a message of a room was answered, the worker of its next message reads the
//! history before awaiting the fetch, and the read leaves the path from delivery to reply (on
//! the one-thread runtime the thread is otherwise idle while the `GET` is out). After the fetch
//! the history is used only if the message's session is the one read; otherwise it is read
//! again as before. Nothing is written, so a wrong guess costs one read and nothing else.
//!
//! The read runs in the message's turn of its room (after the earlier messages of the room are
//! answered, across replicas too: `room_order.rs`), so it sees every turn they appended.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::agent::{SessionKey, Turn};

use super::runtime::Processor;

/// Rooms whose session is remembered; past this many the memo starts again empty (a room
/// not remembered only misses the early read).
const MAX_ROOMS: usize = 4096;

/// The session of each room answered lately: `room id -> session key`.
#[derive(Debug, Default)]
pub(crate) struct RoomSessions {
    rooms: Mutex<HashMap<String, SessionKey>>,
}

impl RoomSessions {
    /// Notes that `room_id`'s messages belong to `session`.
    pub(crate) fn remember(&self, room_id: &str, session: &SessionKey) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if rooms.get(room_id) == Some(session) {
            return;
        }
        if rooms.len() >= MAX_ROOMS {
            rooms.clear();
        }
        rooms.insert(room_id.to_owned(), session.clone());
    }

    /// The session of `room_id`'s last answered message, if remembered.
    pub(crate) fn get(&self, room_id: &str) -> Option<SessionKey> {
        self.rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(room_id)
            .cloned()
    }
}

/// A session's history read ahead of the message's fetch.
#[derive(Debug)]
pub(crate) struct EarlyHistory {
    session: SessionKey,
    turns: Vec<Turn>,
}

impl EarlyHistory {
    /// The turns, when they are `session`'s (`None`: read for another session).
    pub(crate) fn for_session(early: Option<Self>, session: &SessionKey) -> Option<Vec<Turn>> {
        early
            .filter(|early| early.session == *session)
            .map(|early| early.turns)
    }
}

impl Processor {
    /// Reads the history of `room_id`'s session when the room's session is known and the
    /// agent gets history at all; `None` otherwise, or when the store cannot be read (the
    /// read after the fetch then reports it).
    pub(crate) async fn read_history_ahead(&self, room_id: &str) -> Option<EarlyHistory> {
        if self.options.history_turns == 0 {
            return None;
        }
        let session = self.room_sessions.get(room_id)?;
        let turns = self
            .store
            .sessions()
            .history(session.as_str(), self.options.history_turns)
            .await
            .ok()?;
        Some(EarlyHistory { session, turns })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_room_gives_its_session_and_a_new_one_replaces_it() {
        let rooms = RoomSessions::default();
        assert_eq!(rooms.get("r1"), None);
        rooms.remember("r1", &SessionKey::new("webex:dm:p1"));
        assert_eq!(rooms.get("r1"), Some(SessionKey::new("webex:dm:p1")));
        rooms.remember("r1", &SessionKey::new("webex:room:r1"));
        assert_eq!(rooms.get("r1"), Some(SessionKey::new("webex:room:r1")));
        assert_eq!(rooms.get("r2"), None);
    }

    #[test]
    fn the_memo_starts_again_when_full() {
        let rooms = RoomSessions::default();
        for i in 0..MAX_ROOMS {
            rooms.remember(&format!("r{i}"), &SessionKey::new(format!("s{i}")));
        }
        assert_eq!(rooms.get("r0"), Some(SessionKey::new("s0")));
        rooms.remember("one more", &SessionKey::new("s"));
        assert_eq!(rooms.get("r0"), None);
        assert_eq!(rooms.get("one more"), Some(SessionKey::new("s")));
    }

    #[test]
    fn history_read_for_another_session_is_not_used() {
        let turns = vec![Turn::assistant("earlier".to_string())];
        let early = || {
            Some(EarlyHistory {
                session: SessionKey::new("a"),
                turns: turns.clone(),
            })
        };
        assert_eq!(
            EarlyHistory::for_session(early(), &SessionKey::new("a")),
            Some(turns.clone())
        );
        assert_eq!(
            EarlyHistory::for_session(early(), &SessionKey::new("b")),
            None
        );
        assert_eq!(EarlyHistory::for_session(None, &SessionKey::new("a")), None);
    }
}
