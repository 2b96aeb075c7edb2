//! The store's tables as data, for what works on every row whatever the table: row counts
//! (`moltbot store status`) and copying a store to another backend (`moltbot store copy`).
//!
//! Both backends have these tables with these columns at [`SCHEMA_VERSION`](super::SCHEMA_VERSION)
//! (a migration that changes a table changes its entry here; a unit test of each backend checks
//! that every listed column exists). Rows move as [`Value`]s, so no backend type is involved.

/// How a column's values move between backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// A 64-bit integer (times in unix ms, counters, ids).
    Int,
    /// Text.
    Text,
    /// A flag (SQLite keeps it as 0/1, PostgreSQL as `boolean`).
    Bool,
}

/// One column of a [`Table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub ty: ColumnType,
}

/// One table of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// Its name.
    pub name: &'static str,
    /// Every column, in the order rows are read and written.
    pub columns: &'static [Column],
    /// How many of the first [`Table::columns`] make its primary key (rows are read in key
    /// order, page after page).
    pub key_len: usize,
    /// Whether its first column is an id the backend hands out (new ids must continue after
    /// the copied ones).
    pub generated_id: bool,
}

impl Table {
    /// The key columns.
    pub fn key(&self) -> &'static [Column] {
        &self.columns[..self.key_len]
    }

    /// The column names joined by `, `.
    pub fn column_list(&self) -> String {
        join(self.columns)
    }

    /// The key column names joined by `, `.
    pub fn key_list(&self) -> String {
        join(self.key())
    }
}

fn join(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value of one column of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// A flag.
    Bool(bool),
}

/// One row: a [`Value`] per column of its [`Table`], in order.
pub type Row = Vec<Value>;

const fn int(name: &'static str) -> Column {
    Column {
        name,
        ty: ColumnType::Int,
    }
}

const fn text(name: &'static str) -> Column {
    Column {
        name,
        ty: ColumnType::Text,
    }
}

const fn flag(name: &'static str) -> Column {
    Column {
        name,
        ty: ColumnType::Bool,
    }
}

/// Every table of the store (schema version 7), keys first, in the order a copy writes them.
pub const TABLES: &[Table] = &[
    Table {
        name: "kv",
        columns: &[
            text("namespace"),
            text("key"),
            text("value"),
            int("updated_at"),
        ],
        key_len: 2,
        generated_id: false,
    },
    Table {
        name: "plugin_installs",
        columns: &[
            text("id"),
            text("name"),
            text("version"),
            text("source"),
            int("installed_at"),
        ],
        key_len: 1,
        generated_id: false,
    },
    Table {
        name: "cursors",
        columns: &[
            text("channel"),
            text("key"),
            text("value"),
            int("updated_at"),
        ],
        key_len: 2,
        generated_id: false,
    },
    Table {
        name: "ledger",
        columns: &[
            int("id"),
            text("channel"),
            text("message_id"),
            text("room_id"),
            text("state"),
            text("reason"),
            int("created_at"),
            int("received_at"),
            int("updated_at"),
            int("attempts"),
            int("next_attempt_at"),
            text("owner"),
            int("lease_until"),
            flag("deferred"),
        ],
        key_len: 1,
        generated_id: true,
    },
    Table {
        name: "outbox",
        columns: &[
            int("id"),
            text("channel"),
            text("inbound_message_id"),
            text("room_id"),
            text("parent_id"),
            int("part_index"),
            text("op"),
            text("part"),
            text("target_id"),
            text("remote_message_id"),
            text("state"),
            int("attempts"),
            text("error"),
            int("created_at"),
            int("updated_at"),
        ],
        key_len: 1,
        generated_id: true,
    },
    Table {
        name: "outbox_bodies",
        columns: &[int("op_id"), text("body")],
        key_len: 1,
        generated_id: false,
    },
    Table {
        name: "pairing_requests",
        columns: &[
            text("channel"),
            text("code"),
            text("person_id"),
            text("email"),
            text("display_name"),
            int("requested_at"),
            int("expires_at"),
            text("status"),
            int("resolved_at"),
            flag("reply_sent"),
            int("notified_at"),
        ],
        key_len: 2,
        generated_id: false,
    },
    Table {
        name: "approved_identities",
        columns: &[
            int("id"),
            text("channel"),
            text("person_id"),
            text("email"),
            text("display_name"),
            int("approved_at"),
            text("source"),
            text("request_code"),
            flag("notify_pending"),
            int("notified_at"),
        ],
        key_len: 1,
        generated_id: true,
    },
    Table {
        name: "sessions",
        columns: &[int("id"), text("key")],
        key_len: 1,
        generated_id: true,
    },
    Table {
        name: "session_authors",
        columns: &[
            int("id"),
            text("author_id"),
            text("author_name"),
            text("author_email"),
        ],
        key_len: 1,
        generated_id: true,
    },
    // After the two tables its ids refer to, so a copy writes those first (no foreign key
    // checks the references today; one added later would need this order).
    Table {
        name: "session_turns",
        columns: &[
            int("session"),
            int("seq"),
            text("role"),
            text("text"),
            int("author"),
            int("at"),
        ],
        key_len: 2,
        generated_id: false,
    },
    Table {
        name: "leases",
        columns: &[
            text("name"),
            text("owner"),
            int("token"),
            int("lease_until"),
        ],
        key_len: 1,
        generated_id: false,
    },
    Table {
        name: "polls",
        columns: &[
            text("id"),
            text("channel"),
            text("room_id"),
            text("question"),
            text("options"),
            flag("multiple"),
            text("created_by"),
            int("created_at"),
            int("closes_at"),
            int("closed_at"),
            int("announced_at"),
            text("card_message_id"),
        ],
        key_len: 1,
        generated_id: false,
    },
    Table {
        name: "poll_votes",
        columns: &[
            text("poll_id"),
            text("person_id"),
            text("choices"),
            int("voted_at"),
        ],
        key_len: 2,
        generated_id: false,
    },
];

/// The table called `name`.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// Every table as rows, whatever the table (for row counts and copies); part of every
/// [`Backend`](super::Backend).
#[async_trait::async_trait]
pub trait TableRepo: Send + Sync {
    /// How many rows `table` holds.
    async fn count_rows(&self, table: &'static Table) -> Result<u64, super::StoreError>;

    /// Up to `limit` rows of `table` in key order, after the row whose key values are `after`
    /// (from the first row when `None`).
    async fn read_rows(
        &self,
        table: &'static Table,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Vec<Row>, super::StoreError>;

    /// Starts writing rows as they are (ids included) in one transaction, after deleting every
    /// row of every table first when `replace`.
    async fn begin_import(&self, replace: bool) -> Result<Box<dyn Import>, super::StoreError>;
}

/// Writes rows into a store as one transaction (see [`TableRepo::begin_import`]).
#[async_trait::async_trait]
pub trait Import: Send {
    /// Inserts `rows` (each a value per column of `table`, in order) as they are, ids included.
    async fn write(&mut self, table: &'static Table, rows: &[Row])
        -> Result<(), super::StoreError>;

    /// Commits everything written (and the emptying, if asked); backend-handed ids continue
    /// after the largest one written. Dropping the import instead rolls it all back.
    async fn commit(self: Box<Self>) -> Result<(), super::StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_a_key_and_unique_column_names() {
        for t in TABLES {
            assert!(t.key_len >= 1 && t.key_len <= t.columns.len(), "{}", t.name);
            let mut names: Vec<_> = t.columns.iter().map(|c| c.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), t.columns.len(), "{}", t.name);
            if t.generated_id {
                assert_eq!((t.columns[0].name, t.key_len), ("id", 1), "{}", t.name);
            }
        }
        assert_eq!(table("ledger").map(|t| t.key_list()), Some("id".to_owned()));
        assert_eq!(table("nope"), None);
    }
}
