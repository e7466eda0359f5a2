//! The SQLite destination: one connection, used from tokio's blocking pool.
//!
//! SQLite allows one writer at a time, so a single connection behind a mutex loses nothing and
//! keeps transactions simple. The database runs in WAL mode (readers such as `sqlite3` or a BI
//! tool do not block the writer) with `synchronous=NORMAL`: a power cut may lose the last
//! commits but never tears one, and since checkpoints commit with their rows the lost records
//! are simply read again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior, params_from_iter};
use trailsync_catalog::{Table, Value};

use crate::Tally;
use crate::errors::{Context, Error, Operation};
use crate::history::{Stored, StoredRow};
use crate::lease::Statements;
use crate::own::{self, CHANGES, CHECKPOINTS, OWN_TABLES};
use crate::plan::{self, Param, Read, Registry, Step};
use crate::sql::{self, Dialect};
use trailsync_core::{
    ChangeQuery, ChangeRecord, Destination, DestinationError, DestinationKind as Kind, Position,
    WriteBatch, WriteMode, WriteSummary,
};

mod leases;
pub mod lock;

/// How long a statement waits for another process's lock before failing as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements kept per connection (see [`sql::chunk_sizes`] for why few are needed).
const STATEMENT_CACHE: usize = 128;

/// A SQLite database file (or an in-memory database) as a destination.
#[derive(Clone)]
pub struct SqliteDestination {
    pub(crate) connection: Arc<Mutex<Connection>>,
    mode: WriteMode,
    registry: Registry,
    statements: Arc<Statements>,
}

impl std::fmt::Debug for SqliteDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDestination")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl SqliteDestination {
    /// Opens (creating if needed) the database at `connection_string`: a file path, whose
    /// missing parent folders are created, a `file:` URI, or `:memory:`.
    pub async fn open(
        connection_string: &str,
        mode: WriteMode,
    ) -> Result<SqliteDestination, Error> {
        let target = Target::parse(connection_string)?;
        let context = Context::op(Operation::Connect);
        let connection = tokio::task::spawn_blocking(move || target.open())
            .await
            .map_err(|source| Error::Task {
                context,
                error: source,
            })??;
        Ok(SqliteDestination {
            connection: Arc::new(Mutex::new(connection)),
            mode,
            registry: Registry::default(),
            statements: Arc::new(Statements::new(Dialect::Sqlite)),
        })
    }

    /// Runs `f` on the connection in the blocking pool.
    async fn run<T, F>(&self, context: Context, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock dropped its transaction, which rolled back: the
            // connection itself is fine to keep using.
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut connection)
        })
        .await
        .map_err(|source| Error::Task {
            context,
            error: source,
        })?
    }
}

#[async_trait::async_trait]
impl Destination for SqliteDestination {
    async fn migrate(&self, tables: &[&'static Table]) -> Result<(), DestinationError> {
        let owned = tables.to_vec();
        let keyed = self.mode.is_keyed();
        self.run(Context::op(Operation::CreateTable), move |connection| {
            let tx = begin(connection)?;
            create_own_tables(&tx)?;
            for table in &owned {
                migrate_table(&tx, table, keyed)?;
            }
            tx.commit().map_err(on(Context::op(Operation::Commit)))
        })
        .await?;
        self.registry.add(tables);
        Ok(())
    }

    async fn write(&self, batch: &WriteBatch) -> Result<WriteSummary, DestinationError> {
        if batch.is_empty() {
            return Ok(WriteSummary::default());
        }
        let batch = batch.clone();
        let known = self.registry.snapshot();
        let mode = self.mode;
        let statements = Arc::clone(&self.statements);
        let summary = self
            .run(Context::op(Operation::Upsert), move |connection| {
                let tx = begin(connection)?;
                let stored = read_stored(&tx, &plan::reads(Dialect::Sqlite, mode, &batch))?;
                let steps =
                    plan::write(Dialect::Sqlite, mode, &known, &batch, &stored, &statements)?;
                let summary = execute(&tx, &steps)?;
                tx.commit().map_err(on(Context::op(Operation::Commit)))?;
                Ok(summary)
            })
            .await?;
        tracing::debug!(
            upserted = summary.rows_upserted,
            deleted = summary.rows_deleted,
            "sqlite batch committed"
        );
        Ok(summary)
    }

    async fn delete_stale(
        &self,
        table: &'static Table,
        source: &str,
        before: DateTime<Utc>,
        filter: &[(&'static str, Value)],
    ) -> Result<u64, DestinationError> {
        let source = source.to_string();
        let filter = filter.to_vec();
        let known = self.registry.snapshot();
        let context = Context::new(Operation::DeleteStale, table.name);
        let summary = self
            .run(context, move |connection| {
                let steps =
                    plan::delete_stale(Dialect::Sqlite, &known, table, &source, before, &filter)?;
                apply(connection, &steps)
            })
            .await?;
        Ok(summary.rows_deleted)
    }

    async fn checkpoints(
        &self,
        source: &str,
        stream_arn: &str,
    ) -> Result<HashMap<String, Position>, DestinationError> {
        let (source, stream_arn) = (source.to_string(), stream_arn.to_string());
        let context = Context::new(Operation::ReadCheckpoints, CHECKPOINTS.name);
        let rows = self
            .run(context, move |connection| {
                let mut statement = connection
                    .prepare_cached(&sql::select_checkpoints(Dialect::Sqlite))
                    .map_err(on(context))?;
                let rows = statement
                    .query_map([&source, &stream_arn], |row| Ok((row.get(0)?, row.get(1)?)))
                    .map_err(on(context))?;
                rows.collect::<Result<Vec<(String, String)>, _>>()
                    .map_err(on(context))
            })
            .await?;
        Ok(crate::positions(rows)?)
    }

    async fn changes(&self, query: &ChangeQuery) -> Result<Vec<ChangeRecord>, DestinationError> {
        Ok(self.read_changes(query).await?)
    }

    async fn prune_changes(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, DestinationError> {
        let context = Context::new(Operation::Delete, CHANGES.name);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let deleted = self
            .run(context, move |connection| {
                connection
                    .execute(
                        &crate::history::prune(Dialect::Sqlite),
                        rusqlite::params![crate::sql::format_time(&before), limit],
                    )
                    .map_err(on(context))
            })
            .await?;
        Ok(deleted as u64)
    }
}

impl SqliteDestination {
    async fn read_changes(&self, query: &ChangeQuery) -> Result<Vec<ChangeRecord>, Error> {
        let (sql, params) = crate::history::select(Dialect::Sqlite, query);
        let context = Context::new(Operation::ReadStored, CHANGES.name);
        self.run(context, move |connection| {
            let mut statement = connection.prepare(&sql).map_err(on(context))?;
            let mut rows = statement
                .query(params_from_iter(&params))
                .map_err(on(context))?;
            let mut records = Vec::new();
            while let Some(row) = rows.next().map_err(on(context))? {
                let values = CHANGES
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        row.get_ref(i)
                            .map(|raw| value_of(raw, c.ty))
                            .unwrap_or(Value::Null)
                    })
                    .collect();
                records.push(crate::history::record(values));
            }
            Ok(records)
        })
        .await
    }
}

/// Creates trailsync's own tables if missing, and adds the columns a newer trailsync declares.
fn create_own_tables(connection: &Connection) -> Result<(), Error> {
    for table in OWN_TABLES {
        let create = Context::new(Operation::CreateTable, table.name);
        connection
            .execute(&own::create(Dialect::Sqlite, table), [])
            .map_err(on(create))?;
        for index in own::indexes(table) {
            connection.execute(&index.create, []).map_err(on(create))?;
        }
        let inspect = Context::new(Operation::Inspect, table.name);
        let existing: Vec<String> = connection
            .prepare("SELECT \"name\" FROM pragma_table_info(?1)")
            .and_then(|mut statement| {
                statement
                    .query_map([table.name], |row| row.get(0))?
                    .collect::<Result<_, _>>()
            })
            .map_err(on(inspect))?;
        for statement in own::add_missing(Dialect::Sqlite, table, &existing) {
            connection
                .execute(&statement, [])
                .map_err(on(Context::new(Operation::AddColumn, table.name)))?;
        }
    }
    Ok(())
}

/// Runs the steps of a plan in one transaction and commits it.
fn apply(connection: &mut Connection, steps: &[Step<'_>]) -> Result<WriteSummary, Error> {
    let tx = begin(connection)?;
    let summary = execute(&tx, steps)?;
    tx.commit().map_err(on(Context::op(Operation::Commit)))?;
    Ok(summary)
}

/// Runs the steps of a plan inside `tx`.
fn execute(tx: &Transaction<'_>, steps: &[Step<'_>]) -> Result<WriteSummary, Error> {
    let mut tally = Tally::default();
    for step in steps {
        let mut statement = tx.prepare_cached(&step.sql).map_err(on(step.context))?;
        let rows = statement
            .execute(params_from_iter(&step.params))
            .map_err(on(step.context))?;
        tally.add(step.effect, rows as u64)?;
    }
    Ok(tally.0)
}

/// Runs the reads of [`plan::reads`]: the stored rows a batch replaces.
fn read_stored(tx: &Transaction<'_>, reads: &[Read<'_>]) -> Result<Stored, Error> {
    let mut stored = Stored::default();
    for read in reads {
        let context = read.step.context;
        let mut statement = tx.prepare_cached(&read.step.sql).map_err(on(context))?;
        let mut rows = statement
            .query(params_from_iter(&read.step.params))
            .map_err(on(context))?;
        let mut found = Vec::new();
        while let Some(row) = rows.next().map_err(on(context))? {
            found.extend(stored_row(row, read.table));
        }
        stored.add(read, found);
    }
    Ok(stored)
}

/// A row read by [`plan::reads`], decoded leniently: a value stored in another form than
/// trailsync writes (a table another tool made) reads as NULL rather than failing the batch.
fn stored_row(row: &rusqlite::Row<'_>, table: &Table) -> Option<StoredRow> {
    let values: Vec<Value> = table
        .all_columns()
        .enumerate()
        .map(|(i, column)| {
            row.get_ref(i)
                .map(|raw| value_of(raw, column.ty))
                .unwrap_or(Value::Null)
        })
        .collect();
    StoredRow::from_values(values)
}

/// SQLite's storage of a value of type `ty` (see the crate docs), as the catalog's value.
fn value_of(raw: ValueRef<'_>, ty: trailsync_catalog::ColumnType) -> Value {
    use trailsync_catalog::ColumnType as T;
    let text = || match raw {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes).ok(),
        _ => None,
    };
    let value = match (ty, raw) {
        (_, ValueRef::Null) => None,
        (T::BigInt, ValueRef::Integer(n)) => Some(Value::BigInt(n)),
        (T::Boolean, ValueRef::Integer(n)) => Some(Value::Boolean(n != 0)),
        (T::Double, ValueRef::Real(d)) => Some(Value::Double(d)),
        (T::Double, ValueRef::Integer(n)) => Some(Value::Double(n as f64)),
        (T::Text, _) => text().map(|t| Value::Text(t.to_string())),
        (T::Timestamp, _) => text()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| Value::Timestamp(t.with_timezone(&Utc))),
        (T::Json, _) => text()
            .and_then(|t| serde_json::from_str(t).ok())
            .map(Value::Json),
        (T::TextArray, _) => text()
            .and_then(|t| serde_json::from_str(t).ok())
            .map(Value::TextArray),
        (T::Uuid, _) => text().and_then(|t| t.parse().ok()).map(Value::Uuid),
        _ => None,
    };
    value.unwrap_or(Value::Null)
}

/// Starts a write transaction, taking the write lock at once rather than on the first write,
/// which could fail with SQLITE_BUSY mid-transaction when another process writes.
fn begin(connection: &mut Connection) -> Result<Transaction<'_>, Error> {
    connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(on(Context::op(Operation::Begin)))
}

fn migrate_table(tx: &Transaction<'_>, table: &'static Table, keyed: bool) -> Result<(), Error> {
    let create = sql::create_table(Dialect::Sqlite, table, keyed);
    tx.execute(&create, [])
        .map_err(on(Context::new(Operation::CreateTable, table.name)))?;

    let inspect = Context::new(Operation::Inspect, table.name);
    let mut statement = tx
        .prepare("SELECT \"name\", \"type\", \"pk\" FROM pragma_table_info(?1)")
        .map_err(on(inspect))?;
    let existing: Vec<(String, String, i64)> = statement
        .query_map([table.name], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .map_err(on(inspect))?
        .collect::<Result<_, _>>()
        .map_err(on(inspect))?;

    for column in table.all_columns() {
        match existing.iter().find(|(name, _, _)| name == column.name) {
            None => {
                tx.execute(&sql::add_column(Dialect::Sqlite, table, column), [])
                    .map_err(on(Context::new(Operation::AddColumn, table.name)))?;
                tracing::info!(table = table.name, column = column.name, "added column");
            }
            Some((_, ty, _))
                if !ty.eq_ignore_ascii_case(Dialect::Sqlite.reported_type(column.ty)) =>
            {
                tracing::warn!(
                    table = table.name,
                    column = column.name,
                    existing = %ty,
                    expected = Dialect::Sqlite.reported_type(column.ty),
                    "column exists with another type; keeping it"
                );
            }
            Some(_) => {}
        }
    }

    if keyed {
        let mut key: Vec<(i64, &str)> = existing
            .iter()
            .filter(|(_, _, pk)| *pk > 0)
            .map(|(name, _, pk)| (*pk, name.as_str()))
            .collect();
        key.sort_unstable();
        let key: Vec<&str> = key.into_iter().map(|(_, name)| name).collect();
        plan::check_key(table, &key)?;
    }

    for index in sql::create_indexes(table, keyed) {
        tx.execute(&index.create, [])
            .map_err(on(Context::new(Operation::CreateIndex, table.name)))?;
    }
    Ok(())
}

/// The error mapper for one operation.
fn on(context: Context) -> impl Fn(rusqlite::Error) -> Error {
    move |source| Error::Sqlite {
        context,
        error: source,
    }
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as Owned;
        Ok(match self {
            Param::Value(value) => value_to_sql(value)?,
            Param::Owned(value) => value_to_sql(value)?,
            Param::Null => ToSqlOutput::Owned(Owned::Null),
            Param::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Param::Position(position) => ToSqlOutput::Owned(Owned::Text(position.to_string())),
            Param::Uuid(id) => ToSqlOutput::Owned(Owned::Text(id.hyphenated().to_string())),
            Param::Timestamp(time) => ToSqlOutput::Owned(Owned::Text(sql::format_time(time))),
            Param::BigInt(n) => ToSqlOutput::Owned(Owned::Integer(*n)),
        })
    }
}

/// A catalog value in SQLite's storage (see the crate docs).
fn value_to_sql(value: &Value) -> rusqlite::Result<ToSqlOutput<'_>> {
    use rusqlite::types::Value as Owned;
    Ok(match value {
        Value::Null => ToSqlOutput::Owned(Owned::Null),
        Value::Uuid(id) => ToSqlOutput::Owned(Owned::Text(id.hyphenated().to_string())),
        Value::Timestamp(time) => ToSqlOutput::Owned(Owned::Text(sql::format_time(time))),
        Value::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
        Value::BigInt(n) => ToSqlOutput::Owned(Owned::Integer(*n)),
        Value::Boolean(b) => ToSqlOutput::Owned(Owned::Integer(i64::from(*b))),
        Value::Double(d) => ToSqlOutput::Owned(Owned::Real(*d)),
        Value::Json(json) => ToSqlOutput::Owned(Owned::Text(json.to_string())),
        Value::TextArray(items) => ToSqlOutput::Owned(Owned::Text(
            serde_json::to_string(items)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
        )),
    })
}

/// Where a connection string points.
#[derive(Debug)]
enum Target {
    Memory,
    /// A path, or a `file:` URI (`uri`), and the file whose folder must exist.
    File {
        name: String,
        uri: bool,
        file: Option<PathBuf>,
    },
}

impl Target {
    fn parse(connection_string: &str) -> Result<Target, Error> {
        let name = connection_string.trim();
        if name.is_empty() {
            return Err(Error::InvalidConnectionString {
                kind: Kind::Sqlite,
                reason: "it is empty; give a file path such as ./inventory.db".into(),
            });
        }
        if name == ":memory:" {
            return Ok(Target::Memory);
        }
        match name.strip_prefix("file:") {
            Some(rest) => Ok(Target::File {
                name: name.to_string(),
                uri: true,
                file: uri_file(rest),
            }),
            None => Ok(Target::File {
                name: name.to_string(),
                uri: false,
                file: Some(PathBuf::from(name)),
            }),
        }
    }

    fn open(self) -> Result<Connection, Error> {
        let connect = |source: rusqlite::Error| Error::Connect {
            kind: Kind::Sqlite,
            error: Box::new(source),
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = match self {
            Target::Memory => Connection::open_in_memory().map_err(connect)?,
            Target::File { name, uri, file } => {
                let folder = file.as_deref().and_then(Path::parent);
                if let Some(folder) = folder.filter(|f| !f.as_os_str().is_empty()) {
                    std::fs::create_dir_all(folder).map_err(|source| Error::Connect {
                        kind: Kind::Sqlite,
                        error: Box::new(source),
                    })?;
                }
                let flags = if uri {
                    flags | OpenFlags::SQLITE_OPEN_URI
                } else {
                    flags
                };
                Connection::open_with_flags(&name, flags).map_err(connect)?
            }
        };
        connection.busy_timeout(BUSY_TIMEOUT).map_err(connect)?;
        // In-memory databases answer "memory"; either answer is fine.
        let _mode: String = connection
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(connect)?;
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(connect)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        create_own_tables(&connection)?;
        Ok(connection)
    }
}

/// The file a `file:` URI names (after `file:`), or None for an in-memory one.
fn uri_file(rest: &str) -> Option<PathBuf> {
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, query),
        None => (rest, ""),
    };
    let path = path.split('#').next().unwrap_or(path);
    // `file://host/path`: the authority (empty or localhost) precedes the path.
    let path = match path.strip_prefix("//") {
        Some(after) => &after[after.find('/')?..],
        None => path,
    };
    let memory =
        path.is_empty() || path == ":memory:" || query.split('&').any(|pair| pair == "mode=memory");
    (!memory).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_their_files() {
        assert_eq!(
            uri_file("data/x.db?mode=rwc"),
            Some(PathBuf::from("data/x.db"))
        );
        assert_eq!(uri_file("///tmp/x.db"), Some(PathBuf::from("/tmp/x.db")));
        assert_eq!(
            uri_file("//localhost/tmp/x.db"),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(uri_file(":memory:"), None);
        assert_eq!(uri_file("shared?mode=memory&cache=shared"), None);
    }
}
