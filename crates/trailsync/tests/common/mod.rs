//! Shared by the binary's integration tests: the destinations as a test reads them, the
//! `trailsync` process, and polling.

#![allow(dead_code, unused_macros)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use trailsync_testkit::{PostgresServer, TestDatabase};

/// Declares two tests, `sqlite` and `postgres`, running `$scenario(&store)` against each
/// destination: a fresh SQLite file, and a fresh PostgreSQL database dropped afterwards.
/// Used inside a module named after the scenario (`mod follows_x { in_both_destinations!(...); }`).
macro_rules! in_both_destinations {
    ($scenario:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sqlite() {
            let store = crate::common::Store::sqlite();
            $scenario(&store).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres() {
            let store = crate::common::Store::postgres().await;
            $scenario(&store).await;
            store.cleanup().await;
        }
    };
}

/// How long a condition may take to become true before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `check` until it yields a value; panics with `what` after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One source syncing `tables` from moto and streaming from `stream_arn`: the config every
/// end-to-end test writes, in CloudQuery's shape.
pub struct StreamingSource<'a> {
    pub name: &'a str,
    pub tables: &'a [&'a str],
    pub skip_tables: &'a [&'a str],
    pub region: &'a str,
    pub endpoint: &'a str,
    pub stream_arn: &'a str,
    /// Extra `event_based_sync` lines (`full_sync: false`, `reconcile_interval: 3s`, ...).
    pub stream_options: &'a [&'a str],
}

/// `event_based_sync` options for tests whose rows must come from the events alone.
pub const EVENTS_ONLY: &[&str] = &[
    "full_sync: false",
    "start_position: trim_horizon",
    "reconcile_interval: \"0\"",
];

impl StreamingSource<'_> {
    /// The config text: this source writing to every `(name, store)`, then those destinations.
    pub fn config(&self, destinations: &[(&str, &Store)]) -> String {
        let list = |items: &[&str]| serde_json::to_string(items).expect("strings serialise");
        let names: Vec<&str> = destinations.iter().map(|(name, _)| *name).collect();
        let mut yaml = format!(
            "kind: source\nspec:\n  name: {}\n  path: cloudquery/aws\n  tables: {}\n  skip_tables: {}\n  destinations: {}\n  spec:\n    regions: [\"{}\"]\n    endpoint_url: {}\n    event_based_sync:\n      kinesis_stream_arn: {}\n",
            self.name,
            list(self.tables),
            list(self.skip_tables),
            list(&names),
            self.region,
            self.endpoint,
            self.stream_arn,
        );
        for option in self.stream_options {
            yaml.push_str(&format!("      {option}\n"));
        }
        for (name, store) in destinations {
            yaml.push_str("---\n");
            yaml.push_str(&store.destination_yaml(name));
        }
        yaml
    }
}

/// A row of aws_ec2_instances, as a query reads it back.
#[derive(Clone, Debug)]
pub struct InstanceRow {
    pub instance_id: String,
    pub account_id: String,
    pub region: String,
    pub arn: String,
    pub state: Value,
    pub tags: Value,
}

/// A destination under test, read directly with its own client.
pub enum Store {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres(Box<TestDatabase>),
    /// A private PostgreSQL server, for tests that stop and restart it.
    Server(Box<PostgresServer>),
}

impl Store {
    pub fn sqlite() -> Store {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("inventory.db");
        Store::Sqlite { _dir: dir, path }
    }

    /// A fresh database on the machine's PostgreSQL; fails loudly when there is none.
    pub async fn postgres() -> Store {
        Store::Postgres(Box::new(
            TestDatabase::create()
                .await
                .expect("PostgreSQL at 127.0.0.1:5432 is required for this test"),
        ))
    }

    /// A private server of its own (see [`PostgresServer`]).
    pub async fn server() -> Store {
        Store::Server(Box::new(
            PostgresServer::start()
                .await
                .expect("a private PostgreSQL server starts"),
        ))
    }

    /// A client on the PostgreSQL database behind this store (not SQLite).
    pub async fn pg(&self) -> Option<tokio_postgres::Client> {
        match self {
            Store::Sqlite { .. } => None,
            Store::Postgres(db) => db.connect().await.ok(),
            Store::Server(server) => {
                let (client, connection) =
                    tokio_postgres::connect(&server.url("postgres"), tokio_postgres::NoTls)
                        .await
                        .ok()?;
                tokio::spawn(connection);
                Some(client)
            }
        }
    }

    /// The rows of a query whose columns are all text (or NULL); empty while a table is missing.
    pub async fn texts(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match self {
            Store::Sqlite { path, .. } => {
                let Ok(conn) = rusqlite::Connection::open(path) else {
                    return Vec::new();
                };
                let Ok(mut stmt) = conn.prepare(sql) else {
                    return Vec::new();
                };
                let width = stmt.column_count();
                stmt.query_map([], |r| (0..width).map(|i| r.get(i)).collect())
                    .and_then(|rows| rows.collect())
                    .unwrap_or_default()
            }
            Store::Postgres(_) | Store::Server(_) => {
                let Some(client) = self.pg().await else {
                    return Vec::new();
                };
                let Ok(rows) = client.query(sql, &[]).await else {
                    return Vec::new();
                };
                rows.iter()
                    .map(|r| (0..r.len()).map(|i| r.get(i)).collect())
                    .collect()
            }
        }
    }

    /// The destination's kind and connection string, as a config names them.
    pub fn connection(&self) -> (trailsync_core::DestinationKind, String) {
        use trailsync_core::DestinationKind;
        match self {
            Store::Sqlite { path, .. } => (DestinationKind::Sqlite, path.display().to_string()),
            Store::Postgres(db) => (
                DestinationKind::Postgres,
                db.connection_string().to_string(),
            ),
            Store::Server(server) => (DestinationKind::Postgres, server.url("postgres")),
        }
    }

    pub async fn cleanup(self) {
        if let Store::Postgres(db) = self {
            db.cleanup().await.expect("drop test database");
        }
    }

    pub fn destination_yaml(&self, name: &str) -> String {
        let (kind, connection) = self.connection();
        let path = format!("cloudquery/{kind}");
        format!(
            "kind: destination\nspec:\n  name: {name}\n  path: {path}\n  write_mode: overwrite-delete-stale\n  spec:\n    connection_string: \"{connection}\"\n"
        )
    }

    /// The value of tag `key` on every stored instance that has it, by instance id: the
    /// inventory's side of a comparison with moto ([`trailsync_testkit::ec2::tag_values`]).
    pub async fn tag_values(&self, key: &str) -> BTreeMap<String, String> {
        self.instances()
            .await
            .into_iter()
            .filter_map(|row| Some((row.instance_id, row.tags[key].as_str()?.to_string())))
            .collect()
    }

    /// Every instance row; empty while the table does not exist yet.
    pub async fn instances(&self) -> Vec<InstanceRow> {
        const SQL: &str = "SELECT instance_id, account_id, region, arn, state, tags FROM aws_ec2_instances ORDER BY instance_id";
        match self {
            Store::Sqlite { path, .. } => {
                let Ok(conn) = rusqlite::Connection::open(path) else {
                    return Vec::new();
                };
                let Ok(mut stmt) = conn.prepare(SQL) else {
                    return Vec::new();
                };
                let rows = stmt
                    .query_map([], |r| {
                        let json = |i: usize| -> rusqlite::Result<Value> {
                            let text: Option<String> = r.get(i)?;
                            Ok(text
                                .and_then(|t| serde_json::from_str(&t).ok())
                                .unwrap_or(Value::Null))
                        };
                        Ok(InstanceRow {
                            instance_id: r.get(0)?,
                            account_id: r.get(1)?,
                            region: r.get(2)?,
                            arn: r.get(3)?,
                            state: json(4)?,
                            tags: json(5)?,
                        })
                    })
                    .expect("query instances");
                rows.collect::<Result<_, _>>().expect("instance rows")
            }
            Store::Postgres(_) | Store::Server(_) => {
                let Some(client) = self.pg().await else {
                    return Vec::new();
                };
                let Ok(rows) = client.query(SQL, &[]).await else {
                    return Vec::new();
                };
                rows.iter()
                    .map(|r| InstanceRow {
                        instance_id: r.get(0),
                        account_id: r.get(1),
                        region: r.get(2),
                        arn: r.get(3),
                        state: r.get::<_, Option<Value>>(4).unwrap_or(Value::Null),
                        tags: r.get::<_, Option<Value>>(5).unwrap_or(Value::Null),
                    })
                    .collect()
            }
        }
    }

    /// (stream arn, shard id, position) of every committed checkpoint; empty while there is
    /// no checkpoint table yet.
    pub async fn checkpoints(&self) -> Vec<(String, String, String)> {
        self.texts(
            "SELECT stream_arn, shard_id, sequence_number FROM _trailsync_checkpoints ORDER BY shard_id",
        )
        .await
        .into_iter()
        .map(|row| {
            let mut row = row.into_iter().map(Option::unwrap_or_default);
            let mut next = || row.next().unwrap_or_default();
            (next(), next(), next())
        })
        .collect()
    }
}

impl Store {
    /// Inserts an instance row as an earlier sync would have left it, for an instance AWS no
    /// longer knows (moto never forgets a terminated instance, so a vanished one is made here).
    pub async fn insert_stale_instance(&self, source: &str, account: &str, region: &str, id: &str) {
        let arn = format!("arn:aws:ec2:{region}:{account}:instance/{id}");
        let cq_id = trailsync_catalog::cq_id("aws_ec2_instances", &[&arn]).to_string();
        const SYNCED: &str = "2020-01-01T00:00:00.000000Z";
        match self {
            Store::Sqlite { path, .. } => {
                let conn = rusqlite::Connection::open(path).expect("open sqlite");
                conn.execute(
                    "INSERT INTO aws_ec2_instances (_cq_sync_time, _cq_source_name, _cq_id, account_id, region, arn, instance_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    rusqlite::params![SYNCED, source, cq_id, account, region, arn, id],
                )
                .expect("insert instance row");
            }
            Store::Postgres(_) | Store::Server(_) => {
                let client = self.pg().await.expect("connect to test database");
                client
                    .execute(
                        "INSERT INTO aws_ec2_instances (_cq_sync_time, _cq_source_name, _cq_id, account_id, region, arn, instance_id) VALUES ($1::text::timestamptz, $2, $3::text::uuid, $4, $5, $6, $7)",
                        &[&SYNCED, &source, &cq_id, &account, &region, &arn, &id],
                    )
                    .await
                    .expect("insert instance row");
            }
        }
    }
}

impl Store {
    /// How many rows `table` (a catalog table name) holds; `None` while it does not exist.
    pub async fn count(&self, table: &str) -> Option<i64> {
        let sql = format!("SELECT COUNT(*) FROM \"{table}\"");
        match self {
            Store::Sqlite { path, .. } => {
                let conn = rusqlite::Connection::open(path).ok()?;
                conn.query_row(&sql, [], |r| r.get(0)).ok()
            }
            Store::Postgres(_) | Store::Server(_) => {
                let client = self.pg().await?;
                client.query_one(&sql, &[]).await.ok().map(|r| r.get(0))
            }
        }
    }
}

/// A counter of the summary line trailsync logs when it stops (`records=12`,
/// `aws[ec2:DescribeInstances]=1`); the last such line counts. `None` if absent.
pub fn summary_counter(log: &str, name: &str) -> Option<u64> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("stopped: records="))?;
    let prefix = format!("{name}=");
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(prefix.as_str()))
        .and_then(|n| n.parse().ok())
}

/// A running `trailsync sync`, killed if the test ends without stopping it.
pub struct Trailsync {
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
    log: PathBuf,
}

impl Trailsync {
    /// Starts `trailsync sync` on this config text, with moto's test credentials.
    pub fn sync(config: &str) -> Trailsync {
        Trailsync::start(&["sync"], config)
    }

    /// Starts `trailsync ARGS CONFIG-FILE` on this config text, with moto's test credentials.
    pub fn start(args: &[&str], config: &str) -> Trailsync {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write config");
        let log = dir.path().join("trailsync.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_trailsync"))
            .args(args)
            .arg(&config_path)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("TRAILSYNC_LOG", "info,trailsync_engine=debug")
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .expect("start trailsync");
        Trailsync {
            child,
            _dir: dir,
            log,
        }
    }

    /// Like [`eventually`], but a timeout shows what trailsync logged.
    pub async fn eventually<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting: {what}\n--- trailsync log ---\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The process id (while it runs).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("trailsync is running")
    }

    /// SIGKILL: no chance to finish anything; whatever was not committed must be read again.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("SIGKILL trailsync");
    }

    /// What the process logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit on its own, at most `patience`.
    pub async fn exit_within(&mut self, patience: Duration) -> ExitStatus {
        tokio::time::timeout(patience, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "trailsync did not exit within {patience:?}\n--- trailsync log ---\n{}",
                    self.log()
                )
            })
            .expect("wait for trailsync")
    }

    /// Sends SIGTERM and waits (at most 10 s) for the exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().expect("trailsync is running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM delivered");
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "trailsync did not exit within 10 s of SIGTERM\n{}",
                    self.log()
                )
            })
            .expect("wait for trailsync")
    }
}

/// Waits until every instance's `v` tag in the inventory equals moto's, showing each worker's
/// log on a timeout.
pub async fn converge(
    workers: &[&Trailsync],
    ec2: &aws_sdk_ec2::Client,
    store: &Store,
    what: &str,
) {
    let deadline = Instant::now() + PATIENCE;
    let wanted = trailsync_testkit::ec2::tag_values(ec2, "v")
        .await
        .expect("moto's tags");
    loop {
        if store.tag_values("v").await == wanted {
            return;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = workers.iter().map(|w| w.log()).collect();
            panic!(
                "timed out waiting: {what}\n{}",
                logs.join("\n--- next worker ---\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs `trailsync ARGS CONFIG-FILE` to its end on this config text (for the commands that
/// read a config and exit: `status`, `history`).
pub fn run(args: &[&str], config: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.yml");
    std::fs::write(&path, config).expect("write config");
    std::process::Command::new(env!("CARGO_BIN_EXE_trailsync"))
        .args(args)
        .arg(&path)
        .output()
        .expect("trailsync runs")
}
