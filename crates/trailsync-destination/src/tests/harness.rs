//! One database per test, for either destination, and reads that decode rows back into
//! catalog values, so a test body is written once and run against both.

use std::sync::PoisonError;

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use trailsync_catalog::{ColumnType, Table, Value};
use uuid::Uuid;

use crate::postgres::PostgresDestination;
use crate::sql::quote;
use crate::sqlite::SqliteDestination;
use trailsync_core::{Destination, DestinationKind as Kind, WriteMode};

/// A row as stored: the bookkeeping columns and the data columns, decoded.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Stored {
    pub sync_time: Option<DateTime<Utc>>,
    pub source: Option<String>,
    pub cq_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub values: Vec<Value>,
}

impl Stored {
    pub(crate) fn get(&self, table: &Table, column: &str) -> &Value {
        let index = table
            .column_index(column)
            .unwrap_or_else(|| panic!("{} has no column {column}", table.name));
        &self.values[index]
    }

    pub(crate) fn text(&self, table: &Table, column: &str) -> &str {
        self.get(table, column).as_str().unwrap_or("")
    }
}

/// A fresh database with a destination on it.
#[async_trait::async_trait]
pub(crate) trait TestDb: Send + Sync {
    fn kind(&self) -> Kind;
    fn dest(&self) -> &dyn Destination;
    /// Every row of `table`, ordered by `_cq_id`.
    async fn rows(&self, table: &'static Table) -> Vec<Stored>;
    /// The column names of a table, in table order (empty if it does not exist).
    async fn columns(&self, table: &str) -> Vec<String>;
    /// The rows of a query whose every column is text (`CAST(x AS TEXT)`).
    async fn texts(&self, sql: &str) -> Vec<Vec<Option<String>>>;
}

pub(crate) async fn open(kind: Kind, mode: WriteMode) -> Box<dyn TestDb> {
    match kind {
        Kind::Sqlite => Box::new(SqliteDb::new(mode).await),
        Kind::Postgres => Box::new(PostgresDb::new(mode).await),
    }
}

pub(crate) struct SqliteDb {
    pub dest: SqliteDestination,
    /// Removed (with the database) when the test ends.
    _dir: tempfile::TempDir,
}

impl SqliteDb {
    pub(crate) async fn new(mode: WriteMode) -> SqliteDb {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("inventory.db");
        let dest = SqliteDestination::open(&path.to_string_lossy(), mode)
            .await
            .expect("open sqlite");
        SqliteDb { dest, _dir: dir }
    }

    /// Runs `f` on the destination's own connection.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> T) -> T {
        let connection = self
            .dest
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&connection)
    }
}

#[async_trait::async_trait]
impl TestDb for SqliteDb {
    fn kind(&self) -> Kind {
        Kind::Sqlite
    }

    fn dest(&self) -> &dyn Destination {
        &self.dest
    }

    async fn rows(&self, table: &'static Table) -> Vec<Stored> {
        let sql = format!("{} ORDER BY \"_cq_id\"", select_all(table));
        self.with(|c| {
            let mut statement = c.prepare(&sql).expect("prepare select");
            let rows = statement
                .query_map([], |row| {
                    let mut values = Vec::new();
                    for (i, column) in table.all_columns().enumerate() {
                        values.push(sqlite_value(row.get_ref(i)?, column.ty));
                    }
                    Ok(stored(values))
                })
                .expect("select");
            rows.collect::<Result<_, _>>().expect("rows")
        })
    }

    async fn columns(&self, table: &str) -> Vec<String> {
        self.with(|c| {
            let mut statement = c
                .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
                .expect("prepare");
            let names = statement
                .query_map([table], |row| row.get(0))
                .expect("table info");
            names.collect::<Result<_, _>>().expect("names")
        })
    }

    async fn texts(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.with(|c| {
            let mut statement = c.prepare(sql).expect("prepare query");
            let width = statement.column_count();
            let rows = statement
                .query_map([], |row| (0..width).map(|i| row.get(i)).collect())
                .expect("query");
            rows.collect::<Result<_, _>>().expect("rows")
        })
    }
}

fn select_all(table: &Table) -> String {
    let columns: Vec<String> = table.all_columns().map(|c| quote(c.name)).collect();
    format!("SELECT {} FROM {}", columns.join(", "), quote(table.name))
}

/// Splits decoded bookkeeping columns off the data columns.
fn stored(mut values: Vec<Value>) -> Stored {
    let data = values.split_off(4);
    let mut cq = values.into_iter();
    let mut next = || cq.next().unwrap_or(Value::Null);
    let sync_time = match next() {
        Value::Timestamp(t) => Some(t),
        _ => None,
    };
    let source = match next() {
        Value::Text(s) => Some(s),
        _ => None,
    };
    let cq_id = match next() {
        Value::Uuid(id) => id,
        other => panic!("_cq_id is {other:?}"),
    };
    let parent_id = match next() {
        Value::Uuid(id) => Some(id),
        _ => None,
    };
    Stored {
        sync_time,
        source,
        cq_id,
        parent_id,
        values: data,
    }
}

/// Decodes SQLite's storage, checking it is the documented one (a stray type fails the test).
fn sqlite_value(raw: ValueRef<'_>, ty: ColumnType) -> Value {
    let text = |raw: ValueRef<'_>| match raw {
        ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec()).expect("utf-8"),
        other => panic!("expected text for {ty}, found {other:?}"),
    };
    if let ValueRef::Null = raw {
        return Value::Null;
    }
    match ty {
        ColumnType::Text => Value::Text(text(raw)),
        ColumnType::BigInt => match raw {
            ValueRef::Integer(n) => Value::BigInt(n),
            other => panic!("expected integer, found {other:?}"),
        },
        ColumnType::Boolean => match raw {
            ValueRef::Integer(n @ (0 | 1)) => Value::Boolean(n == 1),
            other => panic!("expected 0 or 1, found {other:?}"),
        },
        ColumnType::Double => match raw {
            ValueRef::Real(d) => Value::Double(d),
            other => panic!("expected real, found {other:?}"),
        },
        ColumnType::Timestamp => {
            let text = text(raw);
            let time = DateTime::parse_from_rfc3339(&text)
                .expect("RFC 3339")
                .with_timezone(&Utc);
            assert_eq!(text, crate::sql::format_time(&time), "fixed format");
            Value::Timestamp(time)
        }
        ColumnType::Json => Value::Json(serde_json::from_str(&text(raw)).expect("JSON text")),
        ColumnType::TextArray => {
            Value::TextArray(serde_json::from_str(&text(raw)).expect("JSON list text"))
        }
        ColumnType::Uuid => Value::Uuid(text(raw).parse().expect("uuid text")),
    }
}

/// The server the PostgreSQL tests use; each test creates and drops its own database there.
fn postgres_server() -> String {
    std::env::var("TRAILSYNC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// The database tests connect to for administration (creating and dropping theirs).
const ADMIN_DATABASE: &str = "test";

pub(crate) struct PostgresDb {
    pub dest: PostgresDestination,
    pub reader: tokio_postgres::Client,
    pub name: String,
    pub url: String,
}

impl PostgresDb {
    pub(crate) async fn new(mode: WriteMode) -> PostgresDb {
        let server = postgres_server();
        let admin = admin_client(&server).await;
        let name = format!("trailsync_t_{}", Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE DATABASE {}", quote(&name)))
            .await
            .expect("create test database");
        let url = format!("{server}/{name}");
        let dest = PostgresDestination::connect(&url, mode)
            .await
            .expect("connect destination");
        let (reader, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect reader");
        tokio::spawn(connection);
        PostgresDb {
            dest,
            reader,
            name,
            url,
        }
    }
}

/// A connection to the admin database, or a loud failure: these tests never pass silently
/// because the server is missing.
pub(crate) async fn admin_client(server: &str) -> tokio_postgres::Client {
    let url = format!("{server}/{ADMIN_DATABASE}");
    match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            client
        }
        Err(error) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            panic!(
                "\n\n*** PostgreSQL is unreachable at {url}: {error}\n*** The PostgreSQL destination \
                 tests need a server (trust auth, database `{ADMIN_DATABASE}`); start it or set \
                 TRAILSYNC_TEST_POSTGRES_URL (now {server}).{}\n",
                if ci {
                    " CI=true: this is a failure."
                } else {
                    ""
                }
            )
        }
    }
}

impl Drop for PostgresDb {
    /// Drops the test database, also when the test panicked. Runs on its own thread and
    /// runtime: a test's runtime may be the current-thread one, blocked in this very drop.
    fn drop(&mut self) {
        let name = self.name.clone();
        let server = postgres_server();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = admin_client(&server).await;
                admin
                    .batch_execute(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        quote(&name)
                    ))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

#[async_trait::async_trait]
impl TestDb for PostgresDb {
    fn kind(&self) -> Kind {
        Kind::Postgres
    }

    fn dest(&self) -> &dyn Destination {
        &self.dest
    }

    async fn rows(&self, table: &'static Table) -> Vec<Stored> {
        let sql = format!("{} ORDER BY \"_cq_id\"", select_all(table));
        let rows = self.reader.query(&sql, &[]).await.expect("select");
        rows.iter()
            .map(|row| {
                let values = table
                    .all_columns()
                    .enumerate()
                    .map(|(i, column)| postgres_value(row, i, column.ty))
                    .collect();
                stored(values)
            })
            .collect()
    }

    async fn columns(&self, table: &str) -> Vec<String> {
        let rows = self
            .reader
            .query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                &[&table],
            )
            .await
            .expect("columns");
        rows.iter().map(|r| r.get(0)).collect()
    }

    async fn texts(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let rows = self.reader.query(sql, &[]).await.expect("query");
        rows.iter()
            .map(|row| (0..row.len()).map(|i| row.get(i)).collect())
            .collect()
    }
}

fn postgres_value(row: &tokio_postgres::Row, i: usize, ty: ColumnType) -> Value {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        row: &'a tokio_postgres::Row,
        i: usize,
    ) -> Option<T> {
        row.try_get::<_, Option<T>>(i)
            .expect("column of the declared type")
    }
    let value = match ty {
        ColumnType::Text => get(row, i).map(Value::Text),
        ColumnType::BigInt => get(row, i).map(Value::BigInt),
        ColumnType::Boolean => get(row, i).map(Value::Boolean),
        ColumnType::Double => get(row, i).map(Value::Double),
        ColumnType::Timestamp => get(row, i).map(Value::Timestamp),
        ColumnType::Json => get(row, i).map(Value::Json),
        ColumnType::TextArray => get(row, i).map(Value::TextArray),
        ColumnType::Uuid => get(row, i).map(Value::Uuid),
    };
    value.unwrap_or(Value::Null)
}
