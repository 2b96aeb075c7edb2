//! Versioned schema migrations, tracked with `PRAGMA user_version`.
//!
//! [`MIGRATIONS`] is append-only: migration `n` (1-based) is `MIGRATIONS[n - 1]`, and a store at
//! version `v` has had the first `v` scripts applied. To change the schema, add a new script at
//! the end; never edit one that has shipped. All pending scripts run in one `BEGIN IMMEDIATE`
//! transaction, so two processes opening a fresh store at once cannot both migrate it, and a
//! failed migration leaves the store as it was.

use rusqlite::{Connection, TransactionBehavior};

use crate::store::StoreError;

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
/// their needless rowid.
const V3: &str = r#"
CREATE TABLE ledger (
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
    deferred        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel, message_id)
) WITHOUT ROWID;
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
CREATE INDEX outbox_pending ON outbox (channel, id) WHERE state = 'pending';
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

/// The ordered migration scripts; the schema version is the number applied.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3];

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
    for (index, script) in migrations.iter().enumerate().skip(found as usize) {
        tx.execute_batch(script)?;
        // PRAGMA does not take bound parameters; the value is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1))?;
    }
    tx.commit()?;
    Ok(supported)
}
