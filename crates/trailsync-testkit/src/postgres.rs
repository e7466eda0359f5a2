//! A throw-away PostgreSQL database per test.

use std::str::FromStr;

use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

use crate::error::{Result, TestkitError};

/// Admin connection used when `TRAILSYNC_TEST_POSTGRES` is not set: the test machine's PostgreSQL
/// with trust auth. `postgres` is used rather than `root` because it is a superuser with CREATEDB
/// everywhere PostgreSQL is packaged (here both exist and are superusers).
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A uniquely named database, created for one test and dropped afterwards.
///
/// Tests share one server, so each gets its own database rather than its own schema: the code under
/// test creates tables where the connection string points, and must not see another test's rows.
/// Call [`TestDatabase::cleanup`] at the end of a test; if it is skipped (a failing assertion), Drop
/// drops the database on a helper thread, best effort.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    admin: Config,
    admin_display: String,
    connection_string: String,
    dropped: bool,
}

impl TestDatabase {
    /// Creates `trailsync_test_<uuid>` via the admin connection (`$TRAILSYNC_TEST_POSTGRES`, else
    /// [`DEFAULT_ADMIN_URL`]). Fails, naming the server, when PostgreSQL is unreachable.
    pub async fn create() -> Result<TestDatabase> {
        let admin_url = std::env::var("TRAILSYNC_TEST_POSTGRES")
            .unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
        Self::create_with(&admin_url).await
    }

    /// Like [`TestDatabase::create`] with an explicit admin connection string (URL or key=value).
    pub async fn create_with(admin_url: &str) -> Result<TestDatabase> {
        let admin = Config::from_str(admin_url).map_err(|source| TestkitError::PostgresConfig {
            target: redact(admin_url),
            source,
        })?;
        let admin_display = describe(&admin);
        let name = format!("trailsync_test_{}", uuid::Uuid::new_v4().simple());
        let client = connect(&admin, &admin_display).await?;
        client
            .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name)))
            .await
            .map_err(|source| TestkitError::Postgres {
                action: "CREATE DATABASE",
                target: admin_display.clone(),
                source,
            })?;
        let connection_string = url_for(&admin, &name);
        Ok(TestDatabase {
            name,
            admin,
            admin_display,
            connection_string,
            dropped: false,
        })
    }

    /// Name of the database.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `postgres://user@host:port/<name>`: what a destination config's `connection_string` takes.
    pub fn connection_string(&self) -> &str {
        &self.connection_string
    }

    /// Opens a connection to the test database (the connection task is spawned on the runtime).
    pub async fn connect(&self) -> Result<Client> {
        let mut config = self.admin.clone();
        config.dbname(&self.name);
        connect(&config, &self.connection_string).await
    }

    /// Drops the database, terminating connections the code under test may still hold.
    pub async fn cleanup(mut self) -> Result<()> {
        self.dropped = true;
        drop_database(&self.admin, &self.admin_display, &self.name).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Drop runs in async tests, where blocking on the current runtime is not allowed: use a
        // private runtime on a private thread. Failure is ignored; the name is unique, so a leftover
        // database only costs disk space.
        let (admin, display, name) = (
            self.admin.clone(),
            self.admin_display.clone(),
            self.name.clone(),
        );
        let handle = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(drop_database(&admin, &display, &name));
            }
        });
        let _ = handle.join();
    }
}

async fn connect(config: &Config, display: &str) -> Result<Client> {
    let (client, connection) =
        config
            .connect(NoTls)
            .await
            .map_err(|source| TestkitError::Postgres {
                action: "connect",
                target: display.to_owned(),
                source,
            })?;
    // The connection future drives the socket; it ends when the client is dropped.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

async fn drop_database(admin: &Config, display: &str, name: &str) -> Result<()> {
    let client = connect(admin, display).await?;
    client
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))
        .await
        .map_err(|source| TestkitError::Postgres {
            action: "DROP DATABASE",
            target: display.to_owned(),
            source,
        })
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `user@host:port/db` for messages: never the password.
fn describe(config: &Config) -> String {
    let user = config.get_user().unwrap_or("(default user)");
    let db = config.get_dbname().unwrap_or("(default db)");
    format!("postgres://{user}@{}/{db}", host_port(config))
}

fn host_port(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) if h.contains(':') => format!("[{h}]"),
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => percent_encode(&path.to_string_lossy()),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// The admin connection's server and credentials, pointed at `dbname`.
fn url_for(admin: &Config, dbname: &str) -> String {
    let mut userinfo = admin.get_user().map(percent_encode).unwrap_or_default();
    if let Some(password) = admin.get_password() {
        userinfo.push(':');
        userinfo.push_str(&percent_encode(&String::from_utf8_lossy(password)));
    }
    if !userinfo.is_empty() {
        userinfo.push('@');
    }
    format!("postgres://{userinfo}{}/{dbname}", host_port(admin))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A connection string with any password blanked, for error messages.
fn redact(url: &str) -> String {
    match Config::from_str(url) {
        Ok(config) => describe(&config),
        Err(_) => "(unparsable connection string)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_string_keeps_server_and_credentials() {
        let admin =
            Config::from_str("postgres://us%40er:p%3Ass@db.example:6543/admin").expect("valid url");
        assert_eq!(
            url_for(&admin, "trailsync_test_x"),
            "postgres://us%40er:p%3Ass@db.example:6543/trailsync_test_x"
        );
        assert_eq!(describe(&admin), "postgres://us@er@db.example:6543/admin");
        let reparsed = Config::from_str(&url_for(&admin, "t")).expect("round-trips");
        assert_eq!(reparsed.get_user(), Some("us@er"));
        assert_eq!(reparsed.get_password(), Some(&b"p:ss"[..]));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
