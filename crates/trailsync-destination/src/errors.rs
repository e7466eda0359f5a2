use std::fmt;

use trailsync_core::{DestinationKind as Kind, ErrorKind};

/// What a destination was doing when it failed; part of every error so a log line says where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Connect,
    Begin,
    Commit,
    /// Reading the existing shape of a table.
    Inspect,
    CreateTable,
    AddColumn,
    CreateIndex,
    /// `INSERT ... ON CONFLICT DO UPDATE`.
    Upsert,
    /// Plain `INSERT` (append mode).
    Insert,
    /// Removing a parent's child rows before they are written again.
    ReplaceChildren,
    Delete,
    DeleteStale,
    WriteCheckpoint,
    ReadCheckpoints,
    /// Taking, renewing or releasing a lease, or reading the fleet.
    Lease,
    /// Reading the stored rows a batch replaces.
    ReadStored,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Connect => "connect",
            Operation::Begin => "begin transaction",
            Operation::Commit => "commit",
            Operation::Inspect => "inspect",
            Operation::CreateTable => "create table",
            Operation::AddColumn => "add column to",
            Operation::CreateIndex => "create index on",
            Operation::Upsert => "upsert into",
            Operation::Insert => "insert into",
            Operation::ReplaceChildren => "replace child rows of",
            Operation::Delete => "delete from",
            Operation::DeleteStale => "delete stale rows from",
            Operation::WriteCheckpoint => "write checkpoints to",
            Operation::ReadCheckpoints => "read checkpoints from",
            Operation::Lease => "update leases in",
            Operation::ReadStored => "read stored rows of",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An operation and, when it concerns one, the table: "upsert into aws_ec2_instances".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    pub operation: Operation,
    pub table: Option<&'static str>,
}

impl Context {
    pub(crate) fn new(operation: Operation, table: &'static str) -> Context {
        Context {
            operation,
            table: Some(table),
        }
    }

    pub(crate) fn op(operation: Operation) -> Context {
        Context {
            operation,
            table: None,
        }
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.table {
            Some(table) => write!(f, "{} {table}", self.operation),
            None => write!(f, "{}", self.operation),
        }
    }
}

/// Why a destination call failed, in the database's own terms. Nothing of a failed
/// [`write`](trailsync_core::Destination::write) was committed, whatever the variant. Crosses the
/// [`Destination`](trailsync_core::Destination) port as a [`trailsync_core::DestinationError`]
/// that keeps this error and whether it is worth retrying.
///
/// Each message is complete on one line (the database's own message included), so the
/// underlying errors are kept in the variants rather than also returned as `source()`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connection string cannot be used; fix the configuration.
    #[error("{kind} connection string is invalid: {reason}")]
    InvalidConnectionString { kind: Kind, reason: String },

    /// The database could not be reached or opened.
    #[error("cannot connect to {kind}: {}", chain(error.as_ref()))]
    Connect {
        kind: Kind,
        error: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("sqlite: {context}: {error}")]
    Sqlite {
        context: Context,
        error: rusqlite::Error,
    },

    #[error("postgresql: {context}: {}", describe_postgres(error))]
    Postgres {
        context: Context,
        error: tokio_postgres::Error,
    },

    /// The batch contradicts the catalog (a value of the wrong type, a child row of another
    /// parent, an unknown filter column). A bug in the caller: retrying cannot help.
    #[error("invalid write to {table}: {reason}")]
    InvalidBatch { table: &'static str, reason: String },

    /// A stored checkpoint is not a position trailsync writes (edited by hand, or corrupted).
    #[error(
        "checkpoint of shard {shard} is unreadable ({stored:?}); delete its row to start the shard afresh"
    )]
    InvalidCheckpoint { shard: String, stored: String },

    /// An existing table cannot be brought to the catalog's shape without dropping data.
    #[error("cannot migrate {table}: {reason}")]
    Migration { table: &'static str, reason: String },

    /// The database did not answer in time; the connection is dropped and the call retried.
    #[error("{kind}: no answer within {after:?}")]
    TimedOut {
        kind: Kind,
        after: std::time::Duration,
    },

    /// A checkpoint's lease passed to another worker; nothing of the batch was kept.
    #[error(transparent)]
    LeaseLost(#[from] trailsync_core::LeaseLost),

    /// The blocking task running a SQLite call was cancelled or panicked.
    #[error("sqlite: {context}: background task failed: {error}")]
    Task {
        context: Context,
        error: tokio::task::JoinError,
    },
}

impl Error {
    /// Whether trying the same call again later may succeed: the database was unreachable, busy,
    /// or lost the connection, as opposed to a batch or schema the database will always refuse.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connect { .. } | Error::Task { .. } | Error::TimedOut { .. } => true,
            Error::Sqlite { error, .. } => sqlite_retryable(error),
            Error::Postgres { error, .. } => postgres_retryable(error),
            Error::InvalidConnectionString { .. }
            | Error::InvalidBatch { .. }
            | Error::InvalidCheckpoint { .. }
            | Error::LeaseLost(_)
            | Error::Migration { .. } => false,
        }
    }
}

fn sqlite_retryable(error: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        error.sqlite_error_code(),
        Some(DatabaseBusy | DatabaseLocked | SystemIoFailure | DiskFull | CannotOpen | OutOfMemory)
    )
}

fn postgres_retryable(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        // Classes 08 (connection), 40 (serialization failure, deadlock), 53 (insufficient
        // resources), 57 (operator intervention: shutdown, cancel) pass with time.
        Some(state) => ["08", "40", "53", "57"]
            .iter()
            .any(|class| state.code().starts_with(class)),
        // No SQLSTATE: the connection's I/O failed (retryable), or a value could not be
        // converted (not).
        None => std::error::Error::source(error).is_some_and(|e| e.is::<std::io::Error>()),
    }
}

/// `error: cause: cause`, on one line.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text.replace('\n', "; ")
}

/// The server's message, SQLSTATE and detail for a database error (tokio-postgres alone says
/// only "db error"); the cause chain otherwise.
pub(crate) fn describe_postgres(error: &tokio_postgres::Error) -> String {
    let Some(db) = error.as_db_error() else {
        return chain(error);
    };
    let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
    if let Some(detail) = db.detail() {
        text.push_str("; ");
        text.push_str(detail);
    }
    if let Some(hint) = db.hint() {
        text.push_str("; hint: ");
        text.push_str(hint);
    }
    text.replace('\n', "; ")
}

impl From<Error> for trailsync_core::DestinationError {
    fn from(error: Error) -> Self {
        if let Error::LeaseLost(lost) = error {
            return trailsync_core::DestinationError::lease_lost(lost);
        }
        let kind = if error.is_retryable() {
            ErrorKind::Unavailable
        } else {
            ErrorKind::Refused
        };
        trailsync_core::DestinationError::new(kind, error)
    }
}
