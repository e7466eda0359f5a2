//! SQL text, built from catalog declarations only, for both dialects.
//!
//! SQLite and PostgreSQL agree on everything trailsync needs (`CREATE TABLE IF NOT EXISTS`,
//! `ON CONFLICT ... DO UPDATE SET c = excluded.c`, `CREATE INDEX IF NOT EXISTS`, multi-row
//! `VALUES`), so the text is built here once and [`Dialect`] supplies the few differences: column
//! types, the placeholder style (`?N` vs `$N`) and the bound-parameter limit. Identifiers are
//! always quoted; values never appear in the text, only numbered placeholders.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use trailsync_catalog::{CQ_COLUMNS, Column, ColumnType, Table};

/// The longest identifier PostgreSQL keeps (longer ones are silently truncated).
const MAX_IDENTIFIER: usize = 63;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Bound parameters one statement may carry: SQLite's default `SQLITE_MAX_VARIABLE_NUMBER`
    /// (bundled builds since 3.32) and the 16-bit count of PostgreSQL's wire protocol.
    pub(crate) fn max_params(self) -> usize {
        match self {
            Dialect::Sqlite => 32_766,
            Dialect::Postgres => 65_535,
        }
    }

    /// Rows one statement carries at most, whatever the parameter limit allows: each distinct
    /// statement is prepared and cached (by SQLite in-process, by PostgreSQL per connection), and
    /// a statement's memory grows with its placeholders while the gain of longer ones fades.
    pub(crate) fn max_rows(self) -> usize {
        match self {
            Dialect::Sqlite => 256,
            Dialect::Postgres => 512,
        }
    }

    /// Appends the placeholder of the `n`th (1-based) parameter.
    pub(crate) fn param(self, out: &mut String, n: usize) {
        let sigil = match self {
            Dialect::Sqlite => '?',
            Dialect::Postgres => '$',
        };
        // Writing to a String cannot fail.
        let _ = write!(out, "{sigil}{n}");
    }

    pub(crate) fn column_type(self, ty: ColumnType) -> &'static str {
        match self {
            Dialect::Postgres => match ty {
                ColumnType::Text => "text",
                ColumnType::BigInt => "bigint",
                ColumnType::Boolean => "boolean",
                ColumnType::Double => "double precision",
                ColumnType::Timestamp => "timestamptz",
                ColumnType::Json => "jsonb",
                ColumnType::TextArray => "text[]",
                ColumnType::Uuid => "uuid",
            },
            // SQLite keeps JSON, lists, instants and ids as text (see the crate docs).
            Dialect::Sqlite => match ty {
                ColumnType::BigInt | ColumnType::Boolean => "INTEGER",
                ColumnType::Double => "REAL",
                ColumnType::Text
                | ColumnType::Timestamp
                | ColumnType::Json
                | ColumnType::TextArray
                | ColumnType::Uuid => "TEXT",
            },
        }
    }

    /// How the database reports a column created as `ty` (PostgreSQL's `format_type`, SQLite's
    /// declared type), to notice columns that exist with another type.
    pub(crate) fn reported_type(self, ty: ColumnType) -> &'static str {
        match (self, ty) {
            (Dialect::Postgres, ColumnType::Timestamp) => "timestamp with time zone",
            _ => self.column_type(ty),
        }
    }
}

/// `name` as a quoted identifier; a `"` inside is doubled, so any name stays one identifier.
pub(crate) fn quote(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    push_quoted(&mut out, name);
    out
}

pub(crate) fn push_quoted(out: &mut String, name: &str) {
    out.push('"');
    for ch in name.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    out.push('"');
}

pub(crate) fn push_list<'a>(out: &mut String, names: impl IntoIterator<Item = &'a str>) {
    for (i, name) in names.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_quoted(out, name);
    }
}

/// The columns rows are matched on: the primary key, or `_cq_id` for a table declaring none.
pub(crate) fn key_columns(table: &Table) -> &'static [&'static str] {
    if table.primary_key.is_empty() {
        &["_cq_id"]
    } else {
        table.primary_key
    }
}

/// An index or constraint name derived from the table's, kept within PostgreSQL's 63 bytes by
/// replacing the tail with a stable hash, so two long table names never share an index name.
pub(crate) fn object_name(table: &str, suffix: &str) -> String {
    let name = format!("{table}_{suffix}");
    if name.len() <= MAX_IDENTIFIER {
        return name;
    }
    let hash = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).simple();
    let hash = &hash.to_string()[..8];
    let budget = MAX_IDENTIFIER - suffix.len() - hash.len() - 2;
    let mut cut = budget.min(table.len());
    while !table.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{hash}_{suffix}", &table[..cut])
}

/// `CREATE TABLE IF NOT EXISTS` with every catalog column.
///
/// `keyed` (the overwrite modes) declares the primary key and a unique `_cq_id`; append mode
/// keeps every version of a row, so it declares neither.
pub(crate) fn create_table(dialect: Dialect, table: &Table, keyed: bool) -> String {
    let key = key_columns(table);
    let mut sql = String::from("CREATE TABLE IF NOT EXISTS ");
    push_quoted(&mut sql, table.name);
    sql.push_str(" (");
    for (i, column) in table.all_columns().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        push_quoted(&mut sql, column.name);
        sql.push(' ');
        sql.push_str(dialect.column_type(column.ty));
        // SQLite lets primary key columns hold NULL unless told otherwise.
        if column.name == "_cq_id" || (keyed && key.contains(&column.name)) {
            sql.push_str(" NOT NULL");
        }
        if keyed && column.name == "_cq_id" && !table.primary_key.is_empty() {
            sql.push_str(" UNIQUE");
        }
    }
    if keyed {
        sql.push_str(", CONSTRAINT ");
        push_quoted(&mut sql, &object_name(table.name, "cqpk"));
        sql.push_str(" PRIMARY KEY (");
        push_list(&mut sql, key.iter().copied());
        sql.push(')');
    }
    sql.push(')');
    sql
}

/// Indexes the writes and stale deletes look rows up by.
pub(crate) fn create_indexes(table: &Table, keyed: bool) -> Vec<Index> {
    let mut indexes: Vec<(&str, &[&str])> = vec![("cqsync", &["_cq_source_name", "_cq_sync_time"])];
    if !table.is_top_level() {
        indexes.push(("cqpid", &["_cq_parent_id"]));
    }
    if !keyed {
        // Keyed tables have the unique constraint's index.
        indexes.push(("cqid", &["_cq_id"]));
    }
    indexes
        .into_iter()
        .map(|(suffix, columns)| Index::new(table.name, suffix, columns))
        .collect()
}

/// A secondary index: its name, and the statement that creates it if missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Index {
    pub name: String,
    pub create: String,
}

impl Index {
    /// `CREATE INDEX IF NOT EXISTS "<table>_<suffix>" ON "<table>" (columns)`.
    pub(crate) fn new(table: &str, suffix: &str, columns: &[&str]) -> Index {
        let name = object_name(table, suffix);
        let mut create = String::from("CREATE INDEX IF NOT EXISTS ");
        push_quoted(&mut create, &name);
        create.push_str(" ON ");
        push_quoted(&mut create, table);
        create.push_str(" (");
        push_list(&mut create, columns.iter().copied());
        create.push(')');
        Index { name, create }
    }
}

/// `ALTER TABLE ADD COLUMN`; the column is nullable so that existing rows stay valid.
pub(crate) fn add_column(dialect: Dialect, table: &Table, column: &Column) -> String {
    let mut sql = String::from("ALTER TABLE ");
    push_quoted(&mut sql, table.name);
    sql.push_str(" ADD COLUMN ");
    push_quoted(&mut sql, column.name);
    sql.push(' ');
    sql.push_str(dialect.column_type(column.ty));
    sql
}

/// A multi-row `INSERT` of every column, parameters numbered row after row; with `upsert`, a
/// row whose key exists replaces every non-key column of it.
pub(crate) fn insert(dialect: Dialect, table: &Table, rows: usize, upsert: bool) -> String {
    let width = CQ_COLUMNS.len() + table.columns.len();
    let mut sql = String::with_capacity(64 + width * (rows * 8 + 24));
    sql.push_str("INSERT INTO ");
    push_quoted(&mut sql, table.name);
    sql.push_str(" (");
    push_list(&mut sql, table.all_columns().map(|c| c.name));
    sql.push_str(") VALUES ");
    push_tuples(&mut sql, dialect, rows, width);
    if upsert {
        let key = key_columns(table);
        sql.push_str(" ON CONFLICT (");
        push_list(&mut sql, key.iter().copied());
        sql.push(')');
        let mut set = table
            .all_columns()
            .filter(|c| !key.contains(&c.name))
            .peekable();
        if set.peek().is_none() {
            sql.push_str(" DO NOTHING");
        } else {
            sql.push_str(" DO UPDATE SET ");
            for (i, column) in set.enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                push_quoted(&mut sql, column.name);
                sql.push_str(" = excluded.");
                push_quoted(&mut sql, column.name);
            }
        }
    }
    sql
}

/// `(?1, ?2), (?3, ?4)`: `rows` tuples of `width` placeholders.
fn push_tuples(sql: &mut String, dialect: Dialect, rows: usize, width: usize) {
    let mut n = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for i in 0..width {
            if i > 0 {
                sql.push_str(", ");
            }
            n += 1;
            dialect.param(sql, n);
        }
        sql.push(')');
    }
}

/// `"a" = ?1 AND "b" IS NULL`: every column equals its parameter, numbered from `first`, or is
/// NULL where `is_null` says so (`= NULL` would match nothing). Returns the next free number.
pub(crate) fn equal_all(
    dialect: Dialect,
    columns: impl IntoIterator<Item = (&'static str, bool)>,
    first: usize,
    sql: &mut String,
) -> usize {
    let mut n = first;
    for (i, (column, is_null)) in columns.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(" AND ");
        }
        push_quoted(sql, column);
        if is_null {
            sql.push_str(" IS NULL");
        } else {
            sql.push_str(" = ");
            dialect.param(sql, n);
            n += 1;
        }
    }
    n
}

/// ` AND "_cq_sync_time" <= ?n`: rows observed no later than the parameter.
pub(crate) fn not_after(dialect: Dialect, n: usize, sql: &mut String) {
    sql.push_str(" AND \"_cq_sync_time\" <= ");
    dialect.param(sql, n);
}

/// Every column of the rows of `table` whose `column` is one of `count` parameters; with
/// `lock`, on PostgreSQL, locked until the transaction ends.
pub(crate) fn select_rows_in(
    dialect: Dialect,
    table: &Table,
    column: &str,
    count: usize,
    lock: bool,
) -> String {
    let mut condition = String::new();
    push_quoted(&mut condition, column);
    condition.push_str(" IN (");
    for n in 1..=count {
        if n > 1 {
            condition.push_str(", ");
        }
        dialect.param(&mut condition, n);
    }
    condition.push(')');
    let mut sql = select_rows(table, &condition);
    if lock && dialect == Dialect::Postgres {
        sql.push_str(" FOR UPDATE");
    }
    sql
}

/// Every column (bookkeeping first, then data, as declared) of the rows matching `condition`.
pub(crate) fn select_rows(table: &Table, condition: &str) -> String {
    let mut sql = String::from("SELECT ");
    push_list(&mut sql, table.all_columns().map(|c| c.name));
    sql.push_str(" FROM ");
    push_quoted(&mut sql, table.name);
    sql.push_str(" WHERE ");
    sql.push_str(condition);
    sql
}

/// Inserts `rows` rows of an own table, every column in its declared order.
pub(crate) fn insert_own(dialect: Dialect, table: &crate::own::OwnTable, rows: usize) -> String {
    let mut sql = String::from("INSERT INTO ");
    push_quoted(&mut sql, table.name);
    sql.push_str(" (");
    push_list(&mut sql, table.columns.iter().map(|c| c.name));
    sql.push_str(") VALUES ");
    push_tuples(&mut sql, dialect, rows, table.columns.len());
    sql
}

/// `"_cq_source_name" = ?1 AND "_cq_sync_time" < ?2`, then the filter from `?3`.
pub(crate) fn stale_condition(
    dialect: Dialect,
    filter: impl IntoIterator<Item = (&'static str, bool)>,
) -> String {
    let mut sql = String::new();
    let next = equal_all(dialect, [("_cq_source_name", false)], 1, &mut sql);
    sql.push_str(" AND \"_cq_sync_time\" < ");
    dialect.param(&mut sql, next);
    let mut filter = filter.into_iter().peekable();
    if filter.peek().is_some() {
        sql.push_str(" AND ");
        equal_all(dialect, filter, next + 1, &mut sql);
    }
    sql
}

/// The rows whose descendants a statement reaches.
pub(crate) enum Scope<'a> {
    /// Rows whose `_cq_id` is one of `count` parameters (numbered from 1): the parents written
    /// in this batch.
    Ids(usize),
    /// Rows of `table` matching `condition`.
    Rows {
        table: &'a Table,
        condition: &'a str,
    },
}

/// The condition selecting, in the last table of `chain`, every row descending from `scope`.
///
/// `chain` runs from a child of the scope's table down to the target, each table the parent of
/// the next: `[child]` or `[child, grandchild]`. Every level is an `IN (SELECT _cq_id ...)`, so
/// one statement reaches any depth and no ids travel to the client.
pub(crate) fn descendants(dialect: Dialect, scope: &Scope<'_>, chain: &[&Table]) -> String {
    let mut condition = String::from("\"_cq_parent_id\" IN (");
    match scope {
        Scope::Ids(count) => {
            for n in 1..=*count {
                if n > 1 {
                    condition.push_str(", ");
                }
                dialect.param(&mut condition, n);
            }
        }
        Scope::Rows {
            table,
            condition: rows,
        } => {
            condition.push_str("SELECT \"_cq_id\" FROM ");
            push_quoted(&mut condition, table.name);
            condition.push_str(" WHERE ");
            condition.push_str(rows);
        }
    }
    condition.push(')');
    for table in chain.iter().take(chain.len().saturating_sub(1)) {
        let mut outer = String::from("\"_cq_parent_id\" IN (SELECT \"_cq_id\" FROM ");
        push_quoted(&mut outer, table.name);
        outer.push_str(" WHERE ");
        outer.push_str(&condition);
        outer.push(')');
        condition = outer;
    }
    condition
}

pub(crate) fn delete(table: &str, condition: &str) -> String {
    let mut sql = String::from("DELETE FROM ");
    push_quoted(&mut sql, table);
    sql.push_str(" WHERE ");
    sql.push_str(condition);
    sql
}

/// The committed position of each shard of one source and stream: `shard_id, sequence_number`.
pub(crate) fn select_checkpoints(dialect: Dialect) -> String {
    let mut sql = String::from("SELECT \"shard_id\", \"sequence_number\" FROM ");
    push_quoted(&mut sql, crate::own::CHECKPOINTS.name);
    sql.push_str(" WHERE ");
    equal_all(
        dialect,
        [("source_name", false), ("stream_arn", false)],
        1,
        &mut sql,
    );
    sql
}

/// RFC 3339 in UTC with exactly six fractional digits, so that text order is time order.
pub(crate) fn format_time(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// How many rows each statement of a `total`-row write carries: as many as the dialect's limits
/// allow, then the remainder in powers of two. Statement text depends only on the row count,
/// so this bounds the distinct statements per table to about ten and keeps them cacheable.
pub(crate) fn chunk_sizes(dialect: Dialect, total: usize, per_row: usize) -> Vec<usize> {
    chunks_within(total, per_row, dialect.max_params(), dialect.max_rows())
}

/// `items` cut into the statement-sized pieces of [`chunk_sizes`].
pub(crate) fn chunks<T>(
    dialect: Dialect,
    items: &[T],
    per_row: usize,
) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    chunk_sizes(dialect, items.len(), per_row)
        .into_iter()
        .map(move |size| {
            let (chunk, tail) = rest.split_at(size.min(rest.len()));
            rest = tail;
            chunk
        })
}

fn chunks_within(total: usize, per_row: usize, max_params: usize, max_rows: usize) -> Vec<usize> {
    let most = (max_params / per_row.max(1)).clamp(1, max_rows.max(1));
    let mut sizes = vec![most; total / most];
    let rest = total % most;
    let mut bit = usize::BITS;
    while bit > 0 {
        bit -= 1;
        let size = 1usize << bit;
        if rest & size != 0 {
            sizes.push(size);
        }
    }
    sizes
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use trailsync_catalog::{Scope as Where, Service, col};

    static PARENT: Table = Table {
        name: "p",
        service: Service::Ec2,
        scope: Where::Regional,
        parent: None,
        primary_key: &["arn"],
        id: None,
        columns: &[col("arn", ColumnType::Text), col("n", ColumnType::BigInt)],
    };
    static CHILD: Table = Table {
        name: "c",
        parent: Some(&PARENT),
        ..PARENT
    };
    static GRANDCHILD: Table = Table {
        name: "g",
        parent: Some(&CHILD),
        ..PARENT
    };

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn upsert_updates_every_non_key_column() {
        let sql = insert(Dialect::Postgres, &PARENT, 2, true);
        assert_eq!(
            sql,
            "INSERT INTO \"p\" (\"_cq_sync_time\", \"_cq_source_name\", \"_cq_id\", \"_cq_parent_id\", \"arn\", \"n\") \
             VALUES ($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12) ON CONFLICT (\"arn\") DO UPDATE SET \
             \"_cq_sync_time\" = excluded.\"_cq_sync_time\", \"_cq_source_name\" = excluded.\"_cq_source_name\", \
             \"_cq_id\" = excluded.\"_cq_id\", \"_cq_parent_id\" = excluded.\"_cq_parent_id\", \"n\" = excluded.\"n\""
        );
        assert!(
            insert(Dialect::Sqlite, &PARENT, 1, false).ends_with("VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        );
    }

    #[test]
    fn create_table_declares_keys_only_when_keyed() {
        let keyed = create_table(Dialect::Sqlite, &PARENT, true);
        assert!(keyed.contains("\"_cq_id\" TEXT NOT NULL UNIQUE"), "{keyed}");
        assert!(keyed.contains("\"arn\" TEXT NOT NULL"), "{keyed}");
        assert!(
            keyed.ends_with("CONSTRAINT \"p_cqpk\" PRIMARY KEY (\"arn\"))"),
            "{keyed}"
        );
        let append = create_table(Dialect::Postgres, &PARENT, false);
        assert!(
            !append.contains("PRIMARY KEY") && !append.contains("UNIQUE"),
            "{append}"
        );
        assert!(append.contains("\"_cq_sync_time\" timestamptz"), "{append}");
    }

    #[test]
    fn descendants_nest_one_subquery_per_level() {
        let scope = Scope::Ids(2);
        assert_eq!(
            descendants(Dialect::Sqlite, &scope, &[&CHILD]),
            "\"_cq_parent_id\" IN (?1, ?2)"
        );
        let condition = "\"arn\" = $1";
        let scope = Scope::Rows {
            table: &PARENT,
            condition,
        };
        assert_eq!(
            descendants(Dialect::Postgres, &scope, &[&CHILD, &GRANDCHILD]),
            "\"_cq_parent_id\" IN (SELECT \"_cq_id\" FROM \"c\" WHERE \"_cq_parent_id\" IN \
             (SELECT \"_cq_id\" FROM \"p\" WHERE \"arn\" = $1))"
        );
    }

    #[test]
    fn conditions_number_parameters_and_skip_nulls() {
        let sql = stale_condition(Dialect::Postgres, [("region", true), ("account_id", false)]);
        assert_eq!(
            sql,
            "\"_cq_source_name\" = $1 AND \"_cq_sync_time\" < $2 AND \"region\" IS NULL AND \"account_id\" = $3"
        );
    }

    #[test]
    fn chunks_respect_the_limit_and_cover_every_row() {
        assert_eq!(chunks_within(0, 10, 100, 1000), Vec::<usize>::new());
        assert_eq!(chunks_within(25, 10, 100, 1000), vec![10, 10, 4, 1]);
        assert_eq!(chunks_within(25, 1, 100, 8), vec![8, 8, 8, 1]);
        assert_eq!(chunks_within(3, 1000, 100, 1000), vec![1, 1, 1]);
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            for (total, width) in [(1, 65), (999, 65), (5000, 65), (65_536, 300), (10, 70_000)] {
                let sizes = chunk_sizes(dialect, total, width);
                assert_eq!(sizes.iter().sum::<usize>(), total);
                assert!(
                    sizes
                        .iter()
                        .all(|s| *s == 1 || s * width <= dialect.max_params())
                );
                let distinct: HashSet<_> = sizes.iter().collect();
                assert!(
                    distinct.len()
                        <= 1 + usize::BITS as usize - dialect.max_rows().leading_zeros() as usize
                );
            }
        }
    }

    #[test]
    fn long_object_names_fit_and_stay_distinct() {
        let a = object_name(&"a".repeat(70), "cqpid");
        let b = object_name(&format!("{}b", "a".repeat(69)), "cqpid");
        assert!(a.len() <= MAX_IDENTIFIER && b.len() <= MAX_IDENTIFIER);
        assert_ne!(a, b);
        assert_eq!(object_name("t", "cqpk"), "t_cqpk");
    }

    #[test]
    fn times_have_a_fixed_width() {
        let t = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("valid");
        assert_eq!(format_time(&t), "2026-11-24T10:00:00.000000Z");
        let t = t + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(format_time(&t), "2026-11-24T10:00:00.123456Z");
    }
}
