//! The PostgreSQL destination: one connection, re-opened on the next call after it drops.
//!
//! Calls are serialized on the connection (a transaction needs it to itself); the engine
//! writes one batch at a time anyway. A call that fails because the server went away returns
//! the error (the engine pauses and retries) and the next call connects again.

mod leases;
mod tls;
mod types;

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, GenericClient, Statement, Transaction};
use trailsync_catalog::{Table, Value};

use crate::Tally;
use crate::errors::{Context, Error, Operation};
use crate::history::{Stored, StoredRow};
use crate::lease::Statements;
use crate::own::{self, CHANGES, CHECKPOINTS, OWN_TABLES};
use crate::plan::{self, Read, Registry, Step};
use crate::sql::{self, Dialect};
use trailsync_core::{
    ChangeQuery, ChangeRecord, Destination, DestinationError, DestinationKind as Kind, Position,
    WriteBatch, WriteMode, WriteSummary,
};

/// Used when the connection string sets no `connect_timeout`: an unreachable server should fail
/// the call, not hang it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The server cancels a statement that runs longer (unless the connection string sets its own
/// `statement_timeout`): a lock or a runaway query fails the batch, which is retried, instead
/// of hanging consumption.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// A transaction unanswered this long (a server gone silent, a network partition) fails on the
/// client side too, and its connection is dropped.
const CALL_TIMEOUT: Duration = Duration::from_secs(90);

/// Prepared statements kept per connection; the oldest is closed beyond this.
const STATEMENT_CACHE: usize = 64;

/// A PostgreSQL database as a destination.
pub struct PostgresDestination {
    config: Config,
    /// How `config` is connected: libpq's `sslmode` and `sslrootcert`, with rustls.
    tls: tls::Tls,
    mode: WriteMode,
    registry: Registry,
    session: Mutex<Session>,
    statements: Statements,
}

impl std::fmt::Debug for PostgresDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the config: it may hold a password.
        f.debug_struct("PostgresDestination")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// The live connection, if any, and the statements prepared on it.
#[derive(Default)]
struct Session {
    client: Option<Client>,
    statements: StatementCache,
}

impl PostgresDestination {
    /// Connects (failing fast if the server is unreachable) and creates the checkpoint table.
    ///
    /// TLS follows libpq's `sslmode` (disable, allow, prefer (the default), require, verify-ca,
    /// verify-full) and `sslrootcert` (a PEM file, or `system`): see the `tls` module. No message
    /// quotes the connection string, which may hold a password.
    pub async fn connect(
        connection_string: &str,
        mode: WriteMode,
    ) -> Result<PostgresDestination, Error> {
        let invalid = |error: &(dyn std::error::Error + 'static)| Error::InvalidConnectionString {
            kind: Kind::Postgres,
            reason: crate::errors::chain(error),
        };
        let split = tls::split(connection_string).map_err(|e| invalid(&e))?;
        let mut config = Config::from_str(&split.rest).map_err(|e| invalid(&e))?;
        let tls = tls::Tls::new(&split.options, &mut config).map_err(|e| invalid(&e))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("trailsync");
        }
        let options = config.get_options().unwrap_or_default();
        if !options.contains("statement_timeout") {
            let timeout = format!("-c statement_timeout={}", STATEMENT_TIMEOUT.as_millis());
            config.options(format!("{options} {timeout}").trim());
        }
        let destination = PostgresDestination {
            config,
            tls,
            mode,
            registry: Registry::default(),
            session: Mutex::new(Session::default()),
            statements: Statements::new(Dialect::Postgres),
        };
        {
            let mut session = destination.session().await?;
            let client = session.client()?;
            create_own_tables(client).await?;
        }
        Ok(destination)
    }

    /// The session, connected: a dropped connection is replaced here, on the next call.
    async fn session(&self) -> Result<tokio::sync::MutexGuard<'_, Session>, Error> {
        let mut session = self.session.lock().await;
        if session.client.as_ref().is_none_or(Client::is_closed) {
            if session.client.take().is_some() {
                tracing::info!("postgresql connection was lost; reconnecting");
            }
            session.statements.clear();
            let (client, connection) =
                self.tls
                    .connect(&self.config)
                    .await
                    .map_err(|source| Error::Connect {
                        kind: Kind::Postgres,
                        error: Box::new(source),
                    })?;
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    let error = crate::errors::describe_postgres(&error);
                    tracing::warn!(%error, "postgresql connection failed");
                }
            });
            session.client = Some(client);
        }
        Ok(session)
    }

    /// Runs `steps` in one transaction; on a lost connection, forgets it for the next call.
    async fn apply(&self, steps: &[Step<'_>]) -> Result<WriteSummary, Error> {
        self.apply_after(&[], |_| Ok(steps)).await
    }

    /// Runs `reads`, then the steps `plan` makes of what they found, in one transaction; on a
    /// lost connection, forgets it for the next call.
    async fn apply_after<'s, 'a: 's, F, S>(
        &self,
        reads: &[Read<'a>],
        plan: F,
    ) -> Result<WriteSummary, Error>
    where
        F: FnOnce(Stored) -> Result<S, Error>,
        S: AsRef<[Step<'s>]>,
    {
        self.call(async |session| session.apply(reads, plan).await)
            .await
    }

    /// Runs `f` on the session within [`CALL_TIMEOUT`]; after an error that may have broken
    /// the connection, forgets it for the next call. Every call to the server goes through here.
    async fn call<T>(
        &self,
        f: impl AsyncFnOnce(&mut Session) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut session = self.session().await?;
        let result = match tokio::time::timeout(CALL_TIMEOUT, f(&mut session)).await {
            Ok(result) => result,
            Err(_) => Err(Error::TimedOut {
                kind: Kind::Postgres,
                after: CALL_TIMEOUT,
            }),
        };
        if let Err(error) = &result {
            session.forget_after(error);
        }
        result
    }
}

impl Session {
    fn client(&mut self) -> Result<&mut Client, Error> {
        connected(&mut self.client)
    }

    /// Drops the connection after an error that may have broken it (anything retryable: an I/O
    /// failure, a server shutdown message, ...); the next call opens a new one. The client's own
    /// flag is not enough: it may not know yet that the server closed the connection.
    fn forget_after(&mut self, error: &Error) {
        if error.is_retryable() || self.client.as_ref().is_some_and(Client::is_closed) {
            if self.client.take().is_some() {
                tracing::debug!(%error, "dropping the postgresql connection");
            }
            self.statements.clear();
        }
    }

    async fn apply<'s, 'a: 's, F, S>(
        &mut self,
        reads: &[Read<'a>],
        plan: F,
    ) -> Result<WriteSummary, Error>
    where
        F: FnOnce(Stored) -> Result<S, Error>,
        S: AsRef<[Step<'s>]>,
    {
        let Session { client, statements } = self;
        let client = connected(client)?;
        let tx = client
            .transaction()
            .await
            .map_err(on(Context::op(Operation::Begin)))?;
        let mut stored = Stored::default();
        for read in reads {
            let context = read.step.context;
            let statement = statements.prepare(&tx, &read.step.sql, context).await?;
            let params: Vec<&(dyn ToSql + Sync)> = read
                .step
                .params
                .iter()
                .map(|p| p as &(dyn ToSql + Sync))
                .collect();
            let rows = tx.query(&statement, &params).await.map_err(on(context))?;
            let found = rows
                .iter()
                .filter_map(|row| stored_row(row, read.table))
                .collect();
            stored.add(read, found);
        }
        let steps = plan(stored)?;
        let mut tally = Tally::default();
        for step in steps.as_ref() {
            let statement = statements.prepare(&tx, &step.sql, step.context).await?;
            let params: Vec<&(dyn ToSql + Sync)> = step
                .params
                .iter()
                .map(|p| p as &(dyn ToSql + Sync))
                .collect();
            let rows = tx
                .execute(&statement, &params)
                .await
                .map_err(on(step.context))?;
            tally.add(step.effect, rows)?;
        }
        tx.commit()
            .await
            .map_err(on(Context::op(Operation::Commit)))?;
        Ok(tally.0)
    }
}

#[async_trait::async_trait]
impl Destination for PostgresDestination {
    async fn migrate(&self, tables: &[&'static Table]) -> Result<(), DestinationError> {
        let keyed = self.mode.is_keyed();
        let mut session = self.session().await?;
        let result = async {
            let client = session.client()?;
            let tx = client
                .transaction()
                .await
                .map_err(on(Context::op(Operation::Begin)))?;
            create_own_tables_in(&tx).await?;
            for table in tables {
                migrate_table(&tx, table, keyed).await?;
            }
            tx.commit()
                .await
                .map_err(on(Context::op(Operation::Commit)))
        }
        .await;
        // Altered tables: statements prepared against their old shape are not reused.
        session.statements.clear();
        if let Err(error) = &result {
            session.forget_after(error);
        }
        result?;
        self.registry.add(tables);
        Ok(())
    }

    async fn write(&self, batch: &WriteBatch) -> Result<WriteSummary, DestinationError> {
        if batch.is_empty() {
            return Ok(WriteSummary::default());
        }
        let known = self.registry.snapshot();
        let reads = plan::reads(Dialect::Postgres, self.mode, batch);
        let summary = self
            .apply_after(&reads, |stored| {
                plan::write(
                    Dialect::Postgres,
                    self.mode,
                    &known,
                    batch,
                    &stored,
                    &self.statements,
                )
            })
            .await?;
        tracing::debug!(
            upserted = summary.rows_upserted,
            deleted = summary.rows_deleted,
            "postgresql batch committed"
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
        let known = self.registry.snapshot();
        let steps = plan::delete_stale(Dialect::Postgres, &known, table, source, before, filter)?;
        Ok(self.apply(&steps).await?.rows_deleted)
    }

    async fn checkpoints(
        &self,
        source: &str,
        stream_arn: &str,
    ) -> Result<HashMap<String, Position>, DestinationError> {
        let context = Context::new(Operation::ReadCheckpoints, CHECKPOINTS.name);
        let rows = self
            .call(async |session| {
                let rows = session
                    .client()?
                    .query(
                        &sql::select_checkpoints(Dialect::Postgres),
                        &[&source, &stream_arn],
                    )
                    .await
                    .map_err(on(context))?;
                rows.iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .collect::<Result<Vec<(String, String)>, tokio_postgres::Error>>()
                    .map_err(on(context))
            })
            .await?;
        Ok(crate::positions(rows)?)
    }

    async fn changes(&self, query: &ChangeQuery) -> Result<Vec<ChangeRecord>, DestinationError> {
        let (sql, params) = crate::history::select(Dialect::Postgres, query);
        let context = Context::new(Operation::ReadStored, CHANGES.name);
        let records = self
            .call(async |session| {
                let params: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                let rows = session
                    .client()?
                    .query(&sql, &params)
                    .await
                    .map_err(on(context))?;
                Ok(rows
                    .iter()
                    .map(|row| {
                        let values = CHANGES
                            .columns
                            .iter()
                            .enumerate()
                            .map(|(i, c)| types::value_of(row, i, c.ty))
                            .collect();
                        crate::history::record(values)
                    })
                    .collect())
            })
            .await?;
        Ok(records)
    }

    async fn prune_changes(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, DestinationError> {
        let context = Context::new(Operation::Delete, CHANGES.name);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let deleted = self
            .call(async |session| {
                session
                    .client()?
                    .execute(
                        &crate::history::prune(Dialect::Postgres),
                        &[&before, &limit],
                    )
                    .await
                    .map_err(on(context))
            })
            .await?;
        Ok(deleted)
    }
}

/// A row read by [`plan::reads`], decoded leniently (see [`types::value_of`]).
fn stored_row(row: &tokio_postgres::Row, table: &Table) -> Option<StoredRow> {
    let values: Vec<Value> = table
        .all_columns()
        .enumerate()
        .map(|(i, column)| types::value_of(row, i, column.ty))
        .collect();
    StoredRow::from_values(values)
}

/// Creates trailsync's own tables if missing, and adds the columns a newer trailsync declares,
/// in a transaction of its own.
async fn create_own_tables(client: &mut Client) -> Result<(), Error> {
    let tx = client
        .transaction()
        .await
        .map_err(on(Context::op(Operation::Begin)))?;
    create_own_tables_in(&tx).await?;
    tx.commit()
        .await
        .map_err(on(Context::op(Operation::Commit)))
}

/// Serializes schema changes between workers starting together: PostgreSQL's `CREATE TABLE IF
/// NOT EXISTS` is not safe against a concurrent one (both may try to create the row type).
/// Held until the transaction ends.
async fn lock_schema(tx: &Transaction<'_>) -> Result<(), Error> {
    tx.batch_execute("SELECT pg_advisory_xact_lock(7305741238419823001)")
        .await
        .map_err(on(Context::op(Operation::CreateTable)))
}

/// [`create_own_tables`] inside a transaction that holds the schema lock.
async fn create_own_tables_in(tx: &Transaction<'_>) -> Result<(), Error> {
    lock_schema(tx).await?;
    let client = tx;
    for table in OWN_TABLES {
        let create = on(Context::new(Operation::CreateTable, table.name));
        client
            .batch_execute(&own::create(Dialect::Postgres, table))
            .await
            .map_err(&create)?;
        create_missing_indexes(client, table.name, own::indexes(table)).await?;
        let existing: Vec<String> = client
            .query(
                "SELECT a.attname::text FROM pg_attribute a \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                &[&sql::quote(table.name)],
            )
            .await
            .map_err(on(Context::new(Operation::Inspect, table.name)))?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(on(Context::new(Operation::Inspect, table.name)))?;
        for statement in own::add_missing(Dialect::Postgres, table, &existing) {
            client
                .batch_execute(&statement)
                .await
                .map_err(on(Context::new(Operation::AddColumn, table.name)))?;
        }
    }
    Ok(())
}

async fn migrate_table(
    tx: &Transaction<'_>,
    table: &'static Table,
    keyed: bool,
) -> Result<(), Error> {
    tx.batch_execute(&sql::create_table(Dialect::Postgres, table, keyed))
        .await
        .map_err(on(Context::new(Operation::CreateTable, table.name)))?;

    let inspect = on(Context::new(Operation::Inspect, table.name));
    // `to_regclass` resolves the name the way the statements do: through the search path.
    let regclass = sql::quote(table.name);
    let existing: Vec<(String, String)> = tx
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
            &[&regclass],
        )
        .await
        .map_err(&inspect)?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(&inspect)?;

    for column in table.all_columns() {
        let expected = Dialect::Postgres.reported_type(column.ty);
        match existing.iter().find(|(name, _)| name == column.name) {
            None => {
                tx.batch_execute(&sql::add_column(Dialect::Postgres, table, column))
                    .await
                    .map_err(on(Context::new(Operation::AddColumn, table.name)))?;
                tracing::info!(table = table.name, column = column.name, "added column");
            }
            Some((_, ty)) if ty != expected => {
                tracing::warn!(
                    table = table.name,
                    column = column.name,
                    existing = %ty,
                    expected,
                    "column exists with another type; keeping it"
                );
            }
            Some(_) => {}
        }
    }

    if keyed {
        let key: Vec<String> = tx
            .query(
                "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a \
                 ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indrelid = to_regclass($1) AND i.indisprimary",
                &[&regclass],
            )
            .await
            .map_err(&inspect)?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(&inspect)?;
        let key: Vec<&str> = key.iter().map(String::as_str).collect();
        plan::check_key(table, &key)?;
    }

    create_missing_indexes(tx, table.name, sql::create_indexes(table, keyed)).await
}

/// Creates the indexes of `table` that do not exist yet. `CREATE INDEX IF NOT EXISTS` locks
/// the table before it looks, and a worker starting beside others that are writing could
/// deadlock with them: an up-to-date schema takes no lock at all.
async fn create_missing_indexes(
    tx: &Transaction<'_>,
    table: &'static str,
    indexes: Vec<sql::Index>,
) -> Result<(), Error> {
    let inspect = on(Context::new(Operation::Inspect, table));
    let existing: Vec<String> = tx
        .query(
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE i.indrelid = to_regclass($1)",
            &[&sql::quote(table)],
        )
        .await
        .map_err(&inspect)?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(&inspect)?;
    for index in indexes {
        if !existing.contains(&index.name) {
            tx.batch_execute(&index.create)
                .await
                .map_err(on(Context::new(Operation::CreateIndex, table)))?;
        }
    }
    Ok(())
}

/// Statements prepared on the current connection, by SQL text, oldest evicted first.
#[derive(Default)]
struct StatementCache {
    statements: HashMap<String, Statement>,
    order: VecDeque<String>,
}

impl StatementCache {
    async fn prepare(
        &mut self,
        client: &impl GenericClient,
        sql: &str,
        context: Context,
    ) -> Result<Statement, Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql).await.map_err(on(context))?;
        if self.order.len() >= STATEMENT_CACHE {
            // Dropping the last handle closes the statement on the server.
            if let Some(oldest) = self.order.pop_front() {
                self.statements.remove(&oldest);
            }
        }
        self.order.push_back(sql.to_string());
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    fn clear(&mut self) {
        self.statements.clear();
        self.order.clear();
    }
}

/// The client of a session. `PostgresDestination::session` connects before handing one out, so
/// this only fails if that ever changes.
fn connected(client: &mut Option<Client>) -> Result<&mut Client, Error> {
    client.as_mut().ok_or_else(|| Error::Connect {
        kind: Kind::Postgres,
        error: "not connected".into(),
    })
}

/// The error mapper for one operation.
fn on(context: Context) -> impl Fn(tokio_postgres::Error) -> Error {
    move |source| Error::Postgres {
        context,
        error: source,
    }
}
