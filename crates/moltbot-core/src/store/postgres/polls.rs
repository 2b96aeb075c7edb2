//! [`PollRepo`] on PostgreSQL. A vote is one statement: the poll row is read `FOR SHARE` and
//! the vote written only if it is open, so a concurrent close waits for the vote (and counts
//! it) or the vote sees the close (and is refused).

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{execute, query, query_opt, PostgresBackend};
use crate::store::polls::{choices_from_text, choices_to_text, options_from_text, options_to_text};
use crate::store::{NewPoll, Poll, PollRepo, PollVote, StoreError, VoteOutcome};

const POLL_COLUMNS: &str = "id, channel, room_id, question, options, multiple, created_by, \
     created_at, closes_at, closed_at, announced_at, card_message_id";

fn poll_of(r: &Row) -> Result<Poll, StoreError> {
    let options: String = r.try_get(4)?;
    Ok(Poll {
        id: r.try_get(0)?,
        channel: r.try_get(1)?,
        room_id: r.try_get(2)?,
        question: r.try_get(3)?,
        options: options_from_text(&options)?,
        multiple: r.try_get(5)?,
        created_by: r.try_get(6)?,
        created_at: r.try_get(7)?,
        closes_at: r.try_get(8)?,
        closed_at: r.try_get(9)?,
        announced_at: r.try_get(10)?,
        card_message_id: r.try_get(11)?,
    })
}

async fn get_poll(c: &impl GenericClient, id: &str) -> Result<Option<Poll>, StoreError> {
    query_opt(
        c,
        &format!("SELECT {POLL_COLUMNS} FROM polls WHERE id = $1"),
        &[&id],
    )
    .await?
    .as_ref()
    .map(poll_of)
    .transpose()
}

#[async_trait::async_trait]
impl PollRepo for PostgresBackend {
    async fn create_poll(&self, poll: &NewPoll) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        let added = execute(
            &c,
            "INSERT INTO polls (id, channel, room_id, question, options, multiple, created_by,
                                created_at, closes_at, card_message_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
            &[
                &poll.id,
                &poll.channel,
                &poll.room_id,
                &poll.question,
                &options_to_text(&poll.options),
                &poll.multiple,
                &poll.created_by,
                &now,
                &poll.closes_at,
                &poll.card_message_id,
            ],
        )
        .await?;
        Ok(added == 1)
    }

    async fn poll(&self, id: &str) -> Result<Option<Poll>, StoreError> {
        get_poll(&self.client().await?, id).await
    }

    async fn set_card_message(&self, id: &str, message_id: &str) -> Result<bool, StoreError> {
        let changed = execute(
            &self.client().await?,
            "UPDATE polls SET card_message_id = $2 WHERE id = $1",
            &[&id, &message_id],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn poll_by_card_message(
        &self,
        channel: &str,
        message_id: &str,
    ) -> Result<Option<Poll>, StoreError> {
        query_opt(
            &self.client().await?,
            &format!(
                "SELECT {POLL_COLUMNS} FROM polls WHERE channel = $1 AND card_message_id = $2"
            ),
            &[&channel, &message_id],
        )
        .await?
        .as_ref()
        .map(poll_of)
        .transpose()
    }

    async fn vote(
        &self,
        poll_id: &str,
        person_id: &str,
        choices: &[u32],
    ) -> Result<VoteOutcome, StoreError> {
        let now = self.now_ms();
        let choices = choices_to_text(choices);
        let c = self.client().await?;
        let written = query_opt(
            &c,
            "WITH open AS (
                 SELECT id FROM polls
                 WHERE id = $1 AND closed_at IS NULL AND (closes_at IS NULL OR closes_at > $4)
                 FOR SHARE
             )
             INSERT INTO poll_votes (poll_id, person_id, choices, voted_at)
             SELECT id, $2, $3, $4 FROM open
             ON CONFLICT (poll_id, person_id) DO UPDATE
             SET choices = excluded.choices, voted_at = excluded.voted_at
             RETURNING (xmax = 0) AS inserted",
            &[&poll_id, &person_id, &choices, &now],
        )
        .await?;
        if let Some(row) = written {
            let inserted: bool = row.try_get(0)?;
            return Ok(if inserted {
                VoteOutcome::Recorded
            } else {
                VoteOutcome::Changed
            });
        }
        let exists = query_opt(&c, "SELECT 1 FROM polls WHERE id = $1", &[&poll_id])
            .await?
            .is_some();
        Ok(if exists {
            VoteOutcome::Closed
        } else {
            VoteOutcome::UnknownPoll
        })
    }

    async fn votes(&self, poll_id: &str) -> Result<Vec<PollVote>, StoreError> {
        let c = self.client().await?;
        query(
            &c,
            "SELECT poll_id, person_id, choices, voted_at FROM poll_votes
             WHERE poll_id = $1 ORDER BY person_id",
            &[&poll_id],
        )
        .await?
        .iter()
        .map(|r| {
            let choices: String = r.try_get(2)?;
            Ok(PollVote {
                poll_id: r.try_get(0)?,
                person_id: r.try_get(1)?,
                choices: choices_from_text(&choices)?,
                voted_at: r.try_get(3)?,
            })
        })
        .collect()
    }

    async fn close_poll(&self, id: &str) -> Result<Option<Poll>, StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        execute(
            &c,
            "UPDATE polls SET closed_at = $2 WHERE id = $1 AND closed_at IS NULL",
            &[&id, &now],
        )
        .await?;
        get_poll(&c, id).await
    }

    async fn close_due_polls(&self, channel: &str) -> Result<u64, StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        execute(
            &c,
            "UPDATE polls SET closed_at = closes_at WHERE channel = $1 AND closed_at IS NULL
             AND closes_at IS NOT NULL AND closes_at <= $2",
            &[&channel, &now],
        )
        .await
    }

    async fn polls_to_announce(&self, channel: &str) -> Result<Vec<Poll>, StoreError> {
        let c = self.client().await?;
        query(
            &c,
            &format!(
                "SELECT {POLL_COLUMNS} FROM polls WHERE channel = $1 AND closed_at IS NOT NULL
                 AND announced_at IS NULL ORDER BY closed_at, id"
            ),
            &[&channel],
        )
        .await?
        .iter()
        .map(poll_of)
        .collect()
    }

    async fn mark_announced(&self, id: &str) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let c = self.client().await?;
        Ok(execute(
            &c,
            "UPDATE polls SET announced_at = $2 WHERE id = $1 AND announced_at IS NULL",
            &[&id, &now],
        )
        .await?
            == 1)
    }
}
