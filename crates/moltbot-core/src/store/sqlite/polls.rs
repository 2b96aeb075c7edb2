//! [`PollRepo`] on SQLite. A vote's "is the poll open" check and its write run in one unit of
//! the single writer, so they are atomic.

use rusqlite::{params, Connection, OptionalExtension};

use super::SqliteBackend;
use crate::store::polls::{choices_from_text, choices_to_text, options_from_text, options_to_text};
use crate::store::{NewPoll, Poll, PollRepo, PollVote, StoreError, VoteOutcome};

const POLL_COLUMNS: &str = "id, channel, room_id, question, options, multiple, created_by, \
     created_at, closes_at, closed_at, announced_at, card_message_id";

/// A poll row as read, `options` still text.
type RawPoll = (Poll, String);

fn raw_poll(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawPoll> {
    Ok((
        Poll {
            id: r.get(0)?,
            channel: r.get(1)?,
            room_id: r.get(2)?,
            question: r.get(3)?,
            options: Vec::new(),
            multiple: r.get(5)?,
            created_by: r.get(6)?,
            created_at: r.get(7)?,
            closes_at: r.get(8)?,
            closed_at: r.get(9)?,
            announced_at: r.get(10)?,
            card_message_id: r.get(11)?,
        },
        r.get(4)?,
    ))
}

fn decode((mut poll, options): RawPoll) -> Result<Poll, StoreError> {
    poll.options = options_from_text(&options)?;
    Ok(poll)
}

fn get_poll(conn: &Connection, id: &str) -> Result<Option<Poll>, StoreError> {
    conn.prepare_cached(&format!("SELECT {POLL_COLUMNS} FROM polls WHERE id = ?1"))?
        .query_row(params![id], raw_poll)
        .optional()?
        .map(decode)
        .transpose()
}

#[async_trait::async_trait]
impl PollRepo for SqliteBackend {
    async fn create_poll(&self, poll: &NewPoll) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let poll = poll.clone();
        self.write(move |conn| {
            let added = conn.execute(
                "INSERT INTO polls (id, channel, room_id, question, options, multiple, created_by,
                                    created_at, closes_at, card_message_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING",
                params![
                    poll.id,
                    poll.channel,
                    poll.room_id,
                    poll.question,
                    options_to_text(&poll.options),
                    poll.multiple,
                    poll.created_by,
                    now,
                    poll.closes_at,
                    poll.card_message_id
                ],
            )?;
            Ok(added == 1)
        })
        .await
    }

    async fn poll(&self, id: &str) -> Result<Option<Poll>, StoreError> {
        let id = id.to_owned();
        self.read_now(move |conn| get_poll(conn, &id))
    }

    async fn set_card_message(&self, id: &str, message_id: &str) -> Result<bool, StoreError> {
        let (id, message_id) = (id.to_owned(), message_id.to_owned());
        self.write(move |conn| {
            let changed = conn.execute(
                "UPDATE polls SET card_message_id = ?2 WHERE id = ?1",
                params![id, message_id],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn poll_by_card_message(
        &self,
        channel: &str,
        message_id: &str,
    ) -> Result<Option<Poll>, StoreError> {
        let (channel, message_id) = (channel.to_owned(), message_id.to_owned());
        self.read_now(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {POLL_COLUMNS} FROM polls WHERE channel = ?1 AND card_message_id = ?2"
            ))?
            .query_row(params![channel, message_id], raw_poll)
            .optional()?
            .map(decode)
            .transpose()
        })
    }

    async fn vote(
        &self,
        poll_id: &str,
        person_id: &str,
        choices: &[u32],
    ) -> Result<VoteOutcome, StoreError> {
        let now = self.now_ms();
        let (poll_id, person_id) = (poll_id.to_owned(), person_id.to_owned());
        let choices = choices_to_text(choices);
        self.write(move |conn| {
            let Some(poll) = get_poll(conn, &poll_id)? else {
                return Ok(VoteOutcome::UnknownPoll);
            };
            if !poll.is_open(now) {
                return Ok(VoteOutcome::Closed);
            }
            let earlier: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM poll_votes WHERE poll_id = ?1 AND person_id = ?2)",
                params![poll_id, person_id],
                |r| r.get(0),
            )?;
            conn.execute(
                "INSERT INTO poll_votes (poll_id, person_id, choices, voted_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (poll_id, person_id) DO UPDATE
                 SET choices = excluded.choices, voted_at = excluded.voted_at",
                params![poll_id, person_id, choices, now],
            )?;
            Ok(if earlier {
                VoteOutcome::Changed
            } else {
                VoteOutcome::Recorded
            })
        })
        .await
    }

    async fn votes(&self, poll_id: &str) -> Result<Vec<PollVote>, StoreError> {
        let poll_id = poll_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT poll_id, person_id, choices, voted_at FROM poll_votes
                 WHERE poll_id = ?1 ORDER BY person_id",
            )?;
            let rows = stmt
                .query_map(params![poll_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(poll_id, person_id, choices, voted_at)| {
                    Ok(PollVote {
                        poll_id,
                        person_id,
                        choices: choices_from_text(&choices)?,
                        voted_at,
                    })
                })
                .collect()
        })
        .await
    }

    async fn close_poll(&self, id: &str) -> Result<Option<Poll>, StoreError> {
        let now = self.now_ms();
        let id = id.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE polls SET closed_at = ?2 WHERE id = ?1 AND closed_at IS NULL",
                params![id, now],
            )?;
            get_poll(conn, &id)
        })
        .await
    }

    async fn close_due_polls(&self, channel: &str) -> Result<u64, StoreError> {
        let now = self.now_ms();
        let channel = channel.to_owned();
        // Looked for on a reader first, so a pass with nothing due costs no write.
        let due: bool = {
            let channel = channel.clone();
            self.read(move |conn| {
                Ok(conn.query_row(
                    "SELECT EXISTS (SELECT 1 FROM polls WHERE channel = ?1 AND closed_at IS NULL
                                    AND closes_at IS NOT NULL AND closes_at <= ?2)",
                    params![channel, now],
                    |r| r.get(0),
                )?)
            })
            .await?
        };
        if !due {
            return Ok(0);
        }
        self.write(move |conn| {
            let closed = conn.execute(
                "UPDATE polls SET closed_at = closes_at WHERE channel = ?1 AND closed_at IS NULL
                 AND closes_at IS NOT NULL AND closes_at <= ?2",
                params![channel, now],
            )?;
            Ok(u64::try_from(closed).unwrap_or(u64::MAX))
        })
        .await
    }

    async fn polls_to_announce(&self, channel: &str) -> Result<Vec<Poll>, StoreError> {
        let channel = channel.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {POLL_COLUMNS} FROM polls WHERE channel = ?1 AND closed_at IS NOT NULL
                 AND announced_at IS NULL ORDER BY closed_at, id"
            ))?;
            let rows = stmt
                .query_map(params![channel], raw_poll)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter().map(decode).collect()
        })
        .await
    }

    async fn mark_announced(&self, id: &str) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let id = id.to_owned();
        self.write(move |conn| {
            Ok(conn.execute(
                "UPDATE polls SET announced_at = ?2 WHERE id = ?1 AND announced_at IS NULL",
                params![id, now],
            )? == 1)
        })
        .await
    }
}
