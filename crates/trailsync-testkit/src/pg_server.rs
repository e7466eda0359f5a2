//! A private PostgreSQL server per test: its own data folder and port, so a test may stop,
//! restart or reconfigure it (TLS) without touching the machine's shared server.
//!
//! Built with the machine's PostgreSQL binaries (`initdb`, `pg_ctl`: Debian keeps them in
//! `/usr/lib/postgresql/<version>/bin`; `TRAILSYNC_PG_BIN` names another folder). PostgreSQL
//! refuses to run as root, so as root the server runs as the `postgres` user.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Result, TestkitError};
use crate::tls::IssuedCert;

/// A running private server; stopped and deleted when dropped.
#[derive(Debug)]
pub struct PostgresServer {
    bin: PathBuf,
    /// Holds the data folder, the socket and the log.
    dir: PathBuf,
    port: u16,
    /// Extra `-c name=value` settings the server starts with.
    settings: Vec<String>,
    /// Run the binaries as `postgres` (when this process is root).
    as_postgres: bool,
}

impl PostgresServer {
    /// Creates a cluster (trust authentication, user `postgres`) and starts it on a free port.
    pub async fn start() -> Result<PostgresServer> {
        PostgresServer::start_with(Vec::new(), |_| Ok(())).await
    }

    /// Like [`PostgresServer::start`], with `-c` settings (`ssl=on`, ...) and a chance to write
    /// files into the data folder (certificates, `pg_hba.conf`) before the first start.
    pub async fn start_with(
        settings: Vec<String>,
        prepare: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<PostgresServer> {
        let bin = bin_dir()?;
        let port = crate::moto::free_port()?;
        let dir = std::env::temp_dir().join(format!("trailsync-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(TestkitError::io("create server folder", &dir))?;
        let server = PostgresServer {
            bin,
            dir,
            port,
            settings,
            as_postgres: is_root(),
        };
        if server.as_postgres {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(&server.dir))?;
        }
        let data = server.data();
        run(server
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data))?;
        prepare(&data)?;
        if server.as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&data))?;
        }
        server.start_again().await?;
        Ok(server)
    }

    /// A server with `ssl = on`, `cert` as its certificate and `pg_hba` as its whole
    /// `pg_hba.conf`: `hostssl` lines alone make it refuse plain TCP connections; a `local` line
    /// keeps [`PostgresServer::socket_url`] usable for set-up statements.
    pub async fn start_tls(cert: &IssuedCert, pg_hba: &str) -> Result<PostgresServer> {
        PostgresServer::start_with(vec!["ssl=on".into()], |data| {
            cert.install(data)?;
            let hba = data.join("pg_hba.conf");
            std::fs::write(&hba, pg_hba).map_err(TestkitError::io("write", &hba))
        })
        .await
    }

    /// The data folder (`postgresql.conf`, `pg_hba.conf` live here).
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection string for `database` as `postgres` over TCP on 127.0.0.1.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A key=value connection string for `database` as `postgres` over the server's Unix socket
    /// (no TCP, so no TLS), for set-up statements whatever `pg_hba.conf` says of TCP.
    pub fn socket_url(&self, database: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={database}",
            self.dir.display(),
            self.port
        )
    }

    /// Stops the server at once (`-m fast`: sessions are cut, nothing half-written is kept).
    pub async fn stop(&self) -> Result<()> {
        let mut stop = self.command("pg_ctl");
        stop.args(["-m", "fast", "-w", "-t", "30", "-D"])
            .arg(self.data())
            .arg("stop");
        blocking(stop).await
    }

    /// Starts the (stopped) server again on the same port, and waits until it accepts.
    pub async fn start_again(&self) -> Result<()> {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        );
        for setting in &self.settings {
            options.push_str(" -c ");
            options.push_str(setting);
        }
        let mut start = self.command("pg_ctl");
        start
            .args(["-w", "-t", "30", "-D"])
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-o", &options, "start"]);
        blocking(start).await
    }

    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let mut stop = self.command("pg_ctl");
        stop.args(["-m", "immediate", "-w", "-D"])
            .arg(self.data())
            .arg("stop");
        let _ = stop.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The folder with `initdb` and `pg_ctl`.
fn bin_dir() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("TRAILSYNC_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|bin| bin.join("initdb").is_file())
                .collect()
        })
        .unwrap_or_default();
    // The newest major version: by number, so that 16 outranks 9.6.
    let version = |bin: &PathBuf| -> Vec<u32> {
        bin.parent()
            .and_then(|dir| dir.file_name())
            .and_then(|name| name.to_str())
            .map(|name| name.split('.').filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_default()
    };
    found.sort_by_key(version);
    found.pop().ok_or_else(|| {
        TestkitError::PostgresServer(
            "no initdb under /usr/lib/postgresql/*/bin: install the PostgreSQL server, or set TRAILSYNC_PG_BIN".into(),
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Runs a command to completion; its output is the error if it fails.
fn run(command: &mut Command) -> Result<()> {
    let output = command
        .output()
        .map_err(TestkitError::io("run", format!("{command:?}")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(TestkitError::PostgresServer(format!(
        "{command:?} failed with {}: {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )))
}

async fn blocking(mut command: Command) -> Result<()> {
    tokio::task::spawn_blocking(move || run(&mut command))
        .await
        .map_err(|e| TestkitError::PostgresServer(e.to_string()))?
}
