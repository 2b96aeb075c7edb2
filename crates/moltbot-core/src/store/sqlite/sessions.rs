//! [`SessionRepo`] on SQLite.

use rusqlite::{params, Connection};

use super::SqliteBackend;
use crate::agent::{Role, SenderInfo, Turn};
use crate::store::{SessionAppend, SessionRepo, StoreError};

#[async_trait::async_trait]
impl SessionRepo for SqliteBackend {
    async fn append(&self, append: &SessionAppend) -> Result<(), StoreError> {
        let now = self.now_ms();
        let append = append.clone();
        self.write(move |conn| append_turns(conn, &append, now))
            .await
    }

    async fn history(&self, session: &str, max_turns: usize) -> Result<Vec<Turn>, StoreError> {
        let session = session.to_owned();
        let limit = i64::try_from(max_turns).unwrap_or(i64::MAX);
        self.read_now(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT role, text, author_id, author_name, author_email FROM session_turns
                 WHERE session_key = ?1 ORDER BY seq DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![session, limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?;
            let mut turns = Vec::new();
            for row in rows {
                let (role, text, author_id, author_name, author_email) = row?;
                // The table's CHECK allows only the two roles; skip anything else defensively.
                let Some(role) = parse_role(&role) else {
                    continue;
                };
                let author = author_id.map(|id| SenderInfo {
                    id,
                    email: author_email,
                    display_name: author_name,
                });
                turns.push(Turn { role, text, author });
            }
            turns.reverse();
            Ok(turns)
        })
    }

    async fn clear(&self, session: &str) -> Result<usize, StoreError> {
        let session = session.to_owned();
        self.write(move |conn| {
            Ok(conn.execute(
                "DELETE FROM session_turns WHERE session_key = ?1",
                params![session],
            )?)
        })
        .await
    }
}

fn parse_role(text: &str) -> Option<Role> {
    [Role::User, Role::Assistant]
        .into_iter()
        .find(|r| r.as_str() == text)
}

/// Appends and trims, inside the caller's write (also used by the "answered" unit of work).
pub(super) fn append_turns(
    conn: &Connection,
    append: &SessionAppend,
    now: i64,
) -> Result<(), StoreError> {
    let keep = i64::try_from(append.keep_turns).unwrap_or(i64::MAX);
    let mut seq: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM session_turns WHERE session_key = ?1")?
        .query_row(params![append.session], |r| r.get(0))?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO session_turns
             (session_key, seq, role, text, author_id, author_name, author_email, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for turn in &append.turns {
        seq += 1;
        let author = turn.author.as_ref();
        insert.execute(params![
            append.session,
            seq,
            turn.role.as_str(),
            turn.text,
            author.map(|a| a.id.as_str()),
            author.and_then(|a| a.display_name.as_deref()),
            author.and_then(|a| a.email.as_deref()),
            now
        ])?;
    }
    conn.prepare_cached("DELETE FROM session_turns WHERE session_key = ?1 AND seq <= ?2")?
        .execute(params![append.session, seq.saturating_sub(keep)])?;
    Ok(())
}
