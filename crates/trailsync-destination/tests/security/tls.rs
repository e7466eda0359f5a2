//! PostgreSQL over TLS as libpq does it, against a private server that accepts TLS connections
//! only (`hostssl` in `pg_hba.conf`) and whose certificate, for 127.0.0.1 and localhost, is
//! signed by a test CA.

use std::path::{Path, PathBuf};

use chrono::Utc;
use serde_json::json;
use trailsync_catalog::{Resource, Row};
use trailsync_core::{Destination, WriteBatch, WriteMode};
use trailsync_destination::PostgresDestination;
use trailsync_testkit::{PostgresServer, TestCa};

/// `hostssl` only: a plain TCP connection finds no entry and is refused. `alice` logs in with a
/// password (SCRAM), everyone else is trusted; the Unix socket is for set-up statements.
const PG_HBA: &str = "\
local   all  all                 trust
hostssl all  alice  127.0.0.1/32 scram-sha-256
hostssl all  all    127.0.0.1/32 trust
";

/// A TLS-only server, the CA that signed its certificate, and another CA.
struct TlsServer {
    server: PostgresServer,
    /// The CA that signed the server's certificate, as a PEM file.
    ca: PathBuf,
    /// A CA that did not.
    other_ca: PathBuf,
    _files: tempfile::TempDir,
}

impl TlsServer {
    async fn start() -> TlsServer {
        let ca = TestCa::new("trailsync test CA").expect("CA");
        let other = TestCa::new("another CA").expect("other CA");
        let cert = ca
            .issue(&["127.0.0.1", "localhost"])
            .expect("server certificate");
        let server = PostgresServer::start_tls(&cert, PG_HBA)
            .await
            .expect("TLS server starts");
        let files = tempfile::tempdir().expect("temporary folder");
        let ca_path = files.path().join("ca.pem");
        let other_path = files.path().join("other-ca.pem");
        ca.write_cert(&ca_path).expect("write CA");
        other.write_cert(&other_path).expect("write other CA");
        TlsServer {
            server,
            ca: ca_path,
            other_ca: other_path,
            _files: files,
        }
    }

    /// `postgres://postgres@HOST:PORT/postgres?PARAMS`.
    fn url(&self, host: &str, params: &str) -> String {
        format!(
            "postgres://postgres@{host}:{}/postgres?{params}",
            self.server.port()
        )
    }

    async fn connect(&self, connection_string: &str) -> Result<PostgresDestination, String> {
        PostgresDestination::connect(connection_string, WriteMode::OverwriteDeleteStale)
            .await
            .map_err(|e| e.to_string())
    }

    /// Connects, or fails the test with the error and the server's log.
    async fn connected(&self, connection_string: &str) -> PostgresDestination {
        match self.connect(connection_string).await {
            Ok(destination) => destination,
            Err(error) => panic!(
                "{connection_string} should connect: {error}\nserver log:\n{}",
                self.server.log()
            ),
        }
    }

    async fn refused(&self, connection_string: &str) -> String {
        match self.connect(connection_string).await {
            Ok(_) => panic!("{connection_string} should be refused"),
            Err(error) => {
                assert!(!error.contains('\n'), "one line: {error}");
                error
            }
        }
    }

    /// A set-up client over the Unix socket (no TLS needed there).
    async fn admin(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.server.socket_url("postgres"), tokio_postgres::NoTls)
                .await
                .expect("admin connection over the socket");
        tokio::spawn(connection);
        client
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[tokio::test]
async fn verify_full_with_the_right_root_connects_migrates_and_writes() {
    let tls = TlsServer::start().await;
    let url = tls.url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={}", path(&tls.ca)),
    );
    let destination = tls.connected(&url).await;

    let table = &trailsync_catalog::tables::ec2::INSTANCES;
    destination.migrate(&[table]).await.expect("migrate");
    let arn = "arn:aws:ec2:us-east-1:111122223333:instance/i-0tls";
    let object = json!({
        "arn": arn,
        "account_id": "111122223333",
        "region": "us-east-1",
        "instance_id": "i-0tls",
    });
    let row = Row::from_json(table, object.as_object().expect("object"), None).expect("row");
    let mut batch = WriteBatch::new("aws", Utc::now());
    batch.upserts = vec![Resource::new(row)];
    let summary = destination.write(&batch).await.expect("write");
    assert_eq!(summary.rows_upserted, 1);
    let checkpoints = destination
        .checkpoints("aws", "arn:aws:kinesis:us-east-1:111122223333:stream/s")
        .await
        .expect("checkpoints");
    assert!(checkpoints.is_empty());

    let admin = tls.admin().await;
    let stored: i64 = admin
        .query_one(
            "SELECT count(*) FROM aws_ec2_instances WHERE arn = $1",
            &[&arn],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 1, "the row went through the TLS connection");
    let encrypted: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'trailsync' AND s.ssl",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .get(0);
    assert_eq!(encrypted, 1, "trailsync's session is encrypted");

    // The key=value form, with the path quoted, works the same.
    let key_value = format!(
        "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert='{}'",
        tls.server.port(),
        path(&tls.ca)
    );
    tls.connected(&key_value).await;
}

#[tokio::test]
async fn certificates_are_checked_as_sslmode_says() {
    let tls = TlsServer::start().await;

    // Signed by another CA: refused, naming the host and the root file.
    let error = tls
        .refused(&tls.url(
            "127.0.0.1",
            &format!("sslmode=verify-full&sslrootcert={}", path(&tls.other_ca)),
        ))
        .await;
    let expected = format!(
        "certificate of 127.0.0.1 is not trusted by sslrootcert {}",
        path(&tls.other_ca)
    );
    assert!(error.contains(&expected), "{error}");
    assert!(error.contains("UnknownIssuer"), "{error}");

    // libpq's rule: `require` with a root checks the chain, as verify-ca.
    let error = tls
        .refused(&tls.url(
            "127.0.0.1",
            &format!("sslmode=require&sslrootcert={}", path(&tls.other_ca)),
        ))
        .await;
    assert!(error.contains("is not trusted by sslrootcert"), "{error}");

    // A host name the certificate does not carry (reached through hostaddr).
    let wrong_host = |mode: &str| {
        tls.url(
            "db.invalid.test",
            &format!(
                "hostaddr=127.0.0.1&sslmode={mode}&sslrootcert={}",
                path(&tls.ca)
            ),
        )
    };
    let error = tls.refused(&wrong_host("verify-full")).await;
    assert!(
        error.contains("certificate of db.invalid.test is not valid for that name"),
        "{error}"
    );
    assert!(error.contains("localhost"), "the names it has: {error}");
    // verify-ca checks the chain only.
    tls.connected(&wrong_host("verify-ca")).await;

    // prefer falls back to plain when TLS fails; this server refuses plain: both are said.
    let error = tls
        .refused(&tls.url(
            "127.0.0.1",
            &format!("sslmode=prefer&sslrootcert={}", path(&tls.other_ca)),
        ))
        .await;
    assert!(
        error.contains("with TLS:") && error.contains("is not trusted"),
        "{error}"
    );
    assert!(
        error.contains("without TLS:") && error.contains("no encryption"),
        "{error}"
    );

    // A root file that does not exist is a configuration error, before any connection.
    let error = tls
        .refused(&tls.url(
            "127.0.0.1",
            "sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
        ))
        .await;
    assert!(
        error.contains("connection string is invalid: cannot read sslrootcert /nonexistent/ca.pem"),
        "{error}"
    );
}

#[tokio::test]
async fn plain_connections_are_refused_and_unverified_tls_connects() {
    let tls = TlsServer::start().await;

    let error = tls.refused(&tls.url("127.0.0.1", "sslmode=disable")).await;
    assert!(
        error.starts_with("cannot connect to postgresql:")
            && error.contains("no pg_hba.conf entry"),
        "{error}"
    );
    assert!(error.contains("no encryption"), "{error}");

    // Encrypted without checking the certificate: require without a root, prefer (the default
    // as well), and allow (plain is refused, then TLS).
    for params in ["sslmode=require", "sslmode=prefer", "", "sslmode=allow"] {
        let destination = tls.connected(&tls.url("127.0.0.1", params)).await;
        destination
            .migrate(&[&trailsync_catalog::tables::ec2::INSTANCES])
            .await
            .unwrap_or_else(|e| panic!("{params}: migrate: {e}"));
    }

    let error = tls.refused(&tls.url("127.0.0.1", "sslmode=verify")).await;
    assert!(
        error.contains("unknown sslmode \"verify\"; expected disable, allow, prefer, require, verify-ca or verify-full"),
        "{error}"
    );
}

#[tokio::test]
async fn scram_is_bound_to_the_tls_channel_and_passwords_stay_out_of_errors() {
    let tls = TlsServer::start().await;
    let admin = tls.admin().await;
    admin
        .batch_execute(
            "SET password_encryption = 'scram-sha-256'; \
             CREATE ROLE alice LOGIN PASSWORD 'right-pw-41c7'; \
             GRANT ALL ON SCHEMA public TO alice",
        )
        .await
        .expect("create role");
    let url = |password: &str| {
        format!(
            "postgres://alice:{password}@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={}&channel_binding=require",
            tls.server.port(),
            path(&tls.ca)
        )
    };
    // channel_binding=require succeeds only with SCRAM-SHA-256-PLUS over the TLS session.
    let destination = tls.connected(&url("right-pw-41c7")).await;
    destination
        .migrate(&[&trailsync_catalog::tables::ec2::INSTANCES])
        .await
        .expect("migrate as alice");

    let error = tls.refused(&url("wrong-pw-93be")).await;
    assert!(error.contains("password authentication failed"), "{error}");
    assert!(!error.contains("wrong-pw-93be"), "{error}");
}
