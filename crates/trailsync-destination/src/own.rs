//! trailsync's own tables, kept beside the inventory in every destination, each declared once
//! here: its columns, key and indexes. Creation and later column additions are derived from the
//! declaration (a newer trailsync adds its new columns to an older database; it never drops).

use trailsync_catalog::ColumnType;

use crate::sql::{Dialect, Index, push_list, push_quoted};

/// One column of an own table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnColumn {
    pub name: &'static str,
    pub ty: ColumnType,
    /// `NOT NULL`, with this default for rows that predate the column (`None`: nullable).
    pub required: Option<&'static str>,
    pub description: &'static str,
}

const fn column(name: &'static str, ty: ColumnType, description: &'static str) -> OwnColumn {
    OwnColumn {
        name,
        ty,
        required: None,
        description,
    }
}

const fn required(
    name: &'static str,
    ty: ColumnType,
    default: &'static str,
    description: &'static str,
) -> OwnColumn {
    OwnColumn {
        name,
        ty,
        required: Some(default),
        description,
    }
}

/// A table of trailsync's own.
#[derive(Debug, PartialEq, Eq)]
pub struct OwnTable {
    pub name: &'static str,
    pub description: &'static str,
    pub columns: &'static [OwnColumn],
    pub primary_key: &'static [&'static str],
    /// Secondary indexes: (suffix of the index name, columns).
    pub indexes: &'static [(&'static str, &'static [&'static str])],
    /// Meant to be queried by users (listed by `trailsync tables`), rather than bookkeeping.
    pub public: bool,
}

use ColumnType::{BigInt, Text, Timestamp};

/// Each shard's checkpoint and lease: the committed position, and who reads the shard.
pub const CHECKPOINTS: OwnTable = OwnTable {
    name: "_trailsync_checkpoints",
    description: "Each shard's committed position and lease (owner, epoch, expiry).",
    columns: &[
        required("source_name", Text, "''", "The source reading the stream."),
        required("stream_arn", Text, "''", "The Kinesis stream."),
        required("shard_id", Text, "''", "The shard."),
        required(
            "sequence_number",
            Text,
            "''",
            "The committed position: a sequence number (records up to it are applied), at:TIME or trim_horizon.",
        ),
        required(
            "updated_at",
            Timestamp,
            "'1970-01-01T00:00:00Z'",
            "When the position last moved.",
        ),
        required(
            "epoch",
            BigInt,
            "0",
            "Bumped on every change of owner; a checkpoint written with an older epoch is refused.",
        ),
        column(
            "owner",
            Text,
            "The worker holding the lease (host:pid:id); NULL once released.",
        ),
        column(
            "lease_expires_ms",
            BigInt,
            "When the lease expires unless renewed, in Unix milliseconds by the database's clock.",
        ),
        column(
            "parent_shards",
            Text,
            "The shard's parents, comma-separated: they are read to their end first.",
        ),
        column(
            "millis_behind",
            BigInt,
            "How far behind the stream's tip the reader last was (MillisBehindLatest).",
        ),
        column(
            "handoff_to",
            Text,
            "A worker that asked for the lease, to balance the fleet.",
        ),
    ],
    primary_key: &["source_name", "stream_arn", "shard_id"],
    indexes: &[],
    public: false,
};

/// The workers of a fleet and their heartbeats.
pub const WORKERS: OwnTable = OwnTable {
    name: "_trailsync_workers",
    description: "The workers sharing a stream, with their last heartbeat.",
    columns: &[
        required("source_name", Text, "''", "The source."),
        required("stream_arn", Text, "''", "The stream."),
        required(
            "worker_id",
            Text,
            "''",
            "host:pid:id, unique per process run.",
        ),
        column("host", Text, "The worker's host name."),
        column("pid", BigInt, "The worker's process id."),
        column("started_at", Timestamp, "When the worker joined."),
        required(
            "expires_ms",
            BigInt,
            "0",
            "When the worker counts as gone unless it renews, in Unix milliseconds by the database's clock.",
        ),
    ],
    primary_key: &["source_name", "stream_arn", "worker_id"],
    indexes: &[],
    public: false,
};

/// Jobs run once per fleet: the full sync, reconciliation.
pub const JOBS: OwnTable = OwnTable {
    name: "_trailsync_jobs",
    description: "Jobs run once per fleet (full_sync, reconcile): who runs them and when they last ran.",
    columns: &[
        required("source_name", Text, "''", "The source."),
        required("job", Text, "''", "full_sync or reconcile."),
        column("owner", Text, "The worker running it; NULL when idle."),
        required("epoch", BigInt, "0", "Bumped on every change of owner."),
        column(
            "expires_ms",
            BigInt,
            "When the lease expires unless renewed (Unix milliseconds, database clock).",
        ),
        column(
            "started_at",
            Timestamp,
            "When its last run began (the full sync's start is where new shards are read from).",
        ),
        column(
            "finished_ms",
            BigInt,
            "When its last complete run ended (Unix milliseconds, database clock).",
        ),
    ],
    primary_key: &["source_name", "job"],
    indexes: &[],
    public: false,
};

/// Changes given up on: one row per event and resource.
pub const SKIPPED: OwnTable = OwnTable {
    name: "trailsync_skipped",
    description: "Changes given up on (access denied, an unsupported operation, ...): one row per event and resource, with the reason.",
    columns: &[
        required(
            "skipped_at",
            Timestamp,
            "'1970-01-01T00:00:00Z'",
            "When it was given up on.",
        ),
        required("source_name", Text, "''", "The source."),
        required("table_name", Text, "''", "The table the change was for."),
        column(
            "resource_id",
            Text,
            "The resource's id, when the event named one.",
        ),
        column("account_id", Text, "The account."),
        column("region", Text, "The region."),
        column("event_id", Text, "The CloudTrail eventID."),
        column("event_name", Text, "The CloudTrail eventName."),
        column("reason", Text, "Why it can never succeed."),
        column("error", Text, "The error AWS answered."),
    ],
    primary_key: &[],
    indexes: &[("at", &["skipped_at"])],
    public: true,
};

/// The change history: one row per resource change applied, with who caused it.
pub const CHANGES: OwnTable = OwnTable {
    name: "trailsync_changes",
    description: "The change history: one row per resource change applied (created, updated, deleted), with the changed columns' old and new values and the CloudTrail events that caused it. Written in the transaction of the change.",
    columns: &[
        required(
            "change_id",
            ColumnType::Uuid,
            "'00000000-0000-0000-0000-000000000000'",
            "Unique per change.",
        ),
        required(
            "changed_at",
            Timestamp,
            "'1970-01-01T00:00:00Z'",
            "When the change was committed.",
        ),
        column(
            "sync_time",
            Timestamp,
            "When the new state was observed (the fetch's start): the row's _cq_sync_time.",
        ),
        required("source_name", Text, "''", "The source."),
        required(
            "table_name",
            Text,
            "''",
            "The table (top-level) of the resource.",
        ),
        column(
            "resource_id",
            Text,
            "The resource's id (instance id, role name, ...).",
        ),
        column("arn", Text, "The resource's ARN, where the table has one."),
        column(
            "primary_key",
            ColumnType::Json,
            "The resource's primary key: {column: value}.",
        ),
        column("account_id", Text, "The account."),
        column("region", Text, "The region."),
        required("action", Text, "''", "created, updated or deleted."),
        column(
            "changes",
            ColumnType::Json,
            "Each top-level column that changed: {column: {\"old\": .., \"new\": ..}} (every non-null column for created and deleted).",
        ),
        column(
            "children",
            ColumnType::Json,
            "Child-table changes: {child_table: {\"added\": n, \"removed\": n, \"changed\": n}}.",
        ),
        required(
            "cause",
            Text,
            "'event'",
            "event (CloudTrail events asked for the fetch), reconcile or full_sync.",
        ),
        column(
            "events",
            ColumnType::Json,
            "Every CloudTrail event coalesced into the change: event_id, event_name, event_time, principal_arn, principal_type, access_key_id, session_issuer, source_ip, user_agent.",
        ),
        column(
            "principal_arn",
            Text,
            "The most recent event's principal (userIdentity.arn).",
        ),
        column(
            "source_ip",
            Text,
            "The most recent event's sourceIPAddress.",
        ),
        column("event_name", Text, "The most recent event's eventName."),
    ],
    primary_key: &["change_id"],
    indexes: &[
        ("at", &["changed_at"]),
        ("resource", &["table_name", "resource_id"]),
        ("principal", &["principal_arn"]),
    ],
    public: true,
};

/// Every own table, in creation order.
pub const OWN_TABLES: [&OwnTable; 5] = [&CHECKPOINTS, &WORKERS, &JOBS, &SKIPPED, &CHANGES];

/// `CREATE TABLE IF NOT EXISTS` with every column (its indexes: [`indexes`]).
pub(crate) fn create(dialect: Dialect, table: &OwnTable) -> String {
    let mut sql = String::from("CREATE TABLE IF NOT EXISTS ");
    push_quoted(&mut sql, table.name);
    sql.push_str(" (");
    for (i, column) in table.columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        push_column(dialect, column, &mut sql);
    }
    if !table.primary_key.is_empty() {
        sql.push_str(", PRIMARY KEY (");
        push_list(&mut sql, table.primary_key.iter().copied());
        sql.push(')');
    }
    sql.push(')');
    sql
}

/// The table's secondary indexes.
pub(crate) fn indexes(table: &OwnTable) -> Vec<Index> {
    table
        .indexes
        .iter()
        .map(|(suffix, columns)| Index::new(table.name, suffix, columns))
        .collect()
}

/// `ALTER TABLE ... ADD COLUMN` for each declared column missing from `existing`.
pub(crate) fn add_missing(dialect: Dialect, table: &OwnTable, existing: &[String]) -> Vec<String> {
    table
        .columns
        .iter()
        .filter(|c| !existing.iter().any(|e| e == c.name))
        .map(|column| {
            let mut sql = String::from("ALTER TABLE ");
            push_quoted(&mut sql, table.name);
            sql.push_str(" ADD COLUMN ");
            push_column(dialect, column, &mut sql);
            sql
        })
        .collect()
}

fn push_column(dialect: Dialect, column: &OwnColumn, sql: &mut String) {
    push_quoted(sql, column.name);
    sql.push(' ');
    sql.push_str(dialect.column_type(column.ty));
    if let Some(default) = column.required {
        sql.push_str(" NOT NULL DEFAULT ");
        sql.push_str(default);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_created_from_its_declaration() {
        let table = create(Dialect::Postgres, &SKIPPED);
        let [index] = indexes(&SKIPPED).try_into().expect("one index");
        assert!(table.starts_with("CREATE TABLE IF NOT EXISTS \"trailsync_skipped\" ("));
        assert!(table.contains("\"skipped_at\" timestamptz NOT NULL DEFAULT"));
        assert!(!table.contains("PRIMARY KEY"), "{table}");
        assert_eq!(index.name, "trailsync_skipped_at");
        assert_eq!(
            index.create,
            "CREATE INDEX IF NOT EXISTS \"trailsync_skipped_at\" ON \"trailsync_skipped\" (\"skipped_at\")"
        );
        assert!(indexes(&CHECKPOINTS).is_empty());
        let checkpoints = create(Dialect::Sqlite, &CHECKPOINTS);
        assert!(
            checkpoints.ends_with("PRIMARY KEY (\"source_name\", \"stream_arn\", \"shard_id\"))")
        );
    }

    #[test]
    fn an_older_table_gets_only_its_missing_columns() {
        let existing: Vec<String> = [
            "source_name",
            "stream_arn",
            "shard_id",
            "sequence_number",
            "updated_at",
        ]
        .map(String::from)
        .to_vec();
        let added = add_missing(Dialect::Sqlite, &CHECKPOINTS, &existing);
        assert_eq!(added.len(), 6);
        assert_eq!(
            added[0],
            "ALTER TABLE \"_trailsync_checkpoints\" ADD COLUMN \"epoch\" INTEGER NOT NULL DEFAULT 0"
        );
    }
}
