//! [`SessionRepo`] on PostgreSQL. Appends to one session take its advisory lock, so the turn
//! numbers of concurrent appends (from any process) never collide.

use deadpool_postgres::GenericClient;

use super::{changed, execute, limit, lock, query, query_one, PostgresBackend};
use crate::agent::{Role, SenderInfo, Turn};
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
            "SELECT role, text, author_id, author_name, author_email FROM session_turns
             WHERE session_key = $1 ORDER BY seq DESC LIMIT $2",
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
                        display_name: r.try_get(3)?,
                        email: r.try_get(4)?,
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
            "DELETE FROM session_turns WHERE session_key = $1",
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
    let mut seq: i64 = query_one(
        tx,
        "SELECT COALESCE(MAX(seq), 0) FROM session_turns WHERE session_key = $1",
        &[&append.session],
    )
    .await?
    .try_get(0)?;
    for turn in &append.turns {
        seq += 1;
        let author = turn.author.as_ref();
        execute(
            tx,
            "INSERT INTO session_turns
                 (session_key, seq, role, text, author_id, author_name, author_email, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &append.session,
                &seq,
                &turn.role.as_str(),
                &turn.text,
                &author.map(|a| a.id.as_str()),
                &author.and_then(|a| a.display_name.as_deref()),
                &author.and_then(|a| a.email.as_deref()),
                &now,
            ],
        )
        .await?;
    }
    execute(
        tx,
        "DELETE FROM session_turns WHERE session_key = $1 AND seq <= $2",
        &[&append.session, &seq.saturating_sub(keep)],
    )
    .await?;
    Ok(())
}
