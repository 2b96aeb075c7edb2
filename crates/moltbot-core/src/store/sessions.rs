//! Agent session history: the recent turns of each conversation, kept across restarts.
//!
//! A session key is whatever the caller uses to name a conversation (see
//! [`SessionKey`](crate::agent::SessionKey)). Each turn is one message: something a user said
//! (with its author, so group sessions know who spoke), or the agent's answer. How many turns to
//! keep is the caller's rule, passed as `keep_turns`; the backend trims in the same commit.

use super::StoreError;
use crate::agent::{SenderInfo, Turn};

/// New turns of one session, appended in one commit (see [`SessionRepo::append`] and
/// [`AnswerRecord`](super::AnswerRecord)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAppend {
    /// The session key.
    pub session: String,
    /// The turns, oldest first.
    pub turns: Vec<Turn>,
    /// Keep only the session's last `keep_turns` turns (0 = keep none).
    pub keep_turns: usize,
}

impl SessionAppend {
    /// No new turns and nothing kept: empties `session`. Given to
    /// [`AnswerRecord`](super::AnswerRecord), the session is cleared in the same commit that
    /// records the answer (the `/reset` chat command).
    pub fn clear(session: impl Into<String>) -> Self {
        Self {
            session: session.into(),
            turns: Vec::new(),
            keep_turns: 0,
        }
    }
}

/// Agent session history; get it with [`Store::sessions`](super::Store::sessions).
#[async_trait::async_trait]
pub trait SessionRepo: Send + Sync {
    /// Appends the turns and deletes all but the session's last `keep_turns` turns, atomically.
    async fn append(&self, append: &SessionAppend) -> Result<(), StoreError>;

    /// The last `max_turns` turns of `session`, oldest first, with their authors as they were
    /// when each turn was appended (an empty name or email reads back as unknown, `None`).
    async fn history(&self, session: &str, max_turns: usize) -> Result<Vec<Turn>, StoreError>;

    /// Deletes the history of `session`; returns how many turns were removed.
    async fn clear(&self, session: &str) -> Result<usize, StoreError>;
}

/// An author as the backends key it in `session_authors`: id, name and email, `''` for an
/// unknown name or email (the three columns make one unique key, and a NULL in it would never
/// match).
pub(crate) type AuthorKey<'a> = (&'a str, &'a str, &'a str);

/// The key of `sender` as it is now.
pub(crate) fn author_key(sender: &SenderInfo) -> AuthorKey<'_> {
    (
        &sender.id,
        sender.display_name.as_deref().unwrap_or(""),
        sender.email.as_deref().unwrap_or(""),
    )
}

/// The distinct authors of `append`'s turns, in key order: each is looked up (or added) once,
/// and on PostgreSQL two appends adding the same new authors take their rows in the same order,
/// never waiting on each other in a cycle.
pub(crate) fn authors_of(append: &SessionAppend) -> Vec<AuthorKey<'_>> {
    let mut keys: Vec<AuthorKey<'_>> = append
        .turns
        .iter()
        .filter_map(|t| t.author.as_ref().map(author_key))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The id `authors` (from [`authors_of`], with their ids) gives `turn`'s author.
pub(crate) fn author_of(turn: &Turn, authors: &[(AuthorKey<'_>, i64)]) -> Option<i64> {
    let key = author_key(turn.author.as_ref()?);
    authors.iter().find(|(k, _)| *k == key).map(|(_, id)| *id)
}

/// A stored author name or email back: `''` is unknown.
pub(crate) fn known(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}
