//! Versioned schema migrations, tracked with `PRAGMA user_version`.
//!
//! [`MIGRATIONS`] is append-only: migration `n` (1-based) is `MIGRATIONS[n - 1]`, and a store at
//! version `v` has had the first `v` scripts applied. To change the schema, add a new script at
//! the end; never edit one that has shipped. All pending scripts run in one `BEGIN IMMEDIATE`
//! transaction, so two processes opening a fresh store at once cannot both migrate it, and a
//! failed migration leaves the store as it was.

use rusqlite::{Connection, TransactionBehavior};

use crate::store::{Clock as _, StoreError};

/// Migration 1: key/value settings, plugin installs, inbound dedupe, cursors, outbound chunks.
const V1: &str = r#"
CREATE TABLE kv (
    namespace  TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
);

CREATE TABLE plugin_installs (
    id           TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    installed_at INTEGER NOT NULL
);

CREATE TABLE inbound_messages (
    channel     TEXT    NOT NULL,
    message_id  TEXT    NOT NULL,
    room_id     TEXT    NOT NULL,
    state       TEXT    NOT NULL
        CHECK (state IN ('received', 'processing', 'replied', 'skipped', 'failed')),
    reason      TEXT,
    created_at  INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel, message_id)
);
CREATE INDEX inbound_messages_by_state ON inbound_messages (channel, state, created_at);

CREATE TABLE cursors (
    channel    TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (channel, key)
);

CREATE TABLE outbound (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    channel            TEXT    NOT NULL,
    inbound_message_id TEXT,
    room_id            TEXT    NOT NULL,
    parent_id          TEXT,
    chunk_index        INTEGER NOT NULL,
    body               TEXT    NOT NULL,
    remote_message_id  TEXT,
    state              TEXT    NOT NULL
        CHECK (state IN ('pending', 'sent', 'unknown', 'failed')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    error              TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE UNIQUE INDEX outbound_chunk_of_inbound
    ON outbound (channel, inbound_message_id, chunk_index)
    WHERE inbound_message_id IS NOT NULL;
CREATE INDEX outbound_by_state ON outbound (channel, state, id);
"#;

/// Migration 2: pairing requests, approved identities, and agent session history.
const V2: &str = r#"
CREATE TABLE pairing_requests (
    channel      TEXT    NOT NULL,
    code         TEXT    NOT NULL,
    person_id    TEXT    NOT NULL,
    email        TEXT,
    display_name TEXT,
    requested_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    status       TEXT    NOT NULL
        CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    resolved_at  INTEGER,
    reply_sent   INTEGER NOT NULL DEFAULT 0,
    notified_at  INTEGER,
    PRIMARY KEY (channel, code)
);
CREATE UNIQUE INDEX pairing_requests_one_pending
    ON pairing_requests (channel, person_id)
    WHERE status = 'pending';
CREATE INDEX pairing_requests_by_status ON pairing_requests (channel, status, requested_at);

CREATE TABLE approved_identities (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    channel        TEXT    NOT NULL,
    person_id      TEXT,
    email          TEXT,
    display_name   TEXT,
    approved_at    INTEGER NOT NULL,
    source         TEXT    NOT NULL,
    request_code   TEXT,
    notify_pending INTEGER NOT NULL DEFAULT 0,
    notified_at    INTEGER,
    CHECK (person_id IS NOT NULL OR email IS NOT NULL)
);
CREATE UNIQUE INDEX approved_identities_by_person
    ON approved_identities (channel, person_id)
    WHERE person_id IS NOT NULL;
CREATE UNIQUE INDEX approved_identities_by_email
    ON approved_identities (channel, email)
    WHERE email IS NOT NULL;
CREATE INDEX approved_identities_to_notify
    ON approved_identities (channel, notify_pending);

CREATE TABLE session_turns (
    session_key TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('user', 'assistant')),
    text        TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (session_key, seq)
);
"#;

/// Migration 3: the ledger model (issue 11). Inbound messages become the ledger (attempts, next
/// attempt, lease owner and expiry, deferred-answer flag), outbound chunks become typed outbox
/// operations with their bodies in a table of their own (rows that change often stay small),
/// session turns carry their author, named leases for singletons, and tables keyed by text lose
/// their needless rowid. The ledger keeps a rowid: rows are appended in arrival order (one leaf
/// written per claim), while its long random message ids live in a narrower index.
const V3: &str = r#"
CREATE TABLE ledger (
    id              INTEGER PRIMARY KEY,
    channel         TEXT    NOT NULL,
    message_id      TEXT    NOT NULL,
    room_id         TEXT    NOT NULL,
    state           TEXT    NOT NULL
        CHECK (state IN ('received', 'processing', 'replied', 'skipped', 'failed')),
    reason          TEXT,
    created_at      INTEGER NOT NULL,
    received_at     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    owner           TEXT,
    lease_until     INTEGER NOT NULL DEFAULT 0,
    deferred        INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX ledger_by_message ON ledger (channel, message_id);
CREATE INDEX ledger_pending ON ledger (channel, next_attempt_at)
    WHERE state IN ('received', 'processing');
INSERT INTO ledger (channel, message_id, room_id, state, reason, created_at, received_at,
                    updated_at, attempts)
    SELECT channel, message_id, room_id, state, reason, created_at, received_at, updated_at,
           attempts
    FROM inbound_messages;
DROP TABLE inbound_messages;

CREATE TABLE outbox (
    id                 INTEGER PRIMARY KEY,
    channel            TEXT    NOT NULL,
    inbound_message_id TEXT,
    room_id            TEXT    NOT NULL,
    parent_id          TEXT,
    part_index         INTEGER NOT NULL,
    op                 TEXT    NOT NULL CHECK (op IN ('create', 'edit', 'delete', 'upload')),
    part               TEXT    NOT NULL CHECK (part IN ('text', 'file', 'card')),
    target_id          TEXT,
    remote_message_id  TEXT,
    state              TEXT    NOT NULL
        CHECK (state IN ('pending', 'sent', 'unknown', 'failed')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    error              TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE UNIQUE INDEX outbox_part_of_inbound
    ON outbox (channel, inbound_message_id, part_index)
    WHERE inbound_message_id IS NOT NULL;
CREATE TABLE outbox_bodies (
    op_id INTEGER PRIMARY KEY,
    body  TEXT NOT NULL
);
INSERT INTO outbox (id, channel, inbound_message_id, room_id, parent_id, part_index, op, part,
                    remote_message_id, state, attempts, error, created_at, updated_at)
    SELECT id, channel, inbound_message_id, room_id, parent_id, chunk_index, 'create', 'text',
           remote_message_id, state, attempts, error, created_at, updated_at
    FROM outbound;
INSERT INTO outbox_bodies (op_id, body) SELECT id, body FROM outbound;
DROP TABLE outbound;

CREATE TABLE session_turns_v3 (
    session_key TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('user', 'assistant')),
    text        TEXT    NOT NULL,
    author_id   TEXT,
    author_name TEXT,
    author_email TEXT,
    at          INTEGER NOT NULL,
    PRIMARY KEY (session_key, seq)
) WITHOUT ROWID;
INSERT INTO session_turns_v3 (session_key, seq, role, text, at)
    SELECT session_key, seq, role, text, at FROM session_turns;
DROP TABLE session_turns;
ALTER TABLE session_turns_v3 RENAME TO session_turns;

CREATE TABLE kv_v3 (
    namespace  TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
INSERT INTO kv_v3 SELECT namespace, key, value, updated_at FROM kv;
DROP TABLE kv;
ALTER TABLE kv_v3 RENAME TO kv;

CREATE TABLE cursors_v3 (
    channel    TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (channel, key)
) WITHOUT ROWID;
INSERT INTO cursors_v3 SELECT channel, key, value, updated_at FROM cursors;
DROP TABLE cursors;
ALTER TABLE cursors_v3 RENAME TO cursors;

CREATE TABLE leases (
    name        TEXT    NOT NULL PRIMARY KEY,
    owner       TEXT    NOT NULL,
    token       INTEGER NOT NULL,
    lease_until INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// Migration 4: polls and their votes (one vote per person and poll, replaced when changed).
const V4: &str = r#"
CREATE TABLE polls (
    id           TEXT    NOT NULL PRIMARY KEY,
    channel      TEXT    NOT NULL,
    room_id      TEXT    NOT NULL,
    question     TEXT    NOT NULL,
    options      TEXT    NOT NULL,
    multiple     INTEGER NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    closes_at    INTEGER,
    closed_at    INTEGER,
    announced_at INTEGER
) WITHOUT ROWID;
CREATE INDEX polls_open ON polls (channel, closes_at) WHERE closed_at IS NULL;
CREATE INDEX polls_to_announce ON polls (channel, closed_at)
    WHERE closed_at IS NOT NULL AND announced_at IS NULL;

CREATE TABLE poll_votes (
    poll_id   TEXT    NOT NULL,
    person_id TEXT    NOT NULL,
    choices   TEXT    NOT NULL,
    voted_at  INTEGER NOT NULL,
    PRIMARY KEY (poll_id, person_id)
) WITHOUT ROWID;
"#;

/// Migration 5: the message that carries a poll's card (a vote counts only when submitted on
/// it), found by channel and message id.
const V5: &str = r#"
ALTER TABLE polls ADD COLUMN card_message_id TEXT;
CREATE INDEX polls_by_card ON polls (channel, card_message_id) WHERE card_message_id IS NOT NULL;
"#;

/// Migration 6: the `ledger` and `outbox` tables rebuilt with their `CHECK` constraints written
/// as `OR`s of equalities instead of `IN (...)` lists (the same rules). SQLite evaluates a
/// constant `IN` list of more than two values through a temporary b-tree, opened and freed
/// for every row written: the message path paid four of them per message (the claim, the
/// state changes and the outbox row's three checks), about 5% of the gateway's instructions
/// per message (callgrind). Columns, rows, ids and indexes are kept as they were.
const V6: &str = r#"
CREATE TABLE ledger_v6 (
    id              INTEGER PRIMARY KEY,
    channel         TEXT    NOT NULL,
    message_id      TEXT    NOT NULL,
    room_id         TEXT    NOT NULL,
    state           TEXT    NOT NULL
        CHECK (state = 'received' OR state = 'processing' OR state = 'replied'
               OR state = 'skipped' OR state = 'failed'),
    reason          TEXT,
    created_at      INTEGER NOT NULL,
    received_at     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    owner           TEXT,
    lease_until     INTEGER NOT NULL DEFAULT 0,
    deferred        INTEGER NOT NULL DEFAULT 0
);
INSERT INTO ledger_v6 (id, channel, message_id, room_id, state, reason, created_at,
                       received_at, updated_at, attempts, next_attempt_at, owner, lease_until,
                       deferred)
    SELECT id, channel, message_id, room_id, state, reason, created_at, received_at,
           updated_at, attempts, next_attempt_at, owner, lease_until, deferred
    FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_v6 RENAME TO ledger;
CREATE UNIQUE INDEX ledger_by_message ON ledger (channel, message_id);
CREATE INDEX ledger_pending ON ledger (channel, next_attempt_at)
    WHERE state IN ('received', 'processing');

CREATE TABLE outbox_v6 (
    id                 INTEGER PRIMARY KEY,
    channel            TEXT    NOT NULL,
    inbound_message_id TEXT,
    room_id            TEXT    NOT NULL,
    parent_id          TEXT,
    part_index         INTEGER NOT NULL,
    op                 TEXT    NOT NULL
        CHECK (op = 'create' OR op = 'edit' OR op = 'delete' OR op = 'upload'),
    part               TEXT    NOT NULL CHECK (part = 'text' OR part = 'file' OR part = 'card'),
    target_id          TEXT,
    remote_message_id  TEXT,
    state              TEXT    NOT NULL
        CHECK (state = 'pending' OR state = 'sent' OR state = 'unknown' OR state = 'failed'),
    attempts           INTEGER NOT NULL DEFAULT 0,
    error              TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
INSERT INTO outbox_v6 (id, channel, inbound_message_id, room_id, parent_id, part_index, op,
                       part, target_id, remote_message_id, state, attempts, error, created_at,
                       updated_at)
    SELECT id, channel, inbound_message_id, room_id, parent_id, part_index, op, part,
           target_id, remote_message_id, state, attempts, error, created_at, updated_at
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v6 RENAME TO outbox;
CREATE UNIQUE INDEX outbox_part_of_inbound
    ON outbox (channel, inbound_message_id, part_index)
    WHERE inbound_message_id IS NOT NULL;
"#;

/// Migration 7: compact session turns. A turn row repeated its session's key (~85 bytes for a
/// Webex DM) and its author's id, name and email (~120 bytes): ~300 bytes a row, three to a
/// 1 KiB page, so appending two turns and trimming the oldest split and merged pages (about
/// half the WAL frames of the "agent answered" commit). Sessions and authors get tables of
/// their own with integer ids the turns refer to: `sessions` (one row per key, kept when the
/// session is cleared), `session_authors` (one row per distinct id, name and email seen on a
/// turn, `''` for an unknown name or email, so a person who changes their display name gets a
/// second row and older turns keep the name they had). The turn rows keep their `seq`, `role`,
/// `text` and `at`. There are no `FOREIGN KEY` clauses: the connections run with
/// `foreign_keys` on, and the checks would cost every write; the code keeps the references
/// (`store/sqlite/sessions.rs`: a session's and an author's row are written before the turns
/// that refer to them, and neither is ever deleted).
const V7: &str = r#"
CREATE TABLE sessions (
    id  INTEGER PRIMARY KEY,
    key TEXT    NOT NULL UNIQUE
);
INSERT INTO sessions (key)
    SELECT DISTINCT session_key FROM session_turns ORDER BY session_key;

CREATE TABLE session_authors (
    id           INTEGER PRIMARY KEY,
    author_id    TEXT    NOT NULL,
    author_name  TEXT    NOT NULL DEFAULT '',
    author_email TEXT    NOT NULL DEFAULT '',
    UNIQUE (author_id, author_name, author_email)
);
INSERT INTO session_authors (author_id, author_name, author_email)
    SELECT DISTINCT author_id, COALESCE(author_name, ''), COALESCE(author_email, '')
    FROM session_turns WHERE author_id IS NOT NULL
    ORDER BY 1, 2, 3;

CREATE TABLE session_turns_v7 (
    session INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    role    TEXT    NOT NULL CHECK (role = 'user' OR role = 'assistant'),
    text    TEXT    NOT NULL,
    author  INTEGER,
    at      INTEGER NOT NULL,
    PRIMARY KEY (session, seq)
) WITHOUT ROWID;
INSERT INTO session_turns_v7 (session, seq, role, text, author, at)
    SELECT s.id, t.seq, t.role, t.text, a.id, t.at
    FROM session_turns t
    JOIN sessions s ON s.key = t.session_key
    LEFT JOIN session_authors a
        ON a.author_id = t.author_id
       AND a.author_name = COALESCE(t.author_name, '')
       AND a.author_email = COALESCE(t.author_email, '');
DROP TABLE session_turns;
ALTER TABLE session_turns_v7 RENAME TO session_turns;
"#;

/// The ordered migration scripts; the schema version is the number applied.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// The schema version this build writes (the number of [`MIGRATIONS`]).
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Reads `PRAGMA user_version`.
pub fn schema_version(conn: &Connection) -> Result<u32, StoreError> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    // A negative or huge user_version was not written by us: treat it as "too new".
    Ok(u32::try_from(v).unwrap_or(u32::MAX))
}

/// Applies the pending scripts of `migrations` in one immediate transaction and returns the
/// resulting version. Fails with [`StoreError::TooNew`] if the store is ahead of `migrations`.
pub fn apply(conn: &mut Connection, migrations: &[&str]) -> Result<u32, StoreError> {
    let supported = u32::try_from(migrations.len()).unwrap_or(u32::MAX);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = schema_version(&tx)?;
    if found > supported {
        return Err(StoreError::TooNew { found, supported });
    }
    let upgrading = found > 0 && found < supported;
    if upgrading && gateway_running(&tx)? {
        // An older gateway works on this file: upgrading it under that gateway would break it.
        return Err(StoreError::UpgradeWhileRunning {
            found,
            supported,
            backup: "<state>/state/moltbot.sqlite",
        });
    }
    let started = std::time::Instant::now();
    if upgrading {
        tracing::info!(
            from = found,
            to = supported,
            "upgrading the state store schema (a large store takes a while and needs free space about its size)"
        );
    }
    for (index, script) in migrations.iter().enumerate().skip(found as usize) {
        tx.execute_batch(script)?;
        // PRAGMA does not take bound parameters; the value is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1))?;
    }
    tx.commit()?;
    if upgrading {
        tracing::info!(to = supported, took = ?started.elapsed(), "state store schema upgraded");
    }
    Ok(supported)
}

/// Whether a gateway's heartbeat in the store is fresh (see [`crate::gateway::heartbeat`]).
fn gateway_running(conn: &Connection) -> Result<bool, StoreError> {
    use crate::gateway::heartbeat::{is_fresh, KEY, NAMESPACE};
    use rusqlite::OptionalExtension as _;
    let has_kv: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kv')",
        [],
        |r| r.get(0),
    )?;
    if !has_kv {
        return Ok(false);
    }
    let beat: Option<String> = conn
        .query_row(
            "SELECT value FROM kv WHERE namespace = ?1 AND key = ?2",
            rusqlite::params![NAMESPACE, KEY],
            |r| r.get(0),
        )
        .optional()?;
    let now = crate::store::SystemClock.now_ms();
    Ok(is_fresh(beat.and_then(|b| b.trim().parse().ok()), now))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rusqlite::params;

    use super::*;
    use crate::agent::{SenderInfo, Turn};
    use crate::store::{
        InboundState, ManualClock, OutboxOpKind, OutboxPart, OutboxPartKind, OutboxReply,
        OutboxState, SessionAppend, Store,
    };

    fn scratch() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("m.sqlite")).unwrap();
        (dir, conn)
    }

    #[test]
    fn the_schema_version_is_the_number_of_scripts() {
        assert_eq!(SCHEMA_VERSION as usize, MIGRATIONS.len());
        let (_dir, mut conn) = scratch();
        assert_eq!(schema_version(&conn).unwrap(), 0);
        assert_eq!(apply(&mut conn, MIGRATIONS).unwrap(), SCHEMA_VERSION);
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_version_5_store_keeps_its_rows_and_rules_at_version_6() {
        let (_dir, mut conn) = scratch();
        assert_eq!(apply(&mut conn, &MIGRATIONS[..5]).unwrap(), 5);
        conn.execute_batch(
            "INSERT INTO ledger (id, channel, message_id, room_id, state, reason, created_at,
                                 received_at, updated_at, attempts, next_attempt_at, owner,
                                 lease_until, deferred)
                 VALUES (7, 'webex', 'm1', 'r1', 'processing', 'why', 1, 2, 3, 4, 5, 'n/i', 6, 1);
             INSERT INTO outbox (id, channel, inbound_message_id, room_id, parent_id, part_index,
                                 op, part, target_id, remote_message_id, state, attempts, error,
                                 created_at, updated_at)
                 VALUES (9, 'webex', 'm1', 'r1', 'p', 0, 'edit', 'card', 't', 'rm', 'unknown', 2,
                         'e', 10, 11);
             INSERT INTO outbox_bodies (op_id, body) VALUES (9, 'hello');",
        )
        .unwrap();
        assert_eq!(apply(&mut conn, &MIGRATIONS[..6]).unwrap(), 6);
        // Each row as one text, column by column.
        let row = |sql: &str| -> String { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            row(
                "SELECT concat_ws('|', id, message_id, state, attempts, owner, lease_until,
                                   deferred) FROM ledger"
            ),
            "7|m1|processing|4|n/i|6|1"
        );
        assert_eq!(
            row(
                "SELECT concat_ws('|', o.id, o.op, o.part, o.state, o.target_id, b.body)
                 FROM outbox o JOIN outbox_bodies b ON b.op_id = o.id"
            ),
            "9|edit|card|unknown|t|hello"
        );
        // The same rules: a state, operation or part outside the lists is refused.
        for bad in [
            "UPDATE ledger SET state = 'lost'",
            "UPDATE outbox SET state = 'gone'",
            "UPDATE outbox SET op = 'move'",
            "UPDATE outbox SET part = 'poll'",
        ] {
            let err = conn.execute(bad, []).unwrap_err().to_string();
            assert!(err.contains("CHECK constraint failed"), "{bad}: {err}");
        }
        // The indexes are back: a second row for the same message or part is refused.
        assert!(conn
            .execute(
                "INSERT INTO ledger (channel, message_id, room_id, state, created_at,
                                     received_at, updated_at)
                 VALUES ('webex', 'm1', 'r1', 'received', 1, 1, 1)",
                [],
            )
            .is_err());
        let indexes: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index'
                   AND tbl_name IN ('ledger', 'outbox') AND sql IS NOT NULL ORDER BY name",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            indexes,
            [
                "ledger_by_message",
                "ledger_pending",
                "outbox_part_of_inbound"
            ]
        );
    }

    #[test]
    fn the_message_paths_writes_open_no_temporary_b_tree() {
        // SQLite codes a constant IN list of more than two values as a temporary b-tree
        // (`OpenEphemeral`), opened and freed per row: the schema's CHECKs must not need one.
        let (_dir, mut conn) = scratch();
        apply(&mut conn, MIGRATIONS).unwrap();
        let writes = [
            "INSERT INTO ledger (channel, message_id, room_id, state, created_at, received_at,
                                 updated_at, attempts, owner, lease_until)
                 VALUES (?1, ?2, ?3, 'received', ?4, ?5, ?5, 1, ?6, ?7)
                 ON CONFLICT (channel, message_id) DO NOTHING",
            "UPDATE ledger SET state = ?3, reason = ?4, updated_at = ?5, lease_until = 0
                 WHERE channel = ?1 AND message_id = ?2",
            "INSERT INTO outbox (channel, inbound_message_id, room_id, parent_id, part_index, op,
                                 part, target_id, state, attempts, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10, ?10)",
            "UPDATE outbox SET state = 'sent', remote_message_id = ?2, error = NULL,
                 updated_at = ?3 WHERE id = ?1",
        ];
        // The session's statements run in the "answered" unit of every message.
        for sql in writes.iter().chain(super::super::sessions::STATEMENTS) {
            let mut explain = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
            let nulls = std::iter::repeat_n(rusqlite::types::Null, explain.parameter_count());
            let opcodes: Vec<String> = explain
                .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(1))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(
                !opcodes.iter().any(|op| op == "OpenEphemeral"),
                "{sql}: {opcodes:?}"
            );
        }
    }

    #[test]
    fn the_session_statements_look_rows_up_by_key() {
        // Every session statement of the message path finds its rows through a key (no scan of
        // a table, no sort): their cost does not grow with the number of sessions or turns.
        let (_dir, mut conn) = scratch();
        apply(&mut conn, MIGRATIONS).unwrap();
        for sql in super::super::sessions::STATEMENTS {
            let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let nulls = std::iter::repeat_n(rusqlite::types::Null, explain.parameter_count());
            let plan: Vec<String> = explain
                .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            for step in &plan {
                assert!(
                    step.starts_with("SEARCH ")
                        || step.starts_with("SCALAR SUBQUERY")
                        || step.starts_with("CORRELATED SCALAR SUBQUERY"),
                    "{sql}: {plan:?}"
                );
            }
        }
    }

    /// A version-6 store (turns of two sessions, one person under two display names, an
    /// assistant turn, a turn with no author) reads back the same through the store at 7.
    #[tokio::test]
    async fn a_version_6_store_keeps_every_session_turn_at_version_7() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("moltbot.sqlite");
        let dm = "webex:dm:Y2lzY29zcGFyazovL3VzL1BFT1BMRS9hbm4";
        let room = "webex:group:Y2lzY29zcGFyazovL3VzL1JPT00vcm9vbQ";
        {
            let mut conn = Connection::open(&path).unwrap();
            assert_eq!(apply(&mut conn, &MIGRATIONS[..6]).unwrap(), 6);
            let turn = "INSERT INTO session_turns (session_key, seq, role, text, author_id,
                            author_name, author_email, at)
                        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
            let (ann, email) = (Some("p-ann"), Some("ann@example.com"));
            let none = None::<&str>;
            let insert = |key: &str, seq: i64, role: &str, text: &str, author, name, at: i64| {
                let email = if author == ann { email } else { none };
                conn.execute(turn, params![key, seq, role, text, author, name, email, at])
                    .unwrap();
            };
            insert(dm, 3, "user", "hello", ann, Some("Ann"), 10);
            insert(dm, 4, "assistant", "hi Ann", none, none, 11);
            insert(dm, 5, "user", "call me Annie", ann, Some("Annie"), 12);
            insert(room, 1, "user", "lunch?", ann, Some("Ann"), 20);
            insert(room, 2, "user", "pizza", Some("p-bob"), none, 21);
            insert(room, 3, "user", "from nobody known", none, none, 22);
            insert(room, 4, "assistant", "pizza it is", none, none, 23);
        }

        let store = Store::open_with_clock(&path, Arc::new(ManualClock::new(1_000))).unwrap();
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
        const { assert!(SCHEMA_VERSION >= 7) };
        let sender = |id: &str, name: Option<&str>, email: Option<&str>| SenderInfo {
            id: id.into(),
            display_name: name.map(str::to_owned),
            email: email.map(str::to_owned),
        };
        let ann = sender("p-ann", Some("Ann"), Some("ann@example.com"));
        let annie = sender("p-ann", Some("Annie"), Some("ann@example.com"));
        let sessions = store.sessions();
        assert_eq!(
            sessions.history(dm, 10).await.unwrap(),
            [
                Turn::user_by("hello", ann.clone()),
                Turn::assistant("hi Ann"),
                Turn::user_by("call me Annie", annie.clone()),
            ]
        );
        assert_eq!(
            sessions.history(room, 10).await.unwrap(),
            [
                Turn::user_by("lunch?", ann.clone()),
                Turn::user_by("pizza", sender("p-bob", None, None)),
                Turn::user("from nobody known"),
                Turn::assistant("pizza it is"),
            ]
        );

        let conn = Connection::open(&path).unwrap();
        // Each row as one text, column by column: the keys and authors once each, the turns
        // with their numbers and times.
        assert_eq!(
            rows_of(
                &conn,
                "SELECT concat_ws('|', id, key) FROM sessions ORDER BY id"
            ),
            [format!("1|{dm}"), format!("2|{room}")]
        );
        assert_eq!(
            rows_of(
                &conn,
                "SELECT concat_ws('|', id, author_id, author_name, author_email)
                 FROM session_authors ORDER BY id"
            ),
            [
                "1|p-ann|Ann|ann@example.com",
                "2|p-ann|Annie|ann@example.com",
                "3|p-bob||"
            ]
        );
        assert_eq!(
            rows_of(
                &conn,
                "SELECT concat_ws('|', session, seq, role, author, at) FROM session_turns
                 ORDER BY session, seq"
            ),
            [
                "1|3|user|1|10",
                "1|4|assistant|11",
                "1|5|user|2|12",
                "2|1|user|1|20",
                "2|2|user|3|21",
                "2|3|user|22",
                "2|4|assistant|23"
            ]
        );
        // A role outside the two is refused, as before.
        let err = conn
            .execute("UPDATE session_turns SET role = 'system'", [])
            .unwrap_err()
            .to_string();
        assert!(err.contains("CHECK constraint failed"), "{err}");
        let old: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'session_turns_v7'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old, 0);
        drop(conn);

        // Numbering continues after the migrated turns; a known author is found, not added
        // again, and new ids follow the migrated ones.
        sessions
            .append(&SessionAppend {
                session: dm.into(),
                turns: vec![
                    Turn::user_by("again", annie.clone()),
                    Turn::assistant("yes?"),
                ],
                keep_turns: 3,
            })
            .await
            .unwrap();
        sessions
            .append(&SessionAppend {
                session: "webex:dm:new".into(),
                turns: vec![Turn::user_by("first", sender("p-cy", Some("Cy"), None))],
                keep_turns: 3,
            })
            .await
            .unwrap();
        assert_eq!(
            sessions.history(dm, 10).await.unwrap(),
            [
                Turn::user_by("call me Annie", annie.clone()),
                Turn::user_by("again", annie),
                Turn::assistant("yes?"),
            ]
        );
        let conn = Connection::open(&path).unwrap();
        assert_eq!(
            rows_of(
                &conn,
                "SELECT concat_ws('|', id, key) FROM sessions WHERE id > 2"
            ),
            ["3|webex:dm:new"]
        );
        assert_eq!(
            rows_of(
                &conn,
                "SELECT concat_ws('|', id, author_id, author_name) FROM session_authors
                 WHERE id > 3"
            ),
            ["4|p-cy|Cy"]
        );
        assert_eq!(
            rows_of(
                &conn,
                "SELECT concat_ws('|', seq, role, author) FROM session_turns WHERE session = 1
                 ORDER BY seq"
            ),
            ["5|user|2", "6|user|2", "7|assistant"]
        );
    }

    fn rows_of(conn: &Connection, sql: &str) -> Vec<String> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn migrations_apply_in_order_and_only_once() {
        let (_dir, mut conn) = scratch();
        let first = ["CREATE TABLE a (x INTEGER)", "CREATE TABLE b (y INTEGER)"];
        assert_eq!(apply(&mut conn, &first).unwrap(), 2);
        assert_eq!(schema_version(&conn).unwrap(), 2);
        // Same list again: nothing to do (plain CREATE TABLE would fail if re-run).
        assert_eq!(apply(&mut conn, &first).unwrap(), 2);

        // Only the new script runs, after the others (it needs table b).
        let extended = [first[0], first[1], "ALTER TABLE b ADD COLUMN z TEXT"];
        assert_eq!(apply(&mut conn, &extended).unwrap(), 3);
        conn.execute("INSERT INTO b (y, z) VALUES (1, 'z')", [])
            .unwrap();
        assert!(matches!(
            apply(&mut conn, &first),
            Err(StoreError::TooNew {
                found: 3,
                supported: 2
            })
        ));
        assert_eq!(schema_version(&conn).unwrap(), 3);
    }

    #[test]
    fn a_failing_migration_leaves_the_store_untouched() {
        let (_dir, mut conn) = scratch();
        apply(&mut conn, &["CREATE TABLE keep (x INTEGER)"]).unwrap();
        conn.execute("INSERT INTO keep (x) VALUES (7)", []).unwrap();
        let broken = [
            "CREATE TABLE keep (x INTEGER)",
            "CREATE TABLE a (x INTEGER); DELETE FROM keep",
            "THIS IS NOT SQL",
        ];
        let err = apply(&mut conn, &broken).unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
        assert_eq!(schema_version(&conn).unwrap(), 1);
        let a_exists: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            a_exists, 0,
            "the scripts before the failing one were rolled back too"
        );
        let kept: i64 = conn
            .query_row("SELECT x FROM keep", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 7);
    }

    /// A store written by the previous release (schema 2, with data in every table the ledger
    /// model rebuilds) opens with its data readable through the current API.
    #[tokio::test]
    async fn a_version_2_store_keeps_its_rows_at_version_3() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("moltbot.sqlite");
        {
            let mut conn = Connection::open(&path).unwrap();
            assert_eq!(apply(&mut conn, &MIGRATIONS[..2]).unwrap(), 2);
            let inbound = "INSERT INTO inbound_messages (channel, message_id, room_id, state,
                 reason, created_at, received_at, updated_at, attempts)
                 VALUES (?1, ?2, 'room-1', ?3, ?4, ?5, ?6, ?7, ?8)";
            conn.execute(
                inbound,
                params![
                    "chat",
                    "m-new",
                    "received",
                    None::<String>,
                    100,
                    110,
                    110,
                    0
                ],
            )
            .unwrap();
            conn.execute(
                inbound,
                params![
                    "chat",
                    "m-mid",
                    "processing",
                    None::<String>,
                    200,
                    210,
                    220,
                    2
                ],
            )
            .unwrap();
            conn.execute(
                inbound,
                params!["chat", "m-done", "skipped", Some("policy"), 50, 60, 70, 1],
            )
            .unwrap();
            let outbound = "INSERT INTO outbound (channel, inbound_message_id, room_id, parent_id,
                 chunk_index, body, remote_message_id, state, attempts, error, created_at,
                 updated_at) VALUES ('chat', 'm-mid', 'room-1', 'p-1', ?1, ?2, ?3, ?4, ?5,
                 NULL, 230, ?6)";
            conn.execute(
                outbound,
                params![0, "first", Some("remote-0"), "sent", 1, 240],
            )
            .unwrap();
            conn.execute(
                outbound,
                params![1, "second", None::<String>, "pending", 1, 240],
            )
            .unwrap();
            for (seq, role, text) in [(1, "user", "hello"), (2, "assistant", "hi")] {
                conn.execute(
                    "INSERT INTO session_turns (session_key, seq, role, text, at)
                     VALUES ('chat:dm:ann', ?1, ?2, ?3, 300)",
                    params![seq, role, text],
                )
                .unwrap();
            }
            conn.execute(
                "INSERT INTO kv (namespace, key, value, updated_at)
                 VALUES ('webhook', 'secret', 's3cret', 400)",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO cursors (channel, key, value, updated_at)
                 VALUES ('chat', 'room-1', '2026-01-01T00:00:00Z', 500)",
                [],
            )
            .unwrap();
        }

        let clock = ManualClock::new(1_000);
        let store = Store::open_with_clock(&path, Arc::new(clock.clone())).unwrap();
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
        const { assert!(SCHEMA_VERSION >= 3) };

        let ledger = store.ledger();
        let mid = ledger.get("chat", "m-mid").await.unwrap().unwrap();
        assert_eq!(mid.state, InboundState::Processing);
        assert_eq!(
            (
                mid.created_at,
                mid.received_at,
                mid.updated_at,
                mid.attempts
            ),
            (200, 210, 220, 2)
        );
        assert_eq!(
            (mid.owner, mid.lease_until, mid.next_attempt_at),
            (None, 0, 0)
        );
        assert!(!mid.deferred);
        let done = ledger.get("chat", "m-done").await.unwrap().unwrap();
        assert_eq!(
            (done.state, done.reason.as_deref()),
            (InboundState::Skipped, Some("policy"))
        );
        assert_eq!(ledger.count("chat", None).await.unwrap(), 3);
        // Migrated pending messages hold no lease: the re-drive finds them, anyone may take them.
        let due: Vec<String> = ledger
            .due("chat", 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.message_id)
            .collect();
        assert_eq!(due, ["m-new", "m-mid"]);
        let taken = ledger
            .take("chat", "m-new", "node/1", None, 30_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((taken.attempts, taken.lease_until), (1, 31_000));

        let ops = store.outbox().for_inbound("chat", "m-mid").await.unwrap();
        assert_eq!(
            ops.iter()
                .map(|o| (
                    o.part_index,
                    o.op,
                    o.part,
                    o.body.as_str(),
                    o.state,
                    o.attempts,
                    o.remote_message_id.as_deref(),
                ))
                .collect::<Vec<_>>(),
            [
                (
                    0,
                    OutboxOpKind::Create,
                    OutboxPartKind::Text,
                    "first",
                    OutboxState::Sent,
                    1,
                    Some("remote-0")
                ),
                (
                    1,
                    OutboxOpKind::Create,
                    OutboxPartKind::Text,
                    "second",
                    OutboxState::Pending,
                    1,
                    None
                ),
            ]
        );
        assert!(ops.iter().all(|o| o.parent_id.as_deref() == Some("p-1")));
        assert_eq!(store.outbox().pending("chat").await.unwrap(), ops[1..]);
        // New operations get new ids.
        let new = store
            .outbox()
            .enqueue(&OutboxReply {
                channel: "chat".into(),
                inbound_message_id: None,
                room_id: "room-1".into(),
                parent_id: None,
                parts: vec![OutboxPart::text("proactive")],
            })
            .await
            .unwrap();
        assert!(new[0].id > ops[1].id);

        let sessions = store.sessions();
        assert_eq!(
            sessions.history("chat:dm:ann", 10).await.unwrap(),
            [Turn::user("hello"), Turn::assistant("hi")]
        );
        // Numbering continues after the migrated turns.
        sessions
            .append(&SessionAppend {
                session: "chat:dm:ann".into(),
                turns: vec![Turn::user("again")],
                keep_turns: 10,
            })
            .await
            .unwrap();
        assert_eq!(
            sessions.history("chat:dm:ann", 10).await.unwrap(),
            [
                Turn::user("hello"),
                Turn::assistant("hi"),
                Turn::user("again")
            ]
        );

        assert_eq!(
            store
                .kv()
                .get("webhook", "secret")
                .await
                .unwrap()
                .as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            store
                .cursors()
                .get("chat", "room-1")
                .await
                .unwrap()
                .as_deref(),
            Some("2026-01-01T00:00:00Z")
        );

        // The tables of schema 2 that the ledger model replaced are gone.
        let conn = Connection::open(&path).unwrap();
        let old: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master
                 WHERE name IN ('inbound_messages', 'outbound', 'session_turns_v3', 'kv_v3',
                                'cursors_v3')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old, 0);
    }

    fn version_2_store_with_heartbeat(beat_ms: i64) -> (tempfile::TempDir, std::path::PathBuf) {
        let (dir, mut conn) = scratch();
        let path = dir.path().join("m.sqlite");
        assert_eq!(apply(&mut conn, &MIGRATIONS[..2]).unwrap(), 2);
        conn.execute(
            "INSERT INTO kv (namespace, key, value, updated_at) VALUES ('gateway', 'heartbeat', ?1, ?1)",
            params![beat_ms.to_string()],
        )
        .unwrap();
        drop(conn);
        (dir, path)
    }

    #[test]
    fn an_upgrade_under_a_running_older_gateway_is_refused_and_changes_nothing() {
        let now = crate::store::SystemClock.now_ms();
        let (_dir, path) = version_2_store_with_heartbeat(now);
        let err = crate::store::Store::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::UpgradeWhileRunning { found: 2, supported, .. } if supported == SCHEMA_VERSION),
            "{err}"
        );
        assert!(err.to_string().contains("stop that gateway"), "{err}");
        let conn = Connection::open(&path).unwrap();
        assert_eq!(
            schema_version(&conn).unwrap(),
            2,
            "the store is left as it was"
        );
    }

    #[test]
    fn a_stale_heartbeat_does_not_block_the_upgrade() {
        let an_hour_ago = crate::store::SystemClock.now_ms() - 3_600_000;
        let (_dir, path) = version_2_store_with_heartbeat(an_hour_ago);
        crate::store::Store::open(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
    }
}
