//! The one error type of the harness.
//!
//! Every variant says what was being done and against what (path, endpoint, database, log file), so a
//! failing test explains itself without a debugger: the harness must make tests fail loudly, never skip.

use std::path::PathBuf;
use std::time::Duration;

use aws_smithy_types::error::display::DisplayErrorContext;

/// Boxed source error, for the AWS SDK's many per-operation error types.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Shorthand for results of the harness.
pub type Result<T, E = TestkitError> = std::result::Result<T, E>;

/// Everything that can go wrong while setting up or driving the test world.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    /// The pinned moto server is not installed where the harness looks for it.
    #[error(
        "moto_server not found at {}: run scripts/setup-moto.sh (or set TRAILSYNC_MOTO_SERVER to a moto_server binary)",
        path.display()
    )]
    MotoNotFound { path: PathBuf },

    /// The moto process could not be spawned at all.
    #[error("could not spawn moto_server {}: {source} (log: {})", path.display(), log.display())]
    MotoSpawn {
        path: PathBuf,
        log: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// moto exited before it answered; the tail of its log usually says why (port in use, import error).
    #[error("moto_server exited with {status} before it was ready (log: {}):\n{tail}", log.display())]
    MotoExited {
        status: std::process::ExitStatus,
        log: PathBuf,
        tail: String,
    },

    /// moto did not answer within the readiness timeout.
    #[error("moto_server at {endpoint} not ready after {waited:?} (log: {})", log.display())]
    MotoNotReady {
        endpoint: String,
        waited: Duration,
        log: PathBuf,
    },

    /// A moto control endpoint (`/moto-api/...`) answered with an unexpected status.
    #[error("moto {method} {url} answered HTTP {status}: {body}")]
    MotoApi {
        method: &'static str,
        url: String,
        status: u16,
        body: String,
    },

    /// Plain HTTP to moto failed (connection refused, malformed response).
    #[error("HTTP {method} {url} failed: {reason}")]
    Http {
        method: &'static str,
        url: String,
        reason: String,
    },

    /// Local file work (log file, log directory) failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An AWS call against moto failed.
    #[error("AWS {operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
        #[source]
        source: BoxError,
    },

    /// An AWS answer lacked a field the harness needs (moto changed shape, or a wrong API was hit).
    #[error("AWS {operation} answer has no {field}")]
    MissingField {
        operation: &'static str,
        field: &'static str,
    },

    /// The Kinesis stream did not become ACTIVE in time.
    #[error("Kinesis stream {stream} not ACTIVE after {waited:?} (last status: {status})")]
    StreamNotActive {
        stream: String,
        waited: Duration,
        status: String,
    },

    /// Not a 12-digit AWS account id.
    #[error("{0:?} is not an AWS account id (12 digits)")]
    InvalidAccountId(String),

    /// PostgreSQL could not be reached or refused a statement.
    #[error(
        "PostgreSQL {action} at {target} failed: {source} (is PostgreSQL running? set TRAILSYNC_TEST_POSTGRES to an admin connection string)"
    )]
    Postgres {
        action: &'static str,
        target: String,
        #[source]
        source: tokio_postgres::Error,
    },

    /// The admin connection string is not a valid PostgreSQL connection string.
    #[error("invalid PostgreSQL connection string {target:?}: {source}")]
    PostgresConfig {
        target: String,
        #[source]
        source: tokio_postgres::Error,
    },

    /// A private PostgreSQL server could not be set up, started or stopped.
    #[error("private PostgreSQL server: {0}")]
    PostgresServer(String),

    /// A test certificate or key could not be made.
    #[error("cannot make the test {what}: {source}")]
    Certificate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },

    /// A Kinesis record or moto recording was not what the harness expects.
    #[error("cannot decode {what}: {reason}")]
    Decode { what: &'static str, reason: String },

    /// JSON (de)serialisation failed.
    #[error("JSON {action} failed: {source}")]
    Json {
        action: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl TestkitError {
    /// Maps any AWS SDK error to [`TestkitError::Aws`], keeping the full error chain in the message
    /// (the SDK's `Display` alone only says "service error").
    pub(crate) fn aws<E>(operation: &'static str) -> impl FnOnce(E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |err| TestkitError::Aws {
            operation,
            message: DisplayErrorContext(&err).to_string(),
            source: Box::new(err),
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| TestkitError::Io {
            action,
            path,
            source,
        }
    }
}
