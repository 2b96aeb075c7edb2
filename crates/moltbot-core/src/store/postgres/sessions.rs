//! [`SessionRepo`] on PostgreSQL. Appends to one session take its advisory lock, so the turn
//! numbers of concurrent appends (from any process) never collide.
//!
//! The tables are the SQLite backend's (schema 7): `sessions` (an id per key),
//! `session_authors` (an id per distinct person, name and email seen on a turn) and
//! `session_turns` referring to both. There are no foreign keys; this module keeps the
//! references: a turn is written after the rows it refers to, in the same transaction, and
//! `sessions` and `session_authors` rows are never deleted (clearing a session deletes its
//! turns only, so an append that has already looked its session's id up never writes turns
//! under an id that is gone).

use deadpool_postgres::GenericClient;

use super::{changed, execute, limit, lock, query, query_opt, PostgresBackend};
use crate::agent::{Role, SenderInfo, Turn};
use crate::store::sessions::{author_of, authors_of, known, AuthorKey};
use crate::store::{SessionAppend, SessionRepo, StoreError};

#[async_trait::async_trait]
impl SessionRepo for PostgresBackend {
    async fn append(&self, append: &SessionAppend) -> Result<(), StoreError> {
        let now = self.now_ms();
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        append_turns(&tx, append, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn history(&self, session: &str, max_turns: usize) -> Result<Vec<Turn>, StoreError> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT t.role, t.text, a.author_id, a.author_name, a.author_email
             FROM sessions s
             JOIN session_turns t ON t.session = s.id
             LEFT JOIN session_authors a ON a.id = t.author
             WHERE s.key = $1 ORDER BY t.seq DESC LIMIT $2",
            &[&session, &limit(max_turns)],
        )
        .await?;
        let mut turns = Vec::with_capacity(rows.len());
        for r in rows.iter().rev() {
            let role: String = r.try_get(0)?;
            // The table's CHECK allows only the two roles; skip anything else defensively.
            let Some(role) = [Role::User, Role::Assistant]
                .into_iter()
                .find(|x| x.as_str() == role)
            else {
                continue;
            };
            let author = r
                .try_get::<_, Option<String>>(2)?
                .map(|id| -> Result<SenderInfo, StoreError> {
                    Ok(SenderInfo {
                        id,
                        display_name: known(r.try_get(3)?),
                        email: known(r.try_get(4)?),
                    })
                })
                .transpose()?;
            turns.push(Turn {
                role,
                text: r.try_get(1)?,
                author,
            });
        }
        Ok(turns)
    }

    async fn clear(&self, session: &str) -> Result<usize, StoreError> {
        let c = self.client().await?;
        let n = execute(
            &c,
            "DELETE FROM session_turns
             WHERE session = (SELECT id FROM sessions WHERE key = $1)",
            &[&session],
        )
        .await?;
        Ok(changed(n))
    }
}

/// Appends and trims inside the caller's transaction (also used by the "answered" unit).
pub(super) async fn append_turns(
    tx: &impl GenericClient,
    append: &SessionAppend,
    now: i64,
) -> Result<(), StoreError> {
    lock(tx, &format!("session:{}", append.session)).await?;
    let keep = i64::try_from(append.keep_turns).unwrap_or(i64::MAX);
    // The session's id and its last turn number, in one look-up.
    let found = query_opt(
        tx,
        "SELECT s.id, (SELECT COALESCE(MAX(seq), 0) FROM session_turns WHERE session = s.id)
         FROM sessions s WHERE s.key = $1",
        &[&append.session],
    )
    .await?;
    let (session, mut seq): (i64, i64) = match found {
        Some(r) => (r.try_get(0)?, r.try_get(1)?),
        // Nothing to add to a session that does not exist (a `/reset` of a new one).
        None if append.turns.is_empty() => return Ok(()),
        // The session's lock is held, so no other append adds it meanwhile (`ON CONFLICT`
        // guards all the same).
        None => (
            get_or_insert(
                tx,
                "sessions row",
                "INSERT INTO sessions (key) VALUES ($1) ON CONFLICT (key) DO NOTHING RETURNING id",
                "SELECT id FROM sessions WHERE key = $1",
                &[&append.session],
            )
            .await?,
            0,
        ),
    };
    // The authors of this append, each looked up (or added) once, in key order (`authors_of`).
    let mut authors = Vec::new();
    for key in authors_of(append) {
        authors.push((key, author_id(tx, key).await?));
    }
    for turn in &append.turns {
        seq += 1;
        let author = author_of(turn, &authors);
        execute(
            tx,
            "INSERT INTO session_turns (session, seq, role, text, author, at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &session,
                &seq,
                &turn.role.as_str(),
                &turn.text,
                &author,
                &now,
            ],
        )
        .await?;
    }
    execute(
        tx,
        "DELETE FROM session_turns WHERE session = $1 AND seq <= $2",
        &[&session, &seq.saturating_sub(keep)],
    )
    .await?;
    Ok(())
}

/// The id of an author (as it is now: id, name and email) in `session_authors`, added when
/// new. Authors are shared by every session, so two appends (of different sessions, under
/// different locks) may add the same one at once: the loser's insert waits for the winner's
/// commit, does nothing, and the loser reads the winner's row.
async fn author_id(
    tx: &impl GenericClient,
    (id, name, email): AuthorKey<'_>,
) -> Result<i64, StoreError> {
    const SELECT: &str = "SELECT id FROM session_authors
                          WHERE author_id = $1 AND author_name = $2 AND author_email = $3";
    if let Some(r) = query_opt(tx, SELECT, &[&id, &name, &email]).await? {
        return Ok(r.try_get(0)?);
    }
    get_or_insert(
        tx,
        "session_authors row",
        "INSERT INTO session_authors (author_id, author_name, author_email) VALUES ($1, $2, $3)
         ON CONFLICT (author_id, author_name, author_email) DO NOTHING RETURNING id",
        SELECT,
        &[&id, &name, &email],
    )
    .await
}

/// Runs `insert` (an `INSERT ... ON CONFLICT DO NOTHING RETURNING id`); when a concurrent
/// transaction inserted the row first, reads its id with `select` (a statement of its own sees
/// that commit under `READ COMMITTED`).
async fn get_or_insert(
    tx: &impl GenericClient,
    what: &'static str,
    insert: &str,
    select: &str,
    params: super::Params<'_>,
) -> Result<i64, StoreError> {
    if let Some(r) = query_opt(tx, insert, params).await? {
        return Ok(r.try_get(0)?);
    }
    match query_opt(tx, select, params).await? {
        Some(r) => Ok(r.try_get(0)?),
        None => Err(StoreError::Decode {
            what,
            detail: "neither inserted nor found".to_owned(),
        }),
    }
}
