//! Agent session history: the recent turns of each conversation, kept across restarts.
//!
//! A session key is whatever the caller uses to name a conversation (see
//! [`SessionKey`](crate::agent::SessionKey)). Each turn is one message: something a user said,
//! or the agent's answer. [`Sessions::append_blocking`] keeps only the last `keep_turns` turns,
//! in the same transaction, so the table stays small.

use rusqlite::params;

use super::{write_transaction, Store, StoreError};
use crate::agent::{Role, Turn};

/// Access to the `session_turns` table; get it with [`Store::sessions`].
#[derive(Debug, Clone, Copy)]
pub struct Sessions<'a> {
    pub(super) store: &'a Store,
}

fn parse_role(text: &str) -> Option<Role> {
    [Role::User, Role::Assistant]
        .into_iter()
        .find(|r| r.as_str() == text)
}

impl Sessions<'_> {
    /// Appends a turn to `session` and deletes all but its last `keep_turns` turns (all of
    /// them, the new one included, if `keep_turns` is 0), atomically.
    pub fn append_blocking(
        &self,
        session: &str,
        role: Role,
        text: &str,
        keep_turns: usize,
    ) -> Result<(), StoreError> {
        let now = self.store.now_ms();
        let keep = i64::try_from(keep_turns).unwrap_or(i64::MAX);
        self.store.call_blocking(|conn| {
            write_transaction(conn, |tx| {
                let seq: i64 = tx.query_row(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM session_turns WHERE session_key = ?1",
                    params![session],
                    |r| r.get(0),
                )?;
                tx.execute(
                    "INSERT INTO session_turns (session_key, seq, role, text, at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![session, seq, role.as_str(), text, now],
                )?;
                tx.execute(
                    "DELETE FROM session_turns WHERE session_key = ?1 AND seq <= ?2",
                    params![session, seq.saturating_sub(keep)],
                )?;
                Ok(())
            })
        })
    }

    /// The last `max_turns` turns of `session`, oldest first.
    pub fn history_blocking(
        &self,
        session: &str,
        max_turns: usize,
    ) -> Result<Vec<Turn>, StoreError> {
        let limit = i64::try_from(max_turns).unwrap_or(i64::MAX);
        self.store.call_blocking(|conn| {
            let mut stmt = conn.prepare(
                "SELECT role, text FROM session_turns WHERE session_key = ?1
                 ORDER BY seq DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![session, limit], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut turns = Vec::new();
            for row in rows {
                let (role, text) = row?;
                // The table's CHECK allows only the two roles; skip anything else defensively.
                if let Some(role) = parse_role(&role) {
                    turns.push(Turn { role, text });
                }
            }
            turns.reverse();
            Ok(turns)
        })
    }

    /// Deletes the history of `session`; returns how many turns were removed.
    pub fn clear_blocking(&self, session: &str) -> Result<usize, StoreError> {
        self.store.call_blocking(|conn| {
            Ok(conn.execute(
                "DELETE FROM session_turns WHERE session_key = ?1",
                params![session],
            )?)
        })
    }

    /// Async form of [`Sessions::append_blocking`].
    pub async fn append(
        &self,
        session: &str,
        role: Role,
        text: &str,
        keep_turns: usize,
    ) -> Result<(), StoreError> {
        let [session, text] = [session, text].map(str::to_owned);
        self.store
            .run(move |s| {
                s.sessions()
                    .append_blocking(&session, role, &text, keep_turns)
            })
            .await
    }

    /// Async form of [`Sessions::history_blocking`].
    pub async fn history(&self, session: &str, max_turns: usize) -> Result<Vec<Turn>, StoreError> {
        let session = session.to_owned();
        self.store
            .run(move |s| s.sessions().history_blocking(&session, max_turns))
            .await
    }

    /// Async form of [`Sessions::clear_blocking`].
    pub async fn clear(&self, session: &str) -> Result<usize, StoreError> {
        let session = session.to_owned();
        self.store
            .run(move |s| s.sessions().clear_blocking(&session))
            .await
    }
}
