//! [`SessionRepo`] on SQLite.
//!
//! Three tables (schema 7, see [`migrations`](super::migrations)): `sessions` gives each key an
//! integer id, `session_authors` each distinct (person, name, email) seen on a turn, and
//! `session_turns` holds the turns with those two ids, so a turn row is its text and a few
//! small numbers. The schema has no foreign keys; this module keeps the references: a turn is
//! written after the rows it refers to, in the same write, and `sessions` and
//! `session_authors` rows are never deleted (clearing a session deletes its turns only).

use rusqlite::{params, Connection, OptionalExtension};

use super::SqliteBackend;
use crate::agent::{Role, SenderInfo, Turn};
use crate::store::sessions::{author_of, authors_of, known, AuthorKey};
use crate::store::{SessionAppend, SessionRepo, StoreError};

/// A session's last turns, newest first, with their authors.
const HISTORY: &str = "SELECT t.role, t.text, a.author_id, a.author_name, a.author_email
     FROM sessions s
     JOIN session_turns t ON t.session = s.id
     LEFT JOIN session_authors a ON a.id = t.author
     WHERE s.key = ?1 ORDER BY t.seq DESC LIMIT ?2";

/// A session's id.
const SESSION_ID: &str = "SELECT id FROM sessions WHERE key = ?1";

/// A session's id and its last turn number.
const SESSION: &str =
    "SELECT s.id, (SELECT COALESCE(MAX(seq), 0) FROM session_turns WHERE session = s.id)
     FROM sessions s WHERE s.key = ?1";

/// Adds a session.
const NEW_SESSION: &str = "INSERT INTO sessions (key) VALUES (?1)";

/// An author's id.
const AUTHOR: &str = "SELECT id FROM session_authors
     WHERE author_id = ?1 AND author_name = ?2 AND author_email = ?3";

/// Adds an author.
const NEW_AUTHOR: &str = "INSERT INTO session_authors (author_id, author_name, author_email)
     VALUES (?1, ?2, ?3)";

/// Adds a turn.
const INSERT_TURN: &str = "INSERT INTO session_turns (session, seq, role, text, author, at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// Deletes a session's turns up to a number (the trim after an append).
const TRIM: &str = "DELETE FROM session_turns WHERE session = ?1 AND seq <= ?2";

/// Every statement of this module, for the schema's tests (query plans, temporary b-trees).
#[cfg(test)]
pub(super) const STATEMENTS: &[&str] = &[
    HISTORY,
    SESSION_ID,
    SESSION,
    NEW_SESSION,
    AUTHOR,
    NEW_AUTHOR,
    INSERT_TURN,
    TRIM,
];

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
            let mut stmt = conn.prepare_cached(HISTORY)?;
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
                    email: known(author_email),
                    display_name: known(author_name),
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
            // Its turns go; its `sessions` row stays (see the module comment). Found first,
            // then deleted by key: a `DELETE` with the look-up as a subquery would collect the
            // rows in a temporary b-tree before deleting them.
            let id: Option<i64> = conn
                .prepare_cached(SESSION_ID)?
                .query_row(params![session], |r| r.get(0))
                .optional()?;
            let Some(id) = id else { return Ok(0) };
            Ok(conn.prepare_cached(TRIM)?.execute(params![id, i64::MAX])?)
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
    // The session's id and its last turn number, in one look-up.
    let found: Option<(i64, i64)> = conn
        .prepare_cached(SESSION)?
        .query_row(params![append.session], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (session, mut seq) = match found {
        Some(found) => found,
        // Nothing to add to a session that does not exist (a `/reset` of a new one).
        None if append.turns.is_empty() => return Ok(()),
        // The new row's id without `RETURNING` (which buffers the rows it returns in a
        // temporary b-tree).
        None => {
            conn.prepare_cached(NEW_SESSION)?
                .execute(params![append.session])?;
            (conn.last_insert_rowid(), 0)
        }
    };
    let mut insert = conn.prepare_cached(INSERT_TURN)?;
    // The authors of this append, looked up (or added) once each.
    let authors = authors_of(append)
        .into_iter()
        .map(|key| Ok((key, author_id(conn, key)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    for turn in &append.turns {
        seq += 1;
        let author = author_of(turn, &authors);
        insert.execute(params![
            session,
            seq,
            turn.role.as_str(),
            turn.text,
            author,
            now
        ])?;
    }
    conn.prepare_cached(TRIM)?
        .execute(params![session, seq.saturating_sub(keep)])?;
    Ok(())
}

/// The id of an author (as it is now: id, name and email) in `session_authors`, added when
/// new.
fn author_id(conn: &Connection, (id, name, email): AuthorKey<'_>) -> Result<i64, StoreError> {
    let found = conn
        .prepare_cached(AUTHOR)?
        .query_row(params![id, name, email], |r| r.get(0))
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    conn.prepare_cached(NEW_AUTHOR)?
        .execute(params![id, name, email])?;
    Ok(conn.last_insert_rowid())
}
